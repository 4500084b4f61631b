"""Demo outputs: cameras back to the full image, overlays, 2D pose drawing, .obj files.

The crop is an axis-aligned, isotropic scaling (no rotation), so the crop's virtual camera (focal f, principal
point at the crop centre) IS a pinhole camera of the full image with focal f * (box side / S) and principal
point = box centre (:func:`image_camera`): each person's mesh is rendered with that camera, exactly. For the
all-people image each mesh is re-expressed in one shared image camera (:func:`to_shared_camera`), which
preserves every vertex's projection and orders people by their depth rescaled to that camera. The .obj files
keep the model's output frame (the crop camera, metres); their header gives the equivalent image camera.
"""
from __future__ import annotations

import colorsys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from common.errors import UserError, writing


def image_camera(crop_to_img: np.ndarray, focal: float, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The crop's virtual camera (focal px, principal point at the crop centre) as a camera of the full image.

    Exact for an axis-aligned crop: u_img = a u_crop + t = (a f) x / z + (a S/2 + t). Returns focal (2,),
    princpt (2,) in image px.
    """
    from common.geometry.transforms2d import apply_affine

    m = np.asarray(crop_to_img, np.float64)
    if abs(m[0, 1]) > 1e-9 or abs(m[1, 0]) > 1e-9:
        raise ValueError("image_camera: the crop is rotated; only axis-aligned crops map to a pinhole camera")
    center = apply_affine(np.array([[input_size / 2.0, input_size / 2.0]]), m)[0]
    return np.array([m[0, 0], m[1, 1]]) * focal, center.astype(np.float64)


def to_shared_camera(vertices: np.ndarray, focal: float, princpt: np.ndarray, shared_focal: float,
                     shared_princpt: np.ndarray) -> np.ndarray:
    """Re-express points (V, 3) seen by camera (focal, princpt) in camera (shared_focal, shared_princpt) so
    that every point projects to the same pixel: z' = z F / f, xy' = xy + (c - c') z / f."""
    v = np.asarray(vertices, np.float64)
    z = v[:, 2:3]
    xy = v[:, :2] + (np.asarray(princpt) - np.asarray(shared_princpt)) * z / focal
    return np.concatenate([xy, z * shared_focal / focal], axis=1)


def person_color(index: int) -> tuple[float, float, float]:
    """Distinct RGB colour in [0, 1] for person ``index`` (golden-ratio hue steps)."""
    return colorsys.hsv_to_rgb((0.1 + index * 0.618034) % 1.0, 0.5, 1.0)


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray, header: Sequence[str] = ()) -> None:
    """Wavefront .obj: ``v x y z`` per vertex, ``f a b c`` (1-based) per face, ``#`` header lines."""
    lines = [f"# {h}" for h in header]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(vertices, np.float64)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces, np.int64)]
    with writing(path, "mesh"):
        path.write_text("\n".join(lines) + "\n")


def save_png(path: Path, image_rgb: np.ndarray) -> None:
    """Write an RGB (H,W,3) uint8 image; UserError naming the path when it cannot be written."""
    import cv2

    if not cv2.imwrite(str(path), np.ascontiguousarray(image_rgb[:, :, ::-1])):
        raise UserError(f"{path}: cannot write the image (is the output folder writable?)")


def draw_inputs(image: np.ndarray, people: list[np.ndarray], persons: Sequence[Any],
                pose_thr: float) -> np.ndarray:
    """Input COCO-17 poses (valid keypoints), crop boxes and person indices over the image."""
    import cv2

    from common.joint_sets import skeleton
    from common.render.visualize import draw_pose2d

    out = image.copy()
    for k, kpts in enumerate(people):
        out = draw_pose2d(out, kpts[:, :2], kpts[:, 2] > pose_thr, skeleton("coco17"), person_color(k), 2, 1)
    for person in persons:
        x, y, w, h = person.bbox
        colour = tuple(int(255 * c) for c in person_color(person.index))
        cv2.rectangle(out, (int(x), int(y)), (int(x + w), int(y + h)), colour, 1)
        cv2.putText(out, str(person.index), (int(x) + 2, int(y) + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1)
    return out


def write_meshes(out_dir: Path, stem: str, image: np.ndarray, persons: Sequence[Any], preds: dict,
                 faces: np.ndarray, crop_focal: float, input_size: int) -> tuple[list[Path], list[dict]]:
    """Per-person overlay PNG + .obj and the all-people PNG; returns (files, per-person result dicts)."""
    import torch

    from common.render.visualize import overlay_mesh

    verts = preds["vertices"].float().cpu().numpy()
    shared_focal, shared_c = float(max(image.shape[:2])), np.array([image.shape[1], image.shape[0]]) / 2.0
    written, people, scene_verts, colours = [], [], [], []
    for i, (person, v) in enumerate(zip(persons, verts)):
        focal, princpt = image_camera(person.crop_to_img, crop_focal, input_size)
        colour = person_color(person.index)
        png, obj = out_dir / f"{stem}_person{person.index}_mesh.png", out_dir / f"{stem}_person{person.index}.obj"
        save_png(png, overlay_mesh(image, v, faces, focal, princpt, colour))
        camera = f"focal {focal.round(3).tolist()} princpt {princpt.round(3).tolist()} px"
        write_obj(obj, v, faces, [f"{stem} person {person.index}: vertices in the crop camera (m)",
                                  f"the same camera in image pixels: {camera}"])
        written += [png, obj]
        scene_verts.append(torch.as_tensor(to_shared_camera(v, float(focal.mean()), princpt, shared_focal, shared_c)))
        colours.append(colour)
        people.append({"index": person.index, "bbox": person.bbox.astype(float).round(2).tolist(),
                       "image_focal": focal.round(3).tolist(), "image_princpt": princpt.round(3).tolist(),
                       "cam_trans_m": preds["cam_trans"][i].tolist()})
    written.append(out_dir / f"{stem}_all_meshes.png")
    save_png(written[-1], overlay_mesh(image, scene_verts, [torch.as_tensor(faces)] * len(persons),
                                       (shared_focal, shared_focal), shared_c, np.asarray(colours)))
    return written, people
