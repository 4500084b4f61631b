"""Scene layout and appearance of the synthetic world: camera, where people stand, clothes, backgrounds.

Frames: the *level* frame is the camera frame before pitch (x right, y down, z forward, ground plane
y = camera height); the camera frame is the level frame turned down by ``pitch``: p_cam = R_pitch @ p_level.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# SMPL joint index -> garment slot of the vertices it drives most (skinning argmax).
_SLOTS = {
    "skin": (12, 15, 20, 21, 22, 23),
    "top": (3, 6, 9, 13, 14, 16, 17),
    "sleeve": (18, 19),  # forearms: top colour (long sleeves) or skin
    "bottom": (0, 1, 2),
    "shin": (4, 5),  # bottom colour (trousers) or skin (shorts)
    "shoes": (7, 8, 10, 11),
}
SKIN_TONES = np.array([[255, 224, 196], [241, 194, 155], [224, 172, 130], [198, 134, 96], [141, 85, 54],
                       [96, 60, 40]], dtype=np.float64) / 255.0


@dataclass(frozen=True)
class Camera:
    focal: np.ndarray  # (2,) px
    princpt: np.ndarray  # (2,) px
    height: float  # camera height above the ground, m
    pitch: float  # downward tilt, rad

    @property
    def rotation(self) -> np.ndarray:
        """(3,3) level frame -> camera frame; its rows are the camera axes in the level frame (the optical
        axis (0, sin p, cos p) points down for p > 0, so the horizon moves up in the image)."""
        c, s = math.cos(self.pitch), math.sin(self.pitch)
        return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def sample_camera(rng: np.random.Generator, image_size: int, focal_range=(1.0, 1.6), height_range=(0.9, 1.8),
                  pitch_deg_range=(0.0, 12.0)) -> Camera:
    """Focal = image_size * U(focal_range); principal point near the centre; height and downward pitch."""
    f = image_size * rng.uniform(*focal_range)
    c = image_size / 2.0 + rng.uniform(-0.03, 0.03, 2) * image_size
    return Camera(np.array([f, f]), c, rng.uniform(*height_range), math.radians(rng.uniform(*pitch_deg_range)))


def place_people(rng: np.random.Generator, count: int, camera: Camera, image_size: int,
                 depth_range=(3.0, 9.0), occlude_prob: float = 0.7, min_gap: float = 0.6,
                 behind_range=(0.6, 2.5), lateral_range=(0.1, 0.5), view_fraction: float = 1.0,
                 tries: int = 30) -> np.ndarray:
    """(count, 2) ground positions (x, z) in the level frame, m.

    The first person stands anywhere with its pelvis within ``view_fraction`` of the half field of view (1.0: up
    to the image border, so some people are truncated); each next one, with probability ``occlude_prob``, stands
    behind an earlier one (deeper by ``behind_range``, lateral offset ``lateral_range`` m scaled by the depth
    ratio) so that it is partly hidden; otherwise anywhere. People keep ``min_gap`` metres apart.
    """
    half_view = 0.5 * image_size / camera.focal[0]  # tan(half horizontal FOV)

    def anywhere() -> np.ndarray:
        z = rng.uniform(*depth_range)
        return np.array([rng.uniform(-view_fraction, view_fraction) * half_view * z, z])

    spots: list[np.ndarray] = []
    for i in range(count):
        spot = anywhere()
        for _ in range(tries):
            if i > 0 and rng.random() < occlude_prob:
                front = spots[rng.integers(len(spots))]
                z = front[1] + rng.uniform(*behind_range)
                side = rng.choice([-1.0, 1.0]) * rng.uniform(*lateral_range)
                spot = np.array([(front[0] + side) * z / front[1], z])
            else:
                spot = anywhere()
            if all(np.linalg.norm(spot - s) >= min_gap for s in spots):
                break
        spots.append(spot)
    return np.stack(spots) if spots else np.zeros((0, 2))


def ground_translation(vertices: np.ndarray, pelvis: np.ndarray, spot: np.ndarray, camera: Camera) -> np.ndarray:
    """(3,) translation putting a camera-frame mesh (V,3) on the ground with its pelvis above ``spot`` (x, z)."""
    rot = camera.rotation
    down = rot @ np.array([0.0, 1.0, 0.0])  # ground normal (pointing down) in the camera frame
    target = rot @ np.array([spot[0], camera.height, spot[1]])  # ground point below the pelvis
    lowest = float(np.max(vertices @ down))
    t = (target - down * (target @ down)) - (pelvis - down * (pelvis @ down))  # horizontal part
    return t + down * (camera.height - lowest)


def person_orientation(rng: np.random.Generator, camera: Camera, tilt_std: float = 0.04) -> np.ndarray:
    """(3,3) global orientation: SMPL's Y-up/+Z-front body stood upright in the camera frame, random yaw."""
    flip = np.diag([1.0, -1.0, -1.0])  # SMPL frame -> level frame, body facing the camera
    yaw = rng.uniform(-math.pi, math.pi)
    c, s = math.cos(yaw), math.sin(yaw)
    r_yaw = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    tx, tz = rng.normal(0.0, tilt_std, 2)
    r_tilt = np.array([[1, 0, 0], [0, math.cos(tx), -math.sin(tx)], [0, math.sin(tx), math.cos(tx)]]) @ \
        np.array([[math.cos(tz), -math.sin(tz), 0], [math.sin(tz), math.cos(tz), 0], [0, 0, 1]])
    return camera.rotation @ r_yaw @ r_tilt @ flip


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.array([rng.uniform(0, 180), rng.uniform(40, 230), rng.uniform(40, 240)], dtype=np.float32)
    import cv2

    return cv2.cvtColor(hsv.reshape(1, 1, 3).astype(np.uint8), cv2.COLOR_HSV2RGB).reshape(3) / 255.0


