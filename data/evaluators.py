"""Evaluator builders of the dataset table: each reads what its protocol needs from the dataset (GT files, GT
meshes, adapter options) and hands records / arrays to an evaluator of ``common.evaluation``, which never reads
a dataset itself.

Every builder is ``build(cfg, body_model, output_dir, records) -> Evaluator``; ``records`` are the test dataset's
PersonRecords in loader index order (``None`` only for builders whose :class:`data.datasets.DatasetSpec` says
they do not need them).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from common.evaluation.ehf_evaluator import EHFEvaluator, complete_parts, load_part_vertex_ids
from common.evaluation.freihand_evaluator import FreiHANDEvaluator
from common.evaluation.keypoint_ap import KeypointAPEvaluator
from common.evaluation.mesh_evaluator import PROTOCOL_EXCLUDED, MeshEvaluator
from common.evaluation.pw3d_evaluator import Pw3dEvaluator
from common.joint_sets import joint_names, num_joints
from data.adapters.coco_style import read_coco_file
from data.adapters.ehf import load_ehf_gt_vertices
from data.adapters.freihand import load_freihand_split
from data.adapters.options import adapter_options, dataset_root

Records = Sequence[Any]


def mesh_evaluator(cfg: Any, body_model: Any, output_dir: Path | None, records: Records | None = None) -> MeshEvaluator:
    """The synthetic set: MeshEvaluator from ``data.synthetic`` / ``test`` keys (records unused)."""
    return MeshEvaluator.from_config(cfg, body_model, output_dir)


def pw3d_evaluator(cfg: Any, body_model: Any, output_dir: Path | None,
                   records: Records | None = None) -> Pw3dEvaluator:
    """3DCrowdNet protocol: H36M-17 regressor, 14 joints, gendered GT meshes when available; crop and input
    source from ``data.adapter_options['3dpw']``; ``records`` give the per-sequence breakdown."""
    return Pw3dEvaluator.from_config(cfg, body_model, output_dir, records, options=adapter_options(cfg, "3dpw"))


def ehf_evaluator(cfg: Any, body_model: Any, output_dir: Path | None, records: Records) -> EHFEvaluator:
    """Part sets: ``data.adapter_options['ehf']['part_vertex_ids']`` (file) or, for the open model, its
    ``vertex_sets.json``; 14-joint regressor: ``...['j14_regressor']`` ((14, V) .npy) or the body model's
    H36M-17 regressor restricted to the 3DPW 14 joints (not the published LSP-14 set). GT meshes: each record's
    ``meta['mesh_gt_path']``, read on first use."""
    records = list(records)
    parts, regressor = _ehf_parts_and_regressor(cfg, body_model)
    return EHFEvaluator(lambda i: load_ehf_gt_vertices(records[i].meta["mesh_gt_path"], None), parts, regressor,
                        output_dir, cfg.test.allow_skipped, cfg.test.save_per_sample)


def _ehf_parts_and_regressor(cfg: Any, body_model: Any) -> tuple[dict, Any]:
    """Part vertex sets and the 14-joint regressor of the EHF protocol (see :func:`ehf_evaluator`)."""
    opts = adapter_options(cfg, "ehf")
    num_v = int(body_model.faces.max()) + 1 if getattr(body_model, "faces", None) is not None else None
    part_file = opts.get("part_vertex_ids")
    if not part_file and cfg.body_model.source == "open":
        from common.open_model import ensure_open_model

        part_file = ensure_open_model().vertex_sets_path
    parts = load_part_vertex_ids(part_file, num_v) if part_file else complete_parts({}, num_v)
    if opts.get("j14_regressor"):
        return parts, torch.as_tensor(np.load(opts["j14_regressor"]), dtype=torch.float64)
    keep = [i for i, n in enumerate(joint_names("h36m17")) if n not in PROTOCOL_EXCLUDED]
    return parts, lambda v: body_model.regress(v.float(), "h36m17")[:, keep]


def wholebody_world_evaluator(cfg: Any, body_model: Any, output_dir: Path | None, records: Records) -> EHFEvaluator:
    """The whole-body world's test set scored like EHF (PA-V2V per part, PA-MPJPE-14): GT meshes are
    ``WholeBodyLayer`` at each record's SMPL-X parameters and translation (camera frame); parts and regressor as
    :func:`ehf_evaluator` with the SMPL-X body model of ``cfg.body_model`` (``body_model`` when it is one)."""
    from common.body_models import body_model_from_config
    from common.wholebody.layer import WholeBodyLayer
    from common.wholebody.params import SMPLXParams

    smplx = body_model if getattr(body_model, "kind", None) == "smplx" else body_model_from_config(cfg, "smplx")
    smplx = smplx.cpu()
    layer, records = WholeBodyLayer.from_body_model(smplx), list(records)

    def gt_vertices(i: int) -> np.ndarray:
        r = records[i]
        f32 = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32)[None]  # noqa: E731
        params = SMPLXParams.from_axis_angle(f32(r.smplx_pose), f32(r.smplx_betas), f32(r.smplx_expression))
        with torch.no_grad():
            return layer(params, f32(r.smplx_transl)).vertices[0].double().numpy()

    parts, regressor = _ehf_parts_and_regressor(cfg, smplx)
    return EHFEvaluator(gt_vertices, parts, regressor, output_dir, cfg.test.allow_skipped, cfg.test.save_per_sample)


def freihand_evaluator(cfg: Any, body_model: Any, output_dir: Path | None, records: Records) -> FreiHANDEvaluator:
    """GT arrays of the evaluation split of ``data.roots['freihand']``; predictions under ``hand_joints`` /
    ``hand_vertices``."""
    split = load_freihand_split(dataset_root(cfg, "freihand"), "evaluation")
    return FreiHANDEvaluator([r.meta["index"] for r in records], split.xyz, split.verts, output_dir=output_dir,
                             allow_skipped=cfg.test.allow_skipped, save_per_sample=cfg.test.save_per_sample)


def load_keypoint_gt(path: str | Path, num_keypoints: int, area_from_bbox: bool) -> dict:
    """GT file as a COCO dict ready for COCOeval: category 1, ``iscrowd``/``num_keypoints``/``area`` filled.

    ``area_from_bbox``: OKS area = 0.53 w h of the GT box (CrowdPose GT has no ``area``; crowdposetools'
    ``use_area=False``), else the annotation's ``area`` (w h when absent).
    """
    coco = read_coco_file(path, num_keypoints=num_keypoints)
    anns = []
    for image_anns in coco.anns_by_image.values():
        for ann in image_anns:
            kp = ann.get("keypoints") or [0] * (3 * num_keypoints)
            x, y, w, h = (float(v) for v in ann["bbox"])
            area = 0.53 * w * h if area_from_bbox else float(ann.get("area", w * h))
            anns.append({**ann, "category_id": 1, "keypoints": kp, "iscrowd": int(ann.get("iscrowd", 0)),
                         "num_keypoints": int(sum(1 for v in kp[2::3] if v > 0)), "area": area})
    return {"images": list(coco.images.values()), "annotations": anns,
            "categories": [{"id": 1, "name": "person"}]}


class KeypointAP:
    """Builder of a COCO-style keypoint-AP evaluator for one test set.

    Args:
        gt_file: the GT file under ``data.roots[name]``. convention: its keypoint order. sigmas: OKS sigmas (x10).
        area_from_bbox: OKS area from the GT box (CrowdPose).
    """

    def __init__(self, name: str, gt_file: str, convention: str, sigmas: Sequence[float], area_from_bbox: bool):
        self.name, self.gt_file, self.convention = name, gt_file, convention
        self.sigmas, self.area_from_bbox = tuple(sigmas), area_from_bbox

    def __call__(self, cfg: Any, body_model: Any, output_dir: Path | None, records: Records) -> KeypointAPEvaluator:
        """Index order = ``records`` (the test loader's dataset); the records' input poses give ``input_ap``."""
        gt = load_keypoint_gt(dataset_root(cfg, self.name) / self.gt_file, num_joints(self.convention),
                              self.area_from_bbox)
        inputs = [(r.pose2d_input, r.pose2d_input_valid, r.pose2d_input_convention)
                  if r.pose2d_input is not None else None for r in records]
        return KeypointAPEvaluator(gt, self.convention, self.sigmas, [r.image_id for r in records],
                                   [r.person_id for r in records], inputs, output_dir, cfg.test.allow_skipped,
                                   cfg.test.save_per_sample)
