"""Test helpers for the regressor: a tiny random SMPL-layout body model and a consistent random batch.

The body model is a real ``smplx.SMPL`` built from random arrays (24 joints, SMPL kinematic tree, 300
vertices in 25 clusters: one per joint plus a head cluster holding the nose/eye/ear/head-top vertices), wrapped
in the BodyModel interface of docs/DESIGN.md. The batch is generated from GT SMPL parameters through that
model and the 3DCrowdNet virtual camera, so a perfect prediction has (near) zero loss.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import smplx
import torch
from torch import Tensor, nn

from common.geometry.camera import perspective_project

SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
# rough T-pose joint positions (m; SMPL canonical frame: y up, facing +z, left = +x)
_REST_JOINTS = np.array([
    [0, 0, 0], [.09, -.08, 0], [-.09, -.08, 0], [0, .10, 0], [.10, -.48, 0], [-.10, -.48, 0], [0, .24, 0],
    [.10, -.88, 0], [-.10, -.88, 0], [0, .30, 0], [.11, -.93, .12], [-.11, -.93, .12], [0, .50, 0],
    [.07, .42, 0], [-.07, .42, 0], [0, .60, .02], [.18, .45, 0], [-.18, .45, 0], [.44, .45, 0], [-.44, .45, 0],
    [.70, .45, 0], [-.70, .45, 0], [.78, .45, 0], [-.78, .45, 0]], dtype=np.float64)
# nose, L_eye, R_eye, L_ear, R_ear, head top (crowdnet30 rows 24..29)
_FACE_POINTS = np.array([[0, .62, .10], [.03, .66, .09], [-.03, .66, .09], [.08, .63, 0], [-.08, .63, 0],
                         [0, .78, 0]], dtype=np.float64)
_PER_JOINT = 12
GRAPH15_IN_CROWDNET30 = (0, 1, 2, 4, 5, 7, 8, 12, 29, 16, 17, 18, 19, 20, 21)


class BodyOutput(NamedTuple):
    vertices: Tensor  # (B, V, 3) m
    joints: Tensor  # (B, 24, 3) m


def tiny_smpl_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """SMPL-layout arrays (v_template, f, shapedirs, posedirs, J_regressor, weights, kintree_table) + face ids."""
    rng = np.random.default_rng(seed)
    clusters = []
    for j in range(24):
        offsets = rng.normal(0, 0.03, (_PER_JOINT, 3))
        clusters.append(_REST_JOINTS[j] + offsets - offsets.mean(0))  # cluster mean == joint exactly
    head = np.concatenate([_FACE_POINTS, _REST_JOINTS[15] + rng.normal(0, 0.05, (_PER_JOINT - 6, 3))])
    verts = np.concatenate(clusters + [head])  # (300, 3)
    owner = np.concatenate([np.full(_PER_JOINT, j) for j in range(24)] + [np.full(_PER_JOINT, 15)])
    n = len(verts)
    j_reg = np.zeros((24, n))
    for j in range(24):
        j_reg[j, j * _PER_JOINT:(j + 1) * _PER_JOINT] = 1.0 / _PER_JOINT
    weights = np.zeros((n, 24))
    weights[np.arange(n), owner] = 0.8
    parents = np.array(SMPL_PARENTS)
    weights[np.arange(n), np.where(parents[owner] < 0, owner, parents[owner])] += 0.2
    # betas move whole clusters (bone lengths / widths) plus a little per-vertex noise
    shapedirs = rng.normal(0, 0.01, (24, 3, 300))[owner] + rng.normal(0, 0.001, (n, 3, 300))
    return {
        "v_template": verts, "f": rng.integers(0, n, (400, 3)).astype(np.int64),
        "shapedirs": shapedirs, "posedirs": rng.normal(0, 0.001, (n, 3, 207)),
        "J_regressor": j_reg, "weights": weights,
        "kintree_table": np.stack([parents, np.arange(24)]).astype(np.int64),
        "face_vertex_ids": np.arange(24 * _PER_JOINT, 24 * _PER_JOINT + 6),
    }


class TinySMPL(nn.Module):
    """BodyModel (docs/DESIGN.md) over a random 300-vertex SMPL-layout ``smplx.SMPL``."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        arrays = tiny_smpl_arrays(seed)
        face_ids = arrays.pop("face_vertex_ids")
        ids = dict(zip(("nose", "leye", "reye", "lear", "rear"), face_ids[:5].tolist()))
        self.smpl = smplx.SMPL(model_path="", data_struct=smplx.utils.Struct(**arrays), vertex_ids=ids,
                               create_betas=False, create_global_orient=False, create_body_pose=False,
                               create_transl=False, use_hands=False, use_feet_keypoints=False)
        n = arrays["v_template"].shape[0]
        one_hot = np.zeros((6, n))
        one_hot[np.arange(6), face_ids] = 1.0
        reg30 = np.concatenate([arrays["J_regressor"], one_hot]).astype(np.float32)
        self.register_buffer("regressor_crowdnet30", torch.from_numpy(reg30), persistent=False)
        self.register_buffer("faces", torch.from_numpy(arrays["f"]), persistent=False)

    def forward(self, global_orient: Tensor, body_pose: Tensor, betas: Tensor, transl: Tensor | None = None):
        out = self.smpl(global_orient=global_orient, body_pose=body_pose, betas=betas, transl=transl)
        return BodyOutput(out.vertices, out.joints[:, :24])

    def regress(self, vertices: Tensor, name: str) -> Tensor:
        reg = self.regressor_crowdnet30.to(vertices.dtype)
        if name == "graph15":
            reg = reg[list(GRAPH15_IN_CROWDNET30)]
        elif name == "smpl24":
            reg = reg[:24]
        elif name != "crowdnet30":
            raise KeyError(f"tests/model_fixtures.py: TinySMPL has no regressor {name!r}")
        return torch.einsum("jv,bvc->bjc", reg, vertices)


