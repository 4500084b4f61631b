"""Benchmark of the pure-PyTorch rasterizer on crowd crops (not a test).

Renders 1-5 people of ~13.7k vertices / ~27.4k triangles each into a square crop, the way data loading does
(the whole group, then each person alone for occlusion edges), and compares with an OpenCV painter's-algorithm
face-id renderer (faces sorted far to near, one ``cv2.fillConvexPoly`` each) measured in the same run.

    python -m tool.bench.render                       # synthetic body-like meshes
    python -m tool.bench.render --mesh body.npz --up z --threads 1 --sizes 256 512
``--mesh`` takes an .npz with ``vertices`` (V, 3) metres and ``faces`` (F, 3), or any file trimesh can load.
``render_section`` is the figure of ``python -m tool.benchmark --only render`` (3 people at 256x256, 1 thread,
interleaved with the OpenCV baseline).
"""
from __future__ import annotations

import argparse
import math
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from common.render.mesh_raster import rasterize_face_ids, rasterize_meshes
from common.render.rasterizer import rasterize
from tool.bench.timing import best_ratio, figure, interleaved, paired_ratio


def ellipsoid(center: tuple[float, float, float], radii: tuple[float, float, float], rings: int = 32,
              segments: int = 72) -> tuple[np.ndarray, np.ndarray]:
    """UV ellipsoid: (rings * segments + 2, 3) vertices and outward-wound faces."""
    theta = np.linspace(0, math.pi, rings + 2)[1:-1]
    phi = np.linspace(0, 2 * math.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), np.cos(t), np.sin(t) * np.sin(p)], -1).reshape(-1, 3)
    unit = np.concatenate([[[0, 1, 0]], ring, [[0, -1, 0]]])
    verts = unit * np.asarray(radii) + np.asarray(center)
    idx = lambda r, s: 1 + r * segments + s % segments  # noqa: E731
    faces = [[0, idx(0, s + 1), idx(0, s)] for s in range(segments)]
    for r in range(rings - 1):
        for s in range(segments):
            faces += [[idx(r, s), idx(r, s + 1), idx(r + 1, s)], [idx(r, s + 1), idx(r + 1, s + 1), idx(r + 1, s)]]
    last = rings * segments + 1
    faces += [[last, idx(rings - 1, s), idx(rings - 1, s + 1)] for s in range(segments)]
    return verts, np.asarray(faces)


def synthetic_person() -> tuple[np.ndarray, np.ndarray]:
    """Six ellipsoids (torso, head, arms, legs) in camera axes (y down), 1.7 m tall: 13,836 V / 27,648 F."""
    parts = [((0, -0.25, 0), (0.2, 0.32, 0.12)), ((0, -0.72, 0), (0.1, 0.13, 0.11)),
             ((-0.32, -0.3, 0), (0.06, 0.3, 0.06)), ((0.32, -0.3, 0), (0.06, 0.3, 0.06)),
             ((-0.1, 0.45, 0), (0.08, 0.42, 0.08)), ((0.1, 0.45, 0), (0.08, 0.42, 0.08))]
    verts, faces, offset = [], [], 0
    for center, radii in parts:
        v, f = ellipsoid(center, radii)
        verts.append(v)
        faces.append(f + offset)
        offset += len(v)
    return np.concatenate(verts), np.concatenate(faces)


def load_person(path: str | None, up: str) -> tuple[np.ndarray, np.ndarray]:
    """Mesh in camera axes (x right, y down), centred, metres."""
    if path is None:
        return synthetic_person()
    if path.endswith(".npz"):
        data = np.load(path)
        verts, faces = data["vertices"].astype(np.float64), data["faces"].astype(np.int64)
    else:
        import trimesh

        mesh = trimesh.load(path, force="mesh")
        verts, faces = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)
    if up == "z":  # z up -> y down, y (depth) -> z
        verts = np.stack([verts[:, 0], -verts[:, 2], verts[:, 1]], 1)
    else:  # y up -> y down (and z towards the viewer -> away)
        verts = verts * np.array([1.0, -1.0, -1.0])
    return verts - (verts.max(0) + verts.min(0)) / 2, faces


def place_crowd(person: np.ndarray, count: int, size: int, focal: float) -> list[torch.Tensor]:
    """``count`` copies side by side with increasing depth, framed to fill ~85% of the crop height."""
    height = person[:, 1].max() - person[:, 1].min()
    depth = focal * height / (0.85 * size)
    people = []
    for i in range(count):
        shift = np.array([(i - (count - 1) / 2) * 0.35, 0.0, depth + 0.4 * i])
        people.append(torch.tensor(person + shift, dtype=torch.float32))
    return people


def painter_face_ids(people: list[torch.Tensor], faces: np.ndarray, focal: float, size: int) -> np.ndarray:
    """OpenCV baseline: face id buffer (H, W) by drawing faces far to near, pixel centres at +0.5."""
    import cv2

    verts = torch.cat(people).numpy().astype(np.float64)
    all_faces = np.concatenate([faces + i * len(people[0]) for i in range(len(people))])
    uv = verts[:, :2] / verts[:, 2:] * focal + size / 2
    order = np.argsort(-verts[all_faces, 2].mean(1))
    pts = np.round((uv[all_faces[order]] - 0.5) * 16).astype(np.int32)  # 4 fractional bits
    canvas = np.zeros((size, size, 3), np.uint8)
    for k, tri in zip(order + 1, pts):
        cv2.fillConvexPoly(canvas, tri, (int(k & 255), int((k >> 8) & 255), int(k >> 16)), cv2.LINE_8, 4)
    ids = canvas[..., 0].astype(np.int64) | canvas[..., 1].astype(np.int64) << 8 | canvas[..., 2].astype(np.int64) << 16
    return ids - 1


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """(median wall ms, median process-CPU ms, last result) over ``repeats`` runs after one warm-up.

    CPU time is reported too because a shared machine inflates wall time; with --threads 1 it is the
    wall time the same work takes on an idle core.
    """
    result = fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return statistics.median(wall), statistics.median(cpu), result


