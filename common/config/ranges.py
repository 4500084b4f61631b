"""Allowed ranges of the numeric config keys, checked by :func:`common.config.validation.validate`.

One table, one rule per key (tuples: per element), so that a value out of range is a one-line error naming the
key and the value instead of a silent no-op (``train.lr=0``), a run that writes nothing (``ckpt_every=0``) or a
crash deep inside PyTorch (``batch_size=0``). Keys added to ``defaults.py`` with a numeric type must get a line
here (tests/test_bad_input.py checks that every numeric key has one).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Interval:
    """lo <= x (or lo < x when ``lo_open``) and x <= hi (or x < hi when ``hi_open``); None = unbounded."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, x: float) -> bool:
        if not math.isfinite(x):
            return False
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        return not (self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi))

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return "finite"


NON_NEGATIVE = Interval(0)
POSITIVE = Interval(0, lo_open=True)
AT_LEAST_ONE = Interval(1)
PROBABILITY = Interval(0, 1)
ANY = Interval()

RANGES: dict[str, Interval] = {
    "experiment.seed": Interval(0, 2 ** 32 - 1),  # numpy seeds
    "experiment.num_threads": NON_NEGATIVE,  # 0 = PyTorch default
    "data.synthetic.num_train_images": AT_LEAST_ONE,
    "data.synthetic.num_test_images": AT_LEAST_ONE,
    "data.synthetic.image_size": Interval(32),
    "data.synthetic.min_people": AT_LEAST_ONE,
    "data.synthetic.max_people": AT_LEAST_ONE,
    "data.synthetic.seed": Interval(0, 2 ** 32 - 1),
    "data.synthetic.occlusion_strata": PROBABILITY,  # each edge
    "data.wholebody_world.num_train_images": AT_LEAST_ONE,
    "data.wholebody_world.num_test_images": AT_LEAST_ONE,
    "data.wholebody_world.image_size": Interval(64),
    "data.wholebody_world.min_people": AT_LEAST_ONE,
    "data.wholebody_world.max_people": AT_LEAST_ONE,
    "data.wholebody_world.seed": Interval(0, 2 ** 32 - 1),
    "data.wholebody_world.ehf_frames": Interval(1, 100),
    "data.train_weights": NON_NEGATIVE,  # each weight
    "data.input_size": Interval(32),
    "data.bbox_enlarge": POSITIVE,
    "data.scale_jitter": Interval(0, 1, hi_open=True),
    "data.rot_jitter_deg": Interval(0, 180),
    "data.rot_prob": PROBABILITY,
    "data.flip_prob": PROBABILITY,
    "data.color_jitter": PROBABILITY,
    "data.batch_size": AT_LEAST_ONE,
    "data.num_workers": NON_NEGATIVE,
    "data.render_workers": Interval(-1, 64),
    "model.num_input_joints": AT_LEAST_ONE,
    "model.heatmap_sigma": POSITIVE,
    "model.depth_bins": AT_LEAST_ONE,
    "model.graph_hidden": AT_LEAST_ONE,
    "model.graph_blocks": NON_NEGATIVE,
    "model.input_channels": Interval(3, 4),
    "train.epochs": AT_LEAST_ONE,
    "train.lr": POSITIVE,
    "train.lr_steps": AT_LEAST_ONE,  # each epoch
    "train.lr_factor": POSITIVE,
    "train.weight_decay": NON_NEGATIVE,
    "train.grad_clip": NON_NEGATIVE,  # 0 = no clipping
    "train.max_iters_per_epoch": NON_NEGATIVE,  # 0 = full epoch
    "train.log_every": NON_NEGATIVE,  # 0 = never
    "train.image_log_every": NON_NEGATIVE,  # 0 = never
    "train.eval_every": NON_NEGATIVE,  # 0 = never
    "train.ckpt_every": AT_LEAST_ONE,
    "train.keep_last": AT_LEAST_ONE,
    "train.ckpt_every_iters": NON_NEGATIVE,  # 0 = off
    "train.loss.joint_img": NON_NEGATIVE,
    "train.loss.smpl_joint_img": NON_NEGATIVE,
    "train.loss.joint_proj": NON_NEGATIVE,
    "train.loss.joint_cam": NON_NEGATIVE,
    "train.loss.smpl_joint_cam": NON_NEGATIVE,
    "train.loss.pose_param": NON_NEGATIVE,
    "train.loss.shape_param": NON_NEGATIVE,
    "train.loss.root_param": NON_NEGATIVE,
    "train.warmup_iters": NON_NEGATIVE,  # 0 = none; shorter than the run (checked when the schedule is built)
    "train.min_lr_factor": PROBABILITY,
    "test.batch_size": AT_LEAST_ONE,
    "sefd.distill_weights": NON_NEGATIVE,  # each weight
    "sefd.distill_scale": NON_NEGATIVE,
    "wholebody.ief_stages": AT_LEAST_ONE,
    "wholebody.ief_hidden": AT_LEAST_ONE,
    "wholebody.ief_dropout": Interval(0, 1, hi_open=True),
    "wholebody.camera_scale_mean": POSITIVE,
    "wholebody.hd_size": Interval(32),
    "wholebody.hand_crop_size": Interval(32),
    "wholebody.head_crop_size": Interval(32),
    "wholebody.hand_box_scale": POSITIVE,
    "wholebody.head_box_scale": POSITIVE,
    "wholebody.train_crop_jitter": Interval(0, 1),
    **{f"wholebody.loss.{k}": NON_NEGATIVE for k in (
        "global_orient", "body_pose", "jaw_pose", "hand_pose", "wrist_pose", "expression", "betas", "shape_prior",
        "body_keypoints2d", "hand_keypoints2d", "face_keypoints2d", "keypoints3d", "part_crop_keypoints2d")},
    **{f"furpe.conf_{k}": PROBABILITY for k in ("body", "hand", "face")},
    "furpe.min_points": Interval(0, 137),
    **{f"furpe.max_error_{k}": NON_NEGATIVE for k in ("body", "hands", "face")},  # 0 = no limit
    "furpe.keep_fraction_hands": PROBABILITY,
    "furpe.keep_fraction_face": PROBABILITY,
    "furpe.distill_weight": NON_NEGATIVE,
    "furpe.ema_momentum": PROBABILITY,
    "furpe.consistency_weight": NON_NEGATIVE,
}


def lookup(cfg: Any, dotted: str) -> Any:
    """``cfg.a.b.c`` for ``'a.b.c'``; raises AttributeError for a key that does not exist."""
    node = cfg
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def range_problems(cfg: Any, ranges: dict[str, Interval] | None = None) -> list[str]:
    """One message per numeric value out of its range: 'key: value ... must be <rule>'."""
    problems = []
    for key, rule in (RANGES if ranges is None else ranges).items():
        try:
            value = lookup(cfg, key)
        except AttributeError:  # a key defined by another branch of the code; nothing to check here
            continue
        items = [(f"{key}[{i}]", v) for i, v in enumerate(value)] if isinstance(value, tuple) else [(key, value)]
        for name, item in items:
            if isinstance(item, (int, float)) and not isinstance(item, bool) and item not in rule:
                problems.append(f"{name}: {item!r} is out of range (must be {rule})")
    return problems
