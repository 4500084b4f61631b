"""A tiny whole-body world rendered into a temporary cache (shared by tests/test_wholebody_world*.py).

The SMPL-X layer and hand space are built with the real cache (the open model is built there once); only the
rendered splits go to the temporary cache, and the adapter is pointed at the prebuilt world while it is in use.
"""
from __future__ import annotations

import contextlib

import pytest

from common.config import load_config

TINY = ["model.family=wholebody", "data.wholebody_world.num_train_images=6", "data.wholebody_world.num_test_images=3",
        "data.wholebody_world.image_size=160", "data.input_size=64", "wholebody.hd_size=96", "data.num_workers=0",
        "data.batch_size=2", "test.batch_size=2"]


def tiny_config(*extra: str):
    return load_config(None, TINY + list(extra))


@contextlib.contextmanager
def using_world(cache: str, world: tuple):
    """CROWDMESH_CACHE = ``cache`` and the adapter's world = ``world`` (layer, hand space) inside the block."""
    from data.synthetic_wholebody import dataset

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CROWDMESH_CACHE", cache)
        mp.setattr(dataset, "build_world", lambda cfg: world)
        yield


def make_tiny_world(tmp_path_factory, *extra: str) -> tuple:
    """(cfg, world, cache folder, train records, test records) of the tiny world."""
    from data.synthetic_wholebody.dataset import build_world, load_synthetic_wholebody_records

    cfg = tiny_config(*extra)
    world, cache = build_world(cfg), str(tmp_path_factory.mktemp("wb_cache"))
    with using_world(cache, world):
        train = load_synthetic_wholebody_records("train", cfg)
        test = load_synthetic_wholebody_records("test", cfg)
    return cfg, world, cache, train, test
