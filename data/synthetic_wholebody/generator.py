"""Deterministic generator of the whole-body world: 1-2 large SMPL-X people per image with sampled hands and faces.

``generate_scene(index, split, ...)`` draws everything from ``numpy.random.default_rng([seed, split_code, index])``;
rendering, shading, backgrounds and the visibility test are the SMPL world's (:mod:`data.synthetic`). Parameters
are SMPL-X with ABSOLUTE finger rotations (see common/wholebody/params.py); keypoints are OpenPose-137
(``common.wholebody.layout``). See docs/synthetic_world.md ("Whole-body world").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from common.geometry.rotations import matrix_to_axis_angle
from common.render.mesh_raster import rasterize_meshes
from common.render.rasterizer import Fragments
from data.synthetic import scene
from data.synthetic.generator import GeneratorParams, _shade, annotate_people
from data.synthetic.poses import sample_betas, sample_body_pose
from data.synthetic_wholebody.layout import aim_camera, level_orientation, place_people
from data.synthetic_wholebody.parts import HandSpace, sample_face, sample_hand_pose

GENERATOR_VERSION = 1  # bump when the output of the same parameters changes
SPLIT_CODES = {"train": 0, "test": 1, "ehf": 2}
BODY25 = slice(0, 25)
BACKGROUND_MAX_SIDE = 800  # px; larger backgrounds are drawn smaller and upsampled
PARTS = {"left_hand": slice(25, 46), "right_hand": slice(46, 67), "face": slice(67, 137)}


@dataclass(frozen=True)
class WorldParams:
    """Everything that shapes the generated images (all of it enters the cache key).

    A person is kept as a sample when >= min_body_inside of its defined body-25 keypoints project inside the
    image, its silhouette has >= min_area_px pixels and at most max_occlusion of it is hidden by others. A part
    (hand, face) is valid when >= part_visible of its defined keypoints are visible; the face also needs the
    head to face the camera (nose in front of the ears' midpoint as seen from the camera).
    """

    image_size: int = 512
    min_people: int = 1
    max_people: int = 2
    focal_range: tuple[float, float] = (1.0, 1.6)
    min_body_inside: float = 0.6
    min_area_px: int = 400
    max_occlusion: float = 0.9
    part_visible: float = 0.5
    visibility_radius: int = 2
    pixel_noise: float = 2.0
    jpeg_quality: int = 95

    @classmethod
    def from_config(cls, world_cfg) -> "WorldParams":
        """From ``cfg.data.wholebody_world`` (image size, people per scene); the rest keeps its defaults."""
        return cls(image_size=world_cfg.image_size, min_people=world_cfg.min_people, max_people=world_cfg.max_people)

    def __post_init__(self) -> None:
        if not 1 <= self.min_people <= self.max_people:
            from common.config import ConfigError

            raise ConfigError(f"data.wholebody_world: need 1 <= min_people <= max_people, got {self.min_people}, "
                              f"{self.max_people}")

    def visibility(self) -> GeneratorParams:
        """The SMPL world's annotation thresholds (visibility test; its skip flags are replaced by ours)."""
        return GeneratorParams(visibility_radius=self.visibility_radius, min_joints_inside=0.0, min_area_px=0,
                               max_occlusion=1.0)


def vertex_segments(layer) -> np.ndarray:
    """(V,) SMPL joint (0..23) of each SMPL-X vertex for the SMPL world's clothing colours: argmax of the
    skinning weights, jaw/eyes -> head (15), left fingers -> L_Hand (22), right fingers -> R_Hand (23)."""
    joint = layer.lbs_weights.argmax(1).cpu().numpy()
    table = np.r_[np.arange(22), [15, 15, 15], np.full(15, 22), np.full(15, 23)]
    return table[joint]


def sample_person(rng: np.random.Generator, space: HandSpace, **orientation) -> dict:
    """Body (SMPL world primitives; SMPL and SMPL-X share joints 0..21), hands, face and shape of one person.

    Returns pose (55,3) axis-angle with the global orientation in the LEVEL frame (row 0), betas (10,),
    expression (10,), primitive and hand modes. ``orientation``: options of :func:`level_orientation`.
    """
    body, primitive = sample_body_pose(rng)
    left, left_mode = sample_hand_pose(rng, space, "left")
    right, right_mode = sample_hand_pose(rng, space, "right")
    expression, jaw = sample_face(rng)
    orient = matrix_to_axis_angle(torch.as_tensor(level_orientation(rng, **orientation))).numpy()
    pose = np.concatenate([orient[None], body.reshape(23, 3)[:21], jaw[None], np.zeros((2, 3)), left, right])
    return {"pose": pose, "betas": sample_betas(rng), "expression": expression, "primitive": primitive,
            "hand_modes": [left_mode, right_mode]}


def run_layer(layer, pose: np.ndarray, betas: np.ndarray, expression: np.ndarray, transl: np.ndarray | None = None):
    """WholeBodyOutput (float64 numpy: vertices (n,V,3), joints (n,55,3), keypoints (n,137,3)) of n people."""
    from common.wholebody.params import SMPLXParams

    f32 = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32)  # noqa: E731
    params = SMPLXParams.from_axis_angle(f32(pose), f32(betas), f32(expression))
    with torch.no_grad():
        out = layer(params, None if transl is None else f32(transl))
    return (out.vertices.double().cpu().numpy(), out.joints.double().cpu().numpy(),
            out.keypoints.double().cpu().numpy())


