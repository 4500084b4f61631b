"""Constant-prediction references, scored by the same evaluator as the model.

A trained model is only meaningful next to what a predictor that ignores the image achieves. Two constant
predictors are evaluated with every model (``main/test.py`` and periodic evaluation):

- ``mean_pose``: the chordal-mean training pose (root and body joints) with zero betas, for every sample.
- ``mean_pose_gt_root`` (oracle): the same body pose and betas with each sample's GT root orientation; MPJPE
  below this line means the model also got the body orientation right.

Mean over the training records' (un-augmented) camera-frame SMPL poses; joints 22, 23 (hands) are zero, as the
regressor predicts them.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from common.geometry.rotation_mean import chordal_mean
from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle

REFERENCE_NAMES = ("mean_pose", "mean_pose_gt_root")
_UNPREDICTED_JOINTS = (22, 23)  # SMPL hands: neither predicted nor supervised by the body regressors


def mean_smpl_pose(poses: np.ndarray) -> np.ndarray:
    """(N, 72) axis-angle poses -> (72,) per-joint chordal mean (hands zeroed)."""
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 2 or poses.shape[1] != 72 or len(poses) == 0:
        raise ValueError(f"mean_smpl_pose: expected (N>0, 72) poses, got {poses.shape}")
    mats = axis_angle_to_matrix(torch.as_tensor(poses.reshape(-1, 24, 3)))
    mean = matrix_to_axis_angle(chordal_mean(mats)).numpy()
    mean[list(_UNPREDICTED_JOINTS)] = 0.0
    return mean.reshape(72)


class ConstantPoseModel(nn.Module):
    """Predicts one SMPL pose with zero betas for every sample (``preds['vertices']`` (B, V, 3), m).

    Args:
        body_model: BodyModel (SMPL layout) used to pose the mesh.
        pose: (72,) axis-angle pose (joint 0 = root, camera frame).
        oracle_root: use each sample's GT root orientation (``batch['smpl_pose'][:, :3]``) instead of pose[:3].
    """

    def __init__(self, body_model: nn.Module, pose: np.ndarray, oracle_root: bool = False) -> None:
        super().__init__()
        object.__setattr__(self, "body_model", body_model)  # used, not owned
        self.register_buffer("pose", torch.as_tensor(np.asarray(pose, dtype=np.float32).reshape(1, 72)))
        self.oracle_root = oracle_root

    def forward(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        size = batch["smpl_pose"].shape[0]
        pose = self.pose.expand(size, 72).to(batch["smpl_pose"].device)
        root = batch["smpl_pose"][:, :3].float() if self.oracle_root else pose[:, :3]
        betas = pose.new_zeros(size, 10)
        out = self.body_model(global_orient=root, body_pose=pose[:, 3:], betas=betas)
        return {"vertices": out.vertices}


def references_apply(evaluator: Any, records: Any = None, kind: str = "smpl") -> bool:
    """True for evaluators a constant predictor can be scored by: SMPL mesh evaluators, and the EHF-style
    whole-body evaluator when the test records carry GT SMPL-X parameters (the part references keep the GT body;
    the real EHF has meshes only). ``kind``: the evaluation body model's ('smpl' | 'smplx'); the SMPL constant
poses need the SMPL model (a whole-body model on 3DPW has no reference yet). Keypoint-AP and FreiHAND evaluators
need other predictions."""
    from common.evaluation.ehf_evaluator import EHFEvaluator
    from common.evaluation.mesh_evaluator import MeshEvaluator

    if isinstance(evaluator, EHFEvaluator):
        return kind == "smplx" and bool(records) and all(getattr(r, "smplx_pose", None) is not None for r in records)
    return kind == "smpl" and isinstance(evaluator, MeshEvaluator)


def reference_models(body_model: nn.Module, train_poses: np.ndarray) -> dict[str, ConstantPoseModel]:
    """{name: constant predictor} for :data:`REFERENCE_NAMES`, from (N, 72) training poses."""
    mean = mean_smpl_pose(train_poses)
    return {"mean_pose": ConstantPoseModel(body_model, mean),
            "mean_pose_gt_root": ConstantPoseModel(body_model, mean, oracle_root=True)}
