"""Checks of a merged config that its types alone cannot express: numeric ranges (common/config/ranges.py), the
allowed values of string keys (:data:`CHOICES`) and cross-key rules. :func:`common.config.loader.load_config` runs
:func:`validate` on every config it builds."""
from __future__ import annotations

from common.config.defaults import Config
from common.config.errors import ConfigError
from common.config.plan import FAMILIES, MODES, ExperimentPlan
from common.config.ranges import range_problems

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")

# (section, key) -> allowed values; None: checked elsewhere
CHOICES = {
    ("experiment", "device"): None,  # checked by the engine (cuda:N)
    ("body_model", "source"): ("open", "official"),
    ("body_model", "gender"): ("neutral", "male", "female"),
    ("model", "backbone"): BACKBONES,
    ("model", "family"): FAMILIES,
    ("wholebody", "train_crops"): ("predicted", "gt"),
    ("wholebody", "test_crops"): ("predicted", "keypoints2d"),
    ("wholebody", "part_backbone"): BACKBONES,
    ("model", "pose_head"): ("6d", "vposer"),
    ("train.loss", "pose_rep"): ("axis_angle", "rotmat"),
    ("train", "lr_schedule"): ("step", "cosine"),
    ("sefd", "mode"): MODES,
    ("sefd", "edge_source"): ("canny", "rcf", "smpl_edge", "smpl_overlap"),
    ("sefd", "teacher_edge"): ("smpl_overlap", "smpl_edge", "none"),
    ("sefd", "distill_loss"): ("l1", "kd", "log_softmax_l1", "at", "fsp", "pkt"),
    ("sefd", "gray"): ("release", "standard"),
    ("furpe", "gt_parts"): ("all", "body"),
    ("furpe", "hand_storage"): ("relative", "absolute"),
}


def validate(cfg: Config) -> None:
    """Ranges of numeric keys (common/config/ranges.py) and cross-key checks that types alone cannot express."""
    problems = range_problems(cfg)
    if problems:
        raise ConfigError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    for (section, key), choices in CHOICES.items():
        node = cfg
        for part in section.split("."):
            node = getattr(node, part)
        value = getattr(node, key)
        if choices and value not in choices:
            raise ConfigError(f"{section}.{key}: '{value}' is not one of {', '.join(choices)}")
    if cfg.data.input_size % 32:
        raise ConfigError(f"data.input_size: {cfg.data.input_size} must be a multiple of 32 (ResNet stride)")
    if cfg.data.train_weights and len(cfg.data.train_weights) != len(cfg.data.train_sets):
        raise ConfigError("data.train_weights: needs one weight per entry of data.train_sets")
    if cfg.data.train_weights and not sum(cfg.data.train_weights) > 0:
        raise ConfigError(f"data.train_weights: {list(cfg.data.train_weights)} are all 0; at least one must be > 0")
    synthetic = cfg.data.synthetic
    if synthetic.max_people < synthetic.min_people:
        raise ConfigError(f"data.synthetic.max_people: {synthetic.max_people} is below data.synthetic.min_people "
                          f"({synthetic.min_people})")
    edges = synthetic.occlusion_strata
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise ConfigError(f"data.synthetic.occlusion_strata: {list(edges)} must increase")
    if len(cfg.sefd.distill_weights) != len(cfg.sefd.distill_layers):
        raise ConfigError("sefd.distill_weights: needs one weight per entry of sefd.distill_layers")
    _validate_sefd(cfg)


def _validate_sefd(cfg: Config) -> None:
    """The experiment plan (``sefd.mode``) decides the input channels; the edge sources it uses must be usable."""
    sefd, plan = cfg.sefd, ExperimentPlan.from_config(cfg)
    channels = plan.input_channels
    if cfg.model.input_channels != channels:
        if channels == 3:
            raise ConfigError(f"model.input_channels: {cfg.model.input_channels} with sefd.mode=baseline (RGB only); "
                              "a 4-channel model is selected by sefd.mode (teacher | student | edge_input), "
                              "which sets model.input_channels itself")
        raise ConfigError(f"model.input_channels: {cfg.model.input_channels}, but sefd.mode={sefd.mode} feeds RGB + "
                          "edge (4 channels); remove model.input_channels (it follows sefd.mode) or set it to 4")
    if plan.model_edge == "rcf" and not sefd.rcf_weights:
        raise ConfigError("sefd.rcf_weights: empty, but sefd.edge_source=rcf needs the RCF-PyTorch weights file "
                          "(RCFcheckpoint_epoch12.pth)")
