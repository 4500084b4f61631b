"""Sampled anny bodies in SMPL's rest T-pose, centred on their (mesh-regressed) pelvis."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from common.open_model.anny_source import rest_geometry, sample_phenotypes
from common.open_model.joint_maps import joint_positions
from common.open_model.regressor_fit import fit_joint_regressor
from common.open_model.tpose import tpose


@dataclass
class BodySamples:
    """N re-posed bodies. Metres, SMPL frame, anny vertex order."""

    phenotypes: torch.Tensor  # (N, 6)
    vertices: torch.Tensor  # (N, V, 3) T-posed, pelvis at the origin
    heads: torch.Tensor  # (N, B, 3) T-posed anny bone heads, same translation
    fit: torch.Tensor  # (N,) bool: used to fit the joint regressors
    test: torch.Tensor  # (N,) bool: held out to measure them


def sample_bodies(model, weights: torch.Tensor, tips: dict[str, int], num: int, seed: int,
                  fit_fraction: float) -> BodySamples:
    """Sample ``num`` adult phenotypes, re-pose them to the T-pose and centre each on its pelvis.

    Regressors are fitted on the first ``fit_fraction`` of the samples, the rest is held out. The pelvis
    used for centring is a mesh regressor fitted on the same samples, so centring adds no shape-dependent
    jitter and the pelvis of every body in the shape space sits at the origin.
    """
    phenotypes = sample_phenotypes(model, num, seed)
    rest = rest_geometry(model, phenotypes)
    verts, heads = tpose(rest.vertices, rest.bone_heads, weights, model.bone_labels, model.bone_parents, tips)
    fit = torch.arange(num) < int(round(fit_fraction * num))
    pelvis_joint = joint_positions(heads, model.bone_labels, "smpl")[:, :1]
    pelvis_row = fit_joint_regressor(verts[fit], pelvis_joint[fit], num_candidates=300)
    pelvis = torch.einsum("v,nvc->nc", torch.as_tensor(pelvis_row[0]), verts)[:, None]
    return BodySamples(phenotypes, verts - pelvis, heads - pelvis, fit, ~fit)


def allowed_vertices(dominant_segment: np.ndarray, parents: list[int]) -> torch.Tensor:
    """(J, V) bool: a joint may be regressed from vertices of its own, its parent's or its children's segment."""
    num_joints = len(parents)
    allowed = np.zeros((num_joints, len(dominant_segment)), dtype=bool)
    for j in range(num_joints):
        near = {j} | {c for c in range(num_joints) if parents[c] == j}
        if parents[j] >= 0:
            near.add(parents[j])
        allowed[j] = np.isin(dominant_segment, sorted(near))
    return torch.as_tensor(allowed)
