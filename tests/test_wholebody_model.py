"""WholeBodyModel end to end on the open SMPL-X: crops land on the hands, the merge uses the part networks,
every loss term is finite with gradients reaching the part networks, and a few samples can be overfitted."""
from __future__ import annotations

import pytest
import torch

from common.config.loader import load_config
from common.models.wholebody import WholeBodyLossWeights, WholeBodyModel
from common.models.wholebody.crops import apply_affines, invert_affines
from common.wholebody.layout import FACE_LANDMARKS, RIGHT_HAND
from wholebody_model_fixtures import CROP, H, S, make_batch, open_layer, tiny_model

ALL_ON = WholeBodyLossWeights(shape_prior=0.2, keypoints3d=1.0)
PARAM_TERMS = ("global_orient", "body_pose", "wrist_pose", "hand_pose", "body_hand_pose", "jaw_pose",
               "body_jaw_pose", "expression", "body_expression", "betas")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return tiny_model(loss_weights=ALL_ON).eval()


def _blob_centre(crop: torch.Tensor) -> torch.Tensor:
    m = crop.mean(0)
    ys, xs = torch.meshgrid(torch.arange(m.shape[0]) + 0.5, torch.arange(m.shape[1]) + 0.5, indexing="ij")
    return torch.stack([(m * xs).sum(), (m * ys).sum()]) / m.sum()


def _paint(h: int, x: float, y: float, half: int = 2) -> torch.Tensor:
    img = torch.zeros(1, 3, h, h)
    img[:, :, int(y) - half:int(y) + half, int(x) - half:int(x) + half] = 1.0
    return img


def test_painted_square_at_projected_hand_keypoint_lands_in_the_hand_crop(model):
    """A square painted in img_hd at the body network's projected hand keypoint appears in the hand crop where the
    crop's affine puts it; painted at the keypoints' box centre it appears at the crop centre (both hands, the
    left one mirrored)."""
    batch = make_batch(model, batch=1, seed=6)
    model.keep_crops = True
    try:
        with torch.no_grad():
            preds = model(batch)
            kp_hd = preds["body_keypoints2d"] * (H / S)
            for side, index in (("right", RIGHT_HAND.start + 9), ("left", 25 + 9)):  # middle-finger base
                box, affine = preds[f"{side}_hand_box"][0], preds[f"{side}_hand_affine"]
                x, y = (float(v) for v in kp_hd[0, index])
                assert 4 < x < H - 4 and 4 < y < H - 4
                batch["img_hd"] = _paint(H, x, y)
                crop = model(batch)[f"{side}_hand_crop"][0]
                spot = torch.tensor([[[int(x), int(y)]]], dtype=torch.float32)  # the painted square's centre
                where = apply_affines(spot, invert_affines(affine))[0, 0]
                torch.testing.assert_close(_blob_centre(crop), where, atol=0.5, rtol=0)
                cx, cy = float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2
                batch["img_hd"] = _paint(H, round(cx), round(cy))
                crop = model(batch)[f"{side}_hand_crop"][0]
                centre = apply_affines(torch.tensor([[[round(cx), round(cy)]]], dtype=torch.float32),
                                       invert_affines(affine))[0, 0]
                torch.testing.assert_close(centre, torch.tensor([CROP / 2, CROP / 2]), atol=1.0, rtol=0)
                torch.testing.assert_close(_blob_centre(crop), centre, atol=0.5, rtol=0)
    finally:
        model.keep_crops = False


def _moved(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).norm(dim=-1)[0]


def test_merge_uses_the_part_networks(model):
    """Changing a part network's output changes the final mesh's finger / face vertices, not the rest."""
    batch = make_batch(model, batch=1, seed=7)
    with torch.no_grad():
        base = model(batch)
        verts, joints, kp = base["vertices"][0], base["joints"][0], base["keypoints3d"][0]
        far = torch.stack([(verts - joints[j]).norm(dim=-1) for j in (15, 20, 21)]).amin(0) > 0.35
        fingers = (verts[:, None] - kp[RIGHT_HAND.start + 1:RIGHT_HAND.stop][None]).norm(dim=-1).amin(1) < 0.02
        face = (verts[:, None] - kp[FACE_LANDMARKS][None]).norm(dim=-1).amin(1) < 0.03
        assert far.sum() > 1000 and fingers.sum() > 20 and face.sum() > 50
        for net, rows, region in ((model.hand_net, slice(6, 96), fingers), (model.head_net, slice(6, 22), face)):
            bias = net.regressor.mlp[-1].bias
            saved = bias.clone()
            bias[rows] += 0.3
            try:
                changed = model(batch)
            finally:
                bias.copy_(saved)
            torch.testing.assert_close(changed["body_vertices"], base["body_vertices"])
            moved = _moved(changed["vertices"], base["vertices"])
            assert moved[region].mean() > 2e-3, moved[region].mean()
            assert moved[far].max() < 1e-5, moved[far].max()


