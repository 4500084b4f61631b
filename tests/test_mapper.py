"""Shared mapper: crop geometry, augmentation consistency, determinism, input poses (known answers)."""
import cv2
import numpy as np
import pytest
import torch

from common.joint_sets import flip_permutation, joint_index
from data.augment import AugmentParams, CropAug, augment_joints3d, augment_smpl_pose, crop_affine
from data.mapper import Mapper
from data.posefix import PosefixParams
from data.records import PersonRecord
from data.sample import check_sample

W, H, S = 400, 300, 128
FOCAL, PRINCPT = np.array([500.0, 500.0]), np.array([200.0, 150.0])
NO_AUG = dict(scale_jitter=0.0, rot_jitter_deg=0.0, rot_prob=0.0, flip_prob=0.0, color_jitter=0.0)


def _joints3d(rng):
    """A person-sized cloud of 30 joints around (0.1, 0.05, 4) m, pelvis first."""
    j = rng.uniform(-0.3, 0.3, (30, 3)) * np.array([1.0, 2.5, 0.5]) + np.array([0.1, 0.05, 4.0])
    j[joint_index("crowdnet30", "Pelvis")] = [0.1, 0.05, 4.0]
    return j


def _record(tmp_path, rng, name="img.png", image=None, **kw):
    joints = kw.pop("joints3d", _joints3d(rng))
    if image is None:
        image = (rng.random((H, W, 3)) * 255).astype(np.uint8)
    path = tmp_path / name
    cv2.imwrite(str(path), image[:, :, ::-1])
    uv = joints[:, :2] / joints[:, 2:] * FOCAL + PRINCPT
    lo, hi = uv.min(0), uv.max(0)
    args = dict(image_path=str(path), bbox=np.r_[lo, hi - lo].astype(np.float32), focal=FOCAL, princpt=PRINCPT,
                joints3d=joints, joints3d_valid=np.ones(30), smpl_pose=rng.normal(0, 0.3, 72),
                smpl_betas=rng.normal(0, 1, 10), smpl_transl=np.zeros(3), occlusion=0.25)
    args.update(kw)
    return PersonRecord(**args).validate()


def _mapper(**aug):
    return Mapper(S, 1.25, train=True, augment=AugmentParams(**{**NO_AUG, **aug}), pose2d_noise=False)


def test_known_point_lands_at_expected_crop_pixel(tmp_path):
    rng = np.random.default_rng(0)
    image = np.zeros((H, W, 3), np.uint8)
    rec = _record(tmp_path, rng, image=image)
    # expected: projection, then the square box enlarged by 1.25 mapped onto S x S
    uv = rec.joints3d[:, :2] / rec.joints3d[:, 2:] * FOCAL + PRINCPT
    x, y, w, h = rec.bbox
    side = max(w, h) * 1.25
    expected = (uv - (np.array([x + w / 2, y + h / 2]) - side / 2)) * S / side
    # paint a bright pixel at the projected left wrist; it must appear at the expected crop pixel
    k = joint_index("crowdnet30", "L_Wrist")
    u, v = np.floor(uv[k]).astype(int)
    image[v - 1:v + 2, u - 1:u + 2] = 255
    rec = _record(tmp_path, rng, image=image, joints3d=rec.joints3d)
    sample = Mapper(S, 1.25, train=False, pose2d_noise=False)(rec, 0)
    check_sample(sample, S)
    np.testing.assert_allclose(sample["joints2d"].numpy(), expected, atol=1e-3)
    assert sample["joints2d_valid"].sum() == 30  # the box contains every joint
    brightest = np.unravel_index(int(sample["img"].sum(0).argmax()), (S, S))[::-1]
    assert np.linalg.norm(np.array(brightest) + 0.5 - expected[k]) < 1.5
    # crop_to_img maps the crop joints back to the image
    back = sample["joints2d"].numpy() @ sample["crop_to_img"].numpy()[:, :2].T + sample["crop_to_img"].numpy()[:, 2]
    np.testing.assert_allclose(back, uv, atol=1e-2)
    # GT 3D is pelvis-relative and unchanged without augmentation; the clean input pose equals the GT
    np.testing.assert_allclose(sample["joints3d"].numpy(), rec.joints3d - rec.joints3d[0], atol=1e-5)
    assert torch.equal(sample["pose2d"], sample["joints2d"])


