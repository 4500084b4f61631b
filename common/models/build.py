"""Model factory: the config -> the regressor, and the one switch on ``sefd.mode`` used by every entry point."""
from __future__ import annotations

from torch import nn

from common.config import ConfigError
from common.models.crowdnet import CrowdNetRegressor


def build_model(cfg, body_model: nn.Module, return_features: bool = False) -> CrowdNetRegressor:
    """Build the 3DCrowdNet-style regressor from ``cfg.model`` / ``cfg.data.input_size`` / ``cfg.train.loss``.

    ``in_channels`` comes from ``cfg.model.input_channels`` (3 RGB, 4 RGB + edge for SEFD);
    ``return_features`` adds backbone features to the predictions (SEFD distillation).
    """
    return CrowdNetRegressor.from_config(cfg, body_model, return_features=return_features)


def build_experiment_model(cfg, body_model: nn.Module, training: bool = True) -> nn.Module:
    """The network of the experiment ``sefd.mode`` selects; train.py, test.py and the demo all call this.

    - ``baseline``: the RGB regressor (``build_model``).
    - ``teacher``: the same regressor with 4 input channels; the mapper feeds ``edge`` = ``sefd.teacher_edge``.
    - ``edge_input``: :class:`EdgeInputModel` (4 channels; Canny / RCF computed from the batch on its device,
      SMPL sources come from the mapper).
    - ``student``: for training (``training=True``) a :class:`DistillationWrapper` around a fresh 4-channel
      regressor and the frozen stage-1 teacher from ``sefd.teacher_ckpt`` (eval mode, no grads, outside
      ``parameters()`` / ``state_dict()`` / DDP); for evaluation and the demo (``training=False``) the student
      alone with its edge channel (:class:`EdgeInputModel`), no teacher needed.

    Every variant's ``state_dict()`` is the regressor's, so checkpoints load across them.
    """
    from common.models.sefd import DistillationWrapper, EdgeInputModel, build_edge_fn, build_teacher

    mode = cfg.sefd.mode
    if mode in ("baseline", "teacher"):
        return build_model(cfg, body_model)
    regressor = build_model(cfg, body_model, return_features=(mode == "student" and training))
    edge_fn = build_edge_fn(cfg)
    if mode == "edge_input" or not training:
        return EdgeInputModel(regressor, edge_fn)
    if mode != "student":
        raise ConfigError(f"sefd.mode: unknown mode {mode!r}")
    try:
        teacher = build_teacher(cfg)  # sefd.teacher_ckpt: the stage-1 checkpoint or run folder
    except ConfigError:
        raise
    except ValueError as err:  # a file that is not a 4-channel teacher of this architecture
        from common.engine.checkpoint import CheckpointError

        raise CheckpointError(str(err)) from None
    return DistillationWrapper.from_config(cfg, regressor, teacher, edge_fn=edge_fn)