def render_section(rounds: int, count: int = 3, size: int = 256) -> list[dict]:
    """Figures for ``python -m tool.benchmark``: our scene render (and scene + each person alone, and face ids only) vs
    the OpenCV painter's renderer of the same scene, all with one torch thread, timed interleaved."""
    verts, faces = synthetic_person()
    faces_t = torch.as_tensor(faces)
    focal = 5000.0 * size / 256
    people = place_crowd(verts, count, size, focal)
    cam = dict(focal=(focal, focal), princpt=(size / 2, size / 2), image_size=(size, size))
    t = interleaved({
        "scene": lambda: rasterize_meshes(people, [faces_t] * count, **cam),
        "scene_each": lambda: rasterize_meshes(people, [faces_t] * count, return_per_mesh=True, **cam),
        "face_ids": lambda: rasterize_face_ids(people, [faces_t] * count, **cam),
        "cv2": lambda: painter_face_ids(people, faces, focal, size),
    }, rounds, threads=dict.fromkeys(("scene", "scene_each", "face_ids", "cv2"), 1))
    ours = rasterize_meshes(people, [faces_t] * count, **cam).fragments.face_ids[0].numpy()
    ids = painter_face_ids(people, faces, focal, size)
    iou = float(((ours >= 0) & (ids >= 0)).sum() / max(1, ((ours >= 0) | (ids >= 0)).sum()))
    what = f"{count} people x {len(faces)} F at {size}x{size}, 1 thread"
    return [
        figure("render.scene_vs_cv2", paired_ratio(t, "scene", "cv2"), "x",
               f"our z-buffer scene render time / OpenCV painter time ({what})", scene_ms=t["scene"].wall,
               cv2_ms=t["cv2"].wall, silhouette_iou=iou, best=best_ratio(t, "scene", "cv2")),
        figure("render.scene_each_vs_cv2", paired_ratio(t, "scene_each", "cv2"), "x",
               "scene + each person alone (rasterize_meshes return_per_mesh) / OpenCV scene only",
               ms=t["scene_each"].wall, best=best_ratio(t, "scene_each", "cv2")),
        figure("render.face_ids_vs_cv2", paired_ratio(t, "face_ids", "cv2"), "x",
               "face ids of scene + each alone (rasterize_face_ids, edge maps) / OpenCV scene only",
               ms=t["face_ids"].wall, best=best_ratio(t, "face_ids", "cv2")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mesh", default=None, help=".npz (vertices, faces) or trimesh-readable body mesh")
    parser.add_argument("--up", choices=("y", "z"), default="y", help="up axis of --mesh")
    parser.add_argument("--people", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (data workers use 1)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the slow OpenCV painter's baseline")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    verts, faces = load_person(args.mesh, args.up)
    faces_t = torch.as_tensor(faces)
    print(f"mesh: {Path(args.mesh).name if args.mesh else 'synthetic'} {len(verts)} V / {len(faces)} F; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; wall ms (process CPU ms), "
          f"medians over {args.repeats} runs")
    for size in args.sizes:
        focal = 5000.0 * size / 256
        for count in args.people:
            people = place_crowd(verts, count, size, focal)
            cam = dict(focal=(focal, focal), princpt=(size / 2, size / 2), image_size=(size, size))
            meshes = [faces_t] * count  # partial() binds this iteration's inputs (timed() calls them at once)
            scene_ms, scene_cpu, scene = timed(partial(rasterize_meshes, people, meshes, **cam), args.repeats)
            both_ms, both_cpu, _ = timed(partial(rasterize_meshes, people, meshes, return_per_mesh=True, **cam),
                                         args.repeats)
            def alone(people=people, cam=cam):  # stacking is part of the timed call
                return rasterize(torch.stack(people), faces_t, **cam)

            alone_ms, alone_cpu, _ = timed(alone, args.repeats)
            line = (f"{size}x{size} {count} people: scene {scene_ms:.1f} ({scene_cpu:.1f}) | scene + each alone "
                    f"{both_ms:.1f} ({both_cpu:.1f}) | each alone, batched {alone_ms:.1f} ({alone_cpu:.1f})")
            if not args.no_baseline:
                cv_ms, cv_cpu, ids = timed(partial(painter_face_ids, people, faces, focal, size),
                                           max(3, args.repeats // 5))
                ours = scene.fragments.face_ids[0].numpy()
                iou = ((ours >= 0) & (ids >= 0)).sum() / max(1, ((ours >= 0) | (ids >= 0)).sum())
                same = (ours[ours >= 0] == ids[ours >= 0]).mean()
                line += (f" | cv2 painter {cv_ms:.1f} ({cv_cpu:.1f}); ours/cv2 = {scene_cpu / cv_cpu:.3f} (CPU time); "
                         f"silhouette IoU {iou:.4f}, same face id {same:.3f}")
            print(line, flush=True)


if __name__ == "__main__":
    main()
