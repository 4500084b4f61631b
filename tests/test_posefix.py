"""posefix: zero probabilities return the GT; each error class lands where PoseFix puts it."""
import numpy as np

from common.joint_sets import COCO17, joint_index, joint_names
from data.posefix import COCO_SIGMAS, PosefixParams, synthesize_pose

NAMES = joint_names("crowdnet30")


def _person(rng, offset=0.0):
    joints = rng.uniform(40, 200, (30, 2)) + offset
    return joints, np.ones(30, np.float32)


def _only(kind: str, p: float = 1.0) -> PosefixParams:
    zero = {n: 0.0 for n in COCO17}
    full = {n: p for n in COCO17}
    kw = dict(jitter=(zero, zero), miss=(zero, zero, zero), inversion=zero, swap=(zero, zero))
    kw[kind] = {"jitter": (full, full), "miss": (full, full, full), "inversion": full, "swap": (full, full)}[kind]
    return PosefixParams(**kw)


def test_zero_probabilities_return_gt():
    rng = np.random.default_rng(0)
    joints, valid = _person(rng)
    valid[3] = 0
    near, _ = _person(rng, 5.0)
    out, out_valid = synthesize_pose(joints, valid, NAMES, 160 * 160, near[None], np.ones((1, 30)), 1,
                                     PosefixParams.disabled(), rng)
    np.testing.assert_allclose(out[valid > 0], joints[valid > 0], atol=1e-4)
    np.testing.assert_array_equal(out_valid, valid)


def test_good_only_stays_within_oks85_radius():
    rng = np.random.default_rng(1)
    joints, valid = _person(rng)
    area = 150.0 * 150.0
    out, _ = synthesize_pose(joints, valid, NAMES, area, params=_only("jitter", 0.0), rng=rng)
    d85 = np.sqrt(-2 * area * (2 * max(COCO_SIGMAS.values())) ** 2 * np.log(0.85))  # largest radius
    assert np.all(np.linalg.norm(out - joints, axis=1) <= d85 + 1e-4)
    assert np.any(np.linalg.norm(out - joints, axis=1) > 0)


def test_inversion_moves_joint_near_its_mirror():
    rng = np.random.default_rng(2)
    joints, valid = _person(rng)
    area = 150.0 * 150.0
    out, out_valid = synthesize_pose(joints, valid, NAMES, area, params=_only("inversion"), rng=rng)
    lk, rk = joint_index("crowdnet30", "L_Knee"), joint_index("crowdnet30", "R_Knee")
    d50 = np.sqrt(-2 * area * (2 * COCO_SIGMAS["L_Knee"]) ** 2 * np.log(0.5))
    assert np.linalg.norm(out[lk] - joints[rk]) <= d50 + 1e-4
    # the pelvis has no mirror and 'good' has probability 0: as in the release, it is dropped
    assert out_valid[joint_index("crowdnet30", "Pelvis")] == 0 and out_valid[lk] == 1


def test_swap_uses_the_other_person():
    rng = np.random.default_rng(3)
    joints, valid = _person(rng)
    near = joints[None] + 60.0  # the other person is clearly elsewhere
    area = 100.0 * 100.0
    out, _ = synthesize_pose(joints, valid, NAMES, area, near, np.ones((1, 30)), 1, _only("swap"), rng)
    i = joint_index("crowdnet30", "L_Wrist")
    d50 = np.sqrt(-2 * area * (2 * COCO_SIGMAS["L_Wrist"]) ** 2 * np.log(0.5))
    mirror = joint_index("crowdnet30", "R_Wrist")
    dists = [np.linalg.norm(out[i] - near[0, i]), np.linalg.norm(out[i] - near[0, mirror])]
    assert min(dists) <= d50 + 1e-4


def test_deterministic_for_a_seed_and_drop():
    joints, valid = _person(np.random.default_rng(4))
    a = synthesize_pose(joints, valid, NAMES, 1e4, rng=np.random.default_rng(7))
    b = synthesize_pose(joints, valid, NAMES, 1e4, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a[0], b[0])
    dropped = synthesize_pose(joints, valid, NAMES, 1e4, params=PosefixParams(drop_prob=1.0),
                              rng=np.random.default_rng(7))
    assert dropped[1].sum() == 0
