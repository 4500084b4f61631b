"""3DCrowdNet training losses, their targets and masks.

Units follow the official release: image-space terms are L1 in volume cells (input px * (S/32) / S, i.e. the
official ``(1/8) * L1`` on the 64-cell heatmap grid at S = 256); depth is root-relative metres mapped to
[0, depth_bins) over ``bbox_3d_size`` metres; 3D terms are L1 in metres; parameter terms are L1 on axis-angle
and betas. Every term is averaged over its VALID entries only (0, not NaN, with gradients, when none is valid); under
DDP over the valid entries of all processes (``masked_l1``), so N processes x B/N equal one process x B.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
import torch.distributed as dist
from torch import Tensor

from common.geometry.rotations import axis_angle_to_matrix
from common.joint_sets import joint_index, joint_names

# crowdnet30 index of each graph15 joint (Pelvis, L_Hip, R_Hip, L_Knee, R_Knee, L_Ankle, R_Ankle, Neck, Head_top,
# L_Shoulder, R_Shoulder, L_Elbow, R_Elbow, L_Wrist, R_Wrist)
GRAPH15_IN_CROWDNET30 = tuple(joint_index("crowdnet30", name) for name in joint_names("graph15"))
# SMPL joints whose pose parameters are not supervised, as in the official release:
# L/R_Ankle, L/R_Foot, L/R_Wrist, L/R_Hand
UNSUPERVISED_POSE_JOINTS = (7, 8, 10, 11, 20, 21, 22, 23)


@dataclass(frozen=True)
class CropGeometry:
    """The crop, PositionNet volume and virtual camera a CrowdNet-style regressor predicts in; the model builds
    it once (``CrowdNetRegressor.geometry``) and its forward pass and losses read it.

    Fields: ``input_size`` crop side S (px); ``volume_shape`` (D, H, W) = (depth bins, S/32, S/32) cells;
    ``focal`` virtual-camera focal (px) at S, principal point (S/2, S/2); ``bbox_3d_size`` metric depth range (m)
    of the volume's depth axis; ``camera_3d_size`` person extent (m) that sets the camera depth
    (common/geometry/camera.py).
    """

    input_size: int
    volume_shape: tuple[int, int, int]
    focal: float
    bbox_3d_size: float = 2.0
    camera_3d_size: float = 2.5

    @property
    def princpt(self) -> float:
        """Principal point (px, same on both axes): the crop centre."""
        return self.input_size / 2

    @classmethod
    def for_input(cls, input_size: int, depth_bins: int = 8, focal_at_256: float = 5000.0,
                  bbox_3d_size: float = 2.0, camera_3d_size: float = 2.5) -> "CropGeometry":
        """The geometry at crop side ``input_size`` (px): volume (depth_bins, S/32, S/32), focal scaled from 256 px."""
        return cls(input_size, (depth_bins, input_size // 32, input_size // 32), focal_at_256 * input_size / 256.0,
                   bbox_3d_size, camera_3d_size)


@dataclass(frozen=True)
class LossWeights:
    """Weight of each 3DCrowdNet term (``train.loss.*``); a weight of 0 still logs the (zeroed) term.

    The defaults live in one place, the config (``LossCfg``): ``LossWeights.defaults()`` reads them, and
    ``LossWeights.defaults(root_param=2.0)`` changes some.
    """

    joint_img: float
    smpl_joint_img: float
    joint_proj: float
    joint_cam: float
    smpl_joint_cam: float
    pose_param: float
    shape_param: float
    root_param: float

    @classmethod
    def from_config(cls, loss_cfg) -> "LossWeights":
        return cls(**{f.name: float(getattr(loss_cfg, f.name)) for f in fields(cls)})

    @classmethod
    def defaults(cls, **changes: float) -> "LossWeights":
        from common.config.defaults import LossCfg

        return replace(cls.from_config(LossCfg()), **changes)


def summed_over_processes(count: Tensor) -> tuple[Tensor, int]:
    """(``count`` summed over the processes of the default group, number of processes); ``(count, 1)`` without
    an initialised process group. A collective: every process must call it. No gradient flows through it."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return count, 1
    total = count.detach().clone()
    dist.all_reduce(total)
    return total, dist.get_world_size()


