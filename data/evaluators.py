"""Evaluator builders of the dataset table: each reads what its protocol needs from the dataset (GT files, GT
meshes, adapter options) and hands records / arrays to an evaluator of ``common.evaluation``, which never reads
a dataset itself.

Every builder is ``build(cfg, body_model, output_dir, records) -> Evaluator``; ``records`` are the test dataset's
PersonRecords in loader index order (``None`` only for builders whose :class:`data.datasets.DatasetSpec` says
they do not need them).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from common.joint_sets import joint_names, num_joints
from data.adapters.options import adapter_options, dataset_root

if TYPE_CHECKING:  # the builders import their evaluator and GT reader when called: the table stays cheap
    from common.evaluation.ehf_evaluator import EHFEvaluator
    from common.evaluation.freihand_evaluator import FreiHANDEvaluator
    from common.evaluation.keypoint_ap import KeypointAPEvaluator
    from common.evaluation.mesh_evaluator import MeshEvaluator
    from common.evaluation.pw3d_evaluator import Pw3dEvaluator

Records = Sequence[Any]


def mesh_evaluator(cfg: Any, body_model: Any, output_dir: Path | None, records: Records | None = None) -> MeshEvaluator:
    """The synthetic set: MeshEvaluator from ``data.synthetic`` / ``test`` keys (records unused)."""
    from common.evaluation.mesh_evaluator import MeshEvaluator

    return MeshEvaluator.from_config(cfg, body_model, output_dir)


def pw3d_evaluator(cfg: Any, body_model: Any, output_dir: Path | None,
                   records: Records | None = None) -> Pw3dEvaluator:
    """3DCrowdNet protocol: H36M-17 regressor, 14 joints, gendered GT meshes when available; crop and input
    source from ``data.adapter_options['3dpw']``; ``records`` give the per-sequence breakdown. Whole-body models
    (``model.family='wholebody'``): SMPL-X predictions are scored with the SMPL-X J14 regressor (FuRPE), see
    :func:`smplx_j14_for`."""
    from common.evaluation.pw3d_evaluator import Pw3dEvaluator

    if getattr(body_model, "kind", "smpl") == "smplx":  # 3DPW GT is SMPL: the evaluator needs the SMPL model
        from common.body_models import body_model_from_config

        device = next(iter(body_model.buffers()), torch.empty(0)).device
        body_model = body_model_from_config(cfg, kind="smpl").to(device)
    return Pw3dEvaluator.from_config(cfg, body_model, output_dir, records, options=adapter_options(cfg, "3dpw"),
                                     smplx_j14=smplx_j14_for(cfg, "3dpw"))


def smplx_j14_for(cfg: Any, dataset: str) -> np.ndarray | None:
    """(14, V) SMPL-X J14 regressor for a whole-body model (None for the body-only family): the file in
    ``data.adapter_options[dataset]['smplx_j14_regressor']`` (ExPose's SMPLX_to_J14.pkl for the official
    SMPL-X), else the open model's equivalent with the open body model; official without the file: UserError."""
    from common.evaluation.smplx_j14 import J14RegressorError, load_smplx_j14_regressor, open_smplx_j14_regressor

    if getattr(cfg.model, "family", "crowdnet") != "wholebody":
        return None
    path = adapter_options(cfg, dataset).get("smplx_j14_regressor")
    if path:
        return load_smplx_j14_regressor(path)
    if cfg.body_model.source == "open":
        return open_smplx_j14_regressor()
    raise J14RegressorError(f"data.adapter_options['{dataset}']['smplx_j14_regressor']: not set; the official "
                            "SMPL-X needs ExPose's SMPLX_to_J14.pkl (14 x 10475) to score whole-body predictions")


