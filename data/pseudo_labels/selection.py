"""Pseudo-label selection: the release's keypoint-confidence filters and a per-part reprojection-quality gate.

Released filters (FuRPE history, wholebody-facts.md 1.b): detector confidences below 0.1 (body) / 0.2 (hands) /
0.4 (face) are zeroed; an image is kept with at least 12 surviving OpenPose-137 points (for COCO-WholeBody
detections: at least 6 body points, ``min_body_points=6``); a hand label needs more than 8 confident points of
that hand, a face label more than 8 confident head points.

Quality gate (what the paper implies; the release's criterion was never published): each part's label is
turned into OpenPose-137 keypoints by the whole-body layer and projected with a weak-perspective camera
``x_px = s * X_xy + t``; the camera is either given (one per image, shared by all parts) or fitted per part by
least squares to that part's confident detections (scale + translation, no rotation, so a part is judged on its
own articulation and orientation, not on where the body put it). The part's error is the mean distance over its
confident detected points divided by the size (longer side) of the box around them. A part is kept when its
error is at most ``max_error[part]`` or, with ``keep_fraction[part]``, when it is among that best fraction of
the parts still valid. An image whose body label fails is dropped.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from common.wholebody.layout import BODY, FACE, HEAD_IDS, LEFT_HAND, RIGHT_HAND
from data.pseudo_labels.label import PARTS, PseudoLabel

PART_KEYPOINTS = {"body": np.arange(BODY.start, BODY.stop), "left_hand": np.arange(LEFT_HAND.start, LEFT_HAND.stop),
                  "right_hand": np.arange(RIGHT_HAND.start, RIGHT_HAND.stop), "face": np.arange(FACE.start, FACE.stop)}


def zero_low_confidence(keypoints: np.ndarray, body: float = 0.1, hand: float = 0.2, face: float = 0.4) -> np.ndarray:
    """(..., 137, 3) detections -> copy with confidences below each part's threshold (and negative ones) set to 0."""
    out = np.array(keypoints, dtype=np.float32, copy=True)
    conf = out[..., 2]
    thresholds = np.empty(137, np.float32)
    thresholds[BODY], thresholds[FACE] = body, face
    thresholds[LEFT_HAND] = thresholds[RIGHT_HAND] = hand
    conf[(conf < thresholds) | (conf < 0)] = 0.0
    return out


