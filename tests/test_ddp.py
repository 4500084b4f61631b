"""DDP on CPU (gloo): 2 processes x batch 2 must match 1 process x batch 4, and evaluation must gather
every sample exactly once (DistributedSampler pads 11 test samples to 12: one duplicate dropped)."""
import socket

import pytest
import torch
import torch.multiprocessing as mp

from engine_fixtures import ddp_worker, run_toy_training, toy_config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_two_process_ddp_matches_single_process(tmp_path):
    single_params, single_state, single_eval = run_toy_training(toy_config(tmp_path / "single", "data.batch_size=4"),
                                                                eval_size=11)
    result_path = tmp_path / "ddp.pt"
    mp.spawn(ddp_worker, args=(2, _free_port(), str(tmp_path / "ddp"), str(result_path)), nprocs=2, join=True)
    ddp = torch.load(result_path, weights_only=True)
    assert single_state.iteration == 8  # 2 epochs x 4 steps of 4 samples
    for name, value in single_params.items():
        assert torch.allclose(ddp["params"][name], value, atol=1e-6, rtol=0), name
    for term, value in single_state.last_train.items():  # rank-averaged loss == single-process loss
        assert ddp["train"][term] == pytest.approx(value, abs=1e-6), term
    assert ddp["eval"]["num_evaluated"] == single_eval["num_evaluated"] == 11
    assert ddp["eval"]["num_duplicates"] == 1 and ddp["eval"]["complete"]
    for key in ("mpjpe", "pa_mpjpe", "mpvpe"):
        assert ddp["eval"][key] == pytest.approx(single_eval[key], abs=1e-3), key  # mm
    assert (tmp_path / "ddp" / "toy" / "ckpt_epoch0002.pth").is_file()  # written by rank 0 only, no clash
