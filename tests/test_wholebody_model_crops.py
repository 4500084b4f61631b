"""Attention-crop geometry of the whole-body model: boxes, affines, the differentiable sampler, mirroring."""
from __future__ import annotations

import torch

from common.models.wholebody.crops import apply_affines, box_affines, boxes_from_points, invert_affines, sample_crops


def _painted(h: int, centre: tuple[float, float], half: int = 3) -> torch.Tensor:
    """(1, 3, h, h) black image with a white square of side 2*half px centred at ``centre`` (continuous px)."""
    img = torch.zeros(1, 3, h, h)
    x, y = int(round(centre[0])), int(round(centre[1]))
    img[:, :, y - half:y + half, x - half:x + half] = 1.0
    return img


def _blob_centre(crop: torch.Tensor) -> torch.Tensor:
    """Intensity-weighted centre (x, y) in continuous px of a (1, C, h, w) crop."""
    m = crop[0].mean(0)
    ys, xs = torch.meshgrid(torch.arange(m.shape[0]) + 0.5, torch.arange(m.shape[1]) + 0.5, indexing="ij")
    return torch.stack([(m * xs).sum(), (m * ys).sum()]) / m.sum()


def test_box_is_square_scaled_and_detached():
    pts = torch.tensor([[[10.0, 20.0], [30.0, 25.0], [1000.0, 1000.0]]], requires_grad=True)
    box = boxes_from_points(pts, torch.tensor([1.0, 1.0, 0.0]), scale=2.0)
    assert not box.requires_grad
    torch.testing.assert_close(box, torch.tensor([[0.0, 2.5, 40.0, 42.5]]))
    tiny = boxes_from_points(torch.full((1, 4, 2), 7.0), scale=2.0, min_size=4.0)  # all points equal: min size
    torch.testing.assert_close(tiny, torch.tensor([[5.0, 5.0, 9.0, 9.0]]))


def test_square_at_keypoint_lands_at_crop_centre():
    h, crop = 128, 32
    point = torch.tensor([[[70.0, 44.0]]])
    img = _painted(h, (70.0, 44.0))
    for spread in (0.0, 6.0):  # one keypoint, or keypoints spread symmetrically around it
        pts = torch.cat([point - spread, point + spread], dim=1)
        box = boxes_from_points(pts, scale=2.0, min_size=16.0)
        for mirror in (False, True):
            out = sample_crops(img, box_affines(box, crop, mirror=mirror), crop)
            torch.testing.assert_close(_blob_centre(out), torch.tensor([crop / 2, crop / 2]), atol=0.3, rtol=0)


def test_affine_maps_keypoints_into_crop_where_the_sampler_puts_them():
    h, crop = 128, 32
    box = torch.tensor([[40.0, 20.0, 104.0, 84.0]])
    for mirror in (False, True):
        a = box_affines(box, crop, mirror=mirror)
        spot = torch.tensor([[[60.0, 70.0]]])
        expected = apply_affines(spot, invert_affines(a))[0, 0]
        out = sample_crops(_painted(h, (60.0, 70.0), half=4), a, crop)
        torch.testing.assert_close(_blob_centre(out), expected, atol=0.3, rtol=0)
        torch.testing.assert_close(apply_affines(apply_affines(spot, invert_affines(a)), a), spot)


def test_mirrored_crop_is_the_flipped_crop_and_flipping_twice_is_identity():
    torch.manual_seed(0)
    img = torch.rand(2, 3, 64, 64)
    box = torch.tensor([[5.0, 9.0, 37.0, 41.0], [20.0, 0.0, 60.0, 40.0]])
    plain = sample_crops(img, box_affines(box, 16), 16)
    mirrored = sample_crops(img, box_affines(box, 16, mirror=True), 16)
    torch.testing.assert_close(mirrored, plain.flip(-1))
    torch.testing.assert_close(mirrored.flip(-1).flip(-1), mirrored)