def masked_l1(pred: Tensor, target: Tensor, mask: Tensor, across_processes: bool = True) -> Tensor:
    """Mean |pred - target| over the entries where mask > 0 (mask broadcasts to pred); 0 when none.

    Invalid targets may hold anything (even NaN): they are replaced before the difference, so neither the value
    nor the gradient sees them.

    Under DDP (``across_processes`` and an initialised process group of W processes) the mean is over the valid
    entries of ALL processes: this process returns ``W * (its sum) / (valid count summed over processes)``, so
    DDP's gradient average (sum / W) and the rank-averaged logged value are the global mean, exactly as one
    process with the whole batch. Each process normalising by its own count would weight a sample by how many
    valid entries its process's other samples have. Every process must then call it (one all-reduce of the
    count). A single process is unchanged.
    """
    mask = (mask > 0).expand_as(pred)
    target = torch.where(mask, torch.nan_to_num(target.to(pred.dtype)), pred.detach())
    diff = (pred - target).abs() * mask
    count, processes = summed_over_processes(mask.sum()) if across_processes else (mask.sum(), 1)
    total = diff.sum() * processes if processes > 1 else diff.sum()
    return total / count.clamp(min=1)


def _pose_matrices(pose: Tensor) -> Tensor:
    """(B, 72) axis-angle -> (B, 24, 9) flattened rotation matrices."""
    return axis_angle_to_matrix(pose.reshape(pose.shape[0], -1, 3)).flatten(2)


def depth_to_volume(z_rel: Tensor, depth_bins: int, bbox_3d_size: float) -> Tensor:
    """Root-relative depth (m) -> volume z: [-size/2, size/2] m maps to [0, depth_bins]."""
    return (z_rel / (bbox_3d_size / 2) + 1) / 2 * depth_bins


def inside_volume(coords: Tensor, volume_shape: tuple[int, int, int]) -> Tensor:
    """(..., 3) (x, y, z) voxel coords -> (...,) bool, True where 0 <= c < size on every axis.

    ``volume_shape`` is (D, H, W).
    """
    d, h, w = volume_shape
    size = torch.tensor([w, h, d], dtype=coords.dtype, device=coords.device)
    return ((coords >= 0) & (coords < size)).all(dim=-1)


def fit_translation(joints: Tensor, joints2d: Tensor, weight: Tensor, focal: float, princpt: float,
                    min_joints: int = 4) -> tuple[Tensor, Tensor]:
    """Least-squares translation t with project(joints + t) ~= joints2d for a pinhole camera.

    Each joint gives two equations linear in t: f tx - (u - c) tz = (u - c) Z - f X (same for y/v).

    Args:
        joints: (B, J, 3) root-relative joints (m).
        joints2d: (B, J, 2) observed pixels.
        weight: (B, J) 0/1 joints to use.
        focal, princpt: virtual camera focal (px) and principal point (px, same on both axes).
        min_joints: fewer valid joints -> the fit is marked not ok.
    Returns:
        t (B, 3) metres and ok (B,) bool (enough joints and depth > 0).
    """
    j64, uv, w = joints.double(), torch.nan_to_num(joints2d.double()) - princpt, (weight > 0).double()
    b, n = w.shape
    a = j64.new_zeros(b, n, 2, 3)
    a[..., 0, 0] = focal
    a[..., 1, 1] = focal
    a[..., :, 2] = -uv
    rhs = uv * j64[..., 2:3] - focal * j64[..., :2]  # (B, J, 2)
    a, rhs = a * w[..., None, None], rhs * w[..., None]
    a, rhs = a.reshape(b, 2 * n, 3), rhs.reshape(b, 2 * n, 1)
    ata = a.transpose(1, 2) @ a + 1e-6 * torch.eye(3, dtype=a.dtype, device=a.device)
    t = torch.linalg.solve(ata, a.transpose(1, 2) @ rhs)[..., 0]
    ok = (w.sum(1) >= min_joints) & (t[:, 2] > 0)
    return t.to(joints.dtype), ok


