"""Re-posing anny's rest A-pose into SMPL's rest T-pose with anny's own skinning.

anny's rest pose has the arms ~45 degrees down and forward, bent elbows, curled fingers and the feet apart.
SMPL's zero pose is a T-pose (arms horizontal, palms down, straight fingers, legs nearly vertical); pose
parameters only mean the same thing on both models if the rest poses agree. So every sampled body is
re-posed, per sample, by world-frame rotations of anny bones about their heads (forward kinematics on the
subtree), then skinned with anny's linear-blend weights. Everything is in SMPL's frame (Y up, +Z front,
the person's left at +x).
"""
from __future__ import annotations

import math

import torch

SIDES = {"L": 1.0, "R": -1.0}  # +x is the person's left in SMPL's frame
FINGERS = (2, 3, 4, 5)  # index..little finger (anny's finger1 is the thumb)
THUMB_DIRECTION = (0.8, -0.25, 0.55)  # left thumb in the flat T-pose hand: out, a little down, forward


def _rotation_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) shortest-arc rotations taking directions a (N, 3) onto b (N, 3)."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    axis = torch.linalg.cross(a, b)
    sin = axis.norm(dim=-1, keepdim=True)
    cos = (a * b).sum(-1, keepdim=True)
    angle = torch.atan2(sin, cos)
    axis = axis / sin.clamp_min(1e-12)
    return axis_angle_matrix(axis * angle)


def axis_angle_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices (Rodrigues)."""
    angle = rotvec.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    k = rotvec / angle
    zero = torch.zeros_like(k[..., 0])
    skew = torch.stack([zero, -k[..., 2], k[..., 1], k[..., 2], zero, -k[..., 0],
                        -k[..., 1], k[..., 0], zero], dim=-1).reshape(*k.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(skew)
    s, c = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    return eye + s * skew + (1 - c) * (skew @ skew)


class _Skeleton:
    """World-frame rigid transforms x -> R x + t per bone, edited subtree by subtree."""

    def __init__(self, heads: torch.Tensor, labels: list[str], parents: list[int]):
        n, b = heads.shape[:2]
        self.heads = heads
        self.index = {name: i for i, name in enumerate(labels)}
        self.rot = torch.eye(3, dtype=heads.dtype).repeat(n, b, 1, 1)
        self.trans = torch.zeros_like(heads)
        children: list[list[int]] = [[] for _ in labels]
        for i, p in enumerate(parents):
            if p >= 0:
                children[p].append(i)
        self.subtree = []
        for i in range(len(labels)):
            stack, members = [i], []
            while stack:
                j = stack.pop()
                members.append(j)
                stack.extend(children[j])
            self.subtree.append(torch.tensor(sorted(members)))

    def head(self, name: str) -> torch.Tensor:
        """(N, 3) current position of a bone's head."""
        i = self.index[name]
        return (self.rot[:, i] @ self.heads[:, i, :, None])[..., 0] + self.trans[:, i]

    def point(self, name: str, rest_point: torch.Tensor) -> torch.Tensor:
        """(N, 3) current position of a rest point (N, 3) attached rigidly to a bone."""
        i = self.index[name]
        return (self.rot[:, i] @ rest_point[..., None])[..., 0] + self.trans[:, i]

    def rotate(self, name: str, rot: torch.Tensor) -> None:
        """Rotate a bone's subtree by world rotations (N, 3, 3) about the bone's current head."""
        pivot = self.head(name)
        sub = self.subtree[self.index[name]]
        self.rot[:, sub] = rot[:, None] @ self.rot[:, sub]
        moved = (rot[:, None] @ (self.trans[:, sub] - pivot[:, None])[..., None])[..., 0]
        self.trans[:, sub] = moved + pivot[:, None]

    def align(self, name: str, target_point: torch.Tensor, direction: torch.Tensor) -> None:
        """Rotate ``name`` so the ray from its head to ``target_point`` (N, 3) points along ``direction``."""
        ray = target_point - self.head(name)
        self.rotate(name, _rotation_between(ray, direction.expand_as(ray)))

    def all_heads(self) -> torch.Tensor:
        return (self.rot @ self.heads[..., None])[..., 0] + self.trans


