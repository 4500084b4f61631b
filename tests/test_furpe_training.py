"""FuRPE wired into training (common/models/furpe/wrapper.py): what the optimizer trains, where the EMA teacher
lives and how it is saved, and a 2-iteration run of main/train.py with every furpe key on
(configs/furpe_tiny_e2e.yaml on simulated labels)."""
import json
import math
import shutil

import pytest
import torch

from common.config import load_config
from test_end_to_end import REPO, _run

CFG = REPO / "configs" / "furpe_tiny_e2e.yaml"


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    from common.wholebody.layer import WholeBodyLayer
    from data.pseudo_labels.dataset import stored_hand_mean
    from data.registry import load_records
    from tool.furpe_simulated_labels import simulate_labels

    out = tmp_path_factory.mktemp("furpe_labels")
    cfg = load_config(CFG, [f"furpe.label_dir={out}"])
    simulate_labels(load_records("synthetic_wholebody", "train", cfg), out, "synthetic_wholebody",
                    hand_mean=stored_hand_mean(cfg.furpe, WholeBodyLayer.from_config(cfg)))
    return out


def wired(labels, *opts):
    """(cfg, wrapper, optimizer, batch of 4 mixed samples) as main/train.py builds them."""
    from torch.utils.data import default_collate

    from common.body_models import family_body_model
    from common.engine import build_optimizer
    from common.models.build import build_experiment_model
    from data.registry import build_dataset

    cfg = load_config(CFG, [f"furpe.label_dir={labels}", *opts])
    torch.manual_seed(0)
    body = family_body_model(cfg)
    model = build_experiment_model(cfg, body, training=True)
    optimizer = build_optimizer(model, cfg.train)
    if hasattr(model, "attach_training"):
        model.attach_training(optimizer, total_steps=10)
    samples = [build_dataset(name, "train", cfg, train=True, body_model=body)[i]
               for name in ("pseudo_labels", "synthetic_wholebody") for i in (0, 1)]
    return cfg, model, optimizer, default_collate(samples)


def step(model, optimizer, batch) -> dict:
    model.train()
    terms = model.losses(batch, model(batch))
    optimizer.zero_grad()
    sum(terms.values()).backward()
    optimizer.step()
    return terms


def test_projection_mlps_and_loss_weights_train_and_the_teacher_follows_outside_the_optimizer(labels):
    cfg, model, optimizer, batch = wired(labels)
    mlp = model.distiller.projections["left_hand"][0].weight
    before = {"mlp": mlp.detach().clone(), "s": model.weighting.log_vars.detach().clone(),
              "teacher": next(model.teacher.module.parameters()).detach().clone()}
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert id(mlp) in in_optimizer and id(model.weighting.log_vars) in in_optimizer
    assert not any(id(p) in in_optimizer for p in model.teacher.module.parameters())
    assert not model.teacher.module.training and all(not p.requires_grad for p in model.teacher.module.parameters())
    keys = model.state_dict().keys()
    assert any(k.startswith("train_aux.distiller.") for k in keys) and "train_aux.weighting.log_vars" in keys
    assert not any("teacher" in k for k in keys)
    terms = step(model, optimizer, batch)
    for name in ("distill_body", "distill_left_hand", "distill_face", "consistency_rotation",
                 "consistency_keypoints2d", "uncertainty_s_body", "uncertainty_s_hands", "hand_pose"):
        assert name in terms and torch.isfinite(terms[name]), name
    assert not torch.equal(mlp.detach(), before["mlp"])
    assert not torch.equal(model.weighting.log_vars.detach(), before["s"])
    assert model.teacher.step == 1  # updated by the optimizer's post-step hook
    assert not torch.equal(next(model.teacher.module.parameters()), before["teacher"])
    assert model.teacher.module.training is False


