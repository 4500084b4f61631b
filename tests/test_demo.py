"""demo/ (demo.py, inputs.py, render.py): one-line errors for bad inputs, COCO-17 -> PersonRecord -> the shared
mapper's crowdnet30 input pose and crop, boxes, cameras, .obj files.

Bad inputs fail before any model is built, so these tests run the demo's ``main`` in-process (and once as a
subprocess for the real exit code); none of them builds the body model.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from common.geometry.camera import perspective_project
from common.geometry.transforms2d import apply_affine
from common.joint_sets import joint_index
from common.render.demo_outputs import image_camera, to_shared_camera, write_obj
from data.demo_inputs import person_input, person_record
from data.image_io import save_jpeg
from data.mapper import Mapper
from demo.demo import main

REPO = Path(__file__).resolve().parent.parent


def _person(x0: float = 40.0, y0: float = 20.0, score: float = 0.9) -> list:
    """A plausible upright COCO-17 pose (17 x [x, y, score]) with its nose at about (x0 + 20, y0)."""
    xy = np.array([[20, 0], [23, -3], [17, -3], [26, 0], [14, 0], [30, 15], [10, 15], [34, 35], [6, 35],
                   [36, 55], [4, 55], [26, 60], [14, 60], [27, 90], [13, 90], [28, 120], [12, 120]], float)
    xy += [x0, y0]
    return np.concatenate([xy, np.full((17, 1), score)], axis=1).tolist()


@pytest.fixture()
def demo_input(tmp_path):
    """A valid input folder: images/a.jpg, images/b.jpg (64x160) and a JSON with one person on a.jpg."""
    (tmp_path / "images").mkdir()
    for name in ("a.jpg", "b.jpg"):
        save_jpeg(tmp_path / "images" / name, np.full((160, 120, 3), 128, np.uint8))
    (tmp_path / "2d_pose_result.json").write_text(json.dumps({"a.jpg": [_person()], "b.jpg": []}))
    return tmp_path


def _run(capsys, *argv) -> tuple[int, str]:
    code = main([*map(str, argv)])
    err = capsys.readouterr().err.strip()
    return code, err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_missing_json_names_the_file(demo_input, tmp_path, capsys):
    (demo_input / "2d_pose_result.json").unlink()
    code, err = _run(capsys, "--img_idx", 0, "--input", demo_input, "--output", tmp_path / "out")
    assert code == 2 and "2d_pose_result.json: 2D pose file not found" in _one_error_line(err)


def test_corrupt_json_names_the_file(demo_input, tmp_path, capsys):
    (demo_input / "2d_pose_result.json").write_text('{"a.jpg": [[1, 2, ')
    code, err = _run(capsys, "--img_idx", 0, "--input", demo_input, "--output", tmp_path / "out")
    assert code == 2 and "2d_pose_result.json: not a readable JSON file" in _one_error_line(err)


def test_image_without_entry(demo_input, tmp_path, capsys):
    (demo_input / "2d_pose_result.json").write_text(json.dumps({"b.jpg": []}))
    code, err = _run(capsys, "--img_idx", 0, "--input", demo_input, "--output", tmp_path / "out")
    line = _one_error_line(err)
    assert code == 2 and "2d_pose_result.json: no entry for image 'a.jpg'" in line and "b.jpg" in line


@pytest.mark.parametrize("bad, got", [(_person()[:16], "shape (16, 3)"),
                                      ([p[:2] for p in _person()], "shape (17, 2)"),
                                      ("nose", "a str"), ([[1, 2, 3]] * 16 + [[1, 2]], "a list"),
                                      ([[float("nan"), 1.0, 1.0]] + _person()[1:], "non-finite")])
def test_person_with_wrong_keypoints_names_image_and_person(demo_input, tmp_path, capsys, bad, got):
    (demo_input / "2d_pose_result.json").write_text(json.dumps({"a.jpg": [_person(), bad]}))
    code, err = _run(capsys, "--img_idx", 0, "--input", demo_input, "--output", tmp_path / "out")
    line = _one_error_line(err)
    assert code == 2 and "image 'a.jpg', person 1: keypoints must be 17 x (x, y, score)" in line and got in line


def test_corrupt_and_missing_images(demo_input, tmp_path, capsys):
    (demo_input / "images" / "a.jpg").write_bytes(b"not a jpeg at all")
    code, err = _run(capsys, "--img_idx", 0, "--input", demo_input, "--output", tmp_path / "out")
    assert code == 2 and "a.jpg: cannot decode image" in _one_error_line(err)
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    code, err = _run(capsys, "--img_idx", 0, "--input", empty, "--output", tmp_path / "out")
    assert code == 2 and f"{empty / 'images'}: no images" in _one_error_line(err)
    code, err = _run(capsys, "--img_idx", 0, "--input", tmp_path / "nowhere", "--output", tmp_path / "out")
    assert code == 2 and "nowhere: input folder not found" in _one_error_line(err)


@pytest.mark.parametrize("idx", [2, -1])
def test_img_idx_out_of_range(demo_input, tmp_path, capsys, idx):
    code, err = _run(capsys, "--img_idx", idx, "--input", demo_input, "--output", tmp_path / "out")
    assert code == 2 and f"--img_idx {idx} is out of range" in _one_error_line(err) and "2 images (0..1)" in err


def test_missing_checkpoint(demo_input, tmp_path, capsys):
    code, err = _run(capsys, "--img_idx", 0, "--input", demo_input, "--ckpt", tmp_path / "none.pth")
    assert code == 2 and "none.pth: checkpoint not found" in _one_error_line(err)


def test_exit_code_and_single_line_as_a_subprocess(demo_input, tmp_path):
    proc = subprocess.run([sys.executable, "demo/demo.py", "--img_idx", "5", "--input",
                           str(demo_input), "--output", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == 2 and "--img_idx 5 is out of range" in _one_error_line(proc.stderr)


def test_image_without_people_writes_the_pose_image_only(demo_input, tmp_path, capsys):
    code, _ = _run(capsys, "--img_idx", 1, "--input", demo_input, "--output", tmp_path / "out")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b_pose2d.png", "b_results.json"]


def _prepare(image: np.ndarray, kpts: np.ndarray, index: int, size: int = 64, tmp_path: Path | None = None):
    """person_record -> the test-mode mapper (the demo's path), on ``image`` written to a temporary file."""
    path = (tmp_path or Path(".")) / "img.png"
    import cv2

    cv2.imwrite(str(path), image[:, :, ::-1])
    record = person_record(path, image.shape[:2], kpts, index, pose_thr=0.1)
    return record, person_input(Mapper(input_size=size, bbox_enlarge=1.25), record, index)


def test_record_adds_pelvis_neck_midpoints_with_product_scores():
    kpts = np.array(_person(), float)
    kpts[11, 2], kpts[12, 2] = 0.5, 0.4
    kpts[5, 2], kpts[6, 2] = 0.3, 0.2
    record = person_record(Path("x.png"), (160, 120), kpts, 0, pose_thr=0.1)
    assert record.pose2d_input_convention == "coco19" and record.pose2d_input.shape == (19, 2)
    np.testing.assert_allclose(record.pose2d_input[:17], kpts[:, :2])
    np.testing.assert_allclose(record.pose2d_input[17], [(66 + 54) / 2, 80])  # hips (66, 80), (54, 80)
    np.testing.assert_allclose(record.pose2d_input[18], [(70 + 50) / 2, 35])  # shoulders (70, 35), (50, 35)
    assert record.pose2d_input_valid[17] == 1 and record.pose2d_input_valid[18] == 0  # 0.2 > 0.1, 0.06 < 0.1


def test_record_box_is_the_keypoint_extent_times_1_2():
    kpts = np.array(_person(), float)
    kpts[:, 2] = 0.0
    kpts[0] = [10.0, 20.0, 0.9]
    kpts[16] = [30.0, 60.0, 0.9]
    record = person_record(Path("x.png"), (160, 120), kpts, 0, pose_thr=0.1)
    np.testing.assert_allclose(record.bbox, [8.0, 16.0, 24.0, 48.0])
    kpts[16, 2] = 0.0
    assert "fewer than 2 keypoints" in person_record(Path("x.png"), (160, 120), kpts, 0, pose_thr=0.1)


def test_mapper_converts_to_crowdnet30_in_crop_pixels(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (160, 120, 3), dtype=np.uint8)
    kpts = np.array(_person(), float)
    kpts[9, 2] = 0.05  # L_Wrist below the threshold
    record, person = _prepare(image, kpts, 3, tmp_path=tmp_path)
    # valid keypoints span x 44..74, y 17..140 (eyes at y=17) -> x1.2 -> height 147.6 -> square x1.25 = 184.5
    np.testing.assert_allclose(person.bbox, [59 - 92.25, 78.5 - 92.25, 184.5, 184.5], atol=1e-3)
    assert person.index == 3 and tuple(person.sample["img"].shape) == (3, 64, 64)
    assert person.sample["img"].dtype == torch.float32
    np.testing.assert_allclose(apply_affine(np.array([[32.0, 32.0]]), person.crop_to_img)[0], [59, 78.5], atol=1e-4)
    img_to_crop = np.linalg.inv(np.vstack([person.crop_to_img, [0, 0, 1]]))[:2]
    pose2d, valid = person.sample["pose2d"].numpy(), person.sample["pose2d_valid"].numpy()
    for name, row in (("L_Shoulder", 5), ("R_Ankle", 16), ("Nose", 0), ("Pelvis", 17), ("Neck", 18)):
        j = joint_index("crowdnet30", name)
        np.testing.assert_allclose(pose2d[j], apply_affine(record.pose2d_input[row:row + 1], img_to_crop)[0],
                                   atol=1e-3)
        assert valid[j] == 1
    for name in ("L_Wrist", "Spine2", "L_Foot", "Head_top", "L_Hand", "Spine1"):
        assert valid[joint_index("crowdnet30", name)] == 0
    assert pose2d.shape == (30, 2) and valid.sum() == 19 - 1


def test_people_without_a_box_are_skipped(tmp_path):
    image = np.zeros((100, 100, 3), np.uint8)
    kpts = np.array(_person(), float)
    kpts[:, 2] = 0.0
    assert "fewer than 2 keypoints" in _prepare(image, kpts, 0, tmp_path=tmp_path)[1]
    kpts = np.array(_person(x0=400.0, y0=400.0), float)
    assert "outside the image" in _prepare(image, kpts, 0, tmp_path=tmp_path)[1]


def test_image_camera_and_shared_camera_preserve_projections(tmp_path):
    image = np.zeros((200, 300, 3), np.uint8)
    crop = _prepare(image, np.array(_person(x0=150, y0=40), float), 0, tmp_path=tmp_path)[1]
    points = torch.tensor([[[0.1, -0.3, 20.0], [-0.2, 0.5, 21.0], [0.3, 0.0, 19.5]]], dtype=torch.float64)
    f_crop = 312.5
    in_crop = perspective_project(points, (f_crop, f_crop), (32.0, 32.0))[0].numpy()
    focal, princpt = image_camera(crop.crop_to_img, f_crop, 64)
    assert focal[0] == pytest.approx(f_crop * crop.bbox[2] / 64)
    in_image = perspective_project(points, tuple(focal), tuple(princpt))[0].numpy()
    np.testing.assert_allclose(in_image, apply_affine(in_crop, crop.crop_to_img), atol=1e-6)
    shared = to_shared_camera(points[0].numpy(), float(focal[0]), princpt, 300.0, np.array([150.0, 100.0]))
    again = perspective_project(torch.as_tensor(shared)[None], (300.0, 300.0), (150.0, 100.0))[0].numpy()
    np.testing.assert_allclose(again, in_image, atol=1e-6)
    np.testing.assert_allclose(shared[:, 2], points[0, :, 2].numpy() * 300.0 / focal[0])


def test_write_obj_counts_and_one_based_faces(tmp_path):
    path = tmp_path / "m.obj"
    write_obj(path, np.eye(3), np.array([[0, 1, 2]]), ["header"])
    lines = path.read_text().splitlines()
    assert lines == ["# header", "v 1.000000 0.000000 0.000000", "v 0.000000 1.000000 0.000000",
                     "v 0.000000 0.000000 1.000000", "f 1 2 3"]


def test_shipped_demo_inputs_are_valid():
    """demo/input/ (tool/make_demo_inputs.py): 3-4 small JPEGs, 2-5 people each, 17 x 3 keypoints."""
    from data.demo_inputs import list_images, person_keypoints, read_pose_json

    folder = REPO / "demo" / "input"
    images = list_images(folder)
    poses = read_pose_json(folder / "2d_pose_result.json")
    assert 3 <= len(images) <= 4 and sorted(poses) == [p.name for p in images]
    for path in images:
        assert path.stat().st_size < 60_000
        assert 2 <= len(person_keypoints(poses, path.name, folder / "2d_pose_result.json")) <= 5


def test_official_style_checkpoint_with_edge_channel_runs_the_whole_demo(demo_input, tmp_path, capsys):
    """A 3DCrowdNet/SEFD-layout file ({'network': 'module.'-prefixed state, 'epoch'}; VPoser head, RGB + Canny
    edge input) loads through load_model_weights and the demo writes every output for the one person."""
    from common.body_models import body_model_from_config
    from common.config import load_config
    from common.models.build import build_model

    # official files are 256 px ResNet-50 networks (the loader checks the geometry: common/models/geometry.py)
    opts = ["data.input_size=256", "model.pose_head=vposer", "sefd.mode=edge_input", "experiment.device=cpu"]
    model = build_model(load_config(None, opts), body_model_from_config(load_config(), kind="smpl"))
    ckpt = tmp_path / "snapshot_7.pth.tar"
    torch.save({"network": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 7}, ckpt)
    out = tmp_path / "out"
    code = main(["--img_idx", "0", "--input", str(demo_input), "--output", str(out), "--ckpt", str(ckpt),
                 "--opts", *opts])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"loaded {ckpt} (epoch 7)" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["a_all_meshes.png", "a_person0.obj", "a_person0_mesh.png",
                                                     "a_pose2d.png", "a_results.json"]
    faces = sum(line.startswith("f ") for line in (out / "a_person0.obj").read_text().splitlines())
    assert faces == model.faces.shape[0]
    # the same file with the default 6D pose head and RGB input: one line listing the mismatch and the hints
    code = main(["--img_idx", "0", "--input", str(demo_input), "--output", str(out), "--ckpt", str(ckpt),
                 "--opts", opts[0], "experiment.device=cpu"])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2 and "snapshot_7.pth.tar: checkpoint does not fit the model" in line
    assert "sefd.mode=edge_input" in line and "model.pose_head='vposer'" in line
