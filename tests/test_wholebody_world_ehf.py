"""The whole-body world's EHF-format export (``data.roots.ehf=embedded``) read back by the real EHF adapter."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from common.render.mesh_raster import rasterize_meshes
from common.wholebody.params import SMPLXParams
from data.adapters.ehf import (
    BODY25_TO_OPENPOSE19,
    EHF_FOCAL,
    EHF_IMAGE_HW,
    EHF_PRINCPT,
    load_ehf_gt_vertices,
    read_openpose_json,
)
from data.image_io import load_image
from data.registry import load_records
from data.synthetic_wholebody.ehf_export import render_frame
from data.synthetic_wholebody.generator import WorldParams, vertex_segments
from wholebody_world_fixtures import tiny_config, using_world

FRAMES = 2


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    from data.synthetic_wholebody.dataset import build_world

    cfg = tiny_config("data.roots={'ehf': 'embedded'}", f"data.wholebody_world.ehf_frames={FRAMES}")
    world, cache = build_world(cfg), str(tmp_path_factory.mktemp("wb_ehf"))
    with using_world(cache, world):
        records = load_records("ehf", "test", cfg)
    root = records[0].meta["mesh_gt_path"].rsplit("/", 1)[0]
    gt = json.loads(open(f"{root}/gt_params.json").read())["frames"]
    return cfg, world, cache, records, gt


def _gt_output(layer, params: dict):
    f32 = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32)[None]  # noqa: E731
    p = SMPLXParams.from_axis_angle(f32(params["smplx_pose"]), f32(params["smplx_betas"]),
                                    f32(params["smplx_expression"]))
    with torch.no_grad():
        return layer(p, f32(params["smplx_transl"]))


def test_adapter_reads_the_export_and_its_gt_mesh_is_the_rendered_mesh(export):
    cfg, (layer, _), _, records, gt = export
    assert len(records) == FRAMES and records[0].image_path.endswith("01_img.png")
    for record, params in zip(records, gt):
        assert load_image(record.image_path).shape == (*EHF_IMAGE_HW, 3)
        verts = load_ehf_gt_vertices(record.meta["mesh_gt_path"], None)  # capture frame -> camera, as EHF
        out = _gt_output(layer, params)
        assert np.abs(verts - out.vertices[0].double().numpy()).max() < 1e-5  # m (float32 PLY)
    # re-rendering frame 0 gives the same PNG pixels from exactly this mesh
    layer, space = export[1]
    image, note = render_frame(0, cfg.data.wholebody_world.seed, layer, space, layer.faces, vertex_segments(layer),
                               WorldParams.from_config(cfg.data.wholebody_world))
    assert np.array_equal(image, load_image(records[0].image_path))
    assert np.abs(note["vertices"] - load_ehf_gt_vertices(records[0].meta["mesh_gt_path"], None)).max() < 1e-5
    # and the person covers the pixels of that mesh's silhouette: they differ from a person-free rendering
    frags = rasterize_meshes([torch.as_tensor(note["vertices"], dtype=torch.float32)], [layer.faces], EHF_FOCAL,
                             EHF_PRINCPT, EHF_IMAGE_HW)
    assert (frags.mesh_ids.numpy() >= 0).sum() > 20000


def test_openpose_json_keypoints_project_onto_the_right_pixels(export):
    cfg, (layer, _), _, records, gt = export
    defined = layer.keypoints_valid.numpy() > 0
    for record, params in zip(records, gt):
        kp = read_openpose_json(record.image_path.replace("_img.png", "_2Djnt.json"))
        uvc = np.concatenate([kp[k] for k in ("pose_keypoints_2d", "hand_left_keypoints_2d",
                                               "hand_right_keypoints_2d", "face_keypoints_2d")])
        assert uvc.shape == (137, 3) and np.all(uvc[~defined] == 0)  # undefined keypoints: 0, 0, 0
        conf = uvc[:, 2] > 0
        assert conf[:25].sum() >= 15 and conf.sum() > 60
        kp3d = _gt_output(layer, params).keypoints[0].double().numpy()
        proj = kp3d[:, :2] / np.where(defined, kp3d[:, 2], 1.0)[:, None] * EHF_FOCAL + EHF_PRINCPT
        assert np.abs(proj - uvc[:, :2])[conf].max() < 0.01  # px (3 decimals in the JSON)
        # the adapter's input pose and box come from these BODY_25 keypoints
        assert record.pose2d_input_valid.sum() >= 12
        x, y, w, h = record.bbox
        used = list(BODY25_TO_OPENPOSE19)  # the box comes from the 19 BODY_25 points the adapter keeps
        body = uvc[used][conf[used], :2]
        assert x <= body[:, 0].min() and body[:, 0].max() <= x + w and y <= body[:, 1].min() <= y + h


def test_ehf_evaluator_scores_gt_meshes_as_zero_and_a_flat_hand_as_worse(export):
    from common.body_models import body_model_from_config
    from data.evaluators import ehf_evaluator

    cfg, (layer, _), _, records, gt = export
    ev = ehf_evaluator(cfg, body_model_from_config(cfg, "smplx"), None, records)
    ev.reset(len(records))
    perfect = torch.cat([_gt_output(layer, p).vertices for p in gt])
    ev.process({"index": torch.arange(FRAMES)}, {"vertices": perfect})
    summary = ev.evaluate()
    assert summary["pa_v2v_all"] < 0.05 and summary["pa_v2v_l_hand"] < 0.05  # mm
    flat = [dict(p, smplx_pose=np.r_[np.asarray(p["smplx_pose"])[:25], np.zeros((30, 3))]) for p in gt]
    ev.reset(len(records))
    ev.process({"index": torch.arange(FRAMES)}, {"vertices": torch.cat([_gt_output(layer, p).vertices for p in flat])})
    worse = ev.evaluate()
    assert worse["pa_v2v_l_hand"] > 1.0 and worse["pa_v2v_r_hand"] > 1.0 and worse["pa_v2v_face"] < 0.05
