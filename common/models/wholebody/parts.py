"""Part-network starts from the body prediction, part keypoints in their crops, and the merge.

Cameras: the body projects X to crop units s (X_xy + t); the HD crop (side H) is the same window, so X lands at
x_hd = (s (X_xy + t) + 1) H / 2. A part crop of side L (HD px) centred at c is sampled at crop_size px. Writing
the part camera relative to a part root w (the wrist or head joint), u = (s_p (X_xy - w_xy + t_p) + 1) / 2 *
crop_size reproduces the body's projection exactly with s_p = s H / L and t_p = w_xy + ((s t + 1) H - 2 c) / (s H)
(:func:`part_camera_from_body`). In a mirrored crop (left hand) x -> -x, so t_p,x -> -t_p,x.
"""
from __future__ import annotations

import torch
from torch import Tensor

from common.models.wholebody.kinematics import HEAD, L_ELBOW, L_WRIST, R_ELBOW, R_WRIST, wrist_to_relative
from common.models.wholebody.param_vector import weak_perspective
from common.wholebody.params import SMPLXParams, mirror_rotmats


def part_camera_from_body(camera: Tensor, boxes: Tensor, root_xy: Tensor, hd_size: int,
                          mirror: bool = False) -> Tensor:
    """Body camera (B, 3) decoded, part boxes (B, 4) HD px xyxy, part roots (B, 2) m -> part camera (B, 3) decoded."""
    s, t = camera[:, :1], camera[:, 1:]
    side = (boxes[:, 2:3] - boxes[:, 0:1]).clamp_min(1e-6)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    s_part = s * hd_size / side
    t_part = root_xy + ((s * t + 1) * hd_size - 2 * centre) / (s * hd_size)
    if mirror:
        t_part = t_part * t_part.new_tensor([-1.0, 1.0])
    return torch.cat([s_part, t_part], dim=1)


def mirror_points(points: Tensor) -> Tensor:
    """(..., 3) points seen in a horizontally mirrored world: x -> -x."""
    return points * points.new_tensor([-1.0, 1.0, 1.0])


def hand_init(params: SMPLXParams, joints: Tensor, rotations: list[Tensor], camera: Tensor, box: Tensor,
              hd_size: int, side: str) -> dict[str, Tensor]:
    """Start of the hand network for one side (left is mirrored into a right hand), all detached.

    params / joints (B, 55, 3) / global ``rotations`` (kinematics.global_rotations) / camera: the body prediction.
    Returns wrist (B, 3, 3) global, hand_pose (B, 15, 3, 3), betas (B, 10), camera (B, 3) in the (mirrored) crop.
    """
    left = side == "left"
    wrist = rotations[L_WRIST if left else R_WRIST].detach()
    fingers = (params.left_hand_pose if left else params.right_hand_pose).detach()
    root = joints[:, L_WRIST if left else R_WRIST, :2].detach()
    cam = part_camera_from_body(camera.detach(), box, root, hd_size, mirror=left)
    if left:
        wrist, fingers = mirror_rotmats(wrist), mirror_rotmats(fingers)
    return {"wrist": wrist, "hand_pose": fingers, "betas": params.betas.detach(), "camera": cam}


def head_init(params: SMPLXParams, joints: Tensor, rotations: list[Tensor], camera: Tensor, box: Tensor,
              hd_size: int) -> dict[str, Tensor]:
    """Start of the head network: head_pose (B, 3, 3) global, jaw_pose, expression, camera (B, 3), detached."""
    cam = part_camera_from_body(camera.detach(), box, joints[:, HEAD, :2].detach(), hd_size)
    return {"head_pose": rotations[HEAD].detach(), "jaw_pose": params.jaw_pose.detach(),
            "expression": params.expression.detach(), "camera": cam}


def unmirror_hand(out: dict[str, Tensor]) -> dict[str, Tensor]:
    """A left hand predicted as a mirrored right hand -> left-hand rotations (camera stays in its mirrored crop)."""
    return dict(out, wrist=mirror_rotmats(out["wrist"]), hand_pose=mirror_rotmats(out["hand_pose"]))


def merge(body: SMPLXParams, rotations: list[Tensor], left: dict | None, right: dict | None,
          head: dict | None) -> SMPLXParams:
    """Final parameters: fingers and wrists from the hand network, jaw and expression from the head network
    (where given), everything else (global orientation, body joints, betas) from the body network.

    ``left`` / ``right``: un-mirrored hand outputs (global wrist, fingers); ``rotations``: the body's global
    rotations, whose elbows turn the global wrists back into relative poses.
    """
    fields = {}
    if left is not None or right is not None:
        body_pose = list(body.body_pose.unbind(1))
        if left is not None:
            body_pose[L_WRIST - 1] = wrist_to_relative(rotations[L_ELBOW], left["wrist"])
            fields["left_hand_pose"] = left["hand_pose"]
        if right is not None:
            body_pose[R_WRIST - 1] = wrist_to_relative(rotations[R_ELBOW], right["wrist"])
            fields["right_hand_pose"] = right["hand_pose"]
        fields["body_pose"] = torch.stack(body_pose, dim=1)
    if head is not None:
        fields["jaw_pose"], fields["expression"] = head["jaw_pose"], head["expression"]
    return body.replace(**fields)


def part_keypoints_in_crop(keypoints: Tensor, root: Tensor, camera: Tensor, crop_size: int,
                           rotation: Tensor | None = None, mirror: bool = False) -> Tensor:
    """Part keypoints (B, N, 3) m of the final mesh, part root (B, 3), part camera (B, 3) -> (B, N, 2) crop px.

    ``rotation`` (B, 3, 3) re-orients the part about its root first (the head network's own head rotation
    times the body's inverse); ``mirror`` for the left hand seen as a right hand.
    """
    rel = keypoints - root[:, None]
    if rotation is not None:
        rel = rel @ rotation.transpose(1, 2)
    if mirror:
        rel = mirror_points(rel)
    return (weak_perspective(rel, camera) + 1.0) * (crop_size / 2.0)
