"""SEFD costs relative to the regressor's training step, for ``python -m tool.benchmark --only sefd``.

Figures (all timed interleaved in one run; see tool/bench/run.py and docs/benchmarks.md):
- Canny channel (kornia magnitude + 5x5 dilation) of a batch of 16 real 256x256 crops, ms per image, on the
  training device with the training process's threads, divided by one regressor training step (batch 8);
- on-the-fly SMPL overlap edge (body model forward of every person of the image, renders of all + each alone,
  Canny, adaptive dilation) per sample with ONE torch thread (a data worker), divided by one regressor step;
- SEFD student step (``DistillationWrapper``: student forward + Canny channel + frozen teacher features +
  losses + backward + Adam) vs the baseline regressor step: regressor step time / student step time.
With ``--against REV`` the overlap edge and ``vertex_normals`` of git revision REV are timed against the
current code on the same inputs (before/after ratios and the largest output difference).

Run with ``python -m tool.benchmark --only sefd [options]``.
"""
from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Callable

import torch

from tool.bench.timing import best_ratio, figure, interleaved, paired_ratio
from tool.bench.workbench import BATCH, SIZE, Workbench

CANNY_BATCH = 16
EDGE_BLOCK = 8  # overlap edges per timed call
_REVISION_FILES = ("common/render/rasterizer.py", "common/render/mesh_raster.py", "common/render/shading.py",
                   "common/edges/canny.py", "common/edges/dilation.py", "common/edges/smpl_edges.py")


def student_step(bench: Workbench) -> Callable[[], None]:
    """One SEFD stage-2 training step: 4-channel student + frozen 4-channel teacher (random weights: the cost
    does not depend on them) + the Canny channel computed from the batch (``sefd.edge_source=canny``)."""
    from common.edges.canny import CannyEdgeChannel
    from common.models.sefd import DistillationWrapper

    batch = bench.collate(bench.edge_dataset)
    batch["teacher_edge"] = batch.pop("edge")  # the teacher's overlap edge; the student's edge is Canny
    teacher = bench.regressor(edge=True).requires_grad_(False).eval()
    wrapper = DistillationWrapper.from_config(bench.edge_cfg, bench.regressor(edge=True, return_features=True),
                                              teacher, edge_fn=CannyEdgeChannel(gray=bench.edge_cfg.sefd.gray))
    return bench.training_step(wrapper.to(bench.device).train(), batch)


def crop_affine(sample: dict):
    """(2,3) float64 image->crop affine of a sample (inverse of its ``crop_to_img``)."""
    import numpy as np

    return np.linalg.inv(np.vstack([sample["crop_to_img"].double().numpy(), [0.0, 0.0, 1.0]]))[:2]


def mapper_edges(bench: Workbench, count: int) -> Callable[[], None]:
    """The SEFD mapper's on-the-fly edge maker (data/edge_maps.py) on ``count`` samples' crops."""
    dataset = bench.edge_dataset
    jobs = []
    for index in bench.order()[:count]:
        record = dataset.records[index]
        jobs.append((record, tuple(record.image_hw), crop_affine(dataset[index])))
    return lambda: [dataset.mapper.edges(record, hw, affine, SIZE) for record, hw, affine in jobs]


def edge_inputs(bench: Workbench, count: int) -> list[tuple]:
    """Arguments of ``edge_from_smpl_params`` after the kind and the body model, for ``count`` samples."""
    from data.edge_maps import record_smpl_people

    inputs = []
    for index in bench.order()[:count]:
        record, sample = bench.dataset.records[index], bench.dataset[index]
        pose, betas, transl = (torch.as_tensor(a) for a in record_smpl_people(record))
        inputs.append((pose, betas, transl, record.focal, record.princpt, (SIZE, SIZE),
                       float(record.bbox[2] * record.bbox[3]), crop_affine(sample)))
    return inputs


def overlap_edges(module: ModuleType, body, inputs: list[tuple]) -> Callable[[], list[torch.Tensor]]:
    return lambda: [module.edge_from_smpl_params("smpl_overlap", body, *args) for args in inputs]