def random_batch(body_model: nn.Module, batch_size: int = 2, input_size: int = 256, seed: int = 0,
                 in_channels: int = 3) -> dict[str, Tensor]:
    """A batch (docs/DESIGN.md keys) whose 2D/3D joints are exact renders of random GT SMPL params."""
    g = torch.Generator().manual_seed(seed)
    b, s = batch_size, input_size
    # small root rotations (the person appears upside down in the y-down camera): an upright person's root is a
    # half-turn, where axis-angle targets are ambiguous (angle ~ pi), which would make tests flaky
    pose = torch.randn(b, 72, generator=g) * 0.15
    pose[:, :3] *= 2
    pose[:, 66:] = 0  # hands: neither predicted nor supervised
    betas = torch.randn(b, 10, generator=g) * 0.5
    with torch.no_grad():
        out = body_model(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas)
        joints = body_model.regress(out.vertices, "crowdnet30")
    rel = joints - joints[:, :1]
    focal = 5000.0 * s / 256
    # depth within the camera's reach (k sigmoid(.), k = focal * 2.5 m / S): the person spans ~70-85% of the crop
    depth = focal * 2.5 / s * (0.8 + 0.15 * torch.rand(b, 1, generator=g))
    trans = torch.cat([torch.randn(b, 2, generator=g) * 0.05, depth], dim=1)
    joints2d = perspective_project(rel + trans[:, None], (focal, focal), (s / 2, s / 2))
    ones = torch.ones(b, 30)
    batch = {
        "img": torch.rand(b, 3, s, s, generator=g),
        "pose2d": joints2d + torch.randn(b, 30, 2, generator=g) * 2.0, "pose2d_valid": ones.clone(),
        "joints2d": joints2d, "joints2d_valid": ones.clone(),
        "joints3d": rel, "joints3d_valid": ones.clone(),
        "smpl_pose": pose, "smpl_betas": betas, "smpl_valid": torch.ones(b),
        "smpl_gender": torch.zeros(b, dtype=torch.int64),
        "crop_to_img": torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(b, 2, 3).clone(),
        "bbox": torch.tensor([0.0, 0.0, s, s]).expand(b, 4).clone(),
        "focal": torch.full((b, 2), focal), "princpt": torch.full((b, 2), s / 2),
        "occlusion": torch.zeros(b), "index": torch.arange(b),
    }
    batch["pose2d_valid"][:, -3:] = 0  # a few missing input joints
    if in_channels == 4:
        batch["edge"] = (torch.rand(b, 1, s, s, generator=g) > 0.9).float()
    return batch