def crowdnet_losses(batch: dict, preds: dict, gt_mesh_joints: Tensor | None, weights: LossWeights,
                    geometry: CropGeometry, *, supervise_all_pose: bool = False,
                    pose_rep: str = "axis_angle") -> dict[str, Tensor]:
    """The seven 3DCrowdNet terms and the optional ``root_param`` term (weight 0 by default), weighted.

    Args:
        batch: mapper batch (``joints2d``/``joints3d`` crowdnet30, ``smpl_*``; see docs/DESIGN.md).
        preds: model predictions (``joints_img``, ``joints_proj``, ``joints_cam``, ``root_pose``,
            ``body_pose``, ``betas``).
        gt_mesh_joints: (B, 30, 3) crowdnet30 joints of the GT SMPL mesh (pelvis-relative, m), or None.
        weights: term weights.
        geometry: the model's crop size S (px), PositionNet volume (D, H, W), virtual camera (focal at S,
            principal point S/2) and depth range of the volume (m).
        supervise_all_pose: False (official) leaves feet, wrists and hands out of the pose term.
        pose_rep: 'axis_angle' (official: L1 on the 72 axis-angle numbers) or 'rotmat' (L1 on the 24 rotation
            matrices). Axis-angle jumps at pi: an upright person's root rotation in the y-down camera is a
            half-turn, where (pi, 0, 0) and (-pi, 0, 0) are the same rotation but far apart in L1.
            ``root_param`` is always L1 on the root's rotation matrix.
    Returns:
        {term: weighted scalar}.
    """
    input_size, focal, bbox_3d_size = geometry.input_size, geometry.focal, geometry.bbox_3d_size
    d, h, w = geometry.volume_shape
    ref = preds["joints_img"]
    to_cells = torch.tensor([w / input_size, h / input_size], device=ref.device, dtype=ref.dtype)
    g = list(GRAPH15_IN_CROWDNET30)
    smpl_valid = batch["smpl_valid"].float()

    # PositionNet vs GT 2D (x, y) and GT root-relative depth (z, only where 3D GT exists)
    j2d, v2d = batch["joints2d"], batch["joints2d_valid"]
    xy = j2d[:, g] * to_cells
    z = depth_to_volume(batch["joints3d"][:, g, 2], d, bbox_3d_size)
    target_img = torch.cat([xy, z[..., None]], dim=-1)
    in_x = (xy[..., 0] >= 0) & (xy[..., 0] < w) & (xy[..., 1] >= 0) & (xy[..., 1] < h) & (v2d[:, g] > 0)
    in_z = in_x & (batch["joints3d_valid"][:, g] > 0) & (z >= 0) & (z < d)
    mask_img = torch.stack([in_x, in_x, in_z], dim=-1)
    out = {"joint_img": masked_l1(preds["joints_img"], target_img, mask_img)}

    # PositionNet vs the GT mesh's joints, projected with the translation that best explains the GT 2D joints
    if gt_mesh_joints is not None:
        t, ok = fit_translation(gt_mesh_joints, j2d, v2d * smpl_valid[:, None], focal, geometry.princpt)
        cam = gt_mesh_joints + t[:, None]
        uv = cam[..., :2] / cam[..., 2:].clamp(min=1e-4) * focal + geometry.princpt
        target_smpl = torch.cat([uv[:, g] * to_cells, depth_to_volume(gt_mesh_joints[:, g, 2:], d, bbox_3d_size)], -1)
        mask_smpl = inside_volume(target_smpl, geometry.volume_shape) & (ok & (smpl_valid > 0))[:, None]
        out["smpl_joint_img"] = masked_l1(preds["joints_img"], target_smpl, mask_smpl[..., None])
        out["smpl_joint_cam"] = masked_l1(preds["joints_cam"], gt_mesh_joints, smpl_valid[:, None, None])
    else:
        out["smpl_joint_img"] = preds["joints_img"].sum() * 0
        out["smpl_joint_cam"] = preds["joints_cam"].sum() * 0

    # projected 30 joints vs GT 2D, in volume cells
    in_crop = (j2d[..., 0] >= 0) & (j2d[..., 0] < input_size) & (j2d[..., 1] >= 0) & (j2d[..., 1] < input_size)
    out["joint_proj"] = masked_l1(preds["joints_proj"] * to_cells, j2d * to_cells, (in_crop & (v2d > 0))[..., None])
    out["joint_cam"] = masked_l1(preds["joints_cam"], batch["joints3d"], batch["joints3d_valid"][..., None])

    # SMPL parameters
    pose = torch.cat([preds["root_pose"], preds["body_pose"]], dim=1)
    pose_mask = torch.ones(24, device=pose.device)
    if not supervise_all_pose:
        pose_mask[list(UNSUPERVISED_POSE_JOINTS)] = 0
    pose_mask = smpl_valid[:, None] * pose_mask[None]  # (B, 24)
    if pose_rep == "rotmat":
        gt_pose = torch.nan_to_num(batch["smpl_pose"].to(pose.dtype))
        out["pose_param"] = masked_l1(_pose_matrices(pose), _pose_matrices(gt_pose), pose_mask[..., None])
    else:
        out["pose_param"] = masked_l1(pose, batch["smpl_pose"], pose_mask.repeat_interleave(3, dim=1))
    out["shape_param"] = masked_l1(preds["betas"], batch["smpl_betas"], smpl_valid[:, None])
    # global orientation alone (not in the release): in pose_param it is 1 of 16 joints, and while it is wrong the
    # camera-frame 3D joint terms bend the body pose to make up for it
    gt_root = torch.nan_to_num(batch["smpl_pose"][:, :3].to(pose.dtype))
    out["root_param"] = masked_l1(_pose_matrices(pose[:, :3]), _pose_matrices(gt_root), smpl_valid[:, None, None])
    return {f.name: getattr(weights, f.name) * out[f.name] for f in fields(LossWeights)}
