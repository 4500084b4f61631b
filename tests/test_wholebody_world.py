"""The whole-body world: samplers (hand modes, faces), determinism, cache, records, the dataset entry, evaluator."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from data.records import PersonRecord, RecordError
from data.synthetic_wholebody import cache as wb_cache
from data.synthetic_wholebody.generator import WorldParams, generate_scene, vertex_segments
from data.synthetic_wholebody.parts import HAND_MODE_PROBS, HAND_MODES, sample_face, sample_hand_pose
from wholebody_world_fixtures import make_tiny_world, using_world


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_world(tmp_path_factory)


def _curl(pose: np.ndarray) -> np.ndarray:
    """(5,) total rotation angle of each finger (index, middle, pinky, ring, thumb), rad."""
    return np.linalg.norm(pose.reshape(5, 3, 3), axis=-1).sum(1)


def test_hand_modes_have_their_shapes_and_probabilities(tiny):
    space = tiny[1][1]
    rng = np.random.default_rng(0)
    modes = [sample_hand_pose(rng, space, "left")[1] for _ in range(2000)]
    freq = np.array([modes.count(m) for m in HAND_MODES]) / len(modes)
    assert np.abs(freq - np.array(HAND_MODE_PROBS)).max() < 0.04
    for side in ("left", "right"):
        fist, flat = (np.mean([_curl(sample_hand_pose(rng, space, side, m)[0]) for _ in range(20)], 0)
                      for m in ("fist", "flat"))
        assert np.all(fist[:4] > 3.0) and np.all(flat < 0.5)  # rad over 3 joints
        point = _curl(sample_hand_pose(rng, space, side, "pointing")[0])
        assert point[0] < 0.6 and np.all(point[1:4] > 3.0)  # index straight, the others curled
        spread, flat1 = (sample_hand_pose(rng, space, side, m)[0] for m in ("spread", "flat"))
        assert np.linalg.norm(spread[[0, 6, 9]]) > np.linalg.norm(flat1[[0, 6, 9]])  # first joints splay out
    pca = np.mean([sample_hand_pose(rng, space, "right", "pca")[0].reshape(45) for _ in range(400)], 0)
    assert np.abs(pca - space.mean["right"]).max() < 0.1  # PCA samples centre on the file's mean hand


def test_face_sampler_ranges():
    rng = np.random.default_rng(1)
    faces = [sample_face(rng) for _ in range(500)]
    expr, jaw = np.stack([f[0] for f in faces]), np.stack([f[1] for f in faces])
    assert 0.7 < np.mean(np.abs(expr).sum(1) > 0) < 0.9 and np.abs(expr).max() <= 2.0
    opened = jaw[:, 0] > 0
    assert 0.4 < opened.mean() < 0.6 and jaw[opened, 0].min() >= 0.05 and jaw[:, 0].max() <= 0.4


def test_scenes_are_deterministic_and_people_large(tiny):
    cfg, (layer, space) = tiny[:2]
    params = WorldParams.from_config(cfg.data.wholebody_world)
    args = (4321, params, layer, space, layer.faces, vertex_segments(layer))
    img_a, ann_a = generate_scene(3, "train", *args)
    img_b, ann_b = generate_scene(3, "train", *args)
    img_c, _ = generate_scene(3, "test", *args)
    assert np.array_equal(img_a, img_b) and ann_a == ann_b and not np.array_equal(img_a, img_c)
    heights = []
    for index in range(6):
        _, ann = generate_scene(index, "train", *args)
        heights.append(ann["people"][0]["bbox"][3] / params.image_size)
        assert 1 <= len(ann["people"]) <= params.max_people
    assert np.median(heights) > 0.5  # the first person fills most of the image height


def test_records_and_cache(tiny, monkeypatch):
    from data.synthetic_wholebody.dataset import load_synthetic_wholebody_records

    cfg, world, cache, train, test = tiny
    assert len(train) >= 6 and len(test) >= 3
    for r in train + test:
        assert r.joints_convention == "openpose137" and r.has_smplx and np.asarray(r.smplx_pose).shape == (55, 3)
        assert {r.left_hand_valid, r.right_hand_valid, r.face_valid} <= {0.0, 1.0}
        inside = np.asarray(r.meta["keypoints_inside"])
        assert np.all(r.joints2d_valid <= inside) and np.all(inside <= r.joints3d_valid)  # visible <= inside <= defined
    assert np.mean([r.left_hand_valid + r.right_hand_valid for r in train]) > 1.0
    monkeypatch.setattr(wb_cache, "render_split", lambda *a, **k: pytest.fail("cached split was rendered again"))
    with using_world(cache, world):
        again = load_synthetic_wholebody_records("train", cfg)
    assert [r.image_path for r in again] == [r.image_path for r in train]


def test_record_validation_names_the_smplx_field():
    base = dict(image_path="x.jpg", bbox=np.array([0, 0, 10, 10.0]), focal=np.ones(2), princpt=np.ones(2))
    with pytest.raises(RecordError, match="smplx_pose has shape"):
        PersonRecord(**base, smplx_pose=np.zeros(72), smplx_betas=np.zeros(10)).validate("f.json")
    with pytest.raises(RecordError, match="left_hand_valid"):
        PersonRecord(**base, left_hand_valid=0.5).validate("f.json")
    PersonRecord(**base, smplx_pose=np.zeros((55, 3)), smplx_betas=np.zeros(10), face_valid=1.0).validate()


def test_dataset_entry_evaluator_scores_gt_as_zero(tiny):
    from common.config import load_config
    from data.loader import build_test_loader
    from data.registry import build_evaluator, dataset_records
    from wholebody_world_fixtures import TINY

    _, world, cache, _, test = tiny
    cfg = load_config(None, TINY + ["data.test_set=synthetic_wholebody"])
    with using_world(cache, world):
        loader = build_test_loader(cfg)
    evaluator = build_evaluator(cfg, None, None, dataset_records(loader))  # builds the SMPL-X model: real cache
    layer = world[0]
    evaluator.reset(len(test))
    from common.wholebody.params import SMPLXParams

    for batch in loader:
        assert tuple(batch["img_hd"].shape[1:]) == (3, 96, 96)
        recs = [test[i] for i in batch["index"].tolist()]
        pose, betas, expr = (torch.as_tensor(np.stack([getattr(x, k) for x in recs]))
                             for k in ("smplx_pose", "smplx_betas", "smplx_expression"))
        params = SMPLXParams.from_axis_angle(pose, betas, expr)
        with torch.no_grad():
            evaluator.process(batch, {"vertices": layer(params).vertices})  # no translation: PA removes it
    summary = evaluator.evaluate()
    assert summary["num_evaluated"] == len(test)
    for key in ("pa_v2v_all", "pa_v2v_body", "pa_v2v_l_hand", "pa_v2v_r_hand", "pa_v2v_face", "pa_mpjpe_14"):
        assert summary[key] < 0.05, (key, summary[key])  # mm


def test_train_loader_batches_whole_body_samples(tiny):
    from common.config import load_config
    from data.loader import build_train_loader
    from data.sample import check_wholebody_sample
    from wholebody_world_fixtures import TINY

    _, world, cache, _, _ = tiny
    cfg = load_config(None, TINY + ["data.train_sets=[synthetic_wholebody]"])
    with using_world(cache, world):
        loader = build_train_loader(cfg)
    batch = next(iter(loader))
    check_wholebody_sample(batch, cfg.data.input_size, cfg.wholebody.hd_size, batched=True)
    assert batch["img"].shape[0] == cfg.data.batch_size and float(batch["smplx_valid"].min()) == 1.0


def test_bad_people_range_names_the_keys():
    from common.config import ConfigError

    with pytest.raises(ConfigError, match="data.wholebody_world: need 1 <= min_people <= max_people"):
        WorldParams(min_people=3, max_people=2)
