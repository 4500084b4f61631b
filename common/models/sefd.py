"""SEFD stage 2: a 4-channel student regressor distilled from a frozen RGB + SMPL-edge teacher.

Recipe (SEFD, ICCV 2023). Stage 1 trains a full 3DCrowdNet regressor on RGB + SMPL overlap edge
(``sefd.mode=teacher``, ``model.input_channels=4``, the mapper feeding ``batch['edge']`` with the teacher edge).
Stage 2 (this module) trains a fresh 4-channel regressor on RGB + an edge map computable at test time
(Canny by default) with the usual 3DCrowdNet losses plus feature distillation towards the stage-1 network's
layer1..layer4 features, computed from RGB + ``batch['teacher_edge']``. Only the student is used at test time.

Freezing. The teacher is kept OUTSIDE the module tree (a plain list attribute): it is not in
``parameters()`` (so not in the optimizer or DDP), not in ``state_dict()`` (checkpoints hold the student
only; the teacher stays in its own stage-1 file, ``sefd.teacher_ckpt``), it follows ``.to()``, its parameters
have ``requires_grad=False``, it runs under ``torch.no_grad()`` and stays in eval mode when the wrapper is put
in training mode. ``teacher_bn_drift=True`` reproduces the release, whose teacher was a submodule and so had
its BatchNorm in training mode (running statistics drifting with the student's batches; still no gradients).

``state_dict()`` / ``load_state_dict()`` are the student's (no prefix): a stage-2 checkpoint loads straight
into a plain ``CrowdNetRegressor(in_channels=4)`` for evaluation.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import torch
from torch import Tensor, nn

from common.models.crowdnet import CrowdNetRegressor
from common.models.distill_losses import FeatureDistillationLoss
from common.nets.heatmaps import render_gaussian_heatmaps

_WHERE = "common/models/sefd.py"


@torch.no_grad()
def teacher_features(teacher: CrowdNetRegressor, batch: Mapping[str, Tensor], edge_key: str = "teacher_edge"
                     ) -> dict[str, Tensor]:
    """layer1..layer4 features of the regressor's backbone path (stem, Pose2Feat, ResNet stages) on
    RGB + ``batch[edge_key]`` (RGB alone for a 3-channel teacher, ``sefd.teacher_edge=none``); the same
    computation as the first half of ``CrowdNetRegressor.forward``."""
    x = batch["img"]
    if teacher.in_channels == 4:
        if edge_key not in batch:
            raise KeyError(f"{_WHERE}: batch lacks '{edge_key}' (the teacher's edge channel, (B,1,S,S))")
        x = torch.cat([x, batch[edge_key]], dim=1)
    early = teacher.backbone.stem(x)
    size = early.shape[-1]
    heatmaps = render_gaussian_heatmaps(batch["pose2d"].float() * (size / teacher.input_size),
                                        batch["pose2d_valid"], size, size, teacher.heatmap_sigma)
    return teacher.backbone.forward_layers(teacher.pose2feat(early, heatmaps))


class _StudentFacade(nn.Module):
    """A wrapper whose state is exactly its ``student``'s; frozen helper networks live outside the module tree.

    Helpers (teacher, edge network) are kept in a plain list: not in ``parameters()`` / ``state_dict()`` / DDP,
    but they follow ``.to()`` / ``.half()`` and stay in eval mode (unless ``_helper_train_mode`` says otherwise).
    """

    def __init__(self, student: nn.Module, edge_fn: Callable[[Tensor], Tensor] | None) -> None:
        super().__init__()
        self.student = student
        self._helpers: list[nn.Module] = []  # plain lists: not registered as submodules
        self._edge_fn = [edge_fn]
        if isinstance(edge_fn, nn.Module):
            edge_fn.requires_grad_(False)
            self._helpers.append(edge_fn)

    @property
    def edge_fn(self) -> Callable[[Tensor], Tensor] | None:
        return self._edge_fn[0]

    def _helper_train_mode(self, helper: nn.Module, mode: bool) -> bool:
        return False

    def train(self, mode: bool = True):
        super().train(mode)
        for helper in getattr(self, "_helpers", []):
            helper.train(self._helper_train_mode(helper, bool(mode)))
        return self

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        for helper in self._helpers:
            helper._apply(fn)
        return self

    def student_parameters(self) -> Iterator[nn.Parameter]:
        """The trainable parameters (= ``parameters()``: helpers are not registered)."""
        return self.student.parameters()

    def state_dict(self, *args, **kwargs):
        """The student's state_dict (no 'student.' prefix, no helper networks)."""
        return self.student.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: Mapping[str, Tensor], strict: bool = True, assign: bool = False):
        return self.student.load_state_dict(state_dict, strict=strict, assign=assign)

    def _with_edge(self, batch: dict) -> dict:
        if "edge" not in batch and self.edge_fn is not None:
            img = batch["img"]
            with torch.no_grad(), torch.autocast(img.device.type, enabled=False):  # edges in float32 under AMP
                return {**batch, "edge": self.edge_fn(img.float())}
        return batch


class EdgeInputModel(_StudentFacade):
    """A 4-channel regressor whose ``edge`` channel is computed on the batch's device when the batch lacks it
    (``sefd.mode=edge_input`` with a Canny or RCF channel; no distillation). State = the regressor's."""

    def __init__(self, model: CrowdNetRegressor, edge_fn: Callable[[Tensor], Tensor]) -> None:
        super().__init__(model, edge_fn)
        self.train(self.training)

    def forward(self, batch: dict) -> dict:
        return self.student(self._with_edge(batch))

    def losses(self, batch: dict, preds: dict) -> dict[str, Tensor]:
        return self.student.losses(batch, preds)


