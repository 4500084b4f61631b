"""Two-view consistency: view 2's prediction mapped into view 1's frame (unflip + swap, unrotate) before comparing."""
from __future__ import annotations

import numpy as np
import torch

from common.geometry.transforms2d import apply_affine
from common.joint_sets import flip_permutation
from common.models.furpe.consistency import (
    ViewPrediction,
    ViewTransform,
    consistency_loss,
    inplane_rotation,
    map_prediction,
    rotation_geodesic,
    two_view_consistency,
)
from common.wholebody.params import SMPLXParams, flip_params
from data.augment import CropAug, crop_affine
from data.augment import inplane_rotation as augment_rotation

BBOX = np.array([60.0, 40.0, 120.0, 200.0])
WIDTH = 320.0


def person(batch: int = 3, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    pose = torch.randn(batch, 55, 3, generator=g, dtype=dtype) * 0.4
    pose[:, 23:25] = 0
    params = SMPLXParams.from_axis_angle(pose, torch.randn(batch, 10, generator=g, dtype=dtype),
                                         torch.randn(batch, 10, generator=g, dtype=dtype))
    kp = torch.rand(batch, 137, 2, generator=g, dtype=dtype) * 200 + 50
    valid = (torch.rand(batch, 137, generator=g) > 0.3).to(dtype)
    return params, kp, valid


def perfect_prediction(params, kp, valid, augs: list[CropAug]):
    """What an equivariant network predicts on each sample's view, built with the data pipeline's own tools."""
    flips = torch.tensor([a.flip for a in augs])
    flipped = flip_params(params)
    p = SMPLXParams(**{f: torch.where(flips.reshape(-1, *([1] * (getattr(params, f).dim() - 1))),
                                      getattr(flipped, f), getattr(params, f)) for f in params.__dataclass_fields__})
    r3 = torch.as_tensor(np.stack([augment_rotation(a) for a in augs]), dtype=kp.dtype)
    p = p.replace(global_orient=r3 @ p.global_orient)
    perm = flip_permutation("openpose137")
    kps, vals, mats = [], [], []
    for i, a in enumerate(augs):
        m = crop_affine(BBOX, a, 256, WIDTH)
        k, v = apply_affine(kp[i].numpy(), m), valid[i].numpy()
        if a.flip:
            k, v = k[perm], v[perm]
        kps.append(k)
        vals.append(v)
        mats.append(m)
    view = ViewTransform(flips, torch.tensor([a.rot_deg for a in augs], dtype=kp.dtype),
                         torch.as_tensor(np.stack(mats), dtype=kp.dtype))
    return ViewPrediction(p, torch.as_tensor(np.stack(kps), dtype=kp.dtype),
                          torch.as_tensor(np.stack(vals), dtype=kp.dtype)), view


VIEW1 = [CropAug(scale=1.1, rot_deg=10.0), CropAug(rot_deg=-20.0, flip=True), CropAug()]
VIEW2 = [CropAug(scale=0.9, rot_deg=-35.0, flip=True), CropAug(scale=1.2, rot_deg=15.0), CropAug(flip=True)]


def test_perfect_equivariant_predictor_has_zero_loss_only_when_the_views_are_undone():
    params, kp, valid = person()
    pred1, view1 = perfect_prediction(params, kp, valid, VIEW1)
    pred2, view2 = perfect_prediction(params, kp, valid, VIEW2)
    mapped = map_prediction(pred2, view2, view1)
    terms = consistency_loss(pred1, mapped)
    assert float(terms["total"]) < 1e-6, {k: float(v) for k, v in terms.items()}
    assert torch.equal(mapped.keypoints_valid, pred1.keypoints_valid)
    # the release's mistake: the flip not undone (same affine, no swap, no unflip of the parameters)
    no_unflip = ViewTransform(torch.zeros(3, dtype=torch.bool), view2.rot_deg, view2.img_to_crop)
    bad = consistency_loss(pred1, map_prediction(pred2, no_unflip, view1))
    assert float(bad["rotation"]) > 0.05 and float(bad["keypoints2d"]) > 1.0
    # the rotation not undone
    no_unrotate = ViewTransform(view2.flip, torch.zeros(3, dtype=torch.float64), view2.img_to_crop)
    wrong = map_prediction(pred2, no_unrotate, view1).params.global_orient
    angle = rotation_geodesic(wrong, pred1.params.global_orient)
    np.testing.assert_allclose(angle.numpy(), np.radians([35.0, 15.0, 0.0]), atol=1e-9)  # off by view 2's turn
    # float32, as in training
    p32 = ViewPrediction(pred2.params.map(lambda t: t.float()), pred2.keypoints2d.float(), pred2.keypoints_valid)
    v32 = ViewTransform(view2.flip, view2.rot_deg.float(), view2.img_to_crop.float())
    v1_32 = ViewTransform(view1.flip, view1.rot_deg.float(), view1.img_to_crop.float())
    ref = ViewPrediction(pred1.params.map(lambda t: t.float()), pred1.keypoints2d.float(), pred1.keypoints_valid)
    assert float(consistency_loss(ref, map_prediction(p32, v32, v1_32))["total"]) < 1e-3


def test_symmetric_two_view_term_and_gradients_reach_the_student_only():
    params, kp, valid = person(seed=1)
    pred1, view1 = perfect_prediction(params, kp, valid, VIEW1)
    pred2, view2 = perfect_prediction(params, kp, valid, VIEW2)
    assert float(two_view_consistency((pred1, pred2), (pred1, pred2), (view1, view2))["total"]) < 1e-6
    student_kp = pred1.keypoints2d.clone().requires_grad_(True)
    teacher_kp = pred2.keypoints2d.clone().requires_grad_(True)
    student = ViewPrediction(pred1.params, student_kp + 3.0, pred1.keypoints_valid)
    teacher = ViewPrediction(pred2.params, teacher_kp, pred2.keypoints_valid)
    out = two_view_consistency((student, pred2), (pred1, teacher), (view1, view2))
    # mean L1 over x, y of a 3 px shift in direction 1; direction 2 is exact
    assert abs(float(out["keypoints2d"].detach()) - 3.0) < 1e-6
    out["total"].backward()
    assert student_kp.grad is not None and student_kp.grad.abs().sum() > 0 and teacher_kp.grad is None


def test_global_orientation_turns_like_the_crop():
    """R3 on 3D points and the crop affine on their projections turn the same way (the sign convention)."""
    rng = np.random.default_rng(0)
    pts = rng.standard_normal((10, 3))
    for rot in (25.0, -70.0):
        r3 = inplane_rotation(torch.tensor([rot]))[0].numpy()
        m = crop_affine(np.array([60.0, 40.0, 150.0, 150.0]), CropAug(rot_deg=rot), 256, WIDTH)  # square: no stretch
        lin = m[:, :2] / np.linalg.norm(m[:, 0])
        np.testing.assert_allclose((pts @ r3.T)[:, :2], pts[:, :2] @ lin.T, atol=1e-9)
        np.testing.assert_allclose(r3, augment_rotation(CropAug(rot_deg=rot)), atol=1e-12)