def finger_tip_vertices(weights: torch.Tensor, rest_vertices: torch.Tensor, rest_heads: torch.Tensor,
                        labels: list[str]) -> dict[str, int]:
    """Vertex index of each finger tip: the vertex dominated by the distal phalanx farthest from its head.

    Args:
        weights: (V, B) skinning weights; rest_vertices: (V, 3), rest_heads: (B, 3) of one body.
    Returns: ``{'finger2-3.L': vertex, ...}`` for fingers 1..5 of both hands.
    """
    tips = {}
    for side in SIDES:
        for finger in range(1, 6):
            name = f"finger{finger}-3.{side}"
            b = labels.index(name)
            owned = torch.nonzero(weights[:, b] > 0.5)[:, 0]
            dist = (rest_vertices[owned] - rest_heads[b]).norm(dim=-1)
            tips[name] = int(owned[dist.argmax()])
    return tips


def tpose(vertices: torch.Tensor, heads: torch.Tensor, weights: torch.Tensor, labels: list[str],
          parents: list[int], tips: dict[str, int], chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-pose rest bodies into SMPL's T-pose.

    Args:
        vertices: (N, V, 3) rest vertices, heads: (N, B, 3) rest bone heads (SMPL frame, metres).
        weights: (V, B) skinning weights; labels/parents: anny rig; tips: from :func:`finger_tip_vertices`.
    Returns:
        (N, V, 3) T-posed vertices and (N, B, 3) T-posed bone heads.
    """
    sk = _Skeleton(heads, labels, parents)
    front = heads.new_tensor([0.0, 0.0, 1.0])
    for side, sign in SIDES.items():
        # Legs: rotate in the frontal plane (about z) so that the ankle sits straight below the hip.
        leg = sk.head(f"foot.{side}") - sk.head(f"upperleg01.{side}")
        angle = -math.pi / 2 - torch.atan2(leg[:, 1], leg[:, 0])
        sk.rotate(f"upperleg01.{side}", axis_angle_matrix(front * angle[:, None]))
        # Arms: upper arm, forearm and hand straight along +-x.
        out = heads.new_tensor([sign, 0.0, 0.0])
        sk.align(f"upperarm01.{side}", sk.head(f"lowerarm01.{side}"), out)
        sk.align(f"lowerarm01.{side}", sk.head(f"wrist.{side}"), out)
        knuckles = torch.stack([sk.head(f"finger{f}-1.{side}") for f in FINGERS]).mean(0)
        sk.align(f"wrist.{side}", knuckles, out)
        # Palm down: twist the forearm so the index knuckle is in front of the little-finger knuckle.
        across = sk.head(f"finger2-1.{side}") - sk.head(f"finger5-1.{side}")
        twist = torch.atan2(across[:, 1], across[:, 2]) * sign  # angle from +z towards +y, about +-x
        sk.rotate(f"lowerarm02.{side}", axis_angle_matrix(out * twist[:, None]))
        # Straight fingers along the hand; a straight thumb pointing forward-out, a little below the palm.
        thumb = heads.new_tensor(THUMB_DIRECTION) * heads.new_tensor([sign, 1.0, 1.0])
        for f in (1,) + FINGERS:
            direction = thumb if f == 1 else out
            sk.align(f"finger{f}-1.{side}", sk.head(f"finger{f}-2.{side}"), direction)
            sk.align(f"finger{f}-2.{side}", sk.head(f"finger{f}-3.{side}"), direction)
            tip = vertices[:, tips[f"finger{f}-3.{side}"]]
            sk.align(f"finger{f}-3.{side}", sk.point(f"finger{f}-3.{side}", tip), direction)
    # Linear blend skinning: blend the 3x4 bone transforms per vertex (one matmul), then apply them.
    transforms = torch.cat([sk.rot, sk.trans[..., None]], dim=-1).reshape(*sk.rot.shape[:2], 12)
    posed = torch.empty_like(vertices)
    for start in range(0, vertices.shape[0], chunk):
        part = slice(start, start + chunk)
        blended = torch.matmul(weights, transforms[part]).reshape(-1, vertices.shape[1], 3, 4)
        posed[part] = (blended[..., :3] @ vertices[part, :, :, None])[..., 0] + blended[..., 3]
    return posed, sk.all_heads()