def test_forward_losses_backward_reach_every_network():
    torch.manual_seed(1)
    model = tiny_model(loss_weights=ALL_ON).train()
    batch = make_batch(model, batch=2, seed=8)
    preds = model(batch)
    b, v = 2, model.layer.num_vertices
    shapes = {"vertices": (b, v, 3), "joints": (b, 55, 3), "keypoints3d": (b, 137, 3), "keypoints2d": (b, 137, 2),
              "camera": (b, 3), "body_vertices": (b, v, 3), "left_hand_box": (b, 4), "right_hand_box": (b, 4),
              "head_box": (b, 4)}
    for key, shape in shapes.items():
        assert tuple(preds[key].shape) == shape, key
    assert preds["params"].body_pose.shape == (b, 21, 3, 3) and preds["body_params"].betas.shape == (b, 10)
    losses = model.losses(batch, preds)
    expected = set(PARAM_TERMS) | {"shape_prior", "body_keypoints2d", "hand_keypoints2d", "face_keypoints2d",
                                   "keypoints3d", "hand_crop_keypoints2d", "head_crop_keypoints2d"}
    assert set(losses) == expected
    for name, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), name
    sum(losses.values()).backward()
    for name, net in (("body", model.body_net), ("hand", model.hand_net), ("head", model.head_net)):
        grads = [p.grad for p in net.encoder.parameters() if p.grad is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0, name
        assert all(torch.isfinite(g).all() for g in grads), name


def test_nothing_valid_gives_zero_not_nan(model):
    batch = make_batch(model, batch=2, seed=9)
    for key in ("smplx_valid", "left_hand_valid", "right_hand_valid", "face_valid", "keypoints2d_valid",
                "keypoints3d_valid"):
        batch[key] = torch.zeros_like(batch[key])
    for key in ("smplx_pose", "smplx_betas", "smplx_expression", "keypoints2d", "keypoints3d"):
        batch[key] = torch.full_like(batch[key], float("nan"))
    losses = model.losses(batch, model(batch))
    for name, value in losses.items():
        assert torch.isfinite(value), name
        if name != "shape_prior":
            assert float(value.detach()) == 0.0, name


def test_zero_weight_skips_the_term():
    torch.manual_seed(2)
    model = tiny_model(loss_weights=WholeBodyLossWeights(jaw_pose=0.0, part_crop_keypoints2d=0.0)).eval()
    batch = make_batch(model, batch=1, seed=10)
    losses = model.losses(batch, model(batch))
    assert not {"jaw_pose", "body_jaw_pose", "hand_crop_keypoints2d", "head_crop_keypoints2d"} & set(losses)
    assert "hand_pose" in losses and "shape_prior" not in losses


def test_overfitting_a_few_samples_drives_the_parameter_losses_down():
    torch.manual_seed(3)
    model = tiny_model(ief_dropout=0.0).train()
    batch = make_batch(model, batch=2, seed=11, sigma=0.4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def param_loss(losses: dict) -> float:
        return sum(float(losses[k].detach()) for k in PARAM_TERMS if k in losses)

    first = None
    for _ in range(60):  # ~0.3 s a step on one thread
        losses = model.losses(batch, model(batch))
        first = param_loss(losses) if first is None else first
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    last = param_loss(model.losses(batch, model(batch)))
    assert last < 0.25 * first, (first, last)


def test_from_config_and_the_part_network_switches():
    """``from_config`` reads model.* / data.input_size / wholebody.*; with the head network off the jaw and
    expression are the body network's and no head term is computed."""
    cfg = load_config(None, ["model.family=wholebody", "model.backbone=resnet18", f"data.input_size={S}",
                             f"wholebody.hd_size={H}", f"wholebody.hand_crop_size={CROP}", "wholebody.ief_hidden=64",
                             f"wholebody.head_crop_size={CROP}", "wholebody.use_head_net=false",
                             "wholebody.loss.hand_pose=2.5"])
    torch.manual_seed(4)
    model = WholeBodyModel.from_config(cfg, open_layer()).eval()
    assert model.head_net is None and model.hand_net is not None and model.loss_weights.hand_pose == 2.5
    assert model.hand_crop_size == CROP and model.input_size == S and model.body_net.regressor.mlp[0].out_features == 64
    batch = make_batch(model, batch=1, seed=12)
    preds = model(batch)
    torch.testing.assert_close(preds["params"].jaw_pose, preds["body_params"].jaw_pose)
    torch.testing.assert_close(preds["params"].expression, preds["body_params"].expression)
    assert not torch.allclose(preds["params"].right_hand_pose, preds["body_params"].right_hand_pose)
    losses = model.losses(batch, preds)
    assert "head_crop_keypoints2d" not in losses and "body_jaw_pose" not in losses and "jaw_pose" in losses
    assert "hand_crop_keypoints2d" in losses and "body_hand_pose" in losses