def compose_scene(rng: np.random.Generator, people: list[dict], layer, focal: np.ndarray, princpt: np.ndarray,
                  image_hw: tuple[int, int]) -> tuple[scene.Camera, list[dict]]:
    """Aim the camera at person 0 and place everyone on the ground: the people's dicts gain the camera-frame
    ``pose`` (row 0 = camera-frame global orientation), ``transl`` (3,), ``vertices`` (V,3), ``keypoints``
    (137,3); ``layer(pose, betas, expression, transl)`` reproduces ``vertices``."""
    verts, joints, kps = run_layer(layer, np.stack([p["pose"] for p in people]),
                                   np.stack([p["betas"] for p in people]), np.stack([p["expression"] for p in people]))
    cam, depth = aim_camera(rng, focal, princpt, image_hw, verts[0])
    rot, pelvis = cam.rotation, joints[:, :1]
    # turning the level-frame orientation into the camera frame rotates the body about its root joint
    verts, kps = (verts - pelvis) @ rot.T + pelvis, (kps - pelvis) @ rot.T + pelvis
    transl = place_people(rng, cam, image_hw[1], depth, verts, pelvis[:, 0])
    for i, person in enumerate(people):
        orient = rot @ _rotmat(person["pose"][0])
        person["pose"] = np.concatenate([matrix_to_axis_angle(torch.as_tensor(orient)).numpy()[None],
                                         person["pose"][1:]])
        person.update(transl=transl[i], vertices=verts[i] + transl[i], keypoints=kps[i] + transl[i])
    return cam, people


def _rotmat(aa: np.ndarray) -> np.ndarray:
    from common.geometry.rotations import axis_angle_to_matrix

    return axis_angle_to_matrix(torch.as_tensor(np.asarray(aa, np.float64))).numpy()


def render(rng: np.random.Generator, people: list[dict], cam: scene.Camera, faces: torch.Tensor,
           segments: np.ndarray, image_hw: tuple[int, int], params: WorldParams, defined: np.ndarray,
           device: str = "cpu") -> tuple[np.ndarray, list[dict]]:
    """RGB uint8 image (H,W,3) of the placed people over the SMPL world's background, and per person the
    annotation dict (see docs/synthetic_world.md)."""
    h, w = image_hw
    verts = np.stack([p["vertices"] for p in people])
    verts_t = [torch.as_tensor(v, dtype=torch.float32, device=device) for v in verts]
    frags = rasterize_meshes(verts_t, [faces.to(device)] * len(verts_t), cam.focal, cam.princpt, image_hw,
                             return_per_mesh=True)
    depth, mesh_ids = frags.fragments.depth[0].cpu().numpy(), frags.mesh_ids.cpu().numpy()
    colours = np.concatenate([scene.clothing_colours(rng, segments) for _ in people])
    people_rgb = np.zeros((h, w, 3))
    ys, xs = np.nonzero(mesh_ids >= 0)  # shade only the people's bounding box (per-pixel: same result, faster)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)) if len(ys) else (slice(0, 1),) * 2
    f = frags.fragments
    sub = Fragments(*(t[(slice(None), *box)] for t in (f.depth, f.face_ids, f.bary, f.mask)))
    people_rgb[box] = _shade(sub, verts_t, faces.to(device), colours, rng)
    background = _background(rng, cam, max(h, w))[:h, :w]  # square texture, cropped (princpt is absolute)
    image = np.where((mesh_ids >= 0)[..., None], people_rgb, background) * 255.0
    image = np.clip(np.round(image + rng.normal(0.0, params.pixel_noise, image.shape)), 0, 255).astype(np.uint8)

    kps = np.stack([p["keypoints"] for p in people])
    kps_safe = np.where(defined[None, :, None] > 0, kps, kps[:, 8:9])  # undefined keypoints: any finite point
    notes = annotate_people(kps_safe, cam.focal, cam.princpt, depth, mesh_ids, frags.per_mesh.mask.cpu().numpy(),
                            params.visibility())
    return image, [_person_annotation(p, n, defined, params) for p, n in zip(people, notes)]


