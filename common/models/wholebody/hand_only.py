"""The FreiHAND path: the whole-body model's hand network alone on a right-hand crop, posing a MANO-layout hand.

The batch is the whole-body sample of a hand image (the mapper's crop of the record's box, FreiHAND: the whole
224 px image): ``img_hd`` resized to ``wholebody.hand_crop_size`` is the hand crop. The hand network's wrist
(global) and absolute finger rotations pose the MANO-layout hand (the user's MANO_RIGHT, or the right hand cut
from the open SMPL-X: common/open_model/part_models.py), whose file adds its own hand mean, so the fingers are
passed relative to it. Predictions: ``hand_joints`` (B, 21, 3) in FreiHAND order and ``hand_vertices`` (B, V, 3),
metres, root-relative (the evaluator aligns them), plus the raw hand-network outputs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.geometry.rotations import matrix_to_axis_angle
from common.wholebody.hand_keypoints import freihand_keypoints


class HandOnlyModel(nn.Module):
    """``forward(batch) -> {'hand_joints', 'hand_vertices', 'wrist', 'hand_pose', ...}`` (eval-time wrapper).

    Args: model: a WholeBodyModel (its ``hand_forward``; weights load into it). mano: a MANO-layout
    :class:`~common.body_models.BodyModel` (right hand, ``kind`` 'mano') with its file's hand mean.
    """

    def __init__(self, model: nn.Module, mano: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.mano = mano
        mean = getattr(mano.layer, "hand_mean", None)
        self.register_buffer("hand_mean", torch.zeros(45) if mean is None else mean.detach().float().reshape(45),
                             persistent=False)

    def state_dict(self, *args, **kwargs):  # checkpoints stay the whole-body model's
        return self.model.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.model.load_state_dict(state_dict, strict=strict, assign=assign)

    @property
    def faces(self) -> Tensor:
        return self.mano.faces

    def forward(self, batch: dict) -> dict[str, Tensor]:
        size = self.model.hand_crop_size
        crops = F.interpolate(batch["img_hd"].float(), size=(size, size), mode="bilinear", align_corners=False)
        out = self.model.hand_forward(crops)
        b = crops.shape[0]
        fingers = matrix_to_axis_angle(out["hand_pose"]).reshape(b, 45) - self.hand_mean
        mesh = self.mano(global_orient=matrix_to_axis_angle(out["wrist"]), body_pose=fingers,
                         betas=out["betas"].new_zeros(b, self.mano.num_betas))
        root = mesh.joints[:, :1]
        joints = freihand_keypoints(mesh.joints - root, mesh.vertices - root)
        return {"hand_joints": joints, "hand_vertices": mesh.vertices - root, "wrist": out["wrist"],
                "hand_pose": out["hand_pose"], "camera": out["camera"]}
