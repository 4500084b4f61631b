"""The shared mapper: PersonRecord -> Sample dict (crop, augmentation, targets, input 2D pose).

Every dataset goes through this one class, so crops, augmentation and target conventions are identical for all
of them. Randomness comes from a per-sample ``numpy.random.Generator`` seeded with (seed, epoch, index), so
results do not depend on worker assignment and resume exactly. Test mode ignores the epoch (every evaluation
sees the same synthesized input poses).
"""
from __future__ import annotations

import numpy as np
import torch

from common.config.plan import ExperimentPlan
from common.errors import UserError
from common.geometry.transforms2d import apply_affine, process_bbox, warp_crop
from common.joint_sets import convert_joints, convert_validity, joint_index, joint_names
from data import augment as aug_ops
from data.augment import AugmentParams, CropAug
from data.edge_maps import CropEdgeMaker, sample_edge_kinds
from data.image_io import load_image
from data.posefix import PosefixParams, synthesize_pose
from data.records import GENDERS, PersonRecord
from data.wholebody_targets import hd_crop, wholebody_targets

TARGET = "crowdnet30"
PELVIS = joint_index(TARGET, "Pelvis")


class MapperError(UserError, ValueError):
    """A record cannot be turned into a sample (e.g. its box lies outside the image)."""


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one xywh box (4,) with N boxes (N,4) -> (N,)."""
    others = np.asarray(others, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[0] + box[2], others[:, 0] + others[:, 2])
    y2 = np.minimum(box[1] + box[3], others[:, 1] + others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return inter / (box[2] * box[3] + others[:, 2] * others[:, 3] - inter + 1e-9)


class Mapper:
    """Turn a PersonRecord into the model's Sample (see docs/DESIGN.md for keys and shapes).

    Args:
        input_size: side S of the square crop (px).
        bbox_enlarge: the tight box is made square and enlarged by this factor (3DCrowdNet: 1.25).
        train: sample augmentation (when ``augment`` is given) and use the epoch in the seed.
        augment: augmentation ranges; None = no augmentation.
        pose2d_noise: without a detector pose in the record, synthesize the input pose from GT 2D by posefix
            (otherwise the input is the clean GT 2D pose).
        posefix: posefix probabilities. swap_iou: box IoU from which another person counts as overlapping.
        body_model: optional BodyModel (CPU) to get GT 3D joints from SMPL params when a record has none.
        seed: base seed of the per-sample generators.
        edges: optional SEFD edge maps (``edge`` / ``teacher_edge``, (1,S,S)) warped like the crop
            (:class:`data.edge_maps.CropEdgeMaker`).
        family: ``model.family``: 'crowdnet' gives the SMPL sample (:data:`data.sample.SAMPLE_SPEC`), 'wholebody'
            the SMPL-X sample (:data:`data.sample.WHOLEBODY_SAMPLE_SPEC`, targets in data/wholebody_targets.py)
            from the same crop and augmentation.
        hd_size: side of the whole-body sample's ``img_hd`` (the same crop window at higher resolution).
        furpe: FuRPE additions to the whole-body sample (expert features, second view, GT parts;
            data/furpe_sample.py), from the experiment plan; None = none.
    """

    def __init__(self, input_size: int = 256, bbox_enlarge: float = 1.25, train: bool = False,
                 augment: AugmentParams | None = None, pose2d_noise: bool = True,
                 posefix: PosefixParams = PosefixParams(), swap_iou: float = 0.1, body_model=None, seed: int = 0,
                 edges: CropEdgeMaker | None = None, family: str = "crowdnet", hd_size: int = 512,
                 furpe=None):
        self.input_size = int(input_size)
        self.bbox_enlarge = float(bbox_enlarge)
        self.train = bool(train)
        self.augment = augment if train else None
        self.pose2d_noise = bool(pose2d_noise)
        self.posefix = posefix
        self.swap_iou = float(swap_iou)
        self.body_model = body_model
        self.seed = int(seed)
        self.edges = edges
        self.family = family
        self.hd_size = int(hd_size)
        self.furpe = furpe

    @classmethod
    def from_config(cls, cfg, train: bool, body_model=None, dataset: str = "", split: str = "") -> "Mapper":
        """Mapper of ``cfg.data``; the SEFD edge maps the experiment plan asks for (``dataset``/``split`` locate
        precomputed ones when ``sefd.edge_dir`` is set)."""
        d = cfg.data
        params = AugmentParams(d.scale_jitter, d.rot_jitter_deg, d.rot_prob, d.flip_prob, d.color_jitter)
        plan = ExperimentPlan.from_config(cfg)
        kinds = sample_edge_kinds(plan, train)
        edges = CropEdgeMaker(kinds, body_model, cfg.sefd.edge_dir, dataset, split) if kinds else None
        furpe = None
        if plan.family == "wholebody":  # FuRPE's additions (loaded only for the whole-body family)
            from data.furpe_sample import FurpeSampleOptions

            furpe = FurpeSampleOptions.from_plan(plan, train, params)
        return cls(d.input_size, d.bbox_enlarge, train, params if (train and d.augment) else None,
                   d.pose2d_noise, body_model=body_model, seed=cfg.experiment.seed, edges=edges, family=plan.family,
                   hd_size=cfg.wholebody.hd_size, furpe=furpe)

    def rng(self, index: int, epoch: int = 0, stream: int = 0) -> np.random.Generator:
        """The generator of sample ``index``: seeded by (seed, epoch (train only), index, dataset stream)."""
        return np.random.default_rng([self.seed, epoch if self.train else 0, int(index), int(stream)])

    def __call__(self, record: PersonRecord, index: int, epoch: int = 0, stream: int = 0) -> dict[str, torch.Tensor]:
        """Sample of ``record`` (its ``index`` in the dataset; ``stream`` separates datasets of a mixture)."""
        rng = self.rng(index, epoch, stream)
        image = load_image(record.image_path)
        height, width = image.shape[:2]
        s = self.input_size
        bbox = process_bbox(record.bbox, (s, s), (width, height), self.bbox_enlarge)
        if bbox is None:
            raise MapperError(f"{record.image_path}: bbox {np.asarray(record.bbox).tolist()} lies outside the "
                              f"{width}x{height} image (person {record.person_id!r})")
        aug = aug_ops.sample_augmentation(rng, self.augment) if self.augment is not None else CropAug()
        img_to_crop = aug_ops.crop_affine(bbox, aug, s, width)
        crop = warp_crop(image, img_to_crop, (s, s)).astype(np.float32) / 255.0
        crop = aug_ops.apply_color(crop, aug)
        f32 = lambda x: torch.as_tensor(np.asarray(x, dtype=np.float32))  # noqa: E731
        geometry = {"crop_to_img": f32(aug_ops.crop_to_image_affine(img_to_crop)),
                    "bbox": f32(aug_ops.crop_box(bbox, aug)), "focal": f32(record.focal),
                    "princpt": f32(record.princpt), "index": torch.tensor(int(index), dtype=torch.int64)}
        if self.family == "wholebody":
            targets = wholebody_targets(record, img_to_crop, aug, s)
            if self.furpe is not None:  # FuRPE: GT parts, expert features, second view (data/furpe_sample.py)
                from data.furpe_sample import PSEUDO_LABEL_DATASET, furpe_extras, mask_to_body

                if self.furpe.gt_parts == "body" and record.dataset != PSEUDO_LABEL_DATASET:
                    targets = mask_to_body(targets)
                targets.update(furpe_extras(self.furpe, record, image, bbox, aug, img_to_crop, rng, s, self.hd_size))
            return {"img": f32(crop.transpose(2, 0, 1).copy()),
                    "img_hd": f32(hd_crop(image, img_to_crop, s, self.hd_size, aug)),
                    **{k: f32(v) for k, v in targets.items()}, **geometry}

        joints3d_abs, joints3d_valid = self._gt_joints3d(record)
        joints2d, joints2d_valid = self._gt_joints2d(record, joints3d_abs, joints3d_valid)
        joints2d_crop = self._to_crop(joints2d, img_to_crop, aug)
        joints2d_valid = aug_ops.flip_rows(joints2d_valid, TARGET, aug.flip) * self._inside(joints2d_crop)
        joints3d, joints3d_valid = self._root_relative(joints3d_abs, joints3d_valid, aug)
        pose2d, pose2d_valid = self._input_pose(record, img_to_crop, aug, joints2d_crop, joints2d_valid, rng)

        smpl_valid = float(record.has_smpl)
        smpl_pose = aug_ops.augment_smpl_pose(record.smpl_pose, aug) if smpl_valid else np.zeros(72, np.float32)
        smpl_betas = np.asarray(record.smpl_betas, np.float32) if smpl_valid else np.zeros(10, np.float32)
        edges = self.edges(record, (height, width), img_to_crop, s) if self.edges is not None else {}
        return {
            **{key: f32(edge[None]) for key, edge in edges.items()},
            "img": f32(crop.transpose(2, 0, 1).copy()),
            "pose2d": f32(pose2d), "pose2d_valid": f32(pose2d_valid),
            "joints2d": f32(joints2d_crop), "joints2d_valid": f32(joints2d_valid),
            "joints3d": f32(joints3d), "joints3d_valid": f32(joints3d_valid),
            "smpl_pose": f32(smpl_pose), "smpl_betas": f32(smpl_betas), "smpl_valid": f32(smpl_valid),
            "smpl_gender": torch.tensor(GENDERS[record.smpl_gender], dtype=torch.int64),
            "occlusion": f32(record.occlusion), **geometry,
        }

    # --- targets -------------------------------------------------------------------------------------------
    def _gt_joints3d(self, record: PersonRecord) -> tuple[np.ndarray, np.ndarray]:
        """Absolute camera-frame crowdnet30 joints (30,3) m and validity: record joints, else the SMPL mesh's."""
        if record.joints3d is not None:
            joints, mask = convert_joints(np.asarray(record.joints3d, np.float64), record.joints_convention, TARGET)
            return joints, mask * convert_validity(record.joints3d_valid, record.joints_convention, TARGET)
        if record.has_smpl and self.body_model is not None:
            return self.smpl_joints(record), np.ones(len(joint_names(TARGET)), np.float32)
        return np.zeros((len(joint_names(TARGET)), 3)), np.zeros(len(joint_names(TARGET)), np.float32)

    def smpl_joints(self, record: PersonRecord) -> np.ndarray:
        """crowdnet30 joints (30,3) m of the record's SMPL params, regressed from the body model's mesh."""
        pose = torch.as_tensor(np.asarray(record.smpl_pose), dtype=torch.float32).reshape(1, 72)
        betas = torch.as_tensor(np.asarray(record.smpl_betas), dtype=torch.float32).reshape(1, 10)
        transl = None if record.smpl_transl is None else torch.as_tensor(
            np.asarray(record.smpl_transl), dtype=torch.float32).reshape(1, 3)
        with torch.no_grad():
            out = self.body_model(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas, transl=transl)
            return self.body_model.regress(out.vertices, TARGET)[0].double().numpy()

    def _gt_joints2d(self, record, joints3d_abs, joints3d_valid) -> tuple[np.ndarray, np.ndarray]:
        """Image-px crowdnet30 GT 2D joints: the record's, else the projection of the 3D joints."""
        if record.joints2d is not None:
            joints, mask = convert_joints(np.asarray(record.joints2d, np.float64), record.joints_convention, TARGET)
            return joints, mask * convert_validity(record.joints2d_valid, record.joints_convention, TARGET)
        z = joints3d_abs[:, 2:3]
        if joints3d_valid.any() and np.all(z[joints3d_valid > 0] > 1e-3):
            uv = joints3d_abs[:, :2] / np.where(np.abs(z) < 1e-3, 1e-3, z) * record.focal + record.princpt
            return uv, joints3d_valid.copy()
        return np.zeros((len(joint_names(TARGET)), 2)), np.zeros(len(joint_names(TARGET)), np.float32)

    def _root_relative(self, joints_abs, valid, aug) -> tuple[np.ndarray, np.ndarray]:
        if valid[PELVIS] <= 0:  # without a pelvis there is no root-relative target
            return np.zeros_like(joints_abs, dtype=np.float32), np.zeros_like(valid)
        rel = joints_abs - joints_abs[PELVIS]
        return aug_ops.augment_joints3d(rel, aug, TARGET), aug_ops.flip_rows(valid, TARGET, aug.flip)

    def _to_crop(self, joints_img: np.ndarray, img_to_crop: np.ndarray, aug: CropAug) -> np.ndarray:
        return aug_ops.flip_rows(apply_affine(np.asarray(joints_img, np.float64), img_to_crop), TARGET, aug.flip)

    def _inside(self, joints_crop: np.ndarray) -> np.ndarray:
        s = self.input_size
        ok = (joints_crop[:, 0] >= 0) & (joints_crop[:, 0] < s) & (joints_crop[:, 1] >= 0) & (joints_crop[:, 1] < s)
        return ok.astype(np.float32)

    # --- input pose ------------------------------------------------------------------------------------------
    def _input_pose(self, record, img_to_crop, aug, gt_crop, gt_valid, rng) -> tuple[np.ndarray, np.ndarray]:
        """Input 2D pose in crop px: detector pose, else posefix(GT) when pose2d_noise, else GT."""
        if record.pose2d_input is not None:
            conv = record.pose2d_input_convention
            joints, mask = convert_joints(np.asarray(record.pose2d_input, np.float64), conv, TARGET)
            valid = mask * convert_validity(record.pose2d_input_valid, conv, TARGET)
            crop = self._to_crop(joints, img_to_crop, aug)
            return crop, aug_ops.flip_rows(valid, TARGET, aug.flip) * self._inside(crop)
        if not self.pose2d_noise or not gt_valid.any():
            return gt_crop.copy(), gt_valid.copy()
        near, near_valid, n_overlap = self._near_people(record, img_to_crop, aug)
        area = float(record.bbox[2] * record.bbox[3] * abs(np.linalg.det(img_to_crop[:, :2])))
        pose, valid = synthesize_pose(gt_crop, gt_valid, joint_names(TARGET), area, near, near_valid, n_overlap,
                                      self.posefix, rng)
        return pose, valid * self._inside(pose)

    def _near_people(self, record, img_to_crop, aug):
        """Crop-px crowdnet30 joints (N,30,2) + validity of the people whose box overlaps this one."""
        if record.others_joints2d is None or len(record.others_joints2d) == 0:
            return None, None, 0
        others = np.asarray(record.others_joints2d, np.float64)
        others_valid = np.asarray(record.others_joints2d_valid, np.float32)
        boxes = record.others_bbox
        if boxes is None:  # box of each person's valid joints
            boxes = np.array([_joint_box(j, v) for j, v in zip(others, others_valid)])
        keep = box_iou(np.asarray(record.bbox, np.float64), boxes) >= self.swap_iou
        if not keep.any():
            return None, None, 0
        joints, mask = convert_joints(others[keep], record.joints_convention, TARGET)
        valid = mask * convert_validity(others_valid[keep], record.joints_convention, TARGET)
        crop = np.stack([self._to_crop(j, img_to_crop, aug) for j in joints])
        return crop, np.stack([aug_ops.flip_rows(v, TARGET, aug.flip) for v in valid]), int(keep.sum())


def _joint_box(joints: np.ndarray, valid: np.ndarray) -> np.ndarray:
    pts = joints[valid > 0]
    if len(pts) == 0:
        return np.zeros(4)
    lo, hi = pts.min(0), pts.max(0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])