def sefd_section(bench: Workbench, rounds: int, against: str = "") -> list[dict]:
    from common.edges.canny import canny_edge_channel

    images = bench.collate(bench.dataset, CANNY_BATCH)["img"]
    gray = bench.edge_cfg.sefd.gray
    t = interleaved({"canny": lambda: canny_edge_channel(images, gray=gray), "overlap": mapper_edges(bench, EDGE_BLOCK),
                     "regressor": bench.regressor_step(), "student": student_step(bench)},
                    rounds, bench.sync, threads={"overlap": 1})
    canny_frac = paired_ratio(t, "canny", "regressor", CANNY_BATCH)  # ms per image / ms per step
    overlap_frac = paired_ratio(t, "overlap", "regressor", EDGE_BLOCK)
    student_ratio = paired_ratio(t, "regressor", "student")  # student steps/s / regressor steps/s
    step = t["regressor"].wall
    found = [
        figure("sefd.canny_ms_per_image", t["canny"].wall / CANNY_BATCH, "ms",
               f"Canny channel, batch {CANNY_BATCH} {SIZE}x{SIZE}, per image", cpu_ms=t["canny"].cpu / CANNY_BATCH),
        figure("sefd.overlap_edge_ms_per_sample", t["overlap"].wall / EDGE_BLOCK, "ms",
               "on-the-fly SMPL overlap edge per sample (data/edge_maps.py), 1 thread",
               cpu_ms=t["overlap"].cpu / EDGE_BLOCK),
        figure("sefd.regressor_step_ms", step, "ms", f"baseline regressor training step, batch {BATCH}"),
        figure("sefd.student_step_ms", t["student"].wall, "ms", f"SEFD student training step, batch {BATCH}"),
        figure("sefd.canny_vs_step", canny_frac, "x", "Canny ms per image / regressor step ms (batch 8)", "<= 0.02",
               canny_frac <= 0.02, per_image_fraction=canny_frac * BATCH,
               best=best_ratio(t, "canny", "regressor", CANNY_BATCH)),
        figure("sefd.overlap_edge_vs_step", overlap_frac, "x", "overlap edge ms per sample / regressor step ms",
               "<= 0.10", overlap_frac <= 0.10, per_image_fraction=overlap_frac * BATCH,
               best=best_ratio(t, "overlap", "regressor", EDGE_BLOCK)),
        figure("sefd.student_vs_regressor", student_ratio, "x", "student steps/s / regressor steps/s (same batch)",
               ">= 0.7", student_ratio >= 0.7, best=best_ratio(t, "regressor", "student")),
    ]
    if against:
        found += revision_figures(bench, rounds, against)
    return found


def revision_package(rev: str) -> str:
    """Write the edge/render modules of git revision ``rev`` into a temporary package; return its name."""
    root = Path(__file__).resolve().parents[2]  # the repository (tool/bench/sefd.py)
    name = "bench_rev_" + "".join(c if c.isalnum() else "_" for c in rev)
    folder = Path(tempfile.mkdtemp(prefix="bench_rev_"))
    for path in _REVISION_FILES:
        shown = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, text=True)
        if shown.returncode != 0:
            raise SystemExit(f"--against {rev}: cannot read {path} from git ({shown.stderr.strip()})")
        text = shown.stdout.replace("from common.edges.", f"from {name}.edges.")
        text = text.replace("from common.render.", f"from {name}.render.")
        target = folder / name / Path(path).relative_to("common")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        for package in (target.parent, target.parent.parent):
            (package / "__init__.py").touch()
    sys.path.insert(0, str(folder))
    return name


def revision_figures(bench: Workbench, rounds: int, rev: str) -> list[dict]:
    """Before (``rev``) / after speed-up of the overlap edge and vertex normals, same inputs, interleaved."""
    from common.edges import smpl_edges
    from common.render import shading

    package = revision_package(rev)
    old_edges = importlib.import_module(f"{package}.edges.smpl_edges")
    old_shading = importlib.import_module(f"{package}.render.shading")
    inputs = edge_inputs(bench, EDGE_BLOCK)
    new, old = overlap_edges(smpl_edges, bench.cpu_body, inputs), overlap_edges(old_edges, bench.cpu_body, inputs)
    edge_diff = max(float((a - b).abs().max()) for a, b in zip(new(), old()))
    with torch.no_grad():
        vertices = bench.cpu_body(global_orient=inputs[0][0][:, :3], body_pose=inputs[0][0][:, 3:],
                                  betas=inputs[0][1]).vertices[:1]
    faces = bench.cpu_body.faces
    normals_now, normals_old = shading.vertex_normals(vertices, faces), old_shading.vertex_normals(vertices, faces)
    normal_diff = float((normals_now - normals_old).abs().max())
    t = interleaved({"edge_new": new, "edge_old": old,
                     "normals_new": lambda: shading.vertex_normals(vertices, faces),
                     "normals_old": lambda: old_shading.vertex_normals(vertices, faces)},
                    rounds, threads={"edge_new": 1, "edge_old": 1, "normals_new": 1, "normals_old": 1})
    return [
        figure("ab.overlap_edge_speedup", paired_ratio(t, "edge_old", "edge_new"), "x",
               f"overlap edge time at {rev} / now (1 thread)", max_abs_diff=edge_diff,
               best=best_ratio(t, "edge_old", "edge_new"),
               old_ms=t["edge_old"].wall / EDGE_BLOCK, new_ms=t["edge_new"].wall / EDGE_BLOCK),
        figure("ab.vertex_normals_speedup", paired_ratio(t, "normals_old", "normals_new"), "x",
               f"vertex_normals time at {rev} / now (1 mesh, {vertices.shape[1]} V, 1 thread)",
               max_abs_diff=normal_diff, old_ms=t["normals_old"].wall, new_ms=t["normals_new"].wall,
               best=best_ratio(t, "normals_old", "normals_new")),
    ]
