"""Open MANO / FLAME part models cut from the open SMPL-X: part parameters paste into the whole body exactly."""
from __future__ import annotations

import contextlib
import io
import pickle

import numpy as np
import pytest
import torch

from common.body_models import build_body_model
from common.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from common.open_model.part_cut import FLAME_FROM_SMPLX, MANO_FROM_SMPLX, MANO_TIP_IDS, SMPLX_TIP_IDS
from common.open_model.part_models import ensure_open_part_models

TOL_M = 1e-5


@pytest.fixture(scope="module")
def parts():
    return ensure_open_part_models()


@pytest.fixture(scope="module")
def smplx_model():
    return build_body_model("smplx", source="open").double()


def _chain(global_orient: torch.Tensor, body_pose: torch.Tensor, joints: list[int]) -> torch.Tensor:
    """Global rotation (B, 3) axis-angle of the last joint of ``joints`` (SMPL-X ids, pelvis excluded)."""
    rot = axis_angle_to_matrix(global_orient)
    for j in joints:
        rot = rot @ axis_angle_to_matrix(body_pose[:, 3 * (j - 1): 3 * j])
    return matrix_to_axis_angle(rot)


@pytest.mark.parametrize("side", ["right", "left"])
def test_mano_part_pastes_into_smplx(parts, smplx_model, side):
    gen = torch.Generator().manual_seed(1 if side == "right" else 2)
    b = 3
    glob = 0.6 * torch.randn(b, 3, generator=gen, dtype=torch.float64)
    body = 0.3 * torch.randn(b, 63, generator=gen, dtype=torch.float64)
    wrist = MANO_FROM_SMPLX[side][0]
    body[:, 3 * (wrist - 1): 3 * wrist] = 0  # wrist seam vertices carry forearm weight: see part_cut's docstring
    fingers = 0.4 * torch.randn(b, 45, generator=gen, dtype=torch.float64)
    betas = torch.randn(b, 10, generator=gen, dtype=torch.float64)
    whole = smplx_model(glob, body, betas, **{f"{side}_hand_pose": fingers})
    mano = build_body_model("mano", source="open", model_path=side).double()
    arm = [3, 6, 9, 13 if side == "left" else 14, 16 if side == "left" else 17, 18 if side == "left" else 19, wrist]
    hand = mano(_chain(glob, body, arm), fingers, betas)
    with open(parts.mano_vertex_ids, "rb") as f:
        ids = torch.as_tensor(pickle.load(f)[f"{side}_hand"])
    assert len(ids) == hand.vertices.shape[1] == len(np.unique(ids.numpy()))
    # same vertices up to the wrist's placement (MANO rotates about its own wrist joint, at the origin frame)
    shift = whole.joints[:, wrist] - hand.joints[:, 0]
    err = (hand.vertices + shift[:, None] - whole.vertices[:, ids]).norm(dim=-1).max()
    assert err < TOL_M, f"{side} hand pasted {float(err) * 1000:.4f} mm off"
    assert torch.allclose(hand.joints[:, 1:] + shift[:, None], whole.joints[:, MANO_FROM_SMPLX[side][1:]],
                          atol=TOL_M)
    # a wrong finger pose is visibly wrong (the test can fail)
    other = mano(_chain(glob, body, arm), fingers.flip(0), betas)
    assert (other.vertices + shift[:, None] - whole.vertices[:, ids]).norm(dim=-1).max() > 0.005
    # smplx's MANO finger-tip indices hit the SMPL-X finger tips
    for finger, slot in MANO_TIP_IDS.items():
        assert int(ids[slot]) == SMPLX_TIP_IDS[side][finger]


