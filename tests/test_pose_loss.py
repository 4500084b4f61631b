"""Known answers for the pose_param representations and the config key that selects them."""
import pytest
import torch

from common.config import ConfigError, load_config
from common.models.losses import _pose_matrices, masked_l1


def test_rotmat_pose_loss_sees_no_difference_between_the_two_spellings_of_a_half_turn():
    half_turn = torch.zeros(1, 72)
    half_turn[0, 0] = torch.pi - 1e-4
    other_spelling = -half_turn  # (-pi, 0, 0) is (almost) the same rotation
    mask = torch.ones(1, 24, 1)
    assert masked_l1(_pose_matrices(half_turn), _pose_matrices(other_spelling), mask) < 1e-5  # 2e-4 rad apart
    assert masked_l1(half_turn, other_spelling, torch.ones(1, 72)) > 0.08  # axis-angle: 2*pi/72 apart


def test_rotmat_pose_loss_is_positive_for_different_rotations():
    a, b = torch.zeros(1, 72), torch.zeros(1, 72)
    b[0, 5] = 0.5
    assert masked_l1(_pose_matrices(a), _pose_matrices(b), torch.ones(1, 24, 1)) > 0


def test_pose_rep_is_validated():
    assert load_config(None, ["train.loss.pose_rep=rotmat"]).train.loss.pose_rep == "rotmat"
    with pytest.raises(ConfigError, match="pose_rep"):
        load_config(None, ["train.loss.pose_rep=quaternion"])
