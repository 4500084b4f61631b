"""Is the expression visible in the head crops? Train a head encoder alone on head crops placed by the GT 2D
keypoints of the embedded whole-body world (no body network, no crop misses) and score it on the test split
against the constant predictor (the training mean: neutral face and closed jaw are nearly that).

    python -m tool.face_probe --cfg configs/wholebody_quickstart.yaml [--iters 400] [--opts wholebody.hd_size=512 ...]

Crops: ``wholebody.hd_size`` person crop, head box = GT head keypoints' extent x ``head_box_scale``, resampled at
``head_crop_size`` (the model's crop code). Network: ``wholebody.part_backbone`` encoder + a linear layer to the
10 expression coefficients and the jaw axis-angle, MSE, Adam 1e-3, batch 32, no augmentation. Printed per split:
expression RMSE (coefficients), jaw error (deg) and the mean face-vertex error (mm, neutral body, no Procrustes)
over the vertices the expression / jaw move, each next to the constant predictor's.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

import torch
from torch import Tensor


def head_crops(cfg, split: str, body) -> tuple[Tensor, Tensor, Tensor]:
    """(N, 3, c, c) head crops, (N, 13) targets (expression, jaw axis-angle), (N,) face_valid of ``split``."""
    from common.models.wholebody.crops import box_affines, boxes_from_points, sample_crops
    from common.wholebody.layout import HEAD_IDS
    from data.registry import build_dataset

    w, s = cfg.wholebody, cfg.data.input_size
    dataset = build_dataset("synthetic_wholebody", split, cfg, train=False, body_model=body)
    crops, targets, valid = [], [], []
    ids = list(HEAD_IDS)
    for i in range(len(dataset)):
        item = dataset[i]
        kp = torch.as_tensor(item["keypoints2d"])[None, ids].float() * (w.hd_size / s)
        kp_valid = torch.as_tensor(item["keypoints2d_valid"])[None, ids]
        box = boxes_from_points(kp, kp_valid, w.head_box_scale)
        crops.append(sample_crops(torch.as_tensor(item["img_hd"])[None].float(), box_affines(box, w.head_crop_size),
                                  w.head_crop_size))
        pose = torch.as_tensor(item["smplx_pose"]).reshape(55, 3)
        targets.append(torch.cat([torch.as_tensor(item["smplx_expression"]).float(), pose[22].float()]))
        valid.append(float(item["face_valid"]) * float((kp_valid > 0).sum() >= 3))
    return torch.cat(crops), torch.stack(targets), torch.tensor(valid)


def face_error_mm(layer, pred: Tensor, target: Tensor) -> Tensor:
    """(N,) mean vertex error (mm) of neutral bodies with ``pred`` vs ``target`` expression + jaw (N, 13), over the
    vertices that expression or jaw move."""
    from common.wholebody.params import SMPLXParams

    def mesh(v: Tensor) -> Tensor:
        pose = torch.zeros(v.shape[0], 55, 3)
        pose[:, 22] = v[:, 10:]
        return layer(SMPLXParams.from_axis_angle(pose, torch.zeros(v.shape[0], 10), v[:, :10])).vertices

    with torch.no_grad():
        probe = torch.cat([torch.eye(10) * 2, torch.zeros(10, 3)], 1)
        probe = torch.cat([probe, torch.tensor([[0.0] * 10 + [0.4, 0.0, 0.0]])])
        moving = ((mesh(probe) - mesh(torch.zeros(1, 13))).norm(dim=-1) > 1e-4).any(0)
        return (mesh(pred) - mesh(target))[:, moving].norm(dim=-1).mean(1) * 1000


def run(cfg, iters: int) -> dict[str, tuple[float, float]]:
    """Train the probe; {metric: (probe, constant predictor)} on the test split."""
    from common.body_models import family_body_model
    from common.models.wholebody.networks import ImageEncoder
    from common.wholebody.layer import WholeBodyLayer

    torch.manual_seed(0)
    body = family_body_model(cfg)
    layer = WholeBodyLayer.from_body_model(body)
    x_tr, y_tr, v_tr = head_crops(cfg, "train", body)
    x_te, y_te, v_te = head_crops(cfg, "test", body)
    x_tr, y_tr, x_te, y_te = x_tr[v_tr > 0], y_tr[v_tr > 0], x_te[v_te > 0], y_te[v_te > 0]
    mean = y_tr.mean(0)
    encoder = ImageEncoder(cfg.wholebody.part_backbone, zero_init_residual=True)
    net = torch.nn.Sequential(encoder, torch.nn.Linear(encoder.out_channels, 13))
    torch.nn.init.zeros_(net[1].weight)
    optim = torch.optim.Adam(net.parameters(), lr=1e-3)
    for step in range(iters):
        idx = torch.randint(0, len(x_tr), (32,))
        loss = ((net(x_tr[idx]) + mean - y_tr[idx]) ** 2).mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
        if step % 100 == 0:
            print(f"iter {step}: train MSE {loss.item():.4f}", flush=True)
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(x_te[i:i + 64]) for i in range(0, len(x_te), 64)]) + mean
    const = mean.expand_as(y_te)

    def scores(p: Tensor) -> tuple[float, float, float]:
        expr = float(((p[:, :10] - y_te[:, :10]) ** 2).mean().sqrt())
        jaw = float((p[:, 10:] - y_te[:, 10:]).norm(dim=1).mean() * 57.2958)
        return expr, jaw, float(face_error_mm(layer, p, y_te).mean())

    a, b = scores(pred), scores(const)
    return {"test samples": (len(x_te), len(x_te)), "expression RMSE": (a[0], b[0]), "jaw error deg": (a[1], b[1]),
            "face vertex error mm": (a[2], b[2])}


def main(argv: Sequence[str] | None = None) -> int:
    from common.config import load_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg", required=True)
    parser.add_argument("--iters", type=int, default=400)
    parser.add_argument("--opts", nargs="*", default=[])
    args = parser.parse_args(argv)
    cfg = load_config(args.cfg, args.opts)
    torch.set_num_threads(cfg.experiment.num_threads)
    for name, (probe, const) in run(cfg, args.iters).items():
        print(f"{name:<22} probe {probe:8.3f}   constant {const:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
