"""Simulated part experts: FuRPE label files + OpenPose JSON for a dataset's records, made from its GT.

A stand-in until trained experts label the data (tool/label_with_experts.py): each part label is the GT rotation
disturbed by Gaussian noise (``noise_deg``), and a fraction ``outliers`` of part labels is replaced by a random
pose (gross expert failures, what selection should remove); detections are the GT 2D keypoints + pixel noise
with confidence ~0.9 (a fraction ``low_confidence`` of hands gets confidence 0.1, below the release's 0.2);
expert features are a fixed random projection of the part's true parameters + noise (they carry the part's pose,
as an expert's feature does). Files follow data/pseudo_labels/dataset.py's layout and the released format.

    python -m tool.furpe_simulated_labels --cfg configs/furpe.yaml --out output/furpe_labels
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from data.pseudo_labels.dataset import label_paths, label_stem
from data.pseudo_labels.furpe_writer import furpe_label_from_smplx, write_furpe_label, write_openpose137
from data.pseudo_labels.label import PART_ROWS


def _rotate(pose: np.ndarray, noise_rad: float, rng: np.random.Generator) -> np.ndarray:
    """(J, 3) axis-angle composed with a random rotation of ~noise_rad per joint."""
    from data.pseudo_labels.experts import aa_to_rotmat, rotmat_to_aa

    delta = rng.standard_normal(pose.shape) * noise_rad / np.sqrt(3)
    return rotmat_to_aa(aa_to_rotmat(pose) @ aa_to_rotmat(delta))


def simulate_labels(records: list, out_dir: str | Path, base_set: str, seed: int = 0, noise_deg: float = 8.0,
                    outliers: float = 0.2, low_confidence: float = 0.15, pixel_noise: float = 2.0,
                    hand_mean: dict | None = None) -> Counter:
    """Write one label + one OpenPose JSON per record (records need GT SMPL-X and 2D keypoints); returns counts
    of what was simulated (``outlier_<part>``, ``low_confidence_hand``, ``written``). Fingers are stored
    relative to ``hand_mean`` (the release's convention; None: absolute), as ``furpe.hand_storage`` reads them."""
    rng = np.random.default_rng(seed)
    projection = np.random.default_rng(12345).standard_normal((4, 1024, 46)) / np.sqrt(46)  # fixed per part
    people = Counter(r.image_path for r in records)
    counts: Counter = Counter()
    for record in records:
        if not record.has_smplx or record.joints2d is None:
            counts["skipped_no_gt"] += 1
            continue
        gt = np.asarray(record.smplx_pose, np.float64).reshape(55, 3)
        pose = gt.copy()
        pose[1:] = _rotate(gt[1:], np.radians(noise_deg), rng)
        expression = np.asarray(record.smplx_expression, np.float64) + rng.standard_normal(10) * 0.2
        valid = {"body": True, "left_hand": bool(record.left_hand_valid), "right_hand": bool(record.right_hand_valid),
                 "face": bool(record.face_valid)}
        for part, rows in PART_ROWS.items():
            if rng.random() < outliers:
                counts[f"outlier_{part}"] += 1
                start = 1 if part == "body" else rows.start
                pose[start:rows.stop] = rng.uniform(-1.2, 1.2, (rows.stop - start, 3))
        kp = np.c_[np.asarray(record.joints2d, np.float64) + rng.standard_normal((137, 2)) * pixel_noise,
                   np.where(np.asarray(record.joints2d_valid) > 0, rng.uniform(0.7, 1.0, 137), 0.0)]
        for ids in (slice(25, 46), slice(46, 67)):
            if rng.random() < low_confidence:
                kp[ids, 2] = np.minimum(kp[ids, 2], 0.1)
                counts["low_confidence_hand"] += 1
        features = {}
        for i, (part, rows) in enumerate(PART_ROWS.items()):
            truth = np.r_[gt[rows].reshape(-1), np.asarray(record.smplx_expression, np.float64)][:46]
            truth = np.pad(truth, (0, 46 - truth.size))
            features[part] = (projection[i] @ truth + rng.standard_normal(1024) * 0.1).astype(np.float32)
        label_file, kp_file = label_paths(out_dir, base_set, label_stem(record, people[record.image_path]))
        write_furpe_label(label_file, furpe_label_from_smplx(pose, expression, valid, features, hand_mean))
        write_openpose137(kp_file, kp)
        counts["written"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg", required=True)
    parser.add_argument("--out", required=True, help="label root (furpe.label_dir)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise-deg", type=float, default=8.0)
    parser.add_argument("--outliers", type=float, default=0.2)
    parser.add_argument("--opts", nargs="*", default=[])
    args = parser.parse_args(argv)
    from common.config import load_config
    from common.wholebody.layer import WholeBodyLayer
    from data.pseudo_labels.dataset import stored_hand_mean
    from data.registry import load_records

    cfg = load_config(args.cfg, args.opts)
    base = cfg.furpe.base_set
    counts = simulate_labels(load_records(base, args.split, cfg), args.out, base, args.seed, args.noise_deg,
                             args.outliers, hand_mean=stored_hand_mean(cfg.furpe, WholeBodyLayer.from_config(cfg)))
    print(f"simulated labels of {base}/{args.split} in {args.out}: {dict(counts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
