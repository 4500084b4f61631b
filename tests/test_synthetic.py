"""Synthetic crowds: determinism, visibility/occlusion known answers, records vs body model, loaders.

Uses the real open body model (built into the cache on first use) and a tiny config (6 + 3 images of 160 px)
rendered into a temporary cache folder once per session.
"""
import json

import numpy as np
import pytest
import torch

from common.config import load_config
from data.augment import AugmentParams
from data.mapper import Mapper
from data.sample import check_sample
from data.synthetic import cache as world_cache
from data.synthetic.generator import GeneratorParams, annotate_people, generate_scene, render_people, vertex_segments

TINY = ["data.synthetic.num_train_images=6", "data.synthetic.num_test_images=3", "data.synthetic.image_size=160",
        "data.synthetic.max_people=3", "data.input_size=64", "data.num_workers=0", "data.batch_size=2",
        "test.batch_size=4"]


@pytest.fixture(scope="session")
def body_model():
    from common.body_models import body_model_from_config

    return body_model_from_config(load_config(), kind="smpl")


@pytest.fixture(scope="session")
def tiny(body_model, tmp_path_factory):
    """(cfg, train records, test records, cache folder) of the tiny world, rendered into a temporary cache."""
    from data.synthetic.dataset import load_synthetic_records

    cfg, cache = load_config(None, TINY), str(tmp_path_factory.mktemp("cache"))
    with pytest.MonkeyPatch.context() as mp:  # only while rendering: other tests keep the real cache
        mp.setenv("CROWDMESH_CACHE", cache)
        train = load_synthetic_records("train", cfg, body_model=body_model)
        test = load_synthetic_records("test", cfg, body_model=body_model)
    return cfg, train, test, cache


def _person_at(body_model, x, z):
    """A zero-pose person facing the camera (upright in the camera frame), pelvis at (x, 0, z)."""
    orient = torch.tensor([[np.pi, 0.0, 0.0]])  # SMPL Y-up / +Z-front -> camera y-down, facing the camera
    with torch.no_grad():
        out = body_model(global_orient=orient, body_pose=torch.zeros(1, 69), betas=torch.zeros(1, 10))
        joints = body_model.regress(out.vertices, "crowdnet30")[0].double().numpy()
    shift = np.array([x, 0.0, z]) - joints[0]
    return out.vertices[0].double().numpy() + shift, joints + shift


def test_generator_is_deterministic(body_model):
    params = GeneratorParams(image_size=96, max_people=2)
    faces, segments = body_model.faces.long(), vertex_segments(body_model)
    a_img, a_ann = generate_scene(3, "train", 11, params, body_model, faces, segments)
    b_img, b_ann = generate_scene(3, "train", 11, params, body_model, faces, segments)
    c_img, _ = generate_scene(3, "test", 11, params, body_model, faces, segments)
    assert np.array_equal(a_img, b_img) and json.dumps(a_ann) == json.dumps(b_ann)
    assert not np.array_equal(a_img, c_img)  # the test split uses another stream


def test_visibility_and_occlusion_known_scene(body_model):
    params = GeneratorParams(image_size=128)
    focal, princpt = np.array([150.0, 150.0]), np.array([64.0, 64.0])
    front_v, front_j = _person_at(body_model, 0.0, 4.0)
    back_v, back_j = _person_at(body_model, 0.05, 6.0)  # right behind the first person
    faces = body_model.faces.long()
    frags, _ = render_people(np.stack([front_v, back_v]), faces, focal, princpt, 128)
    people = annotate_people(np.stack([front_j, back_j]), focal, princpt, frags.fragments.depth[0].numpy(),
                             frags.mesh_ids.numpy(), frags.per_mesh.mask.numpy(), params)
    front, back = people
    assert front["occlusion"] == 0.0 and all(front["joints_visible"])
    assert back["occlusion"] > 0.5
    for name_index in (0, 3, 6, 9):  # pelvis and spine joints of the back person are behind the front one
        assert back["joints_visible"][name_index] == 0 and back["joints_inside"][name_index] == 1
    # alone, the same person is fully visible
    frags, _ = render_people(back_v[None], faces, focal, princpt, 128)
    alone = annotate_people(back_j[None], focal, princpt, frags.fragments.depth[0].numpy(), frags.mesh_ids.numpy(),
                            frags.per_mesh.mask.numpy(), params)[0]
    assert alone["occlusion"] == 0.0 and sum(alone["joints_visible"]) == sum(alone["joints_inside"]) == 30


