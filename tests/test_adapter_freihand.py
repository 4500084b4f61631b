"""FreiHAND adapter on a fixture written in the real format: round trip, versions, bad input."""
import json

import numpy as np
import pytest

from data.adapters.freihand import FreiHANDError, load_freihand_split, mano_root_position, read_freihand
from tool.fixtures.freihand import write_freihand_fixture


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("freihand")
    return root, write_freihand_fixture(root, num_samples=4)


def test_round_trip_evaluation_split(fixture_root):
    root, truth = fixture_root
    ann = load_freihand_split(root, "evaluation")
    for key in ("K", "mano", "xyz", "verts", "scale"):
        assert np.allclose(getattr(ann, key), truth["evaluation"][key], atol=1e-12), key
    records = read_freihand(root, "evaluation")
    assert len(records) == 4
    for i, rec in enumerate(records):
        assert rec.meta["index"] == i and rec.image_path.endswith(f"evaluation/rgb/{i:08d}.jpg")
        assert np.allclose(rec.meta["xyz"], truth["evaluation"]["xyz"][i], atol=1e-12)
        assert np.allclose(rec.meta["mano_pose"], truth["evaluation"]["mano"][i, :48])
        # The last 3 MANO values (u, v, s) give back keypoint 9's camera position (< 1 micrometre).
        assert np.abs(np.asarray(rec.meta["mano_root"]) - truth["evaluation"]["xyz"][i, 9]).max() < 1e-6
        K = truth["evaluation"]["K"][i]
        assert rec.focal.tolist() == [K[0, 0], K[1, 1]] and rec.princpt.tolist() == [K[0, 2], K[1, 2]]
        uv = truth["evaluation"]["xyz"][i] @ K.T
        uv = uv[:, :2] / uv[:, 2:]
        x, y, w, h = rec.bbox
        assert (uv[:, 0] >= x).all() and (uv[:, 0] <= x + w).all()
        assert (uv[:, 1] >= y).all() and (uv[:, 1] <= y + h).all()


def test_training_versions_map_to_images(fixture_root):
    root, _ = fixture_root
    records = read_freihand(root, "training", versions=("gs", "auto"))
    assert len(records) == 8
    assert records[5].meta["index"] == 1 and records[5].image_path.endswith(f"{1 + 4 * 3:08d}.jpg")
    with pytest.raises(FreiHANDError, match="only the 'gs'"):
        read_freihand(root, "evaluation", versions=("hom",))
    with pytest.raises(FreiHANDError, match="unknown FreiHAND image version"):
        read_freihand(root, "training", versions=("bogus",))


def test_transl_reading_of_mano_tail():
    mano = np.zeros(61)
    mano[58:61] = [0.1, 0.2, 0.5]
    assert mano_root_position(mano, np.eye(3), "transl").tolist() == [0.1, 0.2, 0.5]
    K = np.array([[500.0, 0, 100], [0, 500, 120], [0, 0, 1]])
    mano[58:61] = [150, 120, 1000]  # u, v, s -> ((150-100)/1000, 0, 500/1000)
    assert np.allclose(mano_root_position(mano, K), [0.05, 0.0, 0.5])


def _copy(root, tmp_path):
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(root, dst)
    return dst


def test_bad_inputs_name_file_and_field(fixture_root, tmp_path):
    root, _ = fixture_root
    bad = _copy(root, tmp_path)
    (bad / "evaluation" / "rgb" / "00000002.jpg").unlink()
    with pytest.raises(FreiHANDError, match=r"00000002\.jpg: image file not found"):
        read_freihand(bad, "evaluation")
    text = (bad / "evaluation_xyz.json").read_text()
    (bad / "evaluation_xyz.json").write_text(text[: len(text) // 2])
    with pytest.raises(FreiHANDError, match=r"evaluation_xyz\.json: invalid"):
        read_freihand(bad, "evaluation", check_images=False)
    xyz = json.loads((root / "evaluation_xyz.json").read_text())
    (bad / "evaluation_xyz.json").write_text(json.dumps([x[:20] for x in xyz]))
    with pytest.raises(FreiHANDError, match=r"evaluation_xyz\.json: array has shape \(4, 20, 3\)"):
        read_freihand(bad, "evaluation", check_images=False)
    mano = json.loads((root / "evaluation_mano.json").read_text())
    mano[1][0][3] = float("nan")
    (bad / "evaluation_xyz.json").write_text(json.dumps(xyz))
    (bad / "evaluation_mano.json").write_text(json.dumps(mano))
    with pytest.raises(FreiHANDError, match=r"evaluation_mano\.json: sample 1 contains NaN"):
        read_freihand(bad, "evaluation", check_images=False)
    with pytest.raises(FreiHANDError, match="unknown FreiHAND split"):
        read_freihand(bad, "test")


def test_make_fixtures_cli_writes_atomically(tmp_path):
    from tool.make_fixtures import main

    main(["--only", "freihand", "--out", str(tmp_path)])
    assert (tmp_path / "freihand" / "evaluation_xyz.json").is_file() and not (tmp_path / ".freihand.tmp").exists()
    assert len(read_freihand(tmp_path / "freihand", "training", versions=("gs", "hom", "sample", "auto"))) == 16
    with pytest.raises(SystemExit):
        main(["--only", "bogus", "--out", str(tmp_path)])
