"""Loading the Apache-2.0 ``anny`` body model offline, and sampling its rest geometry in SMPL's frame.

anny works in metres with Z up and the body facing -Y; SMPL has Y up and faces +Z, the person's left at +x.
``(x, y, z)_anny -> (x, z, -y)`` is the proper rotation between the two (left stays at +x).

anny keeps its caches (built model data ~0.8 GB, warp kernels) in folders read from ``ANNY_CACHE_DIR`` and
``WARP_CACHE_PATH``; :func:`configure_anny_cache` points them into the project cache unless the user set them.
The only network access anny has is ``anny.paths.download_noncommercial_data`` (non-commercial SMPL/SMPL-X
topology data); :func:`no_anny_downloads` replaces it by a function that raises, and the builder never
selects those topologies.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from common.paths import cache_dir

ADULT_AGES = (18.0, 65.0)  # morphological age range (years) of the sampled bodies
# anny's age value maps to a "morphological age" (0.77 -> 18 y, 0.83 -> 64 y, 1.0 -> 110 y)
NEUTRAL_AGE = 0.8
PHENOTYPE_ORDER = ("gender", "age", "muscle", "weight", "height", "proportions")
_ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def configure_anny_cache() -> None:
    """Point anny's and warp's caches into ``cache_dir()`` unless the user set them (call before building)."""
    root = cache_dir()
    os.environ.setdefault("ANNY_CACHE_DIR", str(root / "anny"))
    os.environ.setdefault("WARP_CACHE_PATH", str(root / "warp"))  # read when warp initialises
    import anny.paths  # reads ANNY_CACHE_DIR at import: update it in case anny was imported before us

    anny.paths.set_anny_cache_path(os.environ["ANNY_CACHE_DIR"])


def _refuse_download(*_args, **_kwargs):
    raise RuntimeError(
        "The open body model builder must not download anny's non-commercial SMPL/SMPL-X data "
        "(anny.paths.download_noncommercial_data). Only anny's own Apache-2.0 topology is used."
    )


@contextlib.contextmanager
def no_anny_downloads() -> Iterator[None]:
    """Within the block, any attempt by anny to download non-commercial data raises RuntimeError."""
    import anny.paths

    original = anny.paths.download_noncommercial_data
    anny.paths.download_noncommercial_data = _refuse_download
    try:
        yield
    finally:
        anny.paths.download_noncommercial_data = original


def load_anny(rig: str = "anny", facial_actions: str = "none"):
    """Build (or load from anny's cache) an ``anny.Anny`` with anny's own topology, on CPU in float64.

    Args:
        rig: ``'anny'`` (104 bones, no jaw) or ``'makehuman'`` (163 bones: jaw, eyes, tongue, face bones).
        facial_actions: ``'none'`` or ``'all'`` (52 ARKit-style expression blendshapes).
    """
    import importlib.util

    if importlib.util.find_spec("anny") is None:
        raise RuntimeError("the open body model is built from the 'anny' package: pip install anny==0.6.2")
    configure_anny_cache()
    with no_anny_downloads():
        import anny

        model = anny.Anny(rig=rig, topology="anny", facial_actions=facial_actions)
    return model.to(dtype=torch.float64)


def anny_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("anny")


def to_smpl_frame(points: torch.Tensor) -> torch.Tensor:
    """(..., 3) anny coordinates -> SMPL coordinates: (x, y, z) -> (x, z, -y)."""
    return points @ torch.as_tensor(_ANNY_TO_SMPL.T, dtype=points.dtype, device=points.device)


def sample_phenotypes(model, n: int, seed: int) -> torch.Tensor:
    """(n, 6) adult phenotypes in ``PHENOTYPE_ORDER`` from anny's WHO-calibrated distribution.

    Morphological age uniform in ``ADULT_AGES`` years, gender uniform in [0, 1]; height, weight, muscle and
    proportions from anny's age- and sex-conditional Beta distributions (``SimpleShapeDistribution``).
    Uniform phenotypes would give heights of 1.85 +- 0.31 m (beta0 = +-2 spanning 1.2-2.5 m); these give
    ~1.70 +- 0.10 m. Deterministic for a given seed (torch's global RNG is forked and restored).
    """
    from anny.shape_distribution import SimpleShapeDistribution

    lo, hi = (torch.tensor(float(a), dtype=torch.float64) for a in ADULT_AGES)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        dist = SimpleShapeDistribution(model, morphological_age_distribution=torch.distributions.Uniform(lo, hi))
        _, values = dist.sample(n)
    return torch.stack([values[k].to(torch.float64) for k in PHENOTYPE_ORDER], 1)


def neutral_phenotype() -> torch.Tensor:
    """(1, 6): every phenotype at its middle value, adult age (~40 years)."""
    values = torch.full((1, len(PHENOTYPE_ORDER)), 0.5, dtype=torch.float64)
    values[0, 1] = NEUTRAL_AGE
    return values


@dataclass
class RestGeometry:
    """Rest (A-pose) geometry of a batch of anny bodies, in SMPL's frame (metres)."""

    vertices: torch.Tensor  # (N, V, 3)
    bone_heads: torch.Tensor  # (N, B, 3)


def rest_geometry(model, phenotypes: torch.Tensor, chunk: int = 256) -> RestGeometry:
    """Rest vertices and bone heads of ``model`` for (N, 6) ``phenotypes``, converted to SMPL's frame."""
    if list(model.phenotype_labels) != list(PHENOTYPE_ORDER):
        raise ValueError(f"anny phenotype labels {model.phenotype_labels} != expected {PHENOTYPE_ORDER}")
    verts, heads = [], []
    with torch.no_grad():
        for start in range(0, len(phenotypes), chunk):
            coeffs = model._get_phenotype_blendshape_coefficients(
                phenotypes[start:start + chunk],
                torch.zeros(1, len(model.local_change_labels), dtype=torch.float64),
                torch.zeros(1, len(model.facial_action_labels), dtype=torch.float64),
            )
            rest = model.get_rest_model(coeffs)
            verts.append(to_smpl_frame(rest["rest_vertices"]))
            heads.append(to_smpl_frame(rest["rest_bone_heads"]))
    return RestGeometry(torch.cat(verts), torch.cat(heads))


def dense_skinning_weights(model) -> torch.Tensor:
    """(V, B) float64 linear-blend-skinning weights of anny's bones (rows sum to 1)."""
    n_verts = model.template_vertices.shape[0]
    weights = torch.zeros(n_verts, len(model.bone_labels), dtype=torch.float64)
    weights.scatter_add_(1, model.vertex_bone_indices.long(), model.vertex_bone_weights.to(torch.float64))
    return weights / weights.sum(1, keepdim=True).clamp_min(1e-12)


def facial_action_directions(model) -> tuple[list[str], torch.Tensor]:
    """Labels and (A, V, 3) SMPL-frame vertex displacements of anny's facial-action blendshapes."""
    labels = list(model.blendshape_labels)
    rows = [i for i, label in enumerate(labels) if label.startswith("facial_action:")]
    names = [labels[i].split(":", 1)[1] for i in rows]
    return names, to_smpl_frame(model.blendshapes[rows].to(torch.float64))
