"""Cost of the SEFD edge inputs relative to a training step, measured in one run on this machine.

Measures (median of ``--repeats`` timed runs after one warm-up):
- the student's Canny channel (kornia magnitude + 5x5 dilation), batch 16, 256x256, ms per image;
  optionally the release's call with hysteresis (``--hysteresis``, slow on CPU);
- the SMPL overlap edge of 3 people of ~13.7k vertices rendered into a 256x256 crop, ms per sample
  (the open body model with ``--body open``; otherwise ellipsoid meshes of the same vertex count);
- a torchvision ResNet-50 training step (Adam, batch 8, 256x256), ms per step and per image;
and prints the ratios (from the medians and from the minima; minima are the robust figure on a loaded box). Usage: ``python -m tool.bench_sefd [--device cpu|cuda] [--repeats 5] [--json out.json]``
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Callable

import numpy as np
import torch
import torchvision

from common.edges.canny import canny_edge_channel
from common.edges.smpl_edges import smpl_overlap_edge


def timed(fn: Callable[[], object], repeats: int, device: torch.device) -> tuple[float, float]:
    """(median, min) wall time (s) of ``fn`` over ``repeats`` runs after one warm-up (min: robust to load)."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def test_images(batch: int, size: int, device: torch.device) -> torch.Tensor:
    """Structured RGB crops (random rectangles over a gradient, light noise), deterministic."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    img = (0.5 * (xx + yy)).expand(batch, 3, size, size).clone()
    for b in range(batch):
        for _ in range(12):
            x0, y0 = torch.randint(0, size - 32, (2,), generator=g).tolist()
            w, h = torch.randint(16, 96, (2,), generator=g).tolist()
            img[b, :, y0:y0 + h, x0:x0 + w] = torch.rand(3, 1, 1, generator=g)
    img += 0.02 * torch.randn(img.shape, generator=g)
    return img.clamp(0, 1).to(device)


def ellipsoid_people(n_vertices: int, device: torch.device) -> tuple[list[torch.Tensor], torch.Tensor]:
    """3 overlapping person-sized ellipsoids (~n_vertices each) 4-5 m in front of the camera, + faces."""
    import trimesh

    count = int(round(np.sqrt(n_vertices / 2.0)))  # trimesh: about 2 count^2 vertices
    mesh = trimesh.creation.uv_sphere(radius=1.0, count=[count, count])
    unit = torch.tensor(mesh.vertices, dtype=torch.float32) * torch.tensor([0.25, 0.85, 0.15])
    centers = ([0.0, 0.0, 4.0], [0.3, 0.1, 4.6], [-0.35, 0.05, 5.2])
    people = [(unit + torch.tensor(c)).to(device) for c in centers]
    return people, torch.tensor(mesh.faces, dtype=torch.long, device=device)


def open_body_people(device: torch.device) -> tuple[list[torch.Tensor], torch.Tensor]:
    """3 overlapping people from the open SMPL-layout body model (mean shape, small random poses)."""
    from common.body_models import build_body_model

    body = build_body_model("smpl", source="open").to(device)
    g = torch.Generator().manual_seed(0)
    pose = torch.randn(3, 72, generator=g) * 0.2
    pose[:, :3] = torch.tensor([np.pi, 0.0, 0.0])  # upright in the camera frame (y down)
    transl = torch.tensor([[0.0, 0.0, 4.0], [0.3, 0.1, 4.6], [-0.35, 0.05, 5.2]])
    with torch.no_grad():
        out = body(global_orient=pose[:, :3].to(device), body_pose=pose[:, 3:].to(device),
                   betas=torch.zeros(3, 10, device=device), transl=transl.to(device))
    return list(out.vertices), body.faces


def bench_resnet_step(batch: int, size: int, repeats: int, device: torch.device) -> tuple[float, float]:
    net = torchvision.models.resnet50(weights=None).to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.rand(batch, 3, size, size, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()

    return timed(step, repeats, device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--body", choices=("ellipsoid", "open"), default="ellipsoid")
    parser.add_argument("--hysteresis", action="store_true", help="also time kornia canny with hysteresis")
    parser.add_argument("--json", default="", help="also write the results to this file")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    results: dict[str, object] = {"device": str(device), "torch_threads": torch.get_num_threads()}

    images = test_images(16, 256, device)
    canny_med, canny_min = timed(lambda: canny_edge_channel(images), args.repeats, device)
    results["canny_channel_ms_per_image"] = {"median": 1000 * canny_med / 16, "min": 1000 * canny_min / 16}
    if args.hysteresis:
        from kornia.filters import canny

        gray = images.mean(1, keepdim=True)
        results["kornia_canny_hysteresis_ms_per_image"] = 1000 * timed(lambda: canny(gray), 1, device)[1] / 16

    people, faces = open_body_people(device) if args.body == "open" else ellipsoid_people(13718, device)
    results["people"] = {"count": len(people), "vertices_each": int(people[0].shape[0]), "source": args.body}
    crop = np.array([[0.55, 0.0, -154.0], [0.0, 0.55, -66.0]])  # image px -> 256 crop around the people
    overlap_med, overlap_min = timed(lambda: smpl_overlap_edge(
        people, faces, (1000.0, 1000.0), (480.0, 360.0), (256, 256), bbox_area_px2=40000.0, img_to_out=crop),
        args.repeats, device)
    results["overlap_edge_ms_per_sample"] = {"median": 1000 * overlap_med, "min": 1000 * overlap_min}

    step_med, step_min = bench_resnet_step(8, 256, max(2, args.repeats // 2), device)
    results["resnet50_train_step_ms_batch8"] = {"median": 1000 * step_med, "min": 1000 * step_min}
    results["canny_vs_resnet50_step_per_image"] = {
        "median": canny_med / 16 / (step_med / 8), "min": canny_min / 16 / (step_min / 8)}
    results["overlap_edge_vs_resnet50_step_per_image"] = {
        "median": overlap_med / (step_med / 8), "min": overlap_min / (step_min / 8)}
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
