"""2D keypoint AP / AP50 / AP75 (pycocotools COCOeval) of the model's projected joints: CrowdPose, OCHuman, COCO.

Each prediction is the model's ``preds['joints_proj']`` (B, 30, 2) crop px, mapped to image px by
``batch['crop_to_img']`` (B, 2, 3), reordered from ``crowdnet30`` to the dataset's keypoints by name
(:func:`common.joint_sets.convert_joints`; every CrowdPose / COCO joint exists in crowdnet30) and scored by the mean
of ``preds['joints_score']`` (1 when absent). AP is computed against the dataset's GT (a COCO dict the caller reads
from the dataset's GT file, ``data.evaluators.load_keypoint_gt``) with its OKS sigmas, so
GT people the test set has no prediction for (e.g. without a matched detector pose) count as misses.
CrowdPose GT has no ``area``; as in crowdposetools (``use_area=False``) the OKS scale is ``0.53 * w * h`` of the GT
box, and AP is also reported per crowd index as crowdposetools' ``get_type_result(first=0.2, second=0.8)``
cuts it: easy < 0.2 <= medium < 0.8 <= hard. ``input_ap`` is the AP of
the records' input (detector) poses on the same GT, for reference.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from common.evaluation.evaluator import EvaluationError, Evaluator
from common.joint_sets import convert_joints, num_joints

COCO_SIGMAS = (.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89)
CROWDPOSE_SIGMAS = (.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79)
STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
# crowdposetools (COCOeval.summarize -> get_type_result(first=0.2, second=0.8), split()): an image goes to
# easy if crowdIndex < 0.2, else medium if < 0.8, else hard; each bin here is lo <= crowdIndex < hi
CROWD_INDEX_BINS = {"easy": (float("-inf"), 0.2), "medium": (0.2, 0.8), "hard": (0.8, float("inf"))}


def crowd_index_bin(crowd_index: float) -> str:
    """'easy' | 'medium' | 'hard' of an image's CrowdPose crowd index (crowdposetools' split at 0.2 / 0.8)."""
    return next(name for name, (lo, hi) in CROWD_INDEX_BINS.items() if lo <= crowd_index < hi)


def coco_keypoint_stats(gt: dict, results: list[dict], sigmas: Sequence[float],
                        image_ids: Sequence[Any] | None = None) -> dict[str, float]:
    """COCOeval keypoint statistics (AP, AP50, AP75, ..., in [0, 1]) of ``results`` (COCO results format)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if not results:
            return {k: 0.0 for k in STAT_NAMES}
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64) / 10.0
        if image_ids is not None:
            ev.params.imgIds = list(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: max(float(v), 0.0) for k, v in zip(STAT_NAMES, ev.stats)}


def oks(pred: np.ndarray, gt_kp: np.ndarray, area: float, sigmas: Sequence[float]) -> float | None:
    """OKS of one prediction (K,2) against one GT (K,3) with its area; None when the GT has no labelled joint."""
    vis = gt_kp[:, 2] > 0
    if not vis.any():
        return None
    var = (2 * np.asarray(sigmas) / 10.0) ** 2
    d2 = ((pred - gt_kp[:, :2]) ** 2).sum(1)
    return float(np.exp(-d2 / var / (area + np.spacing(1)) / 2)[vis].mean())


