"""Model factory: the config -> the regressor, and the network the experiment plan asks for (every entry point)."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from common.config import ExperimentPlan
from common.models.crowdnet import CrowdNetRegressor


def build_model(cfg, body_model: nn.Module, return_features: bool = False) -> CrowdNetRegressor:
    """Build the 3DCrowdNet-style regressor from ``cfg.model`` / ``cfg.data.input_size`` / ``cfg.train.loss``.

    ``in_channels`` comes from ``cfg.model.input_channels`` (3 RGB, 4 RGB + edge for SEFD);
    ``return_features`` adds backbone features to the predictions (SEFD distillation).
    """
    return CrowdNetRegressor.from_config(cfg, body_model, return_features=return_features)


def build_experiment_model(cfg, body_model: nn.Module, training: bool = True,
                           teacher_path: str | Path | None = None) -> nn.Module:
    """The network of the experiment plan (``common/config/plan.py``); train.py, test.py and the demo call this.

    ``ExperimentPlan.model_kind``:

    - ``regressor`` (``baseline``, ``teacher``): the regressor (``build_model``); a SEFD teacher has 4 input
      channels and the mapper feeds ``edge`` = ``sefd.teacher_edge``.
    - ``edge_input`` (``edge_input``; ``student`` at test time / in the demo): :class:`EdgeInputModel`, the
      plan's ``model_edge`` (Canny / RCF) computed from the batch on its device; SMPL sources come from the
      mapper. No teacher needed.
    - ``distillation`` (``student`` in training): a :class:`DistillationWrapper` around a fresh 4-channel
      regressor and the frozen stage-1 teacher (eval mode, no grads, outside ``parameters()`` /
      ``state_dict()`` / DDP) read from ``teacher_path`` (default ``sefd.teacher_ckpt``, which must then be a
      file; entry points resolve a run folder with ``common.engine.resolve_teacher_checkpoint``).

    Every variant's ``state_dict()`` is the regressor's, so checkpoints load across them.

    ``model.family=wholebody``: the ExPose-style whole-body model (common/models/wholebody/) around
    ``body_model`` (an SMPL-X :class:`~common.body_models.BodyModel`, ``plan.body_model_kind``); kind ``furpe``
    (training with a ``furpe.*`` piece on): a :class:`~common.models.furpe.wrapper.FurpeWrapper` around it.
    """
    plan = ExperimentPlan.from_config(cfg)
    if plan.family == "wholebody":
        model = build_wholebody_model(cfg, body_model, hand_only=not training and cfg.data.test_set == "freihand")
        if plan.model_kind(training) != "furpe":
            return model
        from common.models.furpe.wrapper import FurpeWrapper

        return FurpeWrapper.from_config(cfg, model)
    kind = plan.model_kind(training)
    if kind == "regressor":
        return build_model(cfg, body_model)
    from common.models.sefd import DistillationWrapper, EdgeInputModel, build_edge_fn
    from common.models.sefd_teacher import build_teacher

    regressor = build_model(cfg, body_model, return_features=plan.returns_features(training))
    edge_fn = build_edge_fn(cfg, plan.model_edge)
    if kind == "edge_input":
        return EdgeInputModel(regressor, edge_fn)
    teacher = build_teacher(cfg, teacher_path)  # TeacherCheckpointError (a UserError) for an unusable file
    return DistillationWrapper.from_config(cfg, regressor, teacher, edge_fn=edge_fn)


def build_wholebody_model(cfg, body_model: nn.Module, hand_only: bool = False) -> nn.Module:
    """The whole-body model of ``cfg.model`` / ``cfg.wholebody`` on the SMPL-X ``body_model``; ``hand_only``: its
    hand network alone posing the MANO-layout hand of ``cfg.body_model`` (the FreiHAND protocol)."""
    from common.models.wholebody.model import WholeBodyModel
    from common.wholebody.layer import WholeBodyLayer

    kind = getattr(body_model, "kind", None)
    if kind != "smplx":
        raise ValueError(f"model.family=wholebody needs an SMPL-X body model, got {kind!r}")
    model = WholeBodyModel.from_config(cfg, WholeBodyLayer.from_body_model(body_model))
    if not hand_only:
        return model
    from common.body_models import body_model_from_config
    from common.models.wholebody.hand_only import HandOnlyModel

    return HandOnlyModel(model, body_model_from_config(cfg, kind="mano"))