def test_sampler_is_differentiable_wrt_the_image():
    img = torch.rand(1, 3, 32, 32, requires_grad=True)
    out = sample_crops(img, box_affines(torch.tensor([[4.0, 4.0, 20.0, 20.0]]), 8), 8)
    out.sum().backward()
    assert img.grad is not None and img.grad[..., 4:20, 4:20].abs().sum() > 0
    assert img.grad[..., 24:, 24:].abs().sum() == 0


def test_gt_training_crops_follow_the_gt_keypoints_where_a_part_has_them():
    import torch

    from common.models.wholebody.crops import boxes_from_points
    from common.wholebody.layout import RIGHT_HAND
    from wholebody_model_fixtures import make_batch, tiny_model

    model = tiny_model(train_crops="gt")
    batch = make_batch(model, batch=2)
    batch["keypoints2d_valid"][1, RIGHT_HAND] = 0  # sample 1 has no visible right hand: predicted box
    model.train()
    with torch.no_grad():
        torch.manual_seed(0)  # the same dropout in both passes
        preds = model(batch)
        model.train_crops = "predicted"
        torch.manual_seed(0)
        predicted = model(batch)["right_hand_box"]
    from common.models.wholebody.crops import part_keypoint_ids

    ids = part_keypoint_ids(model.layer.keypoints_valid)["right_hand"]
    scale = model.hd_size / model.input_size
    gt = boxes_from_points(batch["keypoints2d"][:, ids] * scale, batch["keypoints2d_valid"][:, ids],
                           model.hand_box_scale)
    assert torch.allclose(preds["right_hand_box"][0], gt[0], atol=1e-4)
    assert torch.allclose(preds["right_hand_box"][1], predicted[1], atol=1e-4)
    assert not torch.allclose(predicted[0], gt[0], atol=1e-2)  # the untrained prediction is elsewhere


def test_gt_crop_jitter_moves_and_scales_the_box_around_the_gt_box():
    import torch

    from common.models.wholebody.crops import with_gt_boxes

    torch.manual_seed(0)
    kp = torch.rand(500, 137, 2) * 10 + 20
    valid = torch.ones(500, 137)
    pred = {"hand": torch.zeros(500, 4)}
    args = (kp, valid, {"hand": 2.0}, {"hand": list(range(25, 46))}, 2.0)
    exact = with_gt_boxes(pred, *args)["hand"]
    moved = with_gt_boxes(pred, *args, jitter=0.1)["hand"]
    side = exact[:, 2] - exact[:, 0]
    shift = ((moved[:, :2] + moved[:, 2:]) - (exact[:, :2] + exact[:, 2:])) / 2 / side[:, None]
    assert 0.08 < float(shift.std()) < 0.12 and abs(float(shift.mean())) < 0.02
    ratio = torch.log((moved[:, 2] - moved[:, 0]) / side)
    assert 0.08 < float(ratio.std()) < 0.12


def test_test_time_crops_from_the_batch_keypoints_only_when_configured_and_without_jitter():
    import torch

    from common.models.wholebody.crops import boxes_from_points, part_keypoint_ids
    from wholebody_model_fixtures import make_batch, tiny_model

    model = tiny_model(train_crops="gt", train_crop_jitter=0.5)  # training settings: no effect in eval mode
    batch = make_batch(model, batch=2)
    model.eval()
    with torch.no_grad():
        predicted = model(batch)
        model.test_crops = "keypoints2d"
        from_kp = model(batch)
    ids = part_keypoint_ids(model.layer.keypoints_valid)["head"]
    gt = boxes_from_points(batch["keypoints2d"][:, ids] * (model.hd_size / model.input_size),
                           batch["keypoints2d_valid"][:, ids], model.head_box_scale)
    assert torch.allclose(from_kp["head_box"], gt, atol=1e-4)  # exact: the training jitter is not applied
    assert not torch.allclose(predicted["head_box"], gt, atol=1e-2)  # default: the body network's boxes
    assert not torch.allclose(from_kp["vertices"], predicted["vertices"])  # the parts saw other crops
