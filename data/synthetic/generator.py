"""Deterministic generator of occluded multi-person scenes rendered with the project's body model and rasterizer.

``generate_scene(index, ...)`` draws everything from ``numpy.random.default_rng([seed, split_code, index])``, so an
image depends only on (seed, split, index, parameters, body model). ``data/synthetic/cache.py`` renders a whole
split once into the cache. See docs/synthetic_world.md for distributions and definitions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from common.geometry.rotations import matrix_to_axis_angle

GENERATOR_VERSION = 1  # bump when the output of the same parameters changes
SPLIT_CODES = {"train": 0, "test": 1}


@dataclass(frozen=True)
class GeneratorParams:
    """Everything that shapes the generated data (all of it enters the cache key).

    Skip thresholds: a person is kept as a sample only if occlusion <= max_occlusion, at least
    min_joints_inside of its 30 projected joints lie inside the image and its full silhouette covers at least
    min_area_px pixels; skipped people still appear in the image and as 'other people' of the kept ones.
    Visibility: a joint is hidden when, in the (2r+1)^2 window around its pixel (r = visibility_radius), at least
    half of the pixels show another person whose surface is nearer than the joint by more than visibility_margin.
    """

    image_size: int = 320
    min_people: int = 1
    max_people: int = 5
    occlusion_strata: tuple[float, ...] = (0.1, 0.3)
    depth_range: tuple[float, float] = (3.0, 9.0)
    focal_range: tuple[float, float] = (1.0, 1.6)
    camera_height_range: tuple[float, float] = (0.9, 1.8)
    pitch_deg_range: tuple[float, float] = (0.0, 12.0)
    occlude_prob: float = 0.7
    lateral_range: tuple[float, float] = (0.1, 0.5)
    view_fraction: float = 1.0
    min_gap: float = 0.6
    max_occlusion: float = 0.9
    min_joints_inside: float = 0.6
    min_area_px: int = 150
    visibility_radius: int = 2
    visibility_margin: float = 0.0
    pixel_noise: float = 2.0
    jpeg_quality: int = 95

    @classmethod
    def from_config(cls, syn_cfg) -> "GeneratorParams":
        """From ``cfg.data.synthetic`` (image size, people per scene, strata); the rest keeps its defaults."""
        return cls(image_size=syn_cfg.image_size, min_people=syn_cfg.min_people, max_people=syn_cfg.max_people,
                   occlusion_strata=tuple(syn_cfg.occlusion_strata))

    def __post_init__(self) -> None:
        if not 1 <= self.min_people <= self.max_people:
            raise ValueError(f"data.synthetic: need 1 <= min_people <= max_people, got {self.min_people}, "
                             f"{self.max_people}")
        if self.image_size < 32:
            raise ValueError(f"data.synthetic.image_size: {self.image_size} is too small (>= 32)")


def occlusion_stratum(occlusion: float, edges: tuple[float, ...]) -> str:
    """'low' / 'mid' / 'high' (more edges: 'level3', ...) from the bin edges of ``occlusion_strata``."""
    names = ["low", "mid", "high"] + [f"level{i}" for i in range(3, len(edges) + 1)]
    return names[int(np.searchsorted(np.asarray(edges), occlusion, side="right"))]


def vertex_segments(body_model) -> np.ndarray:
    """(V,) SMPL joint (0..23) that drives each vertex most: argmax of the skinning weights when the body model
    exposes them (``lbs_weights``, also on its smplx ``layer``), else the nearest joint of the rest pose."""
    for owner in (body_model, getattr(body_model, "layer", None)):
        w = getattr(owner, "lbs_weights", None)
        if torch.is_tensor(w) and w.ndim == 2 and w.shape[1] == 24:
            return w.argmax(1).cpu().numpy()
    zero = torch.zeros(1, 3)
    with torch.no_grad():
        out = body_model(global_orient=zero, body_pose=torch.zeros(1, 69), betas=torch.zeros(1, 10))
    verts, joints = out.vertices[0].cpu().numpy(), out.joints[0, :24].cpu().numpy()
    return np.linalg.norm(verts[:, None] - joints[None], axis=-1).argmin(1)


def _shade(frags, verts: list[torch.Tensor], faces: torch.Tensor, colours: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    """Per-pixel RGB (S,S,3) in [0,1] of the people: the project's Lambert shading, light from above-front."""
    from common.render.mesh_raster import concat_meshes
    from common.render.shading import shade_lambert

    all_verts, all_faces, _ = concat_meshes(verts, [faces] * len(verts))
    light = (rng.uniform(-0.6, 0.6), rng.uniform(-1.0, -0.3), -1.0)  # towards the light: up (-y), to the camera
    ambient = float(rng.uniform(0.35, 0.55))
    albedo = torch.as_tensor(colours, dtype=torch.float32, device=all_verts.device)[None]
    rgb = shade_lambert(frags, all_verts[None], all_faces, albedo, light_dir=light, ambient=ambient,
                        diffuse=1.0 - ambient)
    return rgb[0].double().cpu().numpy()


