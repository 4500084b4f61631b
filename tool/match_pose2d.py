"""Match a 2D pose detector's outputs to GT people with 3DCrowdNet's rule; write the file adapters read.

Rule (3DCrowdNet ``tool/match_3dpw_2dpose.py``): for each GT person, the reference box is the box of its labelled
GT joints (``--ref-box annotation`` uses the annotated box instead); the threshold is ``min(w, h) / 15`` px. For
every detection of the same image, the error is the mean Euclidean distance over joints labelled in the GT and
detected with score > ``--score-thr`` (0.1); detections sharing no such joint are skipped. The detection with
the smallest error strictly below the threshold is kept; without one the person is unmatched (listed, and
dropped by the adapters unless told otherwise). As in the original, one detection may match several people.

Input: the GT COCO-style file and detections in the COCO results format (``[{"image_id", "keypoints" (3K),
"score"}]``, e.g. HigherHRNet's). Output JSON: ``{"convention", "source", "rule", "matches": {ann_id:
{"image_id", "keypoints" [[x, y, score] * K], "score", "error_px", "threshold_px"}}, "unmatched": [ann_id]}``.

    python -m tool.match_pose2d --gt annotations/crowdpose_test.json --detections hhrnet_results.json \\
        --det-convention coco17 --out crowdpose_test_hhrnet_matched.json
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from common.joint_sets import convert_joints, num_joints
from data.adapters.coco_style import AnnotationError, field, float_array, load_json, read_coco_file

GT_CONVENTIONS = {14: "crowdpose14", 16: "mpii16", 17: "coco17"}  # keypoints per GT person -> convention
THRESHOLD_RATIO = 1.0 / 15.0


def joints_box(xy: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Tight xywh box of the valid joints (zeros when none is valid)."""
    if not valid.any():
        return np.zeros(4)
    lo, hi = xy[valid].min(0), xy[valid].max(0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


def match_person(gt_xy: np.ndarray, gt_valid: np.ndarray, ref_box: np.ndarray, candidates: Sequence[np.ndarray],
                 score_thr: float = 0.1, ratio: float = THRESHOLD_RATIO) -> tuple[int | None, float, float]:
    """Index of the matched candidate (None), its mean error (px) and the threshold (px).

    Args:
        gt_xy, gt_valid: (K,2) px and (K,) bool GT joints. ref_box: xywh px reference box.
        candidates: detections (K,3) x, y, score in the GT's joint order (joints a detector lacks: score 0).
    """
    threshold = min(ref_box[2], ref_box[3]) * ratio
    best, best_err = None, threshold
    for i, cand in enumerate(candidates):
        both = gt_valid & (cand[:, 2] > score_thr)
        if not both.any():
            continue
        err = float(np.linalg.norm(cand[both, :2] - gt_xy[both], axis=1).mean())
        if err < best_err:
            best, best_err = i, err
    return best, (best_err if best is not None else float("nan")), float(threshold)


def read_detections(path: Path, det_convention: str) -> dict[Any, list[np.ndarray]]:
    """COCO results file -> image id -> list of (K,3) detections; checks the keypoint count."""
    data = load_json(path, "detection results file")
    if not isinstance(data, list):
        raise AnnotationError(f"{path}: expected a list of detections (COCO results format)")
    k = num_joints(det_convention)
    out: dict[Any, list[np.ndarray]] = defaultdict(list)
    for i, det in enumerate(data):
        kp = float_array(field(det, "keypoints", path, f"detection {i}"), (k, 3), path,
                         f"detection {i} field 'keypoints' ({det_convention})")
        out[field(det, "image_id", path, f"detection {i}")].append(kp)
    return out


def match_file(gt_path: Path, det_path: Path, det_convention: str, gt_convention: str | None = None,
               score_thr: float = 0.1, ref_box: str = "joints", ratio: float = THRESHOLD_RATIO) -> dict:
    """Match every GT person with labelled joints; returns the output document (module docstring)."""
    if ref_box not in ("joints", "annotation"):
        raise ValueError(f"ref_box must be 'joints' or 'annotation', got '{ref_box}'")
    gt = read_coco_file(gt_path)
    if gt_convention is None:
        sizes = {len(a["keypoints"]) // 3 for anns in gt.anns_by_image.values() for a in anns if a.get("keypoints")}
        if len(sizes) != 1 or next(iter(sizes)) not in GT_CONVENTIONS:
            raise AnnotationError(f"{gt_path}: cannot infer the keypoint convention from sizes {sorted(sizes)}; "
                                  "pass --gt-convention")
        gt_convention = GT_CONVENTIONS[sizes.pop()]
    detections = read_detections(det_path, det_convention)
    matches, unmatched = {}, []
    for image_id, anns in gt.anns_by_image.items():
        dets = detections.get(image_id, [])
        in_gt_order = [convert_joints(d, det_convention, gt_convention)[0] for d in dets]
        for ann in anns:
            if ann.get("iscrowd") or not ann.get("keypoints"):
                continue
            kp = float_array(ann["keypoints"], (num_joints(gt_convention), 3), gt_path, f"annotation {ann['id']}")
            valid = kp[:, 2] > 0
            if not valid.any():
                continue
            box = joints_box(kp[:, :2], valid) if ref_box == "joints" else np.asarray(ann["bbox"], float)
            idx, err, thr = match_person(kp[:, :2], valid, box, in_gt_order, score_thr, ratio)
            if idx is None:
                unmatched.append(ann["id"])
                continue
            det = dets[idx]
            matches[str(ann["id"])] = {"image_id": image_id, "keypoints": det.round(3).tolist(),
                                       "score": float(det[:, 2].mean()), "error_px": round(err, 3),
                                       "threshold_px": round(thr, 3)}
    return {"convention": det_convention, "source": str(det_path),
            "rule": f"mean joint distance < min(w, h) * {ratio:.6g} of the {ref_box} box, score > {score_thr}",
            "matches": matches, "unmatched": unmatched}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Match detector 2D poses to GT people (3DCrowdNet's rule).")
    parser.add_argument("--gt", required=True, type=Path, help="COCO-style GT file")
    parser.add_argument("--detections", required=True, type=Path, help="COCO results-format detections")
    parser.add_argument("--out", required=True, type=Path, help="output JSON read by the adapters")
    parser.add_argument("--det-convention", default="coco17", help="joint set of the detections (data/joint_sets)")
    parser.add_argument("--gt-convention", default=None, help="joint set of the GT (default: from its size)")
    parser.add_argument("--score-thr", type=float, default=0.1, help="detected joints with score above count")
    parser.add_argument("--ref-box", choices=("joints", "annotation"), default="joints")
    args = parser.parse_args(argv)
    doc = match_file(args.gt, args.detections, args.det_convention, args.gt_convention, args.score_thr,
                     args.ref_box)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc))
    print(f"matched {len(doc['matches'])} people, {len(doc['unmatched'])} unmatched -> {args.out}")
    return doc


if __name__ == "__main__":
    main()