def fit_weak_perspective(points3d: np.ndarray, points2d: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Least-squares ``s``, ``t`` (2,) with ``s * X_xy + t ~= x`` over weighted points ((K,3), (K,2), (K,)); s
    is 0 when fewer than two points carry weight or they coincide."""
    w = np.asarray(weights, np.float64)
    if (w > 0).sum() < 2:
        return 0.0, np.zeros(2)
    xy, uv = np.asarray(points3d, np.float64)[:, :2], np.asarray(points2d, np.float64)
    mx, mu = (w[:, None] * xy).sum(0) / w.sum(), (w[:, None] * uv).sum(0) / w.sum()
    dx, du = xy - mx, uv - mu
    den = (w * (dx ** 2).sum(1)).sum()
    s = float((w * (dx * du).sum(1)).sum() / den) if den > 0 else 0.0
    return s, mu - s * mx


def part_reprojection_errors(keypoints3d: np.ndarray, detections: np.ndarray, model_valid: np.ndarray | None = None,
                             camera: np.ndarray | None = None, min_points: int = 2) -> dict[str, np.ndarray]:
    """Per-part normalised reprojection error of label keypoints against detections.

    Args:
        keypoints3d: (N, 137, 3) m, the labels' keypoints (e.g. ``WholeBodyLayer(params).keypoints``).
        detections: (N, 137, 3) px + confidence (already thresholded: a point counts when its confidence > 0).
        model_valid: (137,) 1 where the model defines the keypoint (``WholeBodyLayer.keypoints_valid``).
        camera: (N, 3) weak perspective (s px/m, tx px, ty px) shared by all parts; None = fitted per part.
        min_points: fewer usable points than this gives NaN.
    Returns:
        part -> (N,) mean point distance / longer side of the part's detection box (NaN when not measurable).
    """
    kp3, det = np.asarray(keypoints3d, np.float64), np.asarray(detections, np.float64)
    usable = (det[..., 2] > 0) & (np.ones(137, bool) if model_valid is None else np.asarray(model_valid) > 0)
    out = {part: np.full(len(kp3), np.nan) for part in PARTS}
    for n in range(len(kp3)):
        for part, ids in PART_KEYPOINTS.items():
            sel = ids[usable[n, ids]]
            if len(sel) < min_points:
                continue
            uv = det[n, sel, :2]
            size = float((uv.max(0) - uv.min(0)).max())
            if size <= 0:
                continue
            if camera is None:
                s, t = fit_weak_perspective(kp3[n, sel], uv, np.ones(len(sel)))
            else:
                s, t = float(camera[n, 0]), np.asarray(camera[n, 1:], np.float64)
            proj = s * kp3[n, sel, :2] + t
            out[part][n] = float(np.linalg.norm(proj - uv, axis=1).mean() / size)
    return out


def select_labels(labels: Sequence[PseudoLabel], keypoints3d: np.ndarray | None = None,
                  model_valid: np.ndarray | None = None, camera: np.ndarray | None = None,
                  thresholds: Mapping[str, float] | None = None, min_points: int = 12,
                  min_body_points: int | None = None, min_hand_points: int = 8, min_head_points: int = 8,
                  max_error: Mapping[str, float] | None = None,
                  keep_fraction: Mapping[str, float] | None = None) -> tuple[list[int], list[PseudoLabel], Counter]:
    """Apply the filters in order; returns (indices of the kept labels, the kept labels with updated validity and
    thresholded keypoints, counts of what each filter removed).

    ``labels`` need ``keypoints2d`` (a label without detections is dropped and counted). ``thresholds``: part
    ('body', 'hand', 'face') -> confidence threshold (defaults 0.1 / 0.2 / 0.4). The quality gate runs only when
    ``max_error`` or ``keep_fraction`` names a part; it needs ``keypoints3d`` (N, 137, 3) of the labels (N =
    len(labels)). Counts: ``images_in``, ``no_keypoints``, ``few_keypoints``, ``few_body_points``,
    ``<part>_few_points``, ``<part>_error`` (parts failing the gate; ``body_error`` drops the image),
    ``images_kept``.
    """
    for name, table in (("max_error", max_error or {}), ("keep_fraction", keep_fraction or {})):
        for part, value in table.items():
            if part not in PARTS or value < 0 or (name == "keep_fraction" and value > 1):
                raise ValueError(f"select_labels: {name}[{part!r}] = {value} (parts {PARTS}; fractions in [0, 1])")
    counts: Counter = Counter(images_in=len(labels))
    stage = _keypoint_filters(labels, {"body": 0.1, "hand": 0.2, "face": 0.4, **(thresholds or {})}, min_points,
                              min_body_points, min_hand_points, min_head_points, counts)
    gated = set(max_error or {}) | set(keep_fraction or {})
    if gated and stage:
        if keypoints3d is None:
            raise ValueError("select_labels: the quality gate (max_error / keep_fraction) needs keypoints3d")
        idx = [i for i, _ in stage]
        errors = part_reprojection_errors(np.asarray(keypoints3d)[idx], np.stack([lab.keypoints2d for _, lab in stage]),
                                          model_valid, None if camera is None else np.asarray(camera)[idx])
        failed_body = set()
        for part in sorted(gated):
            ok = _gate(errors[part], np.array([lab.valid.get(part, False) for _, lab in stage]),
                       (max_error or {}).get(part, np.inf), (keep_fraction or {}).get(part))
            for j, (_, lab) in enumerate(stage):
                if lab.valid.get(part, False) and not ok[j]:
                    lab.valid = {**lab.valid, part: False}
                    counts[f"{part}_error"] += 1
                    if part == "body":
                        failed_body.add(j)
        stage = [item for j, item in enumerate(stage) if j not in failed_body]
    counts["images_kept"] = len(stage)
    return [i for i, _ in stage], [lab for _, lab in stage], counts


def _keypoint_filters(labels: Sequence[PseudoLabel], th: Mapping[str, float], min_points: int,
                      min_body_points: int | None, min_hand_points: int, min_head_points: int,
                      counts: Counter) -> list[tuple[int, PseudoLabel]]:
    """The released filters: (index, copy with thresholded keypoints and updated validity) of the kept labels."""
    stage = []
    for i, label in enumerate(labels):
        if label.keypoints2d is None:
            counts["no_keypoints"] += 1
            continue
        kp = zero_low_confidence(label.keypoints2d, th["body"], th["hand"], th["face"])
        conf = kp[:, 2] > 0
        if conf.sum() < min_points:
            counts["few_keypoints"] += 1
            continue
        if min_body_points is not None and conf[BODY].sum() < min_body_points:
            counts["few_body_points"] += 1
            continue
        valid = dict(label.valid)
        for part, ids, need in (("left_hand", LEFT_HAND, min_hand_points), ("right_hand", RIGHT_HAND, min_hand_points),
                                ("face", list(HEAD_IDS), min_head_points)):
            if valid.get(part) and conf[ids].sum() <= need:
                valid[part] = False
                counts[f"{part}_few_points"] += 1
        stage.append((i, replace(label, keypoints2d=kp, valid=valid)))
    return stage


def _gate(err: np.ndarray, candidate: np.ndarray, limit: float, fraction: float | None) -> np.ndarray:
    """(M,) bool: candidates with a finite error <= limit, and (with ``fraction``) among the best
    floor(fraction * #candidates) of them."""
    ok = candidate & np.isfinite(err) & (err <= limit)
    if fraction is not None:
        k = int(np.floor(fraction * candidate.sum()))
        best = np.zeros(len(ok), bool)
        best[np.argsort(np.where(ok, err, np.inf), kind="stable")[:k]] = True
        ok &= best
    return ok


def label_keypoints3d(labels: Sequence[PseudoLabel], layer, batch_size: int = 64) -> np.ndarray:
    """(N, 137, 3) m OpenPose-137 keypoints of each label's SMPL-X parameters through ``layer`` (a
    :class:`~common.wholebody.layer.WholeBodyLayer`), root at the model origin (no translation)."""
    import torch

    from common.wholebody.params import SMPLXParams

    chunks = []
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            part = labels[start:start + batch_size]
            pose = torch.as_tensor(np.stack([lab.smplx_pose for lab in part]))
            params = SMPLXParams.from_axis_angle(pose, torch.as_tensor(np.stack([lab.betas for lab in part])),
                                                 torch.as_tensor(np.stack([lab.expression for lab in part])))
            chunks.append(layer(params).keypoints.double().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, 137, 3))