def test_flame_part_pastes_into_smplx(parts, smplx_model):
    import smplx

    gen = torch.Generator().manual_seed(3)
    b = 2
    glob = 0.5 * torch.randn(b, 3, generator=gen, dtype=torch.float64)
    body = torch.zeros(b, 63, dtype=torch.float64)
    # spine1/spine2 may move (the chin's outside weight sits on spine2..shoulders, which move with the neck)
    body[:, 6:9], body[:, 15:18] = 0.3 * torch.randn(2, b, 3, generator=gen, dtype=torch.float64)
    head = 0.3 * torch.randn(b, 3, generator=gen, dtype=torch.float64)
    body[:, 42:45] = head  # SMPL-X head (15) = FLAME neck
    jaw, expr = 0.2 * torch.randn(b, 3, generator=gen, dtype=torch.float64), torch.randn(b, 10, generator=gen,
                                                                                         dtype=torch.float64)
    eyes = 0.2 * torch.randn(b, 6, generator=gen, dtype=torch.float64)
    betas = torch.randn(b, 10, generator=gen, dtype=torch.float64)
    whole = smplx_model(glob, body, betas, jaw_pose=jaw, expression=expr, leye_pose=eyes[:, :3],
                        reye_pose=eyes[:, 3:])
    with contextlib.redirect_stdout(io.StringIO()):
        flame = smplx.FLAME(model_path=str(parts.folder), gender="neutral", batch_size=b, dtype=torch.float64)
    out = flame(betas=betas, global_orient=_chain(glob, body, [3, 6, 9, 12]), neck_pose=head, jaw_pose=jaw,
                expression=expr, leye_pose=eyes[:, :3], reye_pose=eyes[:, 3:])
    ids = torch.as_tensor(np.load(parts.flame_vertex_ids))
    shift = whole.joints[:, FLAME_FROM_SMPLX[0]] - out.joints[:, 0]
    err = (out.vertices + shift[:, None] - whole.vertices[:, ids]).norm(dim=-1).max()
    assert err < TOL_M, f"face pasted {float(err) * 1000:.4f} mm off"
    assert torch.allclose(out.joints[:, :5] + shift[:, None], whole.joints[:, FLAME_FROM_SMPLX], atol=TOL_M)
    assert out.joints.shape[1] == 5 + 51  # the 51 static landmarks of the open SMPL-X, on the cut faces
    other = flame(betas=betas, global_orient=_chain(glob, body, [3, 6, 9, 12]), neck_pose=head, jaw_pose=jaw,
                  expression=-expr, leye_pose=eyes[:, :3], reye_pose=eyes[:, 3:])
    assert (other.vertices + shift[:, None] - whole.vertices[:, ids]).norm(dim=-1).max() > 0.001


def test_part_files_match_the_vertex_sets(parts):
    import json

    from common.open_model import ensure_open_model

    sets = json.loads(ensure_open_model().vertex_sets_path.read_text())["smplx"]
    with open(parts.mano_vertex_ids, "rb") as f:
        hands = pickle.load(f)
    assert sorted(hands["right_hand"].tolist()) == sorted(sets["right_hand"])
    assert sorted(np.load(parts.flame_vertex_ids).tolist()) == sorted(sets["face"])
    with open(parts.mano_right, "rb") as f:
        mano = pickle.load(f)
    assert mano["weights"].shape == (len(sets["right_hand"]), 16)
    assert np.allclose(mano["weights"].sum(1), 1.0)
    assert mano["shapedirs"].shape[-1] == 10 and mano["hands_components"].shape == (45, 45)


def test_absolute_fingers_paste_with_flat_hand_mean(parts):
    """WholeBodyLayer's convention (absolute finger rotations, no hand mean added) pastes into smplx.MANO built
    with flat_hand_mean=True (BodyModel's MANO keeps smplx's default False: pass aa(R) - hands_mean there)."""
    import smplx

    from common.wholebody import SMPLXParams, WholeBodyLayer

    model = build_body_model("smplx", source="open")
    layer = WholeBodyLayer.from_body_model(model).double()
    gen = torch.Generator().manual_seed(4)
    aa = torch.zeros(2, 55, 3, dtype=torch.float64)
    aa[:, 0] = 0.5 * torch.randn(2, 3, generator=gen, dtype=torch.float64)
    aa[:, 40:55] = 0.4 * torch.randn(2, 15, 3, generator=gen, dtype=torch.float64)
    betas = torch.randn(2, 10, generator=gen, dtype=torch.float64)
    whole = layer(SMPLXParams.from_axis_angle(aa, betas, torch.zeros(2, 10, dtype=torch.float64)))
    with contextlib.redirect_stdout(io.StringIO()):
        flat = smplx.MANO(model_path=str(parts.mano_right), is_rhand=True, use_pca=False, flat_hand_mean=True,
                          dtype=torch.float64)
    hand = flat(betas=betas, global_orient=aa[:, 0], hand_pose=aa[:, 40:55].reshape(2, 45))
    with open(parts.mano_vertex_ids, "rb") as f:
        ids = torch.as_tensor(pickle.load(f)["right_hand"])
    shift = whole.joints[:, 21] - hand.joints[:, 0]
    assert (hand.vertices + shift[:, None] - whole.vertices[:, ids]).norm(dim=-1).max() < TOL_M
    mano = build_body_model("mano", source="open").double()  # flat_hand_mean=False: subtract the file's mean
    rel = aa[:, 40:55].reshape(2, 45) - mano.layer.hand_mean.double()
    same = mano(aa[:, 0], rel, betas)
    assert (same.vertices - hand.vertices).abs().max() < 1e-9
