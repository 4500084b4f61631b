"""A small articulated body model with SMPL's kinematic semantics, for fast adapter round-trip tests.

24 joints with SMPL's parents; rest joints depend linearly on betas; each joint carries 4 rigid vertices
(offsets summing to zero, so a joint is the mean of its vertices); the root rotates about the rest pelvis J0
and ``transl`` is added last -- exactly the property the 3DPW world->camera conversion relies on.
``regress(vertices, 'crowdnet30')`` = the 24 joints + 6 head points. Interface as ``common.body_models``.
"""
from __future__ import annotations

from collections import namedtuple

import torch
from torch import nn

from common.geometry.rotations import axis_angle_to_matrix

BodyOutput = namedtuple("BodyOutput", ["vertices", "joints"])
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]


class ArticulatedToy(nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        rest = torch.zeros(24, 3)
        for k in range(1, 24):  # a loose humanoid: children below/above/aside their parents
            rest[k] = rest[SMPL_PARENTS[k]] + torch.randn(3, generator=gen) * 0.08 + torch.tensor(
                [0.0, -0.15 if k in (1, 2, 4, 5, 7, 8, 10, 11) else 0.12, 0.0])
        rest[0] = torch.tensor([0.002, -0.22, 0.03])  # SMPL-like pelvis offset from the origin
        for k in range(1, 24):
            rest[k] += rest[0]
        self.register_buffer("rest", rest)
        self.register_buffer("shapedirs", torch.randn(24, 3, 10, generator=gen) * 0.01)
        base = torch.randn(4, 3, generator=gen) * 0.03
        self.register_buffer("offsets", (base - base.mean(0)).expand(24, 4, 3).clone())
        self.register_buffer("faces", torch.tensor([[0, 1, 2]]))

    def forward(self, global_orient, body_pose, betas, transl=None) -> BodyOutput:
        b = global_orient.shape[0]
        rest = self.rest + torch.einsum("jck,bk->bjc", self.shapedirs, betas)  # (B, 24, 3)
        rots = axis_angle_to_matrix(torch.cat([global_orient, body_pose], 1).reshape(b, 24, 3))
        glob, pos = [rots[:, 0]], [rest[:, 0]]
        for k in range(1, 24):
            p = SMPL_PARENTS[k]
            glob.append(glob[p] @ rots[:, k])
            pos.append(pos[p] + (glob[p] @ (rest[:, k] - rest[:, p])[..., None])[..., 0])
        glob, joints = torch.stack(glob, 1), torch.stack(pos, 1)
        verts = joints[:, :, None] + torch.einsum("bjcd,jvd->bjvc", glob, self.offsets)
        if transl is not None:
            joints, verts = joints + transl[:, None], verts + transl[:, None, None]
        return BodyOutput(verts.reshape(b, 96, 3), joints)

    def regress(self, vertices: torch.Tensor, name: str) -> torch.Tensor:
        v = vertices.reshape(-1, 24, 4, 3)
        joints = v.mean(2)
        if name == "smpl24":
            return joints
        head = v[:, 15]  # the 6 face joints: head vertices and the head joint
        return torch.cat([joints, head, joints[:, 15:16], joints[:, 15:16] + (head[:, :1] - joints[:, 15:16])], 1)
