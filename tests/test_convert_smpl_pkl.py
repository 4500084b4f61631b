"""Round trip of tool.convert_smpl_pkl on a fixture pickled in the official (chumpy) SMPL format.

The fixture is written with stand-in classes whose module path is ``chumpy.ch.Ch``, pickled the way the
official files are (protocol 2, chumpy ``Ch`` state = a dict holding the array under 'x', scipy sparse
``J_regressor``); chumpy itself is never imported.
"""
from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from tool.convert_smpl_pkl import convert, main

V, J = 40, 24


class _FakeCh:
    """Pickles like chumpy's Ch: class chumpy.ch.Ch, state dict with the value under 'x'."""

    def __init__(self, x: np.ndarray):
        self.x = x

    def __getstate__(self):
        return {"x": self.x, "_dirty_vars": set(), "_itr": None, "_depends_on_deps": {}}


def _write_fixture(path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "v_template": rng.normal(size=(V, 3)),
        "shapedirs": rng.normal(size=(V, 3, 10)) * 0.01,
        "posedirs": rng.normal(size=(V, 3, 207)) * 0.001,
        "weights": rng.dirichlet(np.ones(J), size=V),
        "f": rng.integers(0, V, size=(60, 3)).astype(np.uint32),
        "kintree_table": np.stack([np.array([4294967295, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16,
                                             17, 18, 19, 20, 21]), np.arange(J)]).astype(np.int64),
        "J_regressor": np.eye(J, V),
    }
    fake_chumpy = types.ModuleType("chumpy")
    fake_ch = types.ModuleType("chumpy.ch")
    _FakeCh.__module__, _FakeCh.__qualname__, _FakeCh.__name__ = "chumpy.ch", "Ch", "Ch"
    fake_ch.Ch = _FakeCh
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = fake_chumpy, fake_ch
    try:
        data = {k: _FakeCh(arrays[k]) for k in ("v_template", "shapedirs", "posedirs", "weights")}
        data.update(f=arrays["f"], kintree_table=arrays["kintree_table"], bs_style="lbs", bs_type="lrotmin",
                    J_regressor=scipy.sparse.csc_matrix(arrays["J_regressor"]))
        with open(path, "wb") as handle:
            pickle.dump(data, handle, protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    return arrays


def test_fixture_really_references_chumpy(tmp_path):
    _write_fixture(tmp_path / "model.pkl")
    raw = (tmp_path / "model.pkl").read_bytes()
    assert b"chumpy.ch" in raw and b"scipy.sparse" in raw
    assert "chumpy" not in sys.modules
    with pytest.raises(ModuleNotFoundError, match="chumpy"):
        with open(tmp_path / "model.pkl", "rb") as f:
            pickle.load(f, encoding="latin1")


def test_convert_round_trip(tmp_path, capsys):
    expected = _write_fixture(tmp_path / "basicmodel_neutral_lbs_10_207_0_v1.0.0.pkl")
    assert main([str(tmp_path / "basicmodel_neutral_lbs_10_207_0_v1.0.0.pkl"), str(tmp_path / "out.npz")]) == 0
    assert "wrote" in capsys.readouterr().out
    got = np.load(tmp_path / "out.npz")
    for key, value in expected.items():
        assert np.array_equal(got[key], value), key
    assert got["J_regressor"].shape == (J, V) and str(got["bs_style"]) == "lbs"
    assert "chumpy" not in sys.modules


def test_converted_and_raw_pickle_load_in_body_model(tmp_path):
    import smplx

    from common.body_models import build_body_model

    expected = _write_fixture(tmp_path / "SMPL_NEUTRAL.pkl")
    convert(tmp_path / "SMPL_NEUTRAL.pkl", tmp_path / "SMPL_NEUTRAL.npz")
    data = smplx.utils.Struct(**np.load(tmp_path / "SMPL_NEUTRAL.npz"))
    layer = smplx.SMPL(model_path=str(tmp_path), data_struct=data)
    assert torch.allclose(layer.v_template, torch.as_tensor(expected["v_template"], dtype=torch.float32))
    model = build_body_model("smpl", source="official", model_path=str(tmp_path / "SMPL_NEUTRAL.pkl"))
    out = model(torch.zeros(2, 3), torch.zeros(2, 69), torch.zeros(2, 10))
    assert torch.allclose(out.joints[0], torch.as_tensor(expected["v_template"][:J], dtype=torch.float32), atol=1e-5)


def test_convert_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pkl"):
        convert(tmp_path / "nope.pkl", tmp_path / "x.npz")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="junk.pkl"):
        convert(tmp_path / "junk.pkl", tmp_path / "x.npz")
