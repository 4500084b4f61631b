"""The part networks' pass inside :class:`~common.models.wholebody.model.WholeBodyModel`: crops sampled from
``img_hd``, the hand network on both hands at once (mirrored left, then right), the head network, and the parts'
keypoints projected into their own crops (for the part-crop keypoint terms). Split out of ``model.py``."""
from __future__ import annotations

import torch
from torch import Tensor
from torch.profiler import record_function

from common.models.wholebody import crops as crop_ops
from common.models.wholebody import parts
from common.models.wholebody.kinematics import HEAD, L_WRIST, R_WRIST
from common.models.wholebody.param_vector import (
    hand_dict_to_vector,
    hand_vector_to_dict,
    head_dict_to_vector,
    head_vector_to_dict,
)
from common.wholebody.layout import HEAD_IDS, LEFT_HAND, RIGHT_HAND


def fp32(like: Tensor):
    """Autocast off on ``like``'s device: geometry runs in float32 under AMP."""
    return torch.autocast(like.device.type, enabled=False)


def run_hands(model, img_hd: Tensor, start: tuple, affines: dict, preds: dict) -> tuple[dict, dict]:
    """Both hands in one pass of ``model.hand_net`` (2B crops: mirrored left, then right) -> (left, right) dicts
    (wrist (B, 3, 3) global, hand_pose (B, 15, 3, 3), betas, camera (B, 3)); the left one un-mirrored."""
    body, joints, rotations, camera, boxes = start
    with fp32(img_hd), record_function("crop_sampler"):
        hd = img_hd.float()
        # the module attribute, so tool/bench/wholebody.py can time the sampler by replacing it
        crops = crop_ops.sample_crops(torch.cat([hd, hd]), torch.cat([affines["left_hand"], affines["right_hand"]]),
                                      model.hand_crop_size)
        inits = [parts.hand_init(body, joints, rotations, camera, boxes[f"{side}_hand"], model.hd_size, side)
                 for side in ("left", "right")]
        init = torch.cat([hand_dict_to_vector(i) for i in inits])
    with record_function("hand_net"):
        stages, feature = model.hand_net(crops, init)
    with fp32(img_hd):
        out = hand_vector_to_dict(stages[-1].float())
        b = body.batch_size
        left = parts.unmirror_hand({k: v[:b] for k, v in out.items()})
        right = {k: v[b:] for k, v in out.items()}
    preds.update(left_hand_camera=left["camera"], right_hand_camera=right["camera"])
    preds["features"].update(left_hand=feature[:b], right_hand=feature[b:])  # pooled features (FuRPE distillation)
    if model.keep_crops:
        preds.update(left_hand_crop=crops[:b], right_hand_crop=crops[b:])
    return left, right


def run_head(model, img_hd: Tensor, start: tuple, affines: dict, preds: dict) -> dict:
    """``model.head_net`` on the head crops -> head_pose (B, 3, 3) global, jaw_pose, expression, camera."""
    body, joints, rotations, camera, boxes = start
    with fp32(img_hd), record_function("crop_sampler"):
        crops = crop_ops.sample_crops(img_hd.float(), affines["head"], model.head_crop_size)
        init = head_dict_to_vector(parts.head_init(body, joints, rotations, camera, boxes["head"], model.hd_size))
    with record_function("head_net"):
        stages, preds["features"]["face"] = model.head_net(crops, init)
    with fp32(img_hd):
        out = head_vector_to_dict(stages[-1].float())
    preds.update(head_camera=out["camera"], head_pose=out["head_pose"])
    if model.keep_crops:
        preds["head_crop"] = crops
    return out


def part_keypoints(out, rotations: list[Tensor], head: dict | None, preds: dict, hand_crop_size: int,
                   head_crop_size: int) -> None:
    """The part networks' keypoints projected into their own crops (crop px), from the final mesh ``out``."""
    kp, joints = out.keypoints, out.joints
    if "left_hand_camera" in preds:
        preds["left_hand_crop_keypoints2d"] = parts.part_keypoints_in_crop(
            kp[:, LEFT_HAND], joints[:, L_WRIST], preds["left_hand_camera"], hand_crop_size, mirror=True)
        preds["right_hand_crop_keypoints2d"] = parts.part_keypoints_in_crop(
            kp[:, RIGHT_HAND], joints[:, R_WRIST], preds["right_hand_camera"], hand_crop_size)
    if head is not None:
        turn = head["head_pose"] @ rotations[HEAD].transpose(1, 2)  # head net's head orientation, about joint 15
        preds["head_crop_keypoints2d"] = parts.part_keypoints_in_crop(
            kp[:, list(HEAD_IDS)], joints[:, HEAD], head["camera"], head_crop_size, rotation=turn)
