"""Generate the demo's shipped inputs (``demo/input/``) from the synthetic world.

    python tool/make_demo_inputs.py [--out demo/input] [--num_scenes 4] [--seed 2024]

Writes ``images/scene_NN.jpg`` (a few small JPEGs) and ``2d_pose_result.json`` in 3DCrowdNet's demo format
``{image_name: [[17 x [x, y, score]] per person]}`` (COCO-17 order, image pixels), made the way a 2D pose
detector's output looks: GT joints of the kept people projected into the image, plus Gaussian noise that
grows for joints hidden by another person, scores high for visible joints, lower for hidden ones and ~0 for
joints outside the image (clamped to the border, as detectors do). Deterministic: the same seed and body
model give byte-identical files. Scenes are drawn from their own seed, so they are not in any training split.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # allow `python tool/make_demo_inputs.py` without an installed package
    sys.path.insert(0, str(REPO_ROOT))

POSE_JSON = "2d_pose_result.json"
JPEG_QUALITY = 85  # keeps a 384 px scene well under 60 KB


def detector_keypoints(joints2d: np.ndarray, inside: np.ndarray, visible: np.ndarray, bbox: np.ndarray,
                       image_wh: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """crowdnet30 GT joints of one person -> detector-like COCO-17 keypoints (17, 3) = (x px, y px, score).

    Noise std is 1.5% (visible) / 4% (hidden by another person) of the person's box height; scores are
    U(0.75, 0.98) visible, U(0.25, 0.55) hidden, U(0, 0.05) outside the image.
    """
    from common.joint_sets import convert_joints, convert_validity

    xy, _ = convert_joints(np.asarray(joints2d, np.float64), "crowdnet30", "coco17")
    ins = convert_validity(inside, "crowdnet30", "coco17") > 0
    vis = convert_validity(visible, "crowdnet30", "coco17") > 0
    scale = max(float(bbox[3]), 1.0)
    std = np.where(vis, 0.015, 0.04) * scale
    xy = xy + rng.normal(size=xy.shape) * std[:, None]
    score = np.where(vis, rng.uniform(0.75, 0.98, 17), rng.uniform(0.25, 0.55, 17))
    score = np.where(ins, score, rng.uniform(0.0, 0.05, 17))
    xy = np.clip(xy, 0.0, np.asarray(image_wh, np.float64) - 1e-3)
    return np.concatenate([np.round(xy, 2), np.round(score, 3)[:, None]], axis=1)


def make_demo_inputs(out_dir: Path, num_scenes: int = 4, seed: int = 2024, image_size: int = 384,
                     min_people: int = 2, max_people: int = 5, max_tries: int = 200) -> dict[str, int]:
    """Render ``num_scenes`` synthetic scenes with ``min_people..max_people`` kept people into ``out_dir``.

    Returns {image name: number of people in the JSON}. Scenes whose number of kept people falls outside the
    range are passed over (deterministically) until ``num_scenes`` are found.
    """
    import torch

    from common.body_models import build_body_model
    from data.image_io import save_jpeg
    from data.synthetic.generator import GeneratorParams, generate_scene, vertex_segments

    body_model = build_body_model("smpl", source="open")
    faces = body_model.faces.to(torch.long).cpu()
    segments = vertex_segments(body_model)
    params = GeneratorParams(image_size=image_size, min_people=min_people, max_people=max_people,
                             depth_range=(3.0, 7.0))
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    poses: dict[str, list] = {}
    for index in range(max_tries):
        if len(poses) == num_scenes:
            break
        image, ann = generate_scene(index, "test", seed, params, body_model, faces, segments)
        people = [p for p in ann["people"] if p["kept"]]
        if not min_people <= len(people) <= max_people:
            continue
        name = f"scene_{len(poses):02d}.jpg"
        rng = np.random.default_rng([seed, index, 7])
        poses[name] = [detector_keypoints(np.asarray(p["joints2d"]), np.asarray(p["joints_inside"]),
                                          np.asarray(p["joints_visible"]), np.asarray(p["bbox"]),
                                          (ann["width"], ann["height"]), rng).tolist() for p in people]
        save_jpeg(out_dir / "images" / name, image, JPEG_QUALITY)
    if len(poses) < num_scenes:
        raise RuntimeError(f"only {len(poses)} of {num_scenes} scenes with {min_people}-{max_people} people in "
                           f"{max_tries} tries (seed {seed})")
    (out_dir / POSE_JSON).write_text(json.dumps(poses, indent=None, separators=(",", ":")) + "\n")
    return {name: len(people) for name, people in poses.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate demo/input/ from the synthetic world.")
    parser.add_argument("--out", default=str(REPO_ROOT / "demo" / "input"), help="output folder")
    parser.add_argument("--num_scenes", type=int, default=4)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--image_size", type=int, default=384)
    args = parser.parse_args(argv)
    counts = make_demo_inputs(Path(args.out), args.num_scenes, args.seed, args.image_size)
    for name, n in counts.items():
        size = (Path(args.out) / "images" / name).stat().st_size
        print(f"{name}: {n} people, {size / 1024:.1f} KB")
    print(f"wrote {Path(args.out) / POSE_JSON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
