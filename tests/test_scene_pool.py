"""Rendering an embedded world in worker processes gives the world rendered in this process."""
from __future__ import annotations

import json

from data.scene_pool import AUTO_MAX_WORKERS, render_scenes, render_workers


def test_worker_count_rules():
    assert render_workers(0, 10_000) == 0 and render_workers(3, 5) == 3
    assert render_workers(-1, 10) == 0  # tiny worlds stay in-process
    assert 1 <= render_workers(-1, 1000) <= AUTO_MAX_WORKERS


def test_pool_returns_the_scenes_in_index_order_and_each_writes_its_file(tmp_path):
    def render_one(index: int) -> dict:
        (tmp_path / f"{index}.txt").write_text(str(index * index))
        return {"index": index, "value": index * index}

    serial = render_scenes(render_one, 23, workers=0, progress=False)
    pooled = render_scenes(render_one, 23, workers=3, progress=False)
    assert pooled == serial == [{"index": i, "value": i * i} for i in range(23)]
    assert sorted(int(p.stem) for p in tmp_path.glob("*.txt")) == list(range(23))


def test_a_world_rendered_by_workers_equals_the_one_rendered_here(tmp_path):
    from common.body_models import body_model_from_config
    from common.config import load_config
    from data.synthetic.cache import render_split
    from data.synthetic.generator import GeneratorParams

    cfg = load_config("configs/tiny_e2e.yaml")
    params, body = GeneratorParams.from_config(cfg.data.synthetic), body_model_from_config(cfg, kind="smpl")
    here = render_split(tmp_path / "here", "test", params, 4, 7, body, "m", progress=False, workers=0)
    pool = render_split(tmp_path / "pool", "test", params, 4, 7, body, "m", progress=False, workers=2)
    assert here["people"] == pool["people"] and here["kept"] == pool["kept"]
    a, b = (json.loads((tmp_path / d / "annotations.json").read_text())["images"] for d in ("here", "pool"))
    assert a == b
    for name in ("here", "pool"):
        assert sorted(p.name for p in (tmp_path / name / "images").iterdir()) == [f"{i:06d}.jpg" for i in range(4)]
    assert all((tmp_path / "here" / "images" / f"{i:06d}.jpg").read_bytes()
               == (tmp_path / "pool" / "images" / f"{i:06d}.jpg").read_bytes() for i in range(4))
