"""The pseudo-label of one image in our conventions, and the array checks every reader shares.

A :class:`PseudoLabel` is whole-body SMPL-X supervision assembled from part experts (FuRPE, docs/furpe.md):
``smplx_pose`` (55, 3) axis-angle in SMPL-X joint order (global orient, 21 body joints, jaw, two eyes (zero),
15 left-hand, 15 right-hand joints) with **absolute** finger rotations (common/wholebody/params.py: the model
file's hand mean is already added, ``SMPLXParams.from_axis_angle(pose[None], ...)`` takes it as it is), per-part
validity (a part's rows mean nothing where it is not valid), the experts' feature vectors and the detector's
OpenPose-137 keypoints.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.errors import UserError
from common.models.furpe.distill import EXPERT_DIM, EXPERT_PARTS

PARTS, FEATURE_DIM = EXPERT_PARTS, EXPERT_DIM  # the label's parts; the experts' feature size (save_feature_*)
# rows of smplx_pose (55, 3) each part supervises
PART_ROWS = {"body": slice(0, 22), "face": slice(22, 23), "left_hand": slice(25, 40), "right_hand": slice(40, 55)}
HAND_ANGLE_LIMIT = 3.15  # rad; the release drops a hand label with any axis-angle component at or beyond it


class PseudoLabelError(UserError, ValueError):
    """A pseudo-label or expert-output file is malformed (the message names the file and the key)."""


@dataclass
class PseudoLabel:
    """Whole-body SMPL-X supervision for one image, from part experts.

    Attributes:
        smplx_pose: (55, 3) float32 axis-angle, rad, SMPL-X joint order, absolute fingers, eyes zero.
        betas: (10,) float32 SMPL-X shape (zeros: the body expert's SMPL betas are dropped, see docs/furpe.md).
        expression: (10,) float32 SMPL-X expression (the face expert's first 10 coefficients).
        valid: part name (:data:`PARTS`) -> whether that part's label may supervise.
        features: part name -> (1024,) float32 expert feature, only for parts whose expert gave one.
        keypoints2d: (137, 3) detector x, y (px) and confidence in the OpenPose-137 layout, or None.
        source: the file(s) the label came from (for messages). meta: anything else (camera, crop box).
    """

    smplx_pose: np.ndarray
    betas: np.ndarray
    expression: np.ndarray
    valid: dict[str, bool]
    features: dict[str, np.ndarray] = field(default_factory=dict)
    keypoints2d: np.ndarray | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def part_mask(self) -> np.ndarray:
        """(55,) float32 1 where a valid part supervises that joint's rotation (eyes never)."""
        mask = np.zeros(55, np.float32)
        for part, rows in PART_ROWS.items():
            if self.valid.get(part, False):
                mask[rows] = 1.0
        return mask

    def validate(self) -> "PseudoLabel":
        """Shape/finiteness checks; PseudoLabelError naming ``source`` and the field."""
        for name, shape in (("smplx_pose", (55, 3)), ("betas", (10,)), ("expression", (10,))):
            check_array(getattr(self, name), shape, self.source, name)
        if self.keypoints2d is not None:
            check_array(self.keypoints2d, (137, 3), self.source, "keypoints2d")
        unknown = set(self.valid) - set(PARTS)
        if unknown:
            raise PseudoLabelError(f"{self.source}: unknown part {sorted(unknown)[0]!r} in valid")
        for part, feat in self.features.items():
            if part not in PARTS:
                raise PseudoLabelError(f"{self.source}: unknown part {part!r} in features")
            check_array(feat, (FEATURE_DIM,), self.source, f"features[{part}]")
        return self


def to_numpy(value: Any) -> np.ndarray:
    """numpy array of a numpy/torch/list value (torch tensors are detached and moved to the CPU)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def check_array(value: Any, shape: tuple[int, ...], where: str, key: str) -> np.ndarray:
    """``value`` as float32 of ``shape``; any layout with the same number of elements is accepted (the release
    stores (1, 10) for (10,)). PseudoLabelError naming ``where`` and ``key`` on a wrong size, non-numbers or NaN."""
    try:
        arr = to_numpy(value)
    except (TypeError, ValueError):
        raise PseudoLabelError(f"{where}: key {key!r} is not an array") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise PseudoLabelError(f"{where}: key {key!r} is not a numeric array (dtype {arr.dtype})")
    if arr.size != int(np.prod(shape)):
        raise PseudoLabelError(f"{where}: key {key!r} has shape {tuple(arr.shape)}, expected {shape}")
    arr = arr.astype(np.float32).reshape(shape)
    if not np.all(np.isfinite(arr)):
        raise PseudoLabelError(f"{where}: key {key!r} contains NaN/inf")
    return arr


def check_keys(data: dict, known: set[str] | frozenset[str], where: str, required: tuple[str, ...] = ()) -> None:
    """PseudoLabelError naming the first unknown or missing key of ``data``."""
    if not isinstance(data, dict):
        raise PseudoLabelError(f"{where}: expected a dict of arrays, got {type(data).__name__}")
    for key in sorted(map(str, data)):
        if key not in known:
            raise PseudoLabelError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
    for key in required:
        if key not in data:
            raise PseudoLabelError(f"{where}: key {key!r} is missing")


def hand_label_ok(hand_pose: np.ndarray, limit: float = HAND_ANGLE_LIMIT) -> bool:
    """The release's rule: a hand label (15, 3) absolute axis-angle is used only if every component is < limit
    in magnitude (a component of +-3.2 rad drops it)."""
    return bool(np.all(np.abs(hand_pose) < limit))