def test_flip_twice_is_identity(tmp_path):
    rng = np.random.default_rng(1)
    pose = rng.normal(0, 0.4, 72)
    flip = CropAug(flip=True)
    np.testing.assert_allclose(augment_smpl_pose(augment_smpl_pose(pose, flip), flip), pose, atol=1e-6)
    joints = rng.normal(size=(30, 3))
    np.testing.assert_allclose(augment_joints3d(augment_joints3d(joints, flip, "crowdnet30"), flip, "crowdnet30"),
                               joints, atol=1e-6)
    m = np.vstack([crop_affine(np.array([50.0, 40, 100, 100]), flip, S, W), [0, 0, 1]])
    unflipped = np.vstack([crop_affine(np.array([50.0, 40, 100, 100]), CropAug(), S, W), [0, 0, 1]])
    mirror_crop = np.array([[-1.0, 0, S], [0, 1, 0], [0, 0, 1]])  # flipping the crop itself
    np.testing.assert_allclose(mirror_crop @ m, unflipped, atol=1e-9)


def test_flipped_record_with_flip_equals_original(tmp_path):
    """Mirroring the image + annotations and then flipping in the mapper gives back the unflipped sample."""
    rng = np.random.default_rng(2)
    rec = _record(tmp_path, rng)
    image = cv2.imread(rec.image_path)[:, :, ::-1]
    perm = flip_permutation("crowdnet30")
    j3 = rec.joints3d.copy()
    j3[:, 0] *= -1.0  # with the principal point mirrored too, x -> -x mirrors the image: u -> W - u
    j3 = j3[perm]
    x, y, w, h = rec.bbox
    mirrored = _record(tmp_path, rng, "mirror.png", image=np.ascontiguousarray(image[:, ::-1]), joints3d=j3,
                       bbox=np.array([W - x - w, y, w, h]), princpt=np.array([W - PRINCPT[0], PRINCPT[1]]),
                       smpl_pose=augment_smpl_pose(rec.smpl_pose, CropAug(flip=True)))
    a = _mapper()(rec, 0)
    b = _mapper(flip_prob=1.0)(mirrored, 0)
    np.testing.assert_allclose(b["joints2d"].numpy(), a["joints2d"].numpy(), atol=1e-3)
    np.testing.assert_allclose(b["joints3d"].numpy(), a["joints3d"].numpy(), atol=1e-5)
    np.testing.assert_allclose(b["smpl_pose"].numpy(), a["smpl_pose"].numpy(), atol=1e-5)
    assert (b["img"] - a["img"]).abs().mean() < 0.02  # same pixels up to resampling


def test_rotation_turns_2d_and_3d_the_same_way(tmp_path):
    rng = np.random.default_rng(3)
    rec = _record(tmp_path, rng, joints3d=_joints3d(rng) * np.array([1, 1, 1]) + np.array([0, 0, 20.0]))
    plain = _mapper()(rec, 0)
    for seed in range(3):
        rotated = Mapper(S, 1.25, True, AugmentParams(0.0, 30.0, 1.0, 0.0, 0.0), False, seed=seed)(rec, 0)
        # far away, 2D offsets from the pelvis are proportional to 3D (x, y) offsets
        d2 = rotated["joints2d"].numpy() - rotated["joints2d"].numpy()[0]
        d3 = rotated["joints3d"].numpy()[:, :2]
        scale = np.linalg.norm(d2) / np.linalg.norm(d3)
        np.testing.assert_allclose(d2, d3 * scale, atol=0.02 * np.abs(d2).max())
        assert not np.allclose(rotated["joints3d"], plain["joints3d"], atol=1e-3)


