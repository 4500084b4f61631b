"""Attention crops: square boxes around projected part keypoints, resampled differentiably from the HD crop.

Pixel convention as ``common/geometry/transforms2d.py``: continuous coordinates, pixel (i, j) covers
[i, i+1) x [j, j+1). A crop's affine ``A`` (B, 2, 3) maps crop px -> HD px: x_hd = A[:, :, :2] @ u + A[:, :, 2].
A mirrored crop (the left hand seen as a right hand) has a negative x scale, so ``A`` already contains the flip:
keypoints mapped through its inverse land where they appear in the mirrored crop.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def boxes_from_points(points: Tensor, valid: Tensor | None = None, scale: float = 2.0,
                      min_size: float = 4.0) -> Tensor:
    """Square boxes (B, 4) xyxy around points (B, N, 2) px, DETACHED (ExPose's ``points_to_bbox``).

    Centre = centre of the min/max extent of the valid points; side = max(width, height) x ``scale``, at least
    ``min_size`` px. ``valid``: (N,) or (B, N) mask of points to use (e.g. keypoints the body model defines);
    a sample without any valid point gets a box around all its points. The box is detached: the crop position
    carries no gradient (the part networks learn from the crop's content; ExPose does the same).
    """
    pts = points.detach()
    if valid is None:
        mask = torch.ones(pts.shape[:2], dtype=torch.bool, device=pts.device)
    else:
        mask = (valid > 0).expand(pts.shape[:2]).to(pts.device)
    mask = mask | ~mask.any(dim=1, keepdim=True)
    big = torch.finfo(pts.dtype).max
    lo = torch.where(mask[..., None], pts, pts.new_tensor(big)).amin(dim=1)
    hi = torch.where(mask[..., None], pts, pts.new_tensor(-big)).amax(dim=1)
    centre = (lo + hi) / 2
    side = ((hi - lo).amax(dim=1) * scale).clamp_min(min_size)
    half = side[:, None] / 2
    return torch.cat([centre - half, centre + half], dim=1)


def box_affines(boxes: Tensor, crop_size: int, mirror: bool = False) -> Tensor:
    """(B, 4) xyxy square boxes (HD px) -> (B, 2, 3) crop px -> HD px affines (x flipped when ``mirror``)."""
    side = (boxes[:, 2] - boxes[:, 0]).detach()
    scale = side / crop_size
    a = boxes.new_zeros(boxes.shape[0], 2, 3)
    a[:, 0, 0] = -scale if mirror else scale
    a[:, 0, 2] = boxes[:, 2] if mirror else boxes[:, 0]
    a[:, 1, 1] = scale
    a[:, 1, 2] = boxes[:, 1]
    return a.detach()


def invert_affines(a: Tensor) -> Tensor:
    """(B, 2, 3) -> (B, 2, 3) inverse affines."""
    lin_inv = torch.linalg.inv(a[:, :, :2])
    return torch.cat([lin_inv, -lin_inv @ a[:, :, 2:]], dim=2)


def apply_affines(points: Tensor, a: Tensor) -> Tensor:
    """points (B, N, 2), affines (B, 2, 3) -> (B, N, 2)."""
    return points @ a[:, :, :2].transpose(1, 2) + a[:, None, :, 2]


def sample_crops(images: Tensor, affines: Tensor, crop_size: int) -> Tensor:
    """Bilinear, differentiable resampling: images (B, C, H, W), crop->image affines (B, 2, 3) px ->
    (B, C, crop_size, crop_size); outside the image is 0.

    ``grid_sample`` (align_corners=False) reads normalised coordinates n = 2 x / W - 1, the same continuous
    pixel convention, so theta = N_img . A . N_crop^-1 with N the px -> [-1, 1] scalings.
    """
    b, _, h, w = images.shape
    dev, dt = images.device, images.dtype
    a = torch.cat([affines.to(dev, dt), torch.tensor([[[0.0, 0.0, 1.0]]], device=dev, dtype=dt).expand(b, 1, 3)], 1)
    n_img = torch.tensor([[2.0 / w, 0.0, -1.0], [0.0, 2.0 / h, -1.0], [0.0, 0.0, 1.0]], device=dev, dtype=dt)
    half = crop_size / 2.0
    n_crop_inv = torch.tensor([[half, 0.0, half], [0.0, half, half], [0.0, 0.0, 1.0]], device=dev, dtype=dt)
    theta = (n_img @ a @ n_crop_inv)[:, :2]
    grid = F.affine_grid(theta, [b, images.shape[1], crop_size, crop_size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def jitter_square_boxes(boxes: Tensor, jitter: float, centre_noise: Tensor, side_noise: Tensor) -> Tensor:
    """(K, 4) xyxy square boxes with centres moved by ``centre_noise`` (K, 2) x ``jitter`` x side and sides scaled
    by exp(``side_noise`` (K, 1) x ``jitter``), the noise standard normal (the misses of detected boxes)."""
    centre, side = (boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:3] - boxes[:, :1]
    centre = centre + centre_noise * jitter * side
    side = side * torch.exp(side_noise * jitter)
    return torch.cat([centre - side / 2, centre + side / 2], dim=1)


def with_gt_boxes(boxes: dict[str, Tensor], keypoints2d: Tensor, valid: Tensor, scale_of: dict[str, float],
                  ids_of: dict[str, list[int]], px_to_hd: float, min_points: int = 3,
                  jitter: float = 0.0) -> dict[str, Tensor]:
    """Training aid (``wholebody.train_crops='gt'``): each part box from the GT 2D keypoints where at least
    ``min_points`` of the part's keypoints are valid, else the predicted box (``boxes``).

    keypoints2d (B, 137, 2) body-crop px and valid (B, 137) from the batch; ``px_to_hd`` = H / S; ``ids_of`` /
    ``scale_of``: per part name, its keypoint indices and box scale. Early in training the body network's
    projected hands miss the hands, so crops from its prediction show the part networks nothing to learn from.
    """
    out = {}
    for name, box in boxes.items():
        ids = ids_of[name]
        part_valid = valid[:, ids]
        gt = boxes_from_points(keypoints2d[:, ids].float() * px_to_hd, part_valid, scale_of[name])
        if jitter > 0:
            centre_noise = torch.randn_like(gt[:, :2])  # drawn in this order: centres, then sides
            gt = jitter_square_boxes(gt, jitter, centre_noise, torch.randn_like(gt[:, :1]))
        ok = (part_valid > 0).sum(dim=1, keepdim=True) >= min_points
        out[name] = torch.where(ok, gt.to(box.dtype), box)
    return out


def part_box_scales(hand_scale: float, head_scale: float) -> dict[str, float]:
    """{part name: box scale} for :func:`with_gt_boxes`."""
    return {"left_hand": hand_scale, "right_hand": hand_scale, "head": head_scale}


def part_keypoint_ids(keypoints_valid: Tensor) -> dict[str, list[int]]:
    """{part name: the OpenPose-137 indices of its keypoints that the body model defines} (``keypoints_valid``
    (137,), the layer's)."""
    from common.wholebody.layout import HEAD_IDS, LEFT_HAND, RIGHT_HAND

    valid = keypoints_valid.detach().cpu() > 0
    ids = {"left_hand": range(LEFT_HAND.start, LEFT_HAND.stop),
           "right_hand": range(RIGHT_HAND.start, RIGHT_HAND.stop), "head": HEAD_IDS}
    return {name: [i for i in part if valid[i]] for name, part in ids.items()}