def _background(rng: np.random.Generator, cam: scene.Camera, side: int) -> np.ndarray:
    """(side, side, 3) SMPL-world background; above BACKGROUND_MAX_SIDE px drawn at a k-times lower resolution
    (camera scaled by 1/k) and upsampled (the EHF-size export: the textures are smooth, the time is not)."""
    k = -(-side // BACKGROUND_MAX_SIDE)
    if k <= 1:
        return scene.background(rng, side, cam)
    import cv2

    small = scene.Camera(cam.focal / k, cam.princpt / k, cam.height, cam.pitch)
    return cv2.resize(scene.background(rng, -(-side // k), small), None, fx=k, fy=k,
                      interpolation=cv2.INTER_LINEAR)[:side, :side]


def _person_annotation(person: dict, note: dict, defined: np.ndarray, params: WorldParams) -> dict:
    inside = np.asarray(note["joints_inside"]) * defined
    visible = np.asarray(note["joints_visible"]) * defined
    body_inside = inside[BODY25].sum() / max(defined[BODY25].sum(), 1)
    skip = ""
    if body_inside < params.min_body_inside or note["silhouette_px"] < params.min_area_px:
        skip = "outside"
    elif note["occlusion"] > params.max_occlusion:
        skip = "hidden"
    valid = {part: bool(visible[s].sum() >= params.part_visible * max(defined[s].sum(), 1))
             for part, s in PARTS.items()}
    kps = person["keypoints"]
    facing = float((kps[0] - (kps[17] + kps[18]) / 2.0) @ -kps[0]) > 0.0  # BODY25: 0 nose, 17/18 ears
    valid["face"] = valid["face"] and facing
    return {
        "kept": not skip, "skip_reason": skip, "bbox": note["bbox"], "occlusion": note["occlusion"],
        "keypoints2d": (np.asarray(note["joints2d"]) * defined[:, None]).tolist(),  # undefined: 0
        "keypoints3d": (kps * defined[:, None]).tolist(), "keypoints_inside": inside.astype(int).tolist(),
        "keypoints_visible": visible.astype(int).tolist(), **{f"{k}_valid": v for k, v in valid.items()},
        "smplx_pose": person["pose"].tolist(), "smplx_betas": person["betas"].tolist(),
        "smplx_expression": person["expression"].tolist(), "smplx_transl": person["transl"].tolist(),
        "primitive": person["primitive"], "hand_modes": person["hand_modes"],
    }


def generate_scene(index: int, split: str, seed: int, params: WorldParams, layer, space: HandSpace,
                   faces: torch.Tensor, segments: np.ndarray, device: str = "cpu") -> tuple[np.ndarray, dict]:
    """Render scene ``index`` of ``split``: RGB uint8 (S,S,3) and its annotation dict."""
    rng = np.random.default_rng([seed, SPLIT_CODES[split], index])
    s = params.image_size
    n = int(rng.integers(params.min_people, params.max_people + 1))
    people = [sample_person(rng, space) for _ in range(n)]
    focal = np.full(2, s * rng.uniform(*params.focal_range))
    princpt = s / 2.0 + rng.uniform(-0.03, 0.03, 2) * s
    cam, people = compose_scene(rng, people, layer, focal, princpt, (s, s))
    defined = layer.keypoints_valid.cpu().numpy().astype(np.float64)
    image, notes = render(rng, people, cam, faces, segments, (s, s), params, defined, device)
    for i, note in enumerate(notes):
        note["person_id"] = i
    return image, {"index": index, "height": s, "width": s, "focal": cam.focal.tolist(),
                   "princpt": cam.princpt.tolist(), "camera_height": cam.height, "pitch": cam.pitch, "people": notes}
