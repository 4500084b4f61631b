"""The cache folders: data/world_cache.py (content key, body-model fingerprint of the worlds) and
common/cache_folder.py (the locked, atomic build of the open model, its parts and the worlds)."""
import numpy as np
import pytest

from common.cache_folder import build_once, marker
from data.world_cache import content_key, mesh_fingerprint


def test_content_key_ignores_key_order_and_sees_every_value():
    a = content_key({"params": {"x": 1, "y": 2}, "seed": 0})
    assert a == content_key({"seed": 0, "params": {"y": 2, "x": 1}})
    assert a != content_key({"params": {"x": 1, "y": 2}, "seed": 1})
    assert len(a) == 16 and int(a, 16) >= 0


def test_mesh_fingerprint_is_robust_to_float_noise_only():
    faces, verts = np.array([[0, 1, 2]]), np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    key = mesh_fingerprint("smpl", faces, verts)
    assert key.startswith("smpl-3v-")
    assert mesh_fingerprint("smpl", faces, verts + 1e-7) == key  # below the 0.1 mm rounding
    assert mesh_fingerprint("smpl", faces, verts + 1e-3) != key  # 1 mm moves it
    assert mesh_fingerprint("smpl", faces[:, ::-1], verts) != key


def test_a_failed_or_killed_build_leaves_nothing_finished_and_the_next_call_builds_once(tmp_path):
    final, calls = tmp_path / "world" / "train", []

    def broken(tmp):
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("failed")

    with pytest.raises(RuntimeError):
        build_once(final, marker("done.json"), broken)
    assert not final.exists() and not list(final.parent.glob(".train.tmp-*"))  # nothing half-written is left
    (final.parent / f".{final.name}.tmp-999999").mkdir()  # another killed process's

    def build(tmp):
        calls.append(tmp)
        assert not any(tmp.iterdir())  # a fresh, empty folder
        (tmp / "done.json").write_text("{}")

    assert build_once(final, marker("done.json"), build) == final
    assert build_once(final, marker("done.json"), build) == final  # found: not built again
    assert len(calls) == 1 and (final / "done.json").is_file() and not calls[0].exists()
    assert not list(final.parent.glob(".train.tmp-*"))  # the killed builds' leftovers are gone


def test_force_rebuilds_a_complete_folder(tmp_path):
    final = tmp_path / "model"
    for text in ("old", "new"):
        build_once(final, marker("f.txt"), lambda tmp, t=text: (tmp / "f.txt").write_text(t), force=True)
    assert (final / "f.txt").read_text() == "new" and [p.name for p in final.iterdir()] == ["f.txt"]
