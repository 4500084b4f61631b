"""The part experts of the embedded world and the labelling tool (docs/furpe.md, "Experts in the embedded world")."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from common.engine.expert_checkpoint import load_expert, save_expert
from common.errors import UserError
from common.models.furpe.experts import PartExpert
from data.pseudo_labels import load_pseudo_label_records, load_pseudo_labels
from data.pseudo_labels.experts import hand_means_from_layer
from wholebody_world_fixtures import TINY, make_tiny_world, tiny_config, using_world

SHAPES = {"body": {"global_orient": (3, 3), "body_pose": (21, 3, 3), "betas": (10,)},
          "hand": {"wrist": (3, 3), "hand_pose": (15, 3, 3)},
          "face": {"jaw_pose": (3, 3), "expression": (10,)}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_world(tmp_path_factory)


@pytest.mark.parametrize("kind", ["body", "hand", "face"])
def test_expert_forward_shapes_and_feature(kind):
    torch.manual_seed(0)
    model = PartExpert(kind, "resnet18", 32).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 32, 32))
    assert out["feature"].shape == (2, 1024)
    for name, shape in SHAPES[kind].items():
        assert out[name].shape == (2, *shape), name
    rot = out[next(iter(SHAPES[kind]))]
    assert torch.allclose(rot @ rot.transpose(-1, -2), torch.eye(3).expand_as(rot), atol=1e-5)


def test_a_tiny_training_run_lowers_the_loss():
    from common.models.furpe.experts import decode
    from tool.train_experts import train_expert

    cfg = tiny_config("wholebody.head_crop_size=32", "wholebody.ief_dropout=0", "data.batch_size=8",
                      "train.lr=1e-3", "train.log_every=0")
    gen = torch.Generator().manual_seed(0)
    crops = (torch.rand(8, 1, 3, 32, 32, generator=gen) * 255).to(torch.uint8)
    targets = decode("face", torch.randn(8, 16, generator=gen))
    model, stats = train_expert(cfg, "face", {"crops": crops, "targets": targets}, iters=30, seed=0)
    assert stats["loss_last"] < 0.75 * stats["loss_first"], stats


def _save_random_experts(cfg, folder):
    from tool.train_experts import build_expert

    torch.manual_seed(0)
    for kind in ("body", "hand", "face"):
        save_expert(folder / f"{kind}.pth", build_expert(cfg, kind), cfg)


def _read_back(cfg, world, out, manifest):
    name = manifest["name"]
    pairs, counts = load_pseudo_labels([p["image"] for p in manifest["people"]], out / "params3d_v" / name,
                                       out / "keypoints" / name, hand_means_from_layer(world[0]))
    assert counts["loaded"] == manifest["labelled"] and not counts["missing_keypoints"]
    return pairs


def test_labelling_with_experts_writes_files_the_loader_reads(tiny, tmp_path):
    from tool.label_with_experts import label_split

    cfg, world, cache, train, _ = tiny
    _save_random_experts(cfg, tmp_path / "experts")
    with using_world(cache, world):
        manifest = label_split(cfg, str(tmp_path / "experts"), tmp_path / "labels", limit=3, keypoint_noise=1.0,
                               people_mode="largest")
    assert manifest["chosen"] == 3 and manifest["labelled"] == 3
    for (image, label), person in zip(_read_back(cfg, world, tmp_path / "labels", manifest), manifest["people"]):
        assert image == person["image"] and label.valid["body"]
        for part in ("left_hand", "right_hand", "face"):
            assert label.valid[part] == person["parts"][part]
        assert sorted(label.features) == sorted(p for p, ok in label.valid.items() if ok)
        assert all(f.shape == (1024,) for f in label.features.values())
        rec = next(r for r in train if r.image_path == image and r.person_id == person["person_id"])
        visible = np.asarray(rec.joints2d_valid) > 0
        assert np.array_equal(label.keypoints2d[:, 2] > 0, visible)  # the labelled person's detections
        assert np.abs(label.keypoints2d[visible, :2] - np.asarray(rec.joints2d)[visible]).max() < 10.0
        # the largest person of its image
        assert all(r.bbox[2] * r.bbox[3] <= rec.bbox[2] * rec.bbox[3] for r in train if r.image_path == image)
    name = manifest["name"]
    records, labels, _ = load_pseudo_label_records([p["image"] for p in manifest["people"]],
                                                   tmp_path / "labels" / "params3d_v" / name,
                                                   tmp_path / "labels" / "keypoints" / name,
                                                   hand_means_from_layer(world[0]))
    assert len(records) == 3 and all(r.smplx_pose is not None for r in records)


def test_gt_labels_without_noise_equal_the_gt_parameters(tiny, tmp_path):
    from tool.label_with_experts import label_split

    cfg, world, cache, train, _ = tiny
    with using_world(cache, world):
        manifest = label_split(cfg, "gt", tmp_path, limit=3, people_mode="largest")
        noisy = label_split(cfg, "gt", tmp_path / "noisy", limit=3, label_noise=0.05, people_mode="largest")
    rows = {"body": slice(0, 22), "left_hand": slice(25, 40), "right_hand": slice(40, 55), "face": slice(22, 23)}
    for (image, label), person in zip(_read_back(cfg, world, tmp_path, manifest), manifest["people"]):
        rec = next(r for r in train if r.image_path == image and r.person_id == person["person_id"])
        expected = {"body": True, "left_hand": bool(rec.left_hand_valid), "right_hand": bool(rec.right_hand_valid),
                    "face": bool(rec.face_valid)}
        assert label.valid == expected and not label.features
        for part, sel in rows.items():
            if expected[part]:
                np.testing.assert_allclose(label.smplx_pose[sel], np.asarray(rec.smplx_pose)[sel], atol=1e-5)
        if expected["face"]:
            np.testing.assert_allclose(label.expression, rec.smplx_expression, atol=1e-5)
    noisy_label = _read_back(cfg, world, tmp_path / "noisy", noisy)[0][1]
    gt0 = next(r for r in train if r.image_path == noisy["people"][0]["image"]
               and r.person_id == noisy["people"][0]["person_id"])
    assert np.abs(noisy_label.smplx_pose[:22] - np.asarray(gt0.smplx_pose)[:22]).max() > 1e-3


def test_train_experts_command_writes_checkpoints_and_metrics(tiny, tmp_path, monkeypatch):
    import common.open_model
    from tool import train_experts

    cfg, world, cache, _, _ = tiny
    opts = TINY + ["data.train_sets=[synthetic_wholebody]", "wholebody.hand_crop_size=32",
                   "wholebody.head_crop_size=32", "model.backbone=resnet18", "train.log_every=0"]
    built = common.open_model.ensure_open_model()  # the real cache's (the world below lives in a temporary one)
    monkeypatch.setattr(common.open_model, "ensure_open_model", lambda: built)
    with using_world(cache, world):
        code = train_experts.main(["--cfg", "configs/wholebody_quickstart.yaml", "--out", str(tmp_path), "--iters",
                                   "2", "--variants", "2", "--opts", *opts])
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["body"]["expert"]) == {"pa_mpjpe", "orient_deg"} and "mean_pose" in metrics["body"]
    assert "neutral_face" in metrics["face"] and "mean_hand" in metrics["hand"]
    assert load_expert(tmp_path / "hand.pth", "hand").kind == "hand"


def test_bad_expert_checkpoints_are_one_line_errors_naming_the_file(tmp_path, capsys):
    from tool import label_with_experts

    cfg = tiny_config()
    with pytest.raises(UserError, match="body.pth: expert checkpoint not found"):
        load_expert(tmp_path / "body.pth", "body")
    save_expert(tmp_path / "body.pth", PartExpert("hand", "resnet18", 32), cfg)
    with pytest.raises(UserError, match=r"body.pth: a hand expert, expected a body expert"):
        load_expert(tmp_path / "body.pth", "body")
    torch.save({"state_dict": {}}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="other.pth"):
        load_expert(tmp_path / "other.pth", "body")
    code = label_with_experts.main(["--cfg", "configs/wholebody_quickstart.yaml", "--experts", str(tmp_path),
                                    "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "body.pth: a hand expert" in err


def test_every_person_labelled_from_gt_reads_back_through_the_pseudo_labels_dataset(tiny, tmp_path):
    """The contract between the labelling tool and the dataset: names (one file per person), hands stored relative
    to the model file's mean (furpe.hand_storage=relative) -> the dataset's records carry the GT parameters."""
    from data.pseudo_labels.dataset import build_pseudo_label_records, stored_hand_mean
    from tool.label_with_experts import label_split

    cfg, world, cache, train, _ = tiny
    with using_world(cache, world):
        manifest = label_split(cfg, "gt", tmp_path, people_mode="all")
    assert manifest["labelled"] == manifest["chosen"] == len(train)
    furpe = tiny_config(f"furpe.label_dir={tmp_path}").furpe
    assert furpe.hand_storage == "relative"
    records, report = build_pseudo_label_records(train, furpe, "synthetic_wholebody", world[0],
                                                 stored_hand_mean(furpe, world[0]))
    assert report.counts["loaded"] == len(train) and not report.counts["missing_label"]
    for rec, gt in zip(records, train):
        assert rec.image_path == gt.image_path and rec.person_id == gt.person_id
        assert rec.left_hand_valid == gt.left_hand_valid and rec.face_valid == gt.face_valid
        hands = [rows for rows, ok in ((slice(25, 40), gt.left_hand_valid), (slice(40, 55), gt.right_hand_valid)) if ok]
        for rows in [slice(0, 22), *hands]:
            np.testing.assert_allclose(rec.smplx_pose[rows], np.asarray(gt.smplx_pose)[rows], atol=1e-5)
    absolute = build_pseudo_label_records(train, tiny_config(f"furpe.label_dir={tmp_path}",
                                                             "furpe.hand_storage=absolute").furpe,
                                          "synthetic_wholebody", world[0], None)[0]
    with_hand = [i for i, gt in enumerate(train) if gt.right_hand_valid]
    assert with_hand and any(np.abs(absolute[i].smplx_pose[40:55] - np.asarray(train[i].smplx_pose)[40:55]).max()
                             > 1e-3 for i in with_hand)  # reading with the wrong convention moves the fingers