def test_records_match_the_body_model(tiny, body_model):
    cfg, train, test, _ = tiny
    assert len(train) >= 4 and len(test) >= 1  # 6 and 3 images; a few people are skipped
    for rec in train[:4]:
        pose = torch.as_tensor(rec.smpl_pose)[None]
        with torch.no_grad():
            out = body_model(global_orient=pose[:, :3], body_pose=pose[:, 3:],
                             betas=torch.as_tensor(rec.smpl_betas)[None], transl=torch.as_tensor(rec.smpl_transl)[None])
            joints = body_model.regress(out.vertices, "crowdnet30")[0].numpy()
        np.testing.assert_allclose(joints, rec.joints3d, atol=1e-4)
        uv = joints[:, :2] / joints[:, 2:] * rec.focal + rec.princpt
        np.testing.assert_allclose(uv, rec.joints2d, atol=1e-2)
        assert 0.0 <= rec.occlusion <= cfg_max_occ() and rec.meta["stratum"] in ("low", "mid", "high")
        assert len(rec.others_smpl_pose) == len(rec.others_bbox)
        inside = rec.joints2d_valid > 0
        x, y, w, h = rec.bbox
        pts = rec.joints2d[inside]
        assert np.mean((pts[:, 0] >= x - 5) & (pts[:, 0] <= x + w + 5) & (pts[:, 1] >= y - 5)
                       & (pts[:, 1] <= y + h + 5)) > 0.9


def cfg_max_occ() -> float:
    return GeneratorParams().max_occlusion


def test_rotation_augmentation_matches_rerun_body_model(tiny, body_model):
    """Augmented joints3d == joints of the body model re-run on the augmented SMPL params (pelvis-relative)."""
    _, train, _, _ = tiny
    rec = train[0]
    mapper = Mapper(64, 1.25, True, AugmentParams(0.25, 30.0, 1.0, 0.0, 0.2), pose2d_noise=False, seed=5)
    for index in range(3):
        sample = mapper(rec, index)
        pose = sample["smpl_pose"][None]
        with torch.no_grad():
            out = body_model(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=sample["smpl_betas"][None])
            joints = body_model.regress(out.vertices, "crowdnet30")[0]
        np.testing.assert_allclose((joints - joints[0]).numpy(), sample["joints3d"].numpy(), atol=1e-4)


def test_flip_augmentation_matches_rerun_body_model(tiny, body_model):
    """Mirrored SMPL params reproduce the mirrored joints up to the body model's left/right asymmetry."""
    _, train, _, _ = tiny
    mapper = Mapper(64, 1.25, True, AugmentParams(0.0, 30.0, 0.5, 1.0, 0.0), pose2d_noise=False, seed=2)
    sample = mapper(train[1], 0)
    pose = sample["smpl_pose"][None]
    with torch.no_grad():
        out = body_model(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=sample["smpl_betas"][None])
        joints = body_model.regress(out.vertices, "crowdnet30")[0]
    err = ((joints - joints[0]) - sample["joints3d"]).norm(dim=1)
    assert err.max() < 0.002  # metres (the open model is left/right symmetric to < 1 mm)


def test_dataset_loaders_and_cache(tiny, body_model):
    from data.loader import build_test_loader, build_train_loader
    from data.registry import build_dataset
    from data.synthetic.dataset import load_synthetic_records

    cfg, train, test, cache = tiny
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CROWDMESH_CACHE", cache)
        mp.setattr(world_cache, "render_split", lambda *a, **k: pytest.fail("cached split was rendered again"))
        assert len(load_synthetic_records("test", cfg, body_model=body_model)) == len(test)
        ds = build_dataset("synthetic", "train", cfg, train=True, body_model=body_model)
        check_sample(ds[0], 64)
        loader = build_test_loader(cfg, body_model=body_model)
        seen = torch.cat([batch["index"] for batch in loader])
        assert sorted(seen.tolist()) == list(range(len(test)))
        shards = [torch.cat([b["index"] for b in build_test_loader(cfg, r, 2, body_model=body_model)]) for r in (0, 1)]
        assert sorted(torch.cat(shards).tolist()) == list(range(len(test)))
        train_loader = build_train_loader(cfg, body_model=body_model)
        batches = list(train_loader)
        assert len(batches) == len(train) // 2 and all(b["img"].shape == (2, 3, 64, 64) for b in batches)
        high = load_synthetic_records("train", cfg, subset="high_occlusion", body_model=body_model)
        assert all(r.meta["stratum"] == "high" for r in high)


def test_mapper_regresses_joints_from_smpl_when_missing(tiny, body_model):
    """A record with SMPL params but no joints gets the same targets from the body model."""
    _, train, _, _ = tiny
    rec = train[0]
    bare = rec.replace(joints3d=None, joints3d_valid=None, joints2d=None, joints2d_valid=None)
    mapper = Mapper(64, 1.25, False, pose2d_noise=False, body_model=body_model)
    full, regressed = mapper(rec, 0), mapper(bare, 0)
    np.testing.assert_allclose(regressed["joints3d"].numpy(), full["joints3d"].numpy(), atol=1e-4)
    np.testing.assert_allclose(regressed["joints2d"].numpy(), full["joints2d"].numpy(), atol=1e-2)
    assert regressed["smpl_valid"] == 1 and regressed["joints3d_valid"].sum() == 30
