"""Pictures of whole-body predictions (TensorBoard images, demo): keypoints, part boxes, mesh over the crop.

Predictions follow common/models/wholebody (``vertices`` (B, V, 3) in the model frame, ``camera`` (B, 3)
weak perspective (s, tx, ty) on the body crop, ``keypoints2d`` (B, 137, 2) body-crop px, part boxes
``left_hand_box`` / ``right_hand_box`` / ``head_box`` (B, 4) xyxy in ``img_hd`` px).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from common.geometry.camera import weak_perspective_translation

RENDER_FOCAL = 5000.0  # px: a far pinhole camera equivalent to the weak perspective (HMR/SPIN)


def crop_image(batch: Mapping[str, Any], key: str = "img", index: int = 0) -> np.ndarray:
    """(S, S, 3) uint8 RGB of sample ``index`` of a batch image tensor (B, 3, S, S) in [0, 1]."""
    img = batch[key][index, :3].detach().float().clamp(0, 1).permute(1, 2, 0)
    return np.ascontiguousarray((img * 255).round().to(torch.uint8).cpu().numpy())


def mesh_on_crop(image: np.ndarray, vertices: torch.Tensor, faces: torch.Tensor, camera: torch.Tensor,
                 color=(0.65, 0.74, 0.86)) -> np.ndarray:
    """Render one whole-body mesh (V, 3) with its weak-perspective ``camera`` (3,) over the (S, S, 3) crop."""
    from common.render.visualize import overlay_mesh

    size = float(image.shape[0])
    shift = weak_perspective_translation(camera[None].float(), RENDER_FOCAL, size)[0]
    return overlay_mesh(image, vertices.detach().float().cpu() + shift.cpu(), faces.cpu(), (RENDER_FOCAL,) * 2,
                        (size / 2, size / 2), color)


def draw_boxes(image: np.ndarray, boxes: list[np.ndarray], scale: float, color=(1.0, 1.0, 0.0)) -> np.ndarray:
    """Rectangles (xyxy, in a frame ``scale`` times the image's) drawn on a copy of ``image``."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    bgr = tuple(int(255 * c) for c in color)
    for box in boxes:
        x0, y0, x1, y1 = (np.asarray(box, np.float64) / scale).round().astype(int).tolist()
        cv2.rectangle(out, (x0, y0), (x1, y1), bgr, 1)
    return out


def wholebody_pictures(batch: Mapping[str, Any], preds: Mapping[str, Any], faces: torch.Tensor,
                       index: int = 0) -> dict[str, np.ndarray]:
    """{'keypoints': crop with GT (green) and predicted (red) OpenPose-137 keypoints and the part boxes,
    'mesh': crop with the predicted mesh} for sample ``index``."""
    from common.joint_sets import skeleton
    from common.render.visualize import draw_pose2d

    img = crop_image(batch, "img", index)
    bones = skeleton("openpose137")
    pics = draw_pose2d(img, batch["keypoints2d"][index].float().cpu(), batch["keypoints2d_valid"][index].cpu(),
                       bones, (0.0, 1.0, 0.0), radius=1, thickness=1)
    pics = draw_pose2d(pics, preds["keypoints2d"][index].detach().float().cpu(), None, bones, (1.0, 0.0, 0.0),
                       radius=1, thickness=1)
    boxes = [preds[k][index].detach().float().cpu().numpy() for k in ("left_hand_box", "right_hand_box", "head_box")
             if k in preds]
    if boxes and "img_hd" in batch:
        pics = draw_boxes(pics, boxes, batch["img_hd"].shape[-1] / img.shape[0])
    mesh = mesh_on_crop(img, preds["vertices"][index], faces, preds["camera"][index])
    return {"keypoints": pics, "mesh": mesh}


def to_crop_camera(preds: Mapping[str, Any], crop_size: int) -> dict:
    """Whole-body predictions as the demo's mesh writer wants them: ``vertices`` (B, V, 3) moved into the pinhole
    crop camera of focal :data:`RENDER_FOCAL` equivalent to the weak perspective, and that ``cam_trans`` (B, 3)."""
    shift = weak_perspective_translation(preds["camera"].float(), RENDER_FOCAL, float(crop_size))
    return {**preds, "vertices": preds["vertices"].float() + shift[:, None], "cam_trans": shift}


def draw_image_keypoints(image: np.ndarray, keypoints2d: torch.Tensor, crop_to_img: torch.Tensor,
                         valid: torch.Tensor | None = None) -> np.ndarray:
    """Every person's OpenPose-137 keypoints (N, 137, 2) in crop px, mapped to the image by ``crop_to_img``
    (N, 2, 3), drawn with the OpenPose-137 skeleton (face points as dots)."""
    from common.joint_sets import skeleton
    from common.render.visualize import draw_pose2d

    out, bones = image, skeleton("openpose137")
    for k in range(keypoints2d.shape[0]):
        m = crop_to_img[k].double()
        pts = keypoints2d[k].double() @ m[:, :2].T + m[:, 2]
        out = draw_pose2d(out, pts, None if valid is None else valid, bones, (1.0, 0.2, 0.2), radius=1, thickness=1)
    return out
