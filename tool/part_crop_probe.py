"""Where the whole-body model's part error comes from: evaluate a checkpoint twice on the test split, with the part
crops placed by the body network (the method, ``wholebody.test_crops=predicted``) and by the dataset's 2D keypoints
(``test_crops=keypoints2d``: GT keypoints in the embedded world, OpenPose detections on EHF), print the per-part
PA-V2V of both next to each other, and how far the body network's part boxes miss: the distance (img_hd px, and
in units of the keypoint box's side) between each predicted box centre and the centre of the box the 2D keypoints
give, over the parts with >= 3 valid keypoints.

    python -m tool.part_crop_probe --cfg configs/wholebody_quickstart.yaml --ckpt RUN/ckpt_epoch0012.pth [--opts ...]

Hands better with keypoint crops than with predicted ones: the part network learned, the body network's boxes miss.
The last row says whether the face outputs follow the person at all (predicted crops, people with a valid face):
the spread (std) of the predicted and GT jaw opening (rad) and expression coefficients, and their correlation. A
head network that ignores its crop predicts a near-constant face.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

import torch

PARTS = ("left_hand", "right_hand", "head")


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 1e-12 else 0.0


def face_output_spread(jaw_pred: torch.Tensor, jaw_gt: torch.Tensor, expr_pred: torch.Tensor, expr_gt: torch.Tensor,
                       valid: torch.Tensor) -> dict[str, float]:
    """Over the samples with ``valid`` > 0 (N,): std of the predicted / GT jaw opening (x component of the jaw
    axis-angle (N, 3), rad) and their correlation; the mean over the expression coefficients (N, E) of the
    predicted / GT std and of their correlation (0 where a side is constant)."""
    m = valid > 0
    jp, jg, ep, eg = jaw_pred[m, 0], jaw_gt[m, 0], expr_pred[m], expr_gt[m]
    cols = range(ep.shape[1])
    return {"jaw_std": float(jp.std()), "gt_jaw_std": float(jg.std()), "jaw_corr": _corr(jp, jg),
            "expr_std": float(ep.std(0).mean()), "gt_expr_std": float(eg.std(0).mean()),
            "expr_corr": sum(_corr(ep[:, k], eg[:, k]) for k in cols) / max(len(cols), 1)}


def box_centre_errors(batch: dict, preds: dict, model) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{part: (px (N,), fraction of the keypoint box side (N,))} for the samples whose part has >= 3 valid 2D
    keypoints: predicted box centre vs keypoint box centre, img_hd px."""
    from common.models.wholebody.crops import boxes_from_points, part_box_scales, part_keypoint_ids

    ids_of = part_keypoint_ids(model.layer.keypoints_valid)
    scale_of = part_box_scales(model.hand_box_scale, model.head_box_scale)
    to_hd = model.hd_size / model.input_size
    out = {}
    for part in PARTS:
        ids = ids_of[part]
        valid = batch["keypoints2d_valid"][:, ids]
        gt = boxes_from_points(batch["keypoints2d"][:, ids].float() * to_hd, valid, scale_of[part])
        pred = preds[f"{part}_box"]
        dist = ((pred[:, :2] + pred[:, 2:]) / 2 - (gt[:, :2] + gt[:, 2:]) / 2).norm(dim=1)
        ok = (valid > 0).sum(dim=1) >= 3
        out[part] = (dist[ok], (dist / (gt[:, 2] - gt[:, 0]).clamp_min(1e-6))[ok])
    return out


def probe(cfg, ckpt: str) -> dict[str, dict[str, float]]:
    """{'predicted crops' | 'keypoint crops': {pa_v2v_l_hand, pa_v2v_r_hand, pa_v2v_face}, 'box centre error':
    {part_px, part_side}} on ``cfg``'s test split."""
    from common.body_models import family_body_model
    from common.engine import load_model_weights
    from common.engine.trainer import move_to_device
    from common.geometry.rotations import matrix_to_axis_angle
    from common.models.build import build_experiment_model
    from common.models.wholebody.kinematics import JAW
    from data.loader import build_test_loader
    from data.registry import build_evaluator, dataset_records

    body = family_body_model(cfg)
    loader = build_test_loader(cfg, body_model=body)
    model = build_experiment_model(cfg, body, training=False)
    load_model_weights(ckpt, model)
    model.eval()
    results: dict[str, dict[str, float]] = {}
    errors: dict[str, list] = {p: [] for p in PARTS}
    face: list[tuple] = []
    for name, source in (("predicted crops", "predicted"), ("keypoint crops", "keypoints2d")):
        model.test_crops = source
        evaluator = build_evaluator(cfg, body, None, records=dataset_records(loader))
        evaluator.reset(list(range(len(loader.dataset))))
        with torch.no_grad():
            for batch in loader:
                preds = model(move_to_device(batch, torch.device("cpu")))
                evaluator.process(batch, preds)
                if source == "predicted":
                    for part, pair in box_centre_errors(batch, preds, model).items():
                        errors[part].append(pair)
                    face.append((matrix_to_axis_angle(preds["params"].jaw_pose.reshape(-1, 3, 3)),
                                 batch["smplx_pose"].reshape(-1, 55, 3)[:, JAW].float(), preds["params"].expression,
                                 batch["smplx_expression"].float(), batch["face_valid"].float()))
        summary = evaluator.evaluate(None)
        results[name] = {k: round(float(summary[k]), 2) for k in ("pa_v2v_l_hand", "pa_v2v_r_hand", "pa_v2v_face")}
    centre = {}
    for part, pairs in errors.items():
        centre[f"{part}_px"] = round(float(torch.cat([p[0] for p in pairs]).median()), 1)
        centre[f"{part}_side"] = round(float(torch.cat([p[1] for p in pairs]).median()), 2)
    results["box centre error (median)"] = centre
    spread = face_output_spread(*(torch.cat(column) for column in zip(*face)))
    results["face outputs (predicted)"] = {k: round(v, 3) for k, v in spread.items()}
    return results


def main(argv: Sequence[str] | None = None) -> int:
    from common.config import load_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg", required=True)
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--opts", nargs="*", default=[])
    args = parser.parse_args(argv)
    for name, parts in probe(load_config(args.cfg, args.opts), args.ckpt).items():
        print(f"{name:<26}", "  ".join(f"{k} {v:7.4g}" for k, v in parts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