def ehf_evaluator(cfg: Any, body_model: Any, output_dir: Path | None, records: Records) -> EHFEvaluator:
    """Part sets: ``data.adapter_options['ehf']['part_vertex_ids']`` (a file, or a list of files merged, e.g.
    ``[MANO_SMPLX_vertex_ids.pkl, SMPL-X__FLAME_vertex_ids.npy]`` for the official SMPL-X) or, for the open model,
    its ``vertex_sets.json``; 14-joint regressor: ``...['j14_regressor']`` ((14, V) .npy, or ExPose's
    SMPLX_to_J14.pkl) or the body model's
    H36M-17 regressor restricted to the 3DPW 14 joints (not the published LSP-14 set). GT meshes: each record's
    ``meta['mesh_gt_path']``, read on first use."""
    from common.evaluation.ehf_evaluator import EHFEvaluator
    from common.evaluation.mesh_evaluator import PROTOCOL_EXCLUDED
    from common.evaluation.smplx_j14 import J14RegressorError, load_smplx_j14_regressor
    from data.adapters.ehf import EHFError, load_ehf_gt_vertices

    opts = adapter_options(cfg, "ehf")
    records = list(records)
    num_v = int(body_model.faces.max()) + 1 if getattr(body_model, "faces", None) is not None else None
    part_file = opts.get("part_vertex_ids")
    if not part_file and cfg.body_model.source == "open":
        from common.open_model import ensure_open_model

        part_file = ensure_open_model().vertex_sets_path
    if not part_file:  # without them the hand and face numbers would silently be missing
        raise EHFError("data.adapter_options['ehf']['part_vertex_ids']: not set; the official SMPL-X needs "
                       "[MANO_SMPLX_vertex_ids.pkl, SMPL-X__FLAME_vertex_ids.npy] (smpl-x.is.tue.mpg.de)")
    parts = load_parts(part_file, num_v)
    if opts.get("j14_regressor"):
        regressor = torch.as_tensor(load_smplx_j14_regressor(opts["j14_regressor"], num_v), dtype=torch.float64)
    elif cfg.body_model.source != "open" and getattr(body_model, "kind", "smplx") == "smplx":
        raise J14RegressorError("data.adapter_options['ehf']['j14_regressor']: not set; the official SMPL-X needs "
                                "ExPose's SMPLX_to_J14.pkl (14 x 10475) for PA-MPJPE-14")
    else:
        keep = [i for i, n in enumerate(joint_names("h36m17")) if n not in PROTOCOL_EXCLUDED]
        regressor = lambda v: body_model.regress(v.float(), "h36m17")[:, keep]  # noqa: E731
    return EHFEvaluator(lambda i: load_ehf_gt_vertices(records[i].meta["mesh_gt_path"], None), parts, regressor,
                        output_dir, cfg.test.allow_skipped, cfg.test.save_per_sample)


def load_parts(files: str | Sequence[str], num_vertices: int | None) -> dict[str, np.ndarray]:
    """Part vertex sets from one file or several (later files add parts; a part given twice must agree)."""
    from common.evaluation.ehf_evaluator import complete_parts, load_part_vertex_ids
    from data.adapters.ehf import EHFError

    files = [files] if isinstance(files, (str, Path)) else list(files)
    merged: dict[str, np.ndarray] = {}
    for path in files:
        try:
            sets = load_part_vertex_ids(path, num_vertices)
        except (FileNotFoundError, ValueError) as err:  # the message names the file
            raise EHFError(f"data.adapter_options['ehf']['part_vertex_ids']: {err}") from None
        for name in ("l_hand", "r_hand", "face"):
            if name in sets:
                if name in merged and not np.array_equal(merged[name], sets[name]):
                    raise EHFError(f"{path}: part '{name}' differs from the one in an earlier part file")
                merged[name] = sets[name]
    return complete_parts(merged, num_vertices)


def freihand_evaluator(cfg: Any, body_model: Any, output_dir: Path | None, records: Records) -> FreiHANDEvaluator:
    """GT arrays of the evaluation split of ``data.roots['freihand']``; predictions under ``hand_joints`` /
    ``hand_vertices``."""
    from common.evaluation.freihand_evaluator import FreiHANDEvaluator
    from data.adapters.freihand import load_freihand_split

    split = load_freihand_split(dataset_root(cfg, "freihand"), "evaluation")
    return FreiHANDEvaluator([r.meta["index"] for r in records], split.xyz, split.verts, output_dir=output_dir,
                             allow_skipped=cfg.test.allow_skipped, save_per_sample=cfg.test.save_per_sample)


def load_keypoint_gt(path: str | Path, num_keypoints: int, area_from_bbox: bool) -> dict:
    """GT file as a COCO dict ready for COCOeval: category 1, ``iscrowd``/``num_keypoints``/``area`` filled.

    ``area_from_bbox``: OKS area = 0.53 w h of the GT box (CrowdPose GT has no ``area``; crowdposetools'
    ``use_area=False``), else the annotation's ``area`` (w h when absent).
    """
    from data.adapters.coco_style import read_coco_file

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
        from common.evaluation.keypoint_ap import KeypointAPEvaluator

        """Index order = ``records`` (the test loader's dataset); the records' input poses give ``input_ap``."""
        gt = load_keypoint_gt(dataset_root(cfg, self.name) / self.gt_file, num_joints(self.convention),
                              self.area_from_bbox)
        inputs = [(r.pose2d_input, r.pose2d_input_valid, r.pose2d_input_convention)
                  if r.pose2d_input is not None else None for r in records]
        return KeypointAPEvaluator(gt, self.convention, self.sigmas, [r.image_id for r in records],
                                   [r.person_id for r in records], inputs, output_dir, cfg.test.allow_skipped,
                                   cfg.test.save_per_sample)
