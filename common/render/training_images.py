"""TensorBoard pictures of a training batch, chosen by the model's kind (main/train.py logs them every
``train.image_log_every`` iterations)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def training_visualizer(model: torch.nn.Module) -> Callable | None:
    """Tensorboard images of a batch's first sample: the crop with the input 2D pose (green) and predicted
    projected joints (red), and the crop with the predicted mesh overlaid (model's virtual crop camera)."""
    from common.joint_sets import skeleton

    core = getattr(model, "module", model)
    core = getattr(core, "student", core)  # SEFD wrappers: draw with the regressor inside
    if not hasattr(core, "focal"):  # the whole-body model: weak perspective, OpenPose-137 keypoints, part boxes
        from common.render.wholebody_visualize import wholebody_pictures

        return lambda batch, preds: wholebody_pictures(batch, preds, core.faces)
    size, bones = float(core.input_size), skeleton("crowdnet30")

    def visualize(batch: dict, preds: dict) -> dict:
        from common.render.visualize import draw_pose2d, overlay_mesh  # the rasterizer loads when first drawn

        img = (batch["img"][0, :3].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        pose = draw_pose2d(img, batch["pose2d"][0].float().cpu(), batch["pose2d_valid"][0].cpu(), bones)
        if "joints_proj" in preds:
            pose = draw_pose2d(pose, preds["joints_proj"][0].detach().float().cpu(), None, bones, (1.0, 0.0, 0.0))
        mesh = overlay_mesh(img, preds["vertices"][0].detach().float().cpu(), core.faces.cpu(),
                            (core.focal, core.focal), (size / 2, size / 2))
        images = {"pose2d": np.ascontiguousarray(pose), "mesh": np.ascontiguousarray(mesh)}
        for key in ("edge", "teacher_edge"):  # SEFD edge channels from the mapper, as grey images
            if key in batch:
                grey = (batch[key][0, 0].float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
                images[key] = np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
        return images

    return visualize