def test_deterministic_and_epoch_dependent(tmp_path):
    rec = _record(tmp_path, np.random.default_rng(4))
    mapper = Mapper(S, 1.25, True, AugmentParams(), pose2d_noise=True, seed=3)
    a, b, c = mapper(rec, 5, epoch=1), mapper(rec, 5, epoch=1), mapper(rec, 5, epoch=2)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert not torch.equal(a["img"], c["img"])
    test_mapper = Mapper(S, 1.25, False, None, pose2d_noise=True, seed=3)
    assert torch.equal(test_mapper(rec, 5, epoch=1)["pose2d"], test_mapper(rec, 5, epoch=9)["pose2d"])


def test_outside_joints_invalid_and_posefix_input(tmp_path):
    rng = np.random.default_rng(5)
    joints = _joints3d(rng)
    rec = _record(tmp_path, rng, joints3d=joints)
    # shrink the box to the upper body: the ankles fall outside the crop
    uv = joints[:, :2] / joints[:, 2:] * FOCAL + PRINCPT
    top = uv[:, 1].min()
    rec = rec.replace(bbox=np.array([uv[:, 0].min(), top, np.ptp(uv[:, 0]), 0.3 * np.ptp(uv[:, 1])]))
    sample = Mapper(S, 1.0, train=False, pose2d_noise=False)(rec, 0)
    j2 = sample["joints2d"].numpy()
    inside = (j2 >= 0).all(1) & (j2 < S).all(1)
    np.testing.assert_array_equal(sample["joints2d_valid"].numpy(), inside.astype(np.float32))
    assert 0 < inside.sum() < 30
    np.testing.assert_array_equal(sample["joints3d_valid"].numpy(), np.ones(30))  # 3D targets stay valid
    # posefix input with a second person overlapping: perturbed, but close to the GT on average
    other = uv[None] + 8.0
    rec = _record(tmp_path, rng, joints3d=joints, others_joints2d=other, others_joints2d_valid=np.ones((1, 30)),
                  others_bbox=rec.bbox[None])
    noisy = Mapper(S, 1.25, train=False, pose2d_noise=True)(rec, 0)
    clean = Mapper(S, 1.25, train=False, pose2d_noise=True, posefix=PosefixParams.disabled())(rec, 0)
    assert torch.allclose(clean["pose2d"], clean["joints2d"], atol=1e-3)
    err = (noisy["pose2d"] - noisy["joints2d"]).norm(dim=1)[noisy["pose2d_valid"] > 0]
    assert 0 < err.median() < 0.2 * S


def test_bad_box_names_the_file(tmp_path):
    rec = _record(tmp_path, np.random.default_rng(6))
    rec = rec.replace(bbox=np.array([W + 50.0, 10, 20, 20]))
    with pytest.raises(ValueError, match="img.png: bbox"):
        Mapper(S)(rec, 0)


def test_record_validate_and_image_errors_name_the_source(tmp_path):
    from data.image_io import ImageReadError, load_image
    from data.records import RecordError

    rec = _record(tmp_path, np.random.default_rng(7))
    bad = rec.joints3d.copy()
    bad[3, 1] = np.nan
    with pytest.raises(RecordError, match=r"ann\.json: PersonRecord\.joints3d has NaN"):
        rec.replace(joints3d=bad).validate("ann.json")
    with pytest.raises(RecordError, match=r"PersonRecord\.smpl_betas has shape \(9,\), expected \(10,\)"):
        rec.replace(smpl_betas=np.zeros(9)).validate("ann.json")
    with pytest.raises(RecordError, match="joints_convention 'coco18' is not a known joint set"):
        rec.replace(joints_convention="coco18").validate("ann.json")
    with pytest.raises(ImageReadError, match="missing.jpg: image file not found"):
        load_image(tmp_path / "missing.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match="broken.jpg: cannot decode image"):
        load_image(tmp_path / "broken.jpg")
    assert load_image(rec.image_path).shape == (H, W, 3) and load_image(rec.image_path).dtype == np.uint8
