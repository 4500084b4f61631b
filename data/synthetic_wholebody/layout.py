"""Camera and placement of the whole-body world: 1-2 large people standing on the ground, mostly facing the
camera, the camera aimed at the first person so that hands and faces are visible.

Reuses the SMPL world's frames (:mod:`data.synthetic.scene`: level frame, Camera, ground translation).
"""
from __future__ import annotations

import math

import numpy as np

from data.synthetic.scene import Camera, ground_translation

FRONTAL_PROB = 0.8  # yaw ~ N(0, FRONTAL_YAW_STD) (facing the camera), else U(-pi, pi)
FRONTAL_YAW_STD = 0.6  # rad
HEIGHT_FRACTION = (0.6, 0.95)  # first person's projected height / image height
SECOND_DEPTH_RATIO = (0.9, 1.4)  # second person's depth / first person's depth
SECOND_GAP = (0.55, 1.0)  # m, lateral distance between the two people


def level_orientation(rng: np.random.Generator, tilt_std: float = 0.04, frontal_prob: float = FRONTAL_PROB,
                      yaw_std: float = FRONTAL_YAW_STD) -> np.ndarray:
    """(3,3) body -> level-frame rotation: SMPL's Y-up/+Z-front body upright, facing the camera up to a yaw
    (N(0, yaw_std) with probability ``frontal_prob``, else uniform)."""
    frontal = rng.random() < frontal_prob
    yaw = rng.normal(0.0, yaw_std) if frontal else rng.uniform(-math.pi, math.pi)
    c, s = math.cos(yaw), math.sin(yaw)
    r_yaw = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    tx, tz = rng.normal(0.0, tilt_std, 2)
    r_x = np.array([[1, 0, 0], [0, math.cos(tx), -math.sin(tx)], [0, math.sin(tx), math.cos(tx)]])
    r_z = np.array([[math.cos(tz), -math.sin(tz), 0], [math.sin(tz), math.cos(tz), 0], [0, 0, 1]])
    return r_yaw @ r_x @ r_z @ np.diag([1.0, -1.0, -1.0])


def aim_camera(rng: np.random.Generator, focal: np.ndarray, princpt: np.ndarray, image_hw: tuple[int, int],
               level_verts: np.ndarray, height_range=(0.9, 1.6)) -> tuple[Camera, float]:
    """Camera looking at the first person and that person's depth (m).

    ``level_verts`` (V,3): the first person's mesh in the level frame (orientation applied, any position).
    Its projected height is U(HEIGHT_FRACTION) of the image; the pitch points the optical axis at its middle
    (+ N(0, 1.5 deg)).
    """
    extent = float(np.ptp(level_verts[:, 1]))
    depth = focal[1] * extent / (rng.uniform(*HEIGHT_FRACTION) * image_hw[0])
    cam_height = rng.uniform(*height_range)
    pitch = math.atan2(cam_height - extent / 2.0, depth) + math.radians(rng.normal(0.0, 1.5))
    return Camera(np.asarray(focal, np.float64), np.asarray(princpt, np.float64), cam_height, pitch), depth


def place_people(rng: np.random.Generator, camera: Camera, image_w: int, depth: float, verts: np.ndarray,
                 pelvis: np.ndarray) -> np.ndarray:
    """(n,3) camera-frame translations: person 0 near the image centre at ``depth``, each next one beside the
    previous ones (alternating sides, gaps U(SECOND_GAP) m, depth x U(SECOND_DEPTH_RATIO)), all with their
    lowest vertex on the ground.

    ``verts`` (n,V,3) / ``pelvis`` (n,3): the people's camera-frame meshes and pelvis joints before translation.
    """
    half_view = 0.5 * image_w / camera.focal[0]
    x0 = rng.uniform(-0.2, 0.2) * half_view * depth
    spots, side, reach = [np.array([x0, depth])], rng.choice([-1.0, 1.0]), {-1.0: x0, 1.0: x0}
    for _ in range(1, len(verts)):
        reach[side] += side * rng.uniform(*SECOND_GAP)
        spots.append(np.array([reach[side], depth * rng.uniform(*SECOND_DEPTH_RATIO)]))
        side = -side
    return np.stack([ground_translation(v, p, spot, camera) for v, p, spot in zip(verts, pelvis, spots)])