def _visibility(uv: np.ndarray, z: np.ndarray, person: int, depth: np.ndarray, mesh_ids: np.ndarray,
                radius: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Per joint: inside the image, and visible (not behind another person); see GeneratorParams."""
    h, w = depth.shape
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    visible = inside.copy()
    for k in np.flatnonzero(inside):
        x, y = int(uv[k, 0]), int(uv[k, 1])
        win = (slice(max(0, y - radius), y + radius + 1), slice(max(0, x - radius), x + radius + 1))
        others = (mesh_ids[win] >= 0) & (mesh_ids[win] != person) & (depth[win] < z[k] - margin)
        visible[k] = others.mean() < 0.5
    return inside, visible


def annotate_people(joints: np.ndarray, focal: np.ndarray, princpt: np.ndarray, depth: np.ndarray,
                    mesh_ids: np.ndarray, full_masks: np.ndarray, params: GeneratorParams) -> list[dict]:
    """Geometric annotations of n rendered people.

    Args:
        joints: (n,30,3) camera-frame crowdnet30 joints, m. depth (S,S) z-buffer (inf = empty), mesh_ids (S,S)
            person index per pixel (-1 = background), full_masks (n,S,S) each person's silhouette rendered alone.
    Returns per person: joints2d (30,2) px, joints_inside / joints_visible (30,) 0/1, occlusion (fraction of the
    person's own silhouette covered by others, inside the image), bbox (xywh of the full silhouette clipped to
    the image), skip_reason ('' kept | 'outside' | 'hidden'), stratum.
    """
    uv = joints[..., :2] / joints[..., 2:] * focal + princpt
    people = []
    for i in range(len(joints)):
        inside, visible = _visibility(uv[i], joints[i, :, 2], i, depth, mesh_ids, params.visibility_radius,
                                      params.visibility_margin)
        full, shown = int(full_masks[i].sum()), int((mesh_ids == i).sum())
        occlusion = 1.0 - shown / full if full else 1.0
        ys, xs = np.nonzero(full_masks[i])
        bbox = [float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min())] \
            if full else [0.0, 0.0, 0.0, 0.0]
        skip = ""
        if inside.mean() < params.min_joints_inside or full < params.min_area_px:
            skip = "outside"
        elif occlusion > params.max_occlusion:
            skip = "hidden"
        people.append({
            "person_id": i, "kept": not skip, "skip_reason": skip, "joints2d": uv[i].tolist(),
            "joints3d": joints[i].tolist(), "joints_inside": inside.astype(int).tolist(),
            "joints_visible": visible.astype(int).tolist(), "bbox": bbox, "silhouette_px": full,
            "visible_px": shown, "occlusion": occlusion,
            "stratum": occlusion_stratum(occlusion, params.occlusion_strata),
        })
    return people


def render_people(verts: np.ndarray, faces: torch.Tensor, focal: np.ndarray, princpt: np.ndarray, size: int,
                  device: str = "cpu"):
    """Rasterize n camera-frame meshes (n,V,3) together and each alone -> (MeshFragments on CPU, vertex tensors)."""
    from common.render.mesh_raster import rasterize_meshes

    verts_t = [torch.as_tensor(v, dtype=torch.float32, device=device) for v in verts]
    frags = rasterize_meshes(verts_t, [faces.to(device)] * len(verts_t), focal, princpt, (size, size),
                             return_per_mesh=True)
    return frags, verts_t


def generate_scene(index: int, split: str, seed: int, params: GeneratorParams, body_model, faces: torch.Tensor,
                   segments: np.ndarray, device: str = "cpu") -> tuple[np.ndarray, dict]:
    """Render scene ``index`` of ``split``. Returns the RGB uint8 image (S,S,3) and its annotation dict.

    ``device`` only moves rasterization/shading (CUDA is faster; images may differ from CPU ones in a few
    edge pixels, annotations of joints and parameters do not).
    """
    from data.synthetic import scene  # rendering needs these; reading a cached split does not
    from data.synthetic.poses import sample_betas, sample_body_pose

    rng = np.random.default_rng([seed, SPLIT_CODES[split], index])
    s = params.image_size
    n = int(rng.integers(params.min_people, params.max_people + 1))
    cam = scene.sample_camera(rng, s, params.focal_range, params.camera_height_range, params.pitch_deg_range)
    poses, primitives = zip(*(sample_body_pose(rng) for _ in range(n)))
    betas = np.stack([sample_betas(rng) for _ in range(n)])
    orient = np.stack([scene.person_orientation(rng, cam) for _ in range(n)])
    orient_aa = matrix_to_axis_angle(torch.as_tensor(orient)).numpy()
    with torch.no_grad():
        out = body_model(global_orient=torch.as_tensor(orient_aa, dtype=torch.float32),
                         body_pose=torch.as_tensor(np.stack(poses), dtype=torch.float32),
                         betas=torch.as_tensor(betas, dtype=torch.float32))
        joints = body_model.regress(out.vertices, "crowdnet30").double().cpu().numpy()
    verts = out.vertices.double().cpu().numpy()
    spots = scene.place_people(rng, n, cam, s, params.depth_range, params.occlude_prob, params.min_gap,
                               lateral_range=params.lateral_range, view_fraction=params.view_fraction)
    transl = np.stack([scene.ground_translation(verts[i], joints[i, 0], spots[i], cam) for i in range(n)])
    verts, joints = verts + transl[:, None], joints + transl[:, None]

    frags, verts_t = render_people(verts, faces, cam.focal, cam.princpt, s, device)
    depth, mesh_ids = frags.fragments.depth[0].cpu().numpy(), frags.mesh_ids.cpu().numpy()
    colours = np.concatenate([scene.clothing_colours(rng, segments) for _ in range(n)])
    people_rgb = _shade(frags.fragments, verts_t, faces.to(device), colours, rng)
    image = np.where((mesh_ids >= 0)[..., None], people_rgb, scene.background(rng, s, cam))
    image = image * 255.0 + rng.normal(0.0, params.pixel_noise, image.shape)
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)

    people = annotate_people(joints, cam.focal, cam.princpt, depth, mesh_ids, frags.per_mesh.mask.cpu().numpy(), params)
    for i, person in enumerate(people):
        person.update({"primitive": primitives[i], "smpl_pose": np.r_[orient_aa[i], poses[i]].tolist(),
                       "smpl_betas": betas[i].tolist(), "smpl_transl": transl[i].tolist()})
    annotation = {"index": index, "height": s, "width": s, "focal": cam.focal.tolist(),
                  "princpt": cam.princpt.tolist(), "camera_height": cam.height, "pitch": cam.pitch,
                  "people": people}
    return image, annotation