def clothing_colours(rng: np.random.Generator, vertex_joint: np.ndarray) -> np.ndarray:
    """(V,3) RGB in [0,1] per vertex: skin, top, bottom and shoe colours chosen per person by body segment.

    ``vertex_joint`` (V,) is the SMPL joint (0..23) driving each vertex most (argmax of skinning weights).
    """
    colours = {"skin": SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.05),
               "top": _random_colour(rng), "bottom": _random_colour(rng), "shoes": _random_colour(rng) * 0.6}
    colours["sleeve"] = colours["top"] if rng.random() < 0.6 else colours["skin"]
    colours["shin"] = colours["bottom"] if rng.random() < 0.8 else colours["skin"]
    table = np.zeros((24, 3))
    for slot, joints in _SLOTS.items():
        table[list(joints)] = colours[slot]
    out = table[vertex_joint] * rng.uniform(0.95, 1.05, (len(vertex_joint), 1))  # faint fabric texture
    return np.clip(out, 0.0, 1.0)


def _pattern(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, scale: float) -> np.ndarray:
    """Mix weight in [0,1] of a random pattern over coordinates u, v (any units, ``scale`` = feature size)."""
    kind = rng.integers(4)
    angle = rng.uniform(0, math.pi)
    a = (u * math.cos(angle) + v * math.sin(angle)) / scale
    b = (-u * math.sin(angle) + v * math.cos(angle)) / scale
    if kind == 0:  # gradient
        return np.clip((a - a.min()) / max(np.ptp(a), 1e-6), 0, 1)
    if kind == 1:  # stripes
        return (np.sin(a * math.pi) > rng.uniform(-0.5, 0.5)).astype(np.float64)
    if kind == 2:  # checker
        return ((np.floor(a) + np.floor(b)) % 2).astype(np.float64)
    grid = rng.random((8, 8))  # smooth value noise
    import cv2

    smooth = cv2.resize(grid, (u.shape[1], u.shape[0]), interpolation=cv2.INTER_CUBIC)
    return np.clip(smooth + rng.normal(0, 0.05, u.shape), 0, 1)


def background(rng: np.random.Generator, image_size: int, camera: Camera) -> np.ndarray:
    """(S,S,3) float RGB in [0,1]: a textured wall above the horizon, a perspective floor texture below."""
    s = image_size
    ys, xs = np.mgrid[0:s, 0:s].astype(np.float64) + 0.5
    wall = _pattern(rng, xs, ys, rng.uniform(0.05, 0.4) * s)[..., None]
    wall = (1 - wall) * _random_colour(rng) + wall * _random_colour(rng)
    # floor: intersect each pixel ray with the ground plane (level frame y = height)
    rays = np.stack([(xs - camera.princpt[0]) / camera.focal[0], (ys - camera.princpt[1]) / camera.focal[1],
                     np.ones_like(xs)], -1) @ camera.rotation  # camera -> level frame (R^T applied to rows)
    floor_mask = rays[..., 1] > 1e-3
    depth = np.where(floor_mask, camera.height / np.maximum(rays[..., 1], 1e-3), 0.0)
    gx, gz = rays[..., 0] * depth, rays[..., 2] * depth
    scale = rng.uniform(0.4, 1.2)
    tile = _pattern(rng, gx, gz, scale)
    # cheap mip-mapping: where a pixel covers more than ~1/4 of a pattern cell, fade the pattern to its mean
    footprint = depth * depth / (camera.focal[0] * camera.height)  # ground size of a pixel at grazing view, m
    fade = np.clip(2.0 - 4.0 * footprint / scale, 0.0, 1.0)
    tile = (0.5 + (tile - 0.5) * fade)[..., None]
    floor = (1 - tile) * _random_colour(rng) + tile * _random_colour(rng)
    fog = np.clip(depth / 40.0, 0, 0.6)[..., None]  # far floor fades to the wall's mean colour
    floor = (1 - fog) * floor + fog * wall.mean((0, 1))
    img = np.where(floor_mask[..., None], floor, wall)
    return np.clip(img * rng.uniform(0.7, 1.1), 0.0, 1.0)
