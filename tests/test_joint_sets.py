"""Joint conventions: names, flip pairs, skeletons and name-based conversion (known answers)."""
import numpy as np
import pytest
import torch

from common.joint_sets import (
    JOINT_SETS,
    SAME_POINT,
    JointSetError,
    convert_joints,
    convert_validity,
    flip_pairs,
    flip_permutation,
    joint_index,
    joint_names,
    skeleton,
)


def test_sizes_and_unique_names():
    expected = {"smpl24": 24, "crowdnet30": 30, "graph15": 15, "h36m17": 17, "coco17": 17, "crowdpose14": 14,
                "openpose18": 18, "mpii16": 16, "muco21": 21, "3dpw_smpl24": 24}
    for name, n in expected.items():
        assert len(joint_names(name)) == n
    for name, names in JOINT_SETS.items():
        assert len(set(names)) == len(names), name


def test_crowdnet30_order_matches_release():
    names = joint_names("crowdnet30")
    assert names[:3] == ("Pelvis", "L_Hip", "R_Hip") and names[12] == "Neck" and names[15] == "Head"
    assert names[24:] == ("Nose", "L_Eye", "R_Eye", "L_Ear", "R_Ear", "Head_top")
    # the release's flip pairs of the 30-joint set
    assert flip_pairs("crowdnet30") == ((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21),
                                        (22, 23), (25, 26), (27, 28))
    assert flip_pairs("graph15") == ((1, 2), (3, 4), (5, 6), (9, 10), (11, 12), (13, 14))


def test_graph15_skeleton_matches_release():
    assert skeleton("graph15") == ((0, 1), (1, 3), (3, 5), (0, 2), (2, 4), (4, 6), (0, 7), (7, 8), (7, 9),
                                   (9, 11), (11, 13), (7, 10), (10, 12), (12, 14))


def test_openpose18_order():
    names = joint_names("openpose18")
    assert names[:2] == ("Nose", "Neck") and names[2] == "R_Shoulder"
    assert names[14:] == ("R_Eye", "L_Eye", "R_Ear", "L_Ear")


def test_convert_coco_to_crowdnet_known_answer():
    x = np.arange(17 * 2, dtype=np.float32).reshape(17, 2)
    y, mask = convert_joints(x, "coco17", "crowdnet30")
    assert y.shape == (30, 2) and mask.shape == (30,)
    provided = {joint_index("crowdnet30", n) for n in joint_names("coco17")}
    assert set(np.flatnonzero(mask)) == provided and mask.sum() == 17
    # L_Shoulder is coco 5 -> crowdnet 16; Pelvis is absent -> zero with mask 0
    assert np.array_equal(y[16], x[5]) and mask[0] == 0 and np.all(y[0] == 0)


def test_convert_crowdnet_to_graph15_complete_and_torch():
    x = torch.randn(4, 30, 3)
    y, mask = convert_joints(x, "crowdnet30", "graph15")
    assert torch.is_tensor(y) and y.shape == (4, 15, 3) and mask.sum() == 15
    assert torch.equal(y[:, 8], x[:, 29])  # Head_top
    assert torch.equal(y[:, 7], x[:, 12])  # Neck


def test_convert_h36m_mask_and_validity():
    _, mask = convert_joints(np.zeros((17, 3)), "h36m17", "crowdnet30")
    names = [joint_names("crowdnet30")[i] for i in np.flatnonzero(mask)]
    # every H36M joint exists in crowdnet30 (H36M 'Torso' as SMPL 'Spine1', 3DCrowdNet's approximation)
    assert sorted(names) == sorted(SAME_POINT.get(n, n) for n in joint_names("h36m17"))
    assert names.count("Spine1") == 1 and "Torso" not in joint_names("crowdnet30")
    valid = np.ones(21)
    valid[joint_index("muco21", "L_Knee")] = 0
    out = convert_validity(valid, "muco21", "crowdnet30")
    assert out[joint_index("crowdnet30", "L_Knee")] == 0 and out[joint_index("crowdnet30", "R_Knee")] == 1
    assert out[joint_index("crowdnet30", "Nose")] == 0  # MuCo has no nose
    assert out.sum() == 19  # Thorax and Head_top... Thorax has no SMPL counterpart


def test_flip_permutation_is_involution():
    for name in JOINT_SETS:
        perm = flip_permutation(name)
        assert np.array_equal(perm[perm], np.arange(len(perm)))


def test_errors_name_the_problem():
    with pytest.raises(JointSetError, match="unknown joint set 'cocoo'"):
        joint_names("cocoo")
    with pytest.raises(ValueError, match="'coco17' has 17 joints"):
        convert_joints(np.zeros((16, 2)), "coco17", "crowdnet30")


def test_one_smpl_name_table():
    from common.open_model.joint_maps import SMPL_JOINT_NAMES
    from common.open_model.named_regressors import REGRESSOR_NAMES

    assert tuple(SMPL_JOINT_NAMES) == joint_names("smpl24") == joint_names("crowdnet30")[:24]
    assert joint_names("smpl24")[3::3][:3] == ("Spine1", "Spine2", "Spine3") and "L_Collar" in joint_names("smpl24")
    for name, names in REGRESSOR_NAMES.items():
        assert tuple(names) == joint_names(name), name
    for name, names in JOINT_SETS.items():  # an approximated name never meets its SMPL joint in one set
        assert not any(a in names and b in names for a, b in SAME_POINT.items()), name


def test_graph_constants_derive_from_the_joint_sets():
    from common.models.losses import GRAPH15_IN_CROWDNET30
    from common.nets.rotation_net import GRAPH15_FLIP_PAIRS, GRAPH15_SKELETON

    # the official release's hard-coded values
    assert GRAPH15_IN_CROWDNET30 == (0, 1, 2, 4, 5, 7, 8, 12, 29, 16, 17, 18, 19, 20, 21)
    assert GRAPH15_SKELETON == ((0, 1), (1, 3), (3, 5), (0, 2), (2, 4), (4, 6), (0, 7), (7, 8), (7, 9), (9, 11),
                                (11, 13), (7, 10), (10, 12), (12, 14))
    assert GRAPH15_FLIP_PAIRS == ((1, 2), (3, 4), (5, 6), (9, 10), (11, 12), (13, 14))


def test_openpose137_skeleton_connects_body_and_every_finger():
    from common.joint_sets import joint_names, skeleton

    names = joint_names("openpose137")
    bones = skeleton("openpose137")
    assert len(bones) == 24 + 2 * 20
    assert (names.index("L_Hand_Wrist"), names.index("L_Thumb1")) in bones
    assert (names.index("R_Pinky3"), names.index("R_Pinky4")) in bones
