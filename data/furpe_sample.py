"""FuRPE additions to the whole-body sample (the experiment plan decides which; data/mapper.py calls them).

- ``expert_features`` (4, 1024) float32 and ``expert_valid`` (4,) in :data:`EXPERT_PARTS` order (body, left hand,
  right hand, face; ``plan.expert_features``): the record's expert features (``meta['expert_features']``, the
  pseudo_labels dataset), zeros / 0 where a record has none (GT datasets in a mixture). A flipped crop swaps the
  two hands (the left-hand feature describes the person's left hand, which the flipped crop shows as the right).
- the second view (``plan.two_views``): ``img_view2`` (3, S, S), ``img_hd_view2`` (3, H, H) drawn with an
  independent augmentation of the same record, and ``views_flip`` (2,), ``views_rot_deg`` (2,),
  ``views_img_to_crop`` (2, 2, 3) (original px -> crop px) of view 1 (the sample's ``img``) and view 2: the
  :class:`~common.models.furpe.consistency.ViewTransform` of each.
- ``gt_parts='body'`` (the ablation's 'GT body only'): samples of datasets other than pseudo_labels lose their hand
  and face supervision (validity flags and the hand / face keypoints).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.geometry.transforms2d import warp_crop
from common.models.furpe.distill import EXPERT_DIM, EXPERT_PARTS
from common.wholebody.layout import BODY
from data import augment as aug_ops
from data.augment import AugmentParams, CropAug
from data.records import PersonRecord
from data.wholebody_targets import hd_crop

PSEUDO_LABEL_DATASET = "pseudo_labels"
# shapes of the added keys: data/sample.py WHOLEBODY_OPTIONAL_KEYS


@dataclass(frozen=True)
class FurpeSampleOptions:
    """What the plan asks of a training sample (``from_plan``); all off = nothing added."""

    expert_features: bool = False
    two_views: bool = False
    gt_parts: str = "all"
    view_augment: AugmentParams = AugmentParams()

    @classmethod
    def from_plan(cls, plan, train: bool, augment: AugmentParams) -> "FurpeSampleOptions | None":
        opts = cls(plan.expert_features(train), plan.two_views(train), plan.gt_parts if train else "all", augment)
        return opts if (opts.expert_features or opts.two_views or opts.gt_parts != "all") else None


def expert_targets(record: PersonRecord, flip: bool) -> dict[str, np.ndarray]:
    """``expert_features`` (4, 1024) and ``expert_valid`` (4,) of a record (zeros without features)."""
    features = np.zeros((4, EXPERT_DIM), np.float32)
    valid = np.zeros(4, np.float32)
    for i, part in enumerate(EXPERT_PARTS):
        feat = (record.meta or {}).get("expert_features", {}).get(part)
        if feat is not None:
            features[i], valid[i] = np.asarray(feat, np.float32).reshape(EXPERT_DIM), 1.0
    if flip:
        features[[1, 2]], valid[[1, 2]] = features[[2, 1]], valid[[2, 1]]
    return {"expert_features": features, "expert_valid": valid}


def mask_to_body(targets: dict) -> dict:
    """The whole-body targets without hand / face supervision (flags 0, hand and face keypoints invalid)."""
    out = dict(targets)
    out["left_hand_valid"] = out["right_hand_valid"] = out["face_valid"] = 0.0
    for key in ("keypoints2d_valid", "keypoints3d_valid"):
        v = np.zeros_like(np.asarray(out[key]))
        v[BODY] = np.asarray(out[key])[BODY]
        out[key] = v
    return out


def furpe_extras(opts: FurpeSampleOptions, record: PersonRecord, image: np.ndarray, bbox: np.ndarray,
                 aug: CropAug, img_to_crop: np.ndarray, rng: np.random.Generator, input_size: int,
                 hd_size: int) -> dict[str, np.ndarray]:
    """The extra sample entries (module docstring); ``rng`` is drawn from only for the second view, after every
    draw of view 1, so view 1 is the sample it would be without FuRPE."""
    out: dict[str, np.ndarray] = {}
    if opts.expert_features:
        out.update(expert_targets(record, aug.flip))
    if opts.two_views:
        aug2 = aug_ops.sample_augmentation(rng, opts.view_augment)
        m2 = aug_ops.crop_affine(bbox, aug2, input_size, image.shape[1])
        crop = warp_crop(image, m2, (input_size, input_size)).astype(np.float32) / 255.0
        out["img_view2"] = aug_ops.apply_color(crop, aug2).transpose(2, 0, 1).copy()
        out["img_hd_view2"] = hd_crop(image, m2, input_size, hd_size, aug2)
        out["views_flip"] = np.array([aug.flip, aug2.flip], np.float32)
        out["views_rot_deg"] = np.array([aug.rot_deg, aug2.rot_deg], np.float32)
        out["views_img_to_crop"] = np.stack([img_to_crop, m2]).astype(np.float32)
    return out
