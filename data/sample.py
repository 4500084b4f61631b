"""The Sample contract: what the shared mapper returns for one person (see docs/DESIGN.md)."""
from __future__ import annotations

import torch

NUM_INPUT_JOINTS = 30  # crowdnet30

# key -> (shape with 'S' for the crop side and 'J' for 30 joints, dtype); OPTIONAL_KEYS may be present (SEFD).
SAMPLE_SPEC: dict[str, tuple[tuple, torch.dtype]] = {
    "img": ((3, "S", "S"), torch.float32),
    "pose2d": (("J", 2), torch.float32),
    "pose2d_valid": (("J",), torch.float32),
    "joints2d": (("J", 2), torch.float32),
    "joints2d_valid": (("J",), torch.float32),
    "joints3d": (("J", 3), torch.float32),
    "joints3d_valid": (("J",), torch.float32),
    "smpl_pose": ((72,), torch.float32),
    "smpl_betas": ((10,), torch.float32),
    "smpl_valid": ((), torch.float32),
    "smpl_gender": ((), torch.int64),
    "crop_to_img": ((2, 3), torch.float32),
    "bbox": ((4,), torch.float32),
    "focal": ((2,), torch.float32),
    "princpt": ((2,), torch.float32),
    "occlusion": ((), torch.float32),
    "index": ((), torch.int64),
}
OPTIONAL_KEYS = {
    "edge": ((1, "S", "S"), torch.float32),  # the model's 4th input channel (SEFD modes; data/edge_maps.py)
    "teacher_edge": ((1, "S", "S"), torch.float32),  # the frozen teacher's edge channel (sefd.mode=student, train)
}


# The whole-body sample (``model.family=wholebody``; data/wholebody_targets.py): 'S' crop side, 'H' the HD crop side
# (wholebody.hd_size), 'K' the 137 OpenPose keypoints. Poses are SMPL-X axis-angle with absolute fingers.
NUM_WHOLEBODY_KEYPOINTS = 137
WHOLEBODY_SAMPLE_SPEC: dict[str, tuple[tuple, torch.dtype]] = {
    "img": ((3, "S", "S"), torch.float32),
    "img_hd": ((3, "H", "H"), torch.float32),
    "keypoints2d": (("K", 2), torch.float32),
    "keypoints2d_valid": (("K",), torch.float32),
    "keypoints3d": (("K", 3), torch.float32),
    "keypoints3d_valid": (("K",), torch.float32),
    "smplx_pose": ((55, 3), torch.float32),
    "smplx_betas": ((10,), torch.float32),
    "smplx_expression": ((10,), torch.float32),
    "smplx_valid": ((), torch.float32),
    "left_hand_valid": ((), torch.float32),
    "right_hand_valid": ((), torch.float32),
    "face_valid": ((), torch.float32),
    "index": ((), torch.int64),
    "bbox": ((4,), torch.float32),
    "focal": ((2,), torch.float32),
    "princpt": ((2,), torch.float32),
    "crop_to_img": ((2, 3), torch.float32),
}


# FuRPE training additions (data/furpe_sample.py; present when the experiment plan asks for them)
WHOLEBODY_OPTIONAL_KEYS: dict[str, tuple[tuple, torch.dtype]] = {
    "expert_features": ((4, 1024), torch.float32),
    "expert_valid": ((4,), torch.float32),
    "img_view2": ((3, "S", "S"), torch.float32),
    "img_hd_view2": ((3, "H", "H"), torch.float32),
    "views_flip": ((2,), torch.float32),
    "views_rot_deg": ((2,), torch.float32),
    "views_img_to_crop": ((2, 2, 3), torch.float32),
}


def check_wholebody_sample(sample: dict, input_size: int, hd_size: int, batched: bool = False) -> None:
    """:func:`check_sample` for the whole-body contract :data:`WHOLEBODY_SAMPLE_SPEC` (+ the FuRPE keys)."""
    _check(sample, WHOLEBODY_SAMPLE_SPEC, WHOLEBODY_OPTIONAL_KEYS,
           {"S": input_size, "H": hd_size, "K": NUM_WHOLEBODY_KEYPOINTS}, batched)


def check_sample(sample: dict, input_size: int, batched: bool = False) -> None:
    """Raise ValueError naming the key whose shape/dtype breaks the contract (or that is missing/unknown)."""
    _check(sample, SAMPLE_SPEC, OPTIONAL_KEYS, {"S": input_size, "J": NUM_INPUT_JOINTS}, batched)


def _check(sample: dict, spec: dict, optional: dict, sizes: dict, batched: bool) -> None:
    specs = {**spec, **{k: v for k, v in optional.items() if k in sample}}
    missing = set(spec) - set(sample)
    unknown = set(sample) - set(specs)
    if missing or unknown:
        raise ValueError(f"sample: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
    for key, (shape, dtype) in specs.items():
        value = sample[key]
        want = tuple(sizes.get(s, s) for s in shape)
        got = tuple(value.shape[1:]) if batched else tuple(value.shape)
        if not torch.is_tensor(value) or got != want or value.dtype != dtype:
            raise ValueError(f"sample['{key}']: expected {dtype} {want}, got "
                             f"{getattr(value, 'dtype', type(value).__name__)} {got}")