class KeypointAPEvaluator(Evaluator):
    """COCO-style keypoint AP of projected model joints (module docstring).

    Args:
        gt: the dataset's GT as a COCO dict ready for COCOeval (category 1, ``iscrowd``/``num_keypoints``/``area``
            filled; ``data.evaluators.load_keypoint_gt``). convention: its keypoint order ('crowdpose14' | 'coco17').
        sigmas: per-keypoint OKS sigmas (x10, as published).
        image_ids, person_ids: per dataset index, the GT image and annotation id of the sample.
        input_poses: optional per dataset index (K_in,2) px input pose, its (K_in,) validity and convention,
            for the reference ``input_ap``.
    """

    def __init__(self, gt: dict, convention: str, sigmas: Sequence[float],
                 image_ids: Sequence[Any], person_ids: Sequence[Any],
                 input_poses: Sequence[tuple[np.ndarray, np.ndarray, str] | None] | None = None,
                 output_dir: str | Path | None = None, allow_skipped: bool = False,
                 save_per_sample: bool = True) -> None:
        super().__init__(output_dir, allow_skipped, save_per_sample)
        self.convention, self.sigmas = convention, tuple(float(s) for s in sigmas)
        if len(self.sigmas) != num_joints(convention):
            raise ValueError(f"KeypointAPEvaluator: {len(self.sigmas)} sigmas for '{convention}'")
        self.gt = gt
        self.gt_by_id = {a["id"]: a for a in self.gt["annotations"]}
        self.image_ids, self.person_ids = list(image_ids), list(person_ids)
        self.input_poses = list(input_poses) if input_poses is not None else None

    def headline_keys(self) -> tuple[str, ...]:
        return ("AP", "AP50", "AP75", "AR", "stats", "input_ap", "ap_by_crowd_index")

    def image_keypoints(self, batch: Mapping[str, Any], preds: Mapping[str, Any]) -> np.ndarray:
        """(B, K, 2) image-px predictions in the dataset's convention."""
        if "joints_proj" not in preds:
            raise EvaluationError(f"KeypointAPEvaluator: predictions have no 'joints_proj' (keys: {sorted(preds)})")
        if "crop_to_img" not in batch:
            raise EvaluationError(f"KeypointAPEvaluator: batch has no 'crop_to_img' (keys: {sorted(batch)})")
        proj = preds["joints_proj"].detach().double().cpu()
        affine = batch["crop_to_img"].detach().double().cpu()
        img = torch.einsum("bij,bkj->bki", affine[:, :, :2], proj) + affine[:, None, :, 2]
        out, _ = convert_joints(img.numpy(), "crowdnet30", self.convention)
        return out

    def process_rows(self, batch: Mapping[str, Any], preds: Mapping[str, Any]) -> list[dict]:
        kpts = self.image_keypoints(batch, preds)
        scores = preds.get("joints_score")
        scores = scores.detach().float().mean(-1).cpu().numpy() if scores is not None else np.ones(len(kpts))
        rows = []
        for b, index in enumerate(batch["index"].reshape(-1).tolist()):
            row: dict[str, Any] = {"index": int(index), "image_id": self.image_ids[index],
                                   "person_id": self.person_ids[index]}
            if not np.all(np.isfinite(kpts[b])) or not np.isfinite(scores[b]):
                row["skipped"] = "non_finite_prediction"
            else:
                row.update(keypoints=kpts[b].round(2).tolist(), score=float(scores[b]))
                gt = self.gt_by_id.get(self.person_ids[index])
                if gt is not None:
                    row["oks"] = oks(kpts[b], np.asarray(gt["keypoints"], float).reshape(-1, 3), gt["area"],
                                     self.sigmas)
            rows.append(row)
        return rows

    @staticmethod
    def _results(items: list[tuple[Any, np.ndarray, float]]) -> list[dict]:
        return [{"image_id": image_id, "category_id": 1, "score": score,
                 "keypoints": np.concatenate([kp, np.ones((len(kp), 1))], 1).reshape(-1).tolist()}
                for image_id, kp, score in items]

    def summarize(self, rows: list[dict]) -> dict:
        results = self._results([(r["image_id"], np.asarray(r["keypoints"]), r["score"]) for r in rows])
        stats = coco_keypoint_stats(self.gt, results, self.sigmas)
        summary: dict[str, Any] = {"AP": stats["AP"], "AP50": stats["AP50"], "AP75": stats["AP75"],
                                   "AR": stats["AR"], "stats": stats, "units": "fraction in [0, 1]",
                                   "num_gt_people": sum(1 for a in self.gt["annotations"]
                                                        if a["num_keypoints"] > 0 and not a["iscrowd"])}
        crowd = {img["id"]: img.get("crowdIndex") for img in self.gt["images"]}
        if all(v is not None for v in crowd.values()) and crowd:
            bins: dict[str, list] = {name: [] for name in CROWD_INDEX_BINS}
            for image_id, value in crowd.items():
                bins[crowd_index_bin(value)].append(image_id)
            summary["ap_by_crowd_index"] = {  # None: no test image in that crowd-index range
                name: coco_keypoint_stats(self.gt, results, self.sigmas, ids)["AP"] if ids else None
                for name, ids in bins.items()}
        if self.input_poses is not None:
            items = []
            for r in rows:
                entry = self.input_poses[r["index"]]
                if entry is not None:
                    xy, valid, conv = entry
                    kp, _ = convert_joints(np.asarray(xy, float), conv, self.convention)
                    items.append((r["image_id"], kp, float(np.mean(valid)) if len(valid) else 1.0))
            if items:  # no detector inputs (e.g. GT-derived inputs): no reference AP
                summary["input_ap"] = coco_keypoint_stats(self.gt, self._results(items), self.sigmas)["AP"]
        return summary
