"""FuRPE training wrapper around the whole-body model: expert-feature distillation, learned loss weights and the
EMA teacher with two-view consistency, each switched by one ``furpe.*`` key (docs/furpe.md).

Ownership (as the SEFD ``DistillationWrapper``): the wrapper owns the student (the whole-body model), the
:class:`ExpertFeatureDistiller` (its projection MLPs are submodules: in ``parameters()``, so in the optimizer) and
the :class:`UncertaintyWeighting` (s_k, a parameter). Its ``state_dict()`` is the student's plus those modules under
:data:`AUX_PREFIX` (the checkpoint loader drops them for a bare whole-body model at test time). The
:class:`EMATeacher` is outside the module tree (not in ``parameters()``, ``state_dict()``, the optimizer or DDP),
always in eval mode; :meth:`after_optimizer_step` updates it (``attach_training`` registers that on the optimizer)
and :meth:`helper_state_dict` / :meth:`load_helper_state_dict` carry it in the checkpoint's ``helpers`` entry,
so a resume continues the same teacher.

Losses: the student's terms; with learned weights each term of group k (body / hands / face, :data:`TERM_GROUPS`)
is multiplied by exp(-s_k) and a term ``uncertainty_s_<k>`` = s_k is added for each group with a label in the
batch (the terms still sum to the total); ``distill_<part>``; ``consistency_<term>`` x ``consistency_weight``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from common.models.furpe.consistency import ViewPrediction, ViewTransform, two_view_consistency
from common.models.furpe.distill import EXPERT_PARTS, ExpertFeatureDistiller
from common.models.furpe.ema import EMATeacher
from common.models.furpe.uncertainty import UncertaintyWeighting
from common.weights_file import TRAINING_ONLY_PREFIX

AUX_PREFIX = TRAINING_ONLY_PREFIX  # state_dict keys of training-only modules (dropped when loading into a bare model)
TERM_GROUPS = {"global_orient": "body", "body_pose": "body", "betas": "body", "shape_prior": "body",
               "body_keypoints2d": "body", "keypoints3d": "body", "wrist_pose": "hands", "hand_pose": "hands",
               "body_hand_pose": "hands", "hand_keypoints2d": "hands", "hand_crop_keypoints2d": "hands",
               "jaw_pose": "face", "body_jaw_pose": "face", "expression": "face", "body_expression": "face",
               "face_keypoints2d": "face", "head_crop_keypoints2d": "face"}
_VIEW2 = {"img_view2": "img", "img_hd_view2": "img_hd"}


def group_present(batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """group -> scalar 0/1: some sample of the batch has a label of that group (parameters or 2D keypoints)."""
    kp = batch["keypoints2d_valid"]
    return {"body": ((batch["smplx_valid"].sum() + kp[:, :25].sum()) > 0).float(),
            "hands": ((batch["left_hand_valid"].sum() + batch["right_hand_valid"].sum() + kp[:, 25:67].sum()) > 0
                      ).float(),
            "face": ((batch["face_valid"].sum() + kp[:, 67:].sum()) > 0).float()}


class FurpeWrapper(nn.Module):
    """Student + optional distiller / learned weights / EMA teacher; ``forward`` / ``losses`` follow the model
    contract. Args: student (WholeBodyModel), distiller, weighting, ema_momentum (None = no teacher),
    consistency_weight, ema_total_steps K (set again by :meth:`attach_training`)."""

    def __init__(self, student: nn.Module, distiller: ExpertFeatureDistiller | None = None,
                 weighting: UncertaintyWeighting | None = None, ema_momentum: float | None = None,
                 consistency_weight: float = 1.0, ema_total_steps: int = 1) -> None:
        super().__init__()
        self.student, self.distiller, self.weighting = student, distiller, weighting
        self.consistency_weight = float(consistency_weight)
        self._teacher = [EMATeacher(student, ema_total_steps, ema_momentum)] if ema_momentum is not None else []

    @classmethod
    def from_config(cls, cfg, student: nn.Module) -> FurpeWrapper:
        """The pieces ``furpe.distill`` / ``learned_weights`` / ``ema_teacher`` switch on (feature sizes from the
        student's networks)."""
        f = cfg.furpe
        distiller = None
        if f.distill:
            dims = {"body": student.body_net.feature_dim}
            if student.hand_net is not None:
                dims.update(left_hand=student.hand_net.feature_dim, right_hand=student.hand_net.feature_dim)
            if student.head_net is not None:
                dims["face"] = student.head_net.feature_dim
            distiller = ExpertFeatureDistiller(dims, weights={p: f.distill_weight for p in dims})
        return cls(student, distiller, UncertaintyWeighting() if f.learned_weights else None,
                   f.ema_momentum if f.ema_teacher else None, f.consistency_weight)

    @property
    def teacher(self) -> EMATeacher | None:
        return self._teacher[0] if self._teacher else None

    # --- the engine's hooks -------------------------------------------------------------------------------
    def attach_training(self, optimizer: torch.optim.Optimizer, total_steps: int) -> None:
        """Set the EMA schedule's length K (optimizer steps of the run) and update the teacher after every step."""
        if self.teacher is not None:
            self.teacher.total_steps = max(int(total_steps), 1)
            optimizer.register_step_post_hook(lambda *_: self.after_optimizer_step())

    @torch.no_grad()
    def after_optimizer_step(self) -> None:
        if self.teacher is not None:
            self.teacher.update(self.student)

    def helper_state_dict(self) -> dict[str, Any]:
        """What the checkpoint keeps outside the model's state: the EMA teacher (weights + step)."""
        return {"ema_teacher": self.teacher.state_dict()} if self.teacher is not None else {}

    def load_helper_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.teacher is not None and "ema_teacher" in state:
            self.teacher.load_state_dict(state["ema_teacher"])

    # --- module plumbing: the teacher follows the device, stays in eval mode; state = student + aux ----------
    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        if self.teacher is not None:
            self.teacher.module._apply(fn)
        return self

    def state_dict(self, *args, **kwargs):
        out = self.student.state_dict()
        for name in ("distiller", "weighting"):
            module = getattr(self, name)
            if module is not None:
                out.update({f"{AUX_PREFIX}{name}.{k}": v for k, v in module.state_dict().items()})
        return out

    def load_state_dict(self, state_dict: Mapping[str, Tensor], strict: bool = True, assign: bool = False):
        own = {k: v for k, v in state_dict.items() if not k.startswith(AUX_PREFIX)}
        result = self.student.load_state_dict(own, strict=strict, assign=assign)
        for name in ("distiller", "weighting"):
            module, prefix = getattr(self, name), f"{AUX_PREFIX}{name}."
            if module is not None:
                module.load_state_dict({k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)},
                                       strict=strict)
        return result

    # --- the model contract --------------------------------------------------------------------------------
    def forward(self, batch: dict) -> dict:
        """Student predictions; in training with the teacher also ``view2`` (student on the second view) and
        ``teacher_views`` (the teacher on both views, no gradients)."""
        preds = self.student(batch)
        if self.training and self.teacher is not None:
            view2 = {**batch, **{dst: batch[src] for src, dst in _VIEW2.items()}}
            preds["view2"] = self.student(view2)
            preds["teacher_views"] = (self.teacher(batch), self.teacher(view2))
        return preds

    def losses(self, batch: dict, preds: dict) -> dict[str, Tensor]:
        terms = dict(self.student.losses(batch, preds))
        if self.weighting is not None:
            terms = self._weighted(terms, batch)
        if self.distiller is not None and "expert_features" in batch:
            expert = {p: batch["expert_features"][:, i] for i, p in enumerate(EXPERT_PARTS)}
            valid = {p: batch["expert_valid"][:, i] > 0 for i, p in enumerate(EXPERT_PARTS)}
            out = self.distiller(preds["features"], expert, valid)
            for part, mlp in self.distiller.projections.items():
                if part in out:  # + 0 x the MLP: every parameter gets a gradient (DDP), also without a label
                    terms[f"distill_{part}"] = out[part] + 0.0 * sum(p.sum() for p in mlp.parameters())
        if "teacher_views" in preds:
            terms.update(self._consistency(batch, preds))
        return terms

    def _weighted(self, terms: dict[str, Tensor], batch: dict) -> dict[str, Tensor]:
        log_vars, groups = self.weighting.log_vars, self.weighting.groups
        present = group_present(batch)
        out = {}
        for name, value in terms.items():
            group = TERM_GROUPS.get(name)
            out[name] = value if group is None else torch.exp(-log_vars[groups.index(group)]) * value
        for k, group in enumerate(groups):
            out[f"uncertainty_s_{group}"] = log_vars[k] * present[group].to(log_vars)
        return out

    def _consistency(self, batch: dict, preds: dict) -> dict[str, Tensor]:
        views = tuple(ViewTransform(batch["views_flip"][:, i] > 0.5, batch["views_rot_deg"][:, i],
                                    batch["views_img_to_crop"][:, i]) for i in range(2))

        def view(p: dict) -> ViewPrediction:
            return ViewPrediction(p["params"], p["keypoints2d"])

        student = (view(preds), view(preds["view2"]))
        teacher = tuple(view(p) for p in preds["teacher_views"])
        out = two_view_consistency(student, teacher, views)
        return {f"consistency_{k}": self.consistency_weight * v for k, v in out.items() if k != "total"}