def test_each_piece_is_one_key(labels):
    from common.models.furpe.wrapper import FurpeWrapper
    from common.models.wholebody.model import WholeBodyModel

    _, model, optimizer, batch = wired(labels, "furpe.ema_teacher=false", "furpe.learned_weights=false")
    assert isinstance(model, FurpeWrapper) and model.teacher is None and model.weighting is None
    assert "img_view2" not in batch and "expert_features" in batch
    batch["expert_valid"][:, 1] = 0  # no left-hand feature in the batch: its MLP still gets a (zero) gradient (DDP)
    step(model, optimizer, batch)
    assert all(p.grad is not None for p in model.parameters()), "a parameter without gradient breaks DDP"
    assert model.distiller.projections["left_hand"][0].weight.grad.abs().sum() == 0
    cfg, model, _, batch = wired(labels, "furpe.distill=false", "furpe.learned_weights=false",
                                 "furpe.ema_teacher=false")
    assert isinstance(model, WholeBodyModel) and "expert_features" not in batch and "img_view2" not in batch


@pytest.fixture(scope="module")
def run(labels, tmp_path_factory):
    out = tmp_path_factory.mktemp("furpe_e2e")
    _run("main/train.py", "--cfg", str(CFG), "--opts", f"experiment.output_dir={out}", f"furpe.label_dir={labels}",
         timeout=900)
    yield out / "furpe_tiny_e2e"
    shutil.rmtree(out, ignore_errors=True)  # checkpoints: the suite must fit a small CI disk


def test_two_iterations_of_main_train_log_every_term(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    assert [r["iteration"] for r in train] == [1, 2]
    for name in ("global_orient", "hand_pose", "jaw_pose", "distill_body", "distill_right_hand", "distill_face",
                 "uncertainty_s_body", "uncertainty_s_hands", "uncertainty_s_face", "consistency_rotation",
                 "consistency_betas", "consistency_expression", "consistency_keypoints2d", "total"):
        assert all(math.isfinite(r[name]) for r in train), name
    assert any(r["split"] == "test" and math.isfinite(r["pa_v2v_l_hand"]) for r in rows)


def test_the_teacher_is_saved_apart_and_restored_on_resume(run, labels):
    from common.body_models import family_body_model
    from common.engine.checkpoint import load_checkpoint, read_checkpoint
    from common.models.build import build_experiment_model, build_wholebody_model

    ckpt = run / "ckpt_epoch0001.pth"
    payload = read_checkpoint(ckpt)
    assert payload["helpers"]["ema_teacher"]["step"] == 2
    assert not any("teacher" in k for k in payload["model"])
    cfg = load_config(CFG, [f"furpe.label_dir={labels}"])
    body = family_body_model(cfg)
    fresh = build_experiment_model(cfg, body, training=True)
    load_checkpoint(ckpt, fresh)
    assert fresh.teacher.step == 2
    saved = payload["helpers"]["ema_teacher"]["module"]
    for name, value in fresh.teacher.module.state_dict().items():
        assert torch.equal(value, saved[name]), name
    student = payload["model"]
    assert any(not torch.equal(saved[k], student[k]) for k in student if not k.startswith("train_aux."))
    load_checkpoint(ckpt, build_wholebody_model(cfg, body))  # test time: the bare model drops train_aux.*


def test_torchrun_two_processes_train_the_wrapper(labels, tmp_path):
    """DDP around the wrapper (gloo): the distiller / s_k get gradients in every step (also without a part label),
    the teacher stays outside DDP and is updated by every process's optimizer."""
    import socket

    from common.engine.checkpoint import read_checkpoint

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _run("-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", "main/train.py", "--cfg",
         str(CFG), "--opts", f"experiment.output_dir={tmp_path}", f"furpe.label_dir={labels}", "train.freeze_bn=true",
         "train.eval_every=0", timeout=900)
    payload = read_checkpoint(tmp_path / "furpe_tiny_e2e" / "ckpt_epoch0001.pth")
    assert payload["helpers"]["ema_teacher"]["step"] == 2