class DistillationWrapper(_StudentFacade):
    """Student + frozen teacher + distillation loss; ``forward``/``losses`` follow the model contract.

    Args:
        student: CrowdNetRegressor with ``in_channels=4`` (its ``return_features`` is switched on).
        teacher: CrowdNetRegressor with ``in_channels=4`` (stage-1 weights), or 3 (an RGB-only network: the
            ``sefd.teacher_edge=none`` control); only backbone + Pose2Feat run.
        loss_fn: a :class:`FeatureDistillationLoss` or its kind ('l1', 'kd', 'log_softmax_l1', 'at', 'fsp', 'pkt').
        layers, weights, scale: used when ``loss_fn`` is a kind (``sefd.distill_*``).
        teacher_bn_drift: release compatibility: teacher BatchNorm in training mode (statistics update).
        edge_fn: optional ``(B,3,S,S) RGB -> (B,1,S,S)`` used when a batch lacks ``edge`` (e.g. the Canny
            channel computed on the training device); an nn.Module edge_fn is frozen and kept out of the state.
    """

    def __init__(self, student: CrowdNetRegressor, teacher: CrowdNetRegressor,
                 loss_fn: FeatureDistillationLoss | str = "log_softmax_l1",
                 layers: Sequence[str] = ("layer3", "layer4"), weights: Sequence[float] = (1.0, 2.0),
                 scale: float = 1.0, teacher_bn_drift: bool = False,
                 edge_fn: Callable[[Tensor], Tensor] | None = None) -> None:
        if getattr(student, "in_channels", None) != 4:
            raise ValueError(f"{_WHERE}: the SEFD student must take RGB + edge (in_channels=4), "
                             f"got {getattr(student, 'in_channels', None)}")
        if getattr(teacher, "in_channels", None) not in (3, 4):
            raise ValueError(f"{_WHERE}: the SEFD teacher must take RGB + edge (in_channels=4) or RGB alone "
                             f"(3, sefd.teacher_edge=none), got {getattr(teacher, 'in_channels', None)}")
        super().__init__(student, edge_fn)
        student.return_features = True
        teacher.requires_grad_(False)
        self._teacher = [teacher]  # plain list: invisible to parameters(), state_dict(), DDP
        self._helpers.append(teacher)
        self.distill = loss_fn if isinstance(loss_fn, FeatureDistillationLoss) else \
            FeatureDistillationLoss(loss_fn, layers, weights, scale)
        self.teacher_bn_drift = bool(teacher_bn_drift)
        self.train(self.training)

    @classmethod
    def from_config(cls, cfg, student: CrowdNetRegressor, teacher: CrowdNetRegressor,
                    edge_fn: Callable[[Tensor], Tensor] | None = None) -> DistillationWrapper:
        """Wrap with ``sefd.distill_*`` and ``sefd.teacher_bn_drift``."""
        return cls(student, teacher, FeatureDistillationLoss.from_config(cfg),
                   teacher_bn_drift=cfg.sefd.teacher_bn_drift, edge_fn=edge_fn)

    @property
    def teacher(self) -> CrowdNetRegressor:
        return self._teacher[0]

    def _helper_train_mode(self, helper: nn.Module, mode: bool) -> bool:
        # frozen BN unless the release-compatibility option; edge networks always in eval mode
        return mode and self.teacher_bn_drift and helper is self.teacher

    def forward(self, batch: dict) -> dict:
        """Student predictions (+ ``features``); in training mode also ``teacher_features`` {layer: (B,C,h,w)}."""
        batch = self._with_edge(batch)
        preds = self.student(batch)
        if self.training:
            with torch.no_grad():
                preds["teacher_features"] = teacher_features(self.teacher, batch)
        return preds

    def losses(self, batch: dict, preds: dict) -> dict[str, Tensor]:
        """The student's 3DCrowdNet terms + one ``distill_*`` term per layer (or FSP pair)."""
        terms = self.student.losses(batch, preds)
        if "teacher_features" in preds:
            terms.update(self.distill(preds["features"], preds["teacher_features"]))
        return terms


def build_edge_fn(cfg, source: str | None = None) -> Callable[[Tensor], Tensor] | None:
    """The test-time edge channel ``source`` (default ``sefd.edge_source``; the model builder passes the
    experiment plan's ``model_edge``) computed from the RGB batch on the model's device: 'canny' -> the
    release's Canny channel, 'rcf' -> RCF fused edges (``sefd.rcf_weights``); the SMPL sources need GT meshes
    and come from the data pipeline, 'none' computes nothing (None)."""
    from common.edges.canny import CannyEdgeChannel
    from common.nets.rcf import RCFEdgeChannel, build_rcf

    source = cfg.sefd.edge_source if source is None else source
    if source == "canny":
        return CannyEdgeChannel(gray=cfg.sefd.gray)
    if source == "rcf":
        if not cfg.sefd.rcf_weights:
            raise ValueError("sefd.rcf_weights is empty: sefd.edge_source=rcf needs the RCF-PyTorch weights file")
        return RCFEdgeChannel(build_rcf(cfg.sefd.rcf_weights))
    return None
