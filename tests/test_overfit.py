"""Overfit ~32 real synthetic samples: the pipeline (mapper -> model -> losses -> evaluator) must be able to fit them.

A broken frame, unit, flip or sign anywhere between the mapper, the model and the loss keeps the training error
at the level of the constant references; a working pipeline drives PA-MPJPE well below the mean-pose reference
and MPJPE below the mean-pose + GT-root oracle, both scored by the same evaluator on the same samples.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Subset

from common.body_models import body_model_from_config
from common.config import load_config
from common.engine.trainer import evaluate
from common.evaluation import MeshEvaluator
from common.evaluation.reference_eval import evaluate_references
from common.models.build import build_model
from data.registry import build_dataset
from data.train_poses import smpl_poses_of

NUM_SAMPLES, STEPS = 32, 150
# the quickstart recipe on a small world at 64 px, without augmentation (a fixed set to memorise)
OPTS = ["data.synthetic.num_train_images=16", "data.synthetic.num_test_images=2", "data.synthetic.image_size=160",
        "data.synthetic.seed=777", "data.input_size=64", "model.heatmap_sigma=0.625", "data.augment=false",
        "train.lr=1e-3"]


def test_training_on_32_samples_beats_the_constant_references_by_far():
    torch.manual_seed(0)
    cfg = load_config("configs/quickstart.yaml", OPTS)
    body = body_model_from_config(cfg, kind="smpl")
    dataset = build_dataset("synthetic", "train", cfg, train=False, body_model=body)
    assert len(dataset) >= NUM_SAMPLES
    subset = Subset(dataset, range(NUM_SAMPLES))
    batches = list(DataLoader(subset, batch_size=16, shuffle=False))
    model = build_model(cfg, body).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    for step in range(STEPS):
        batch = batches[step % len(batches)]
        loss = sum(model.losses(batch, model(batch)).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    loader = DataLoader(subset, batch_size=16, shuffle=False)
    trained = evaluate(model, loader, MeshEvaluator(body), torch.device("cpu"))
    refs = evaluate_references(body, smpl_poses_of([dataset]), loader, lambda _: MeshEvaluator(body),
                               torch.device("cpu"))
    assert trained["num_evaluated"] == NUM_SAMPLES
    assert trained["pa_mpjpe"] < 0.7 * refs["mean_pose"]["pa_mpjpe"], (trained["pa_mpjpe"], refs)
    assert trained["mpjpe"] < refs["mean_pose_gt_root"]["mpjpe"], (trained["mpjpe"], refs)
