"""Crops and targets of the part experts (common/models/furpe/experts.py), placed from 2D keypoints.

The same placement serves training (GT 2D keypoints, the points the world marks visible) and labelling (the
detections, points with confidence > 0), so an expert sees at labelling time the crops it was trained on:
- body: the square box around every usable OpenPose-137 point x ``BODY_BOX_SCALE`` (1.2, the EHF adapter's
  keypoint box);
- hands: the square box around the hand's usable points x ``hand_scale`` (``wholebody.hand_box_scale``); the
  left hand is cut mirrored so that the hand expert only ever sees right hands;
- face: the square box around the usable head points (``HEAD_IDS``) x ``head_scale`` (``wholebody.head_box_scale``).
A part needs ``MIN_PART_POINTS`` usable points (fewer: no crop, no label for that part).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from common.models.wholebody.crops import box_affines, boxes_from_points, jitter_square_boxes, sample_crops
from common.wholebody.layout import HEAD_IDS, LEFT_HAND, RIGHT_HAND

BODY_BOX_SCALE = 1.2
MIN_PART_POINTS = 3
CROP_PARTS = ("body", "left_hand", "right_hand", "face")
EXPERT_OF = {"body": "body", "left_hand": "hand", "right_hand": "hand", "face": "face"}


def part_point_ids(keypoints_defined: np.ndarray) -> dict[str, np.ndarray]:
    """{crop part: OpenPose-137 indices of its points that the body model defines} (``keypoints_defined`` (137,))."""
    defined = np.asarray(keypoints_defined) > 0
    ids = {"body": range(137), "left_hand": range(LEFT_HAND.start, LEFT_HAND.stop),
           "right_hand": range(RIGHT_HAND.start, RIGHT_HAND.stop), "face": HEAD_IDS}
    return {part: np.array([i for i in idx if defined[i]], np.int64) for part, idx in ids.items()}


def part_boxes(points: np.ndarray, usable: np.ndarray, ids: Mapping[str, np.ndarray], hand_scale: float,
               head_scale: float) -> dict[str, np.ndarray | None]:
    """One person's square crop boxes (4,) xyxy image px, or None for a part with < MIN_PART_POINTS usable points.

    points (137, 2) px; usable (137,) bool (visible GT point / detection with confidence > 0).
    """
    scales = {"body": BODY_BOX_SCALE, "left_hand": hand_scale, "right_hand": hand_scale, "face": head_scale}
    out: dict[str, np.ndarray | None] = {}
    for part in CROP_PARTS:
        sel = ids[part][np.asarray(usable)[ids[part]]]
        if len(sel) < MIN_PART_POINTS:
            out[part] = None
            continue
        pts = torch.as_tensor(np.asarray(points, np.float32)[sel])[None]
        out[part] = boxes_from_points(pts, None, scales[part])[0].numpy()
    return out


def jitter_boxes(boxes: np.ndarray, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """(K, 4) square boxes -> centres moved by N(0, (jitter x side)^2), sides x exp(N(0, jitter^2))
    (``with_gt_boxes``'s jitter: the misses of detected boxes)."""
    boxes = np.asarray(boxes, np.float32)
    if jitter <= 0:
        return boxes.copy()
    centre_noise = rng.normal(0.0, 1.0, (len(boxes), 2))
    side_noise = rng.normal(0.0, 1.0, (len(boxes), 1))
    out = jitter_square_boxes(torch.as_tensor(boxes, dtype=torch.float64), jitter, torch.as_tensor(centre_noise),
                              torch.as_tensor(side_noise))
    return out.numpy().astype(np.float32)


def crop_image(image: np.ndarray, boxes: np.ndarray, size: int, mirror: Sequence[bool] | None = None) -> Tensor:
    """RGB uint8 (H, W, 3) image, (K, 4) xyxy px boxes -> (K, 3, size, size) float crops in [0, 1] (bilinear;
    outside the image 0); ``mirror[k]`` cuts crop k mirrored (a left hand seen as a right hand)."""
    boxes_t = torch.as_tensor(np.asarray(boxes, np.float32)).reshape(-1, 4)
    flags = [False] * len(boxes_t) if mirror is None else list(mirror)
    affines = torch.stack([box_affines(b[None], size, mirror=bool(m))[0] for b, m in zip(boxes_t, flags)])
    img = torch.as_tensor(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0
    return sample_crops(img.expand(len(boxes_t), -1, -1, -1), affines, size)


def expert_targets(pose: np.ndarray, betas: np.ndarray, expression: np.ndarray) -> dict[str, dict[str, Tensor]]:
    """GT of N people (``pose`` (N, 55, 3) axis-angle absolute fingers, betas (N, 10), expression (N, 10)) ->
    {expert input: {field: (N, ...)}} for 'body', 'left_hand' (mirrored into a right hand, as its crop),
    'right_hand' and 'face' (fields of ``common.models.furpe.experts.LAYOUTS``)."""
    from common.models.wholebody.kinematics import L_WRIST, R_WRIST, global_rotations
    from common.wholebody.params import SMPLXParams, mirror_rotmats

    f32 = lambda x: torch.as_tensor(np.asarray(x, np.float32))  # noqa: E731
    params = SMPLXParams.from_axis_angle(f32(pose).reshape(-1, 55, 3), f32(betas), f32(expression))
    rotations = global_rotations(params)
    return {"body": {"global_orient": params.global_orient, "body_pose": params.body_pose, "betas": params.betas},
            "left_hand": {"wrist": mirror_rotmats(rotations[L_WRIST]),
                          "hand_pose": mirror_rotmats(params.left_hand_pose)},
            "right_hand": {"wrist": rotations[R_WRIST], "hand_pose": params.right_hand_pose},
            "face": {"jaw_pose": params.jaw_pose, "expression": params.expression}}


def largest_person(records: Sequence) -> dict[str, int]:
    """{image path: index into ``records`` of its person with the largest box area} (FuRPE labels one person
    per image; the largest is the one a detector-driven labeller would pick first)."""
    best: dict[str, int] = {}
    for i, rec in enumerate(records):
        area = float(rec.bbox[2] * rec.bbox[3])
        j = best.get(rec.image_path)
        if j is None or area > float(records[j].bbox[2] * records[j].bbox[3]):
            best[rec.image_path] = i
    return best
