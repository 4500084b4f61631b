"""The whole-body world written in the EHF on-disk format (``data.roots.ehf=embedded``), so the EHF adapter and
evaluator run their real code path on it.

``data.wholebody_world.ehf_frames`` frames of one person each, 1600x1200 with the EHF intrinsics
(data/adapters/ehf.py): ``NN_img.png``, ``NN_2Djnt.json`` (OpenPose: ``people[0]`` with ``pose_keypoints_2d``
(75), ``hand_left/right_keypoints_2d`` (63 each), ``face_keypoints_2d`` (210); x, y, confidence with 0, 0, 0 where
a keypoint is not defined by the model, outside the image or hidden), ``NN_align.ply`` (the GT SMPL-X mesh moved
into the EHF capture frame with ``camera_to_capture``; binary PLY with faces). NN = 01, 02, ... Written once into
``cache_dir()/synthetic_wholebody/<key>/ehf/`` (lock + atomic rename); ``gt_params.json`` keeps the parameters.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import torch

from common.cache_folder import build_once, marker
from common.paths import cache_dir
from data.adapters.ehf import EHF_FOCAL, EHF_IMAGE_HW, EHF_PRINCPT, camera_to_capture, load_ehf_records
from data.adapters.ply import write_ply
from data.synthetic_wholebody.cache import layer_id, world_key
from data.synthetic_wholebody.generator import (
    SPLIT_CODES,
    WorldParams,
    compose_scene,
    render,
    sample_person,
    vertex_segments,
)

log = logging.getLogger(__name__)

EMBEDDED = "embedded"  # the value of data.roots.ehf that selects this export
OPENPOSE_FIELDS = (("pose_keypoints_2d", slice(0, 25)), ("hand_left_keypoints_2d", slice(25, 46)),
                   ("hand_right_keypoints_2d", slice(46, 67)), ("face_keypoints_2d", slice(67, 137)))


def openpose_json(keypoints2d: np.ndarray, confidence: np.ndarray) -> dict:
    """OpenPose JSON dict of one person from (137, 2) px and (137,) confidence (0 -> the triple is 0, 0, 0)."""
    triples = np.concatenate([keypoints2d, confidence[:, None]], 1) * (confidence[:, None] > 0)
    person = {name: [round(float(v), 3) for v in triples[s].reshape(-1)] for name, s in OPENPOSE_FIELDS}
    return {"version": 1.3, "people": [{"person_id": [-1], **person}]}


def render_frame(index: int, seed: int, layer, space, faces: torch.Tensor, segments: np.ndarray,
                 params: WorldParams) -> tuple[np.ndarray, dict]:
    """Frame ``index`` (0-based): RGB uint8 (1200, 1600, 3) and the person's annotation (see generator.render)."""
    rng = np.random.default_rng([seed, SPLIT_CODES["ehf"], index])
    people = [sample_person(rng, space, frontal_prob=1.0, yaw_std=0.35)]
    cam, people = compose_scene(rng, people, layer, np.asarray(EHF_FOCAL), np.asarray(EHF_PRINCPT), EHF_IMAGE_HW)
    defined = layer.keypoints_valid.cpu().numpy().astype(np.float64)
    image, notes = render(rng, people, cam, faces, segments, EHF_IMAGE_HW, params, defined)
    return image, {**notes[0], "vertices": people[0]["vertices"]}


def write_export(folder: Path, frames: int, seed: int, layer, space, params: WorldParams) -> None:
    """Render ``frames`` frames into ``folder`` in the EHF layout (see the module docstring)."""
    import cv2
    from tqdm import tqdm

    folder.mkdir(parents=True, exist_ok=True)
    faces, segments = layer.faces.to(torch.long).cpu(), vertex_segments(layer)
    gt = []
    for index in tqdm(range(frames), desc="whole-body world -> EHF", unit="frame"):
        image, note = render_frame(index, seed, layer, space, faces, segments, params)
        fid = f"{index + 1:02d}"
        cv2.imwrite(str(folder / f"{fid}_img.png"), image[..., ::-1])
        conf = np.asarray(note["keypoints_visible"], np.float64)
        (folder / f"{fid}_2Djnt.json").write_text(json.dumps(openpose_json(np.asarray(note["keypoints2d"]), conf)))
        write_ply(folder / f"{fid}_align.ply", camera_to_capture(note["vertices"]), faces.numpy())
        gt.append({k: note[k] for k in ("smplx_pose", "smplx_betas", "smplx_expression", "smplx_transl",
                                        "left_hand_valid", "right_hand_valid", "face_valid", "hand_modes")})
    (folder / "gt_params.json").write_text(json.dumps({"frames": gt}))


def ensure_ehf_export(cfg, world: tuple | None = None) -> Path:
    """Folder of the EHF-format export of ``cfg``'s whole-body world (written on first use)."""
    from data.synthetic_wholebody.dataset import build_world

    layer, space = world or build_world(cfg)
    w = cfg.data.wholebody_world
    params = WorldParams.from_config(w)
    key = world_key({"ehf": w.ehf_frames, "params": dataclasses.asdict(params), "seed": w.seed,
                     "model": layer_id(layer)})
    folder = cache_dir() / "synthetic_wholebody" / key / "ehf"
    done = build_once(folder, marker("gt_params.json"),
                      lambda tmp: write_export(tmp, w.ehf_frames, w.seed, layer, space, params))
    log.info("EHF-format export of the whole-body world: %s", done)
    return done


def load_ehf_or_embedded_records(split: str, cfg, subset: str = "") -> list:
    """Adapter of the ``ehf`` dataset: the user's EHF copy (``data.roots.ehf``), or with ``data.roots.ehf=embedded``
    the whole-body world's EHF-format export (written on first use), read by the same EHF adapter."""
    embedded = str((getattr(cfg.data, "roots", None) or {}).get("ehf", "")) == EMBEDDED
    return load_ehf_records(split, cfg, subset, root=ensure_ehf_export(cfg) if embedded else None)
