"""Overfit ~32 real synthetic samples: the pipeline (mapper -> model -> losses -> evaluator) must be able to fit them.

A broken frame, unit, flip or sign anywhere between the mapper, the model and the loss keeps the training error
at the level of the constant references; a working pipeline drives PA-MPJPE well below the mean-pose reference
and MPJPE below the mean-pose + GT-root oracle, both scored by the same evaluator on the same samples.
"""
from __future__ import annotations

import torch

from common.config import load_config
from tool.overfit_probe import overfit_and_score

NUM_SAMPLES, STEPS = 32, 150
# the quickstart recipe on a small world at 64 px, without augmentation (a fixed set to memorise)
OPTS = ["data.synthetic.num_train_images=16", "data.synthetic.num_test_images=2", "data.synthetic.image_size=160",
        "data.synthetic.seed=777", "data.input_size=64", "model.heatmap_sigma=0.625", "data.augment=false",
        "train.lr=1e-3"]


def test_training_on_32_samples_beats_the_constant_references_by_far():
    torch.manual_seed(0)
    trained, refs = overfit_and_score(load_config("configs/quickstart.yaml", OPTS), NUM_SAMPLES, STEPS)
    assert trained["num_evaluated"] == NUM_SAMPLES
    assert trained["pa_mpjpe"] < 0.7 * refs["mean_pose"]["pa_mpjpe"], (trained["pa_mpjpe"], refs)
    assert trained["mpjpe"] < refs["mean_pose_gt_root"]["mpjpe"], (trained["mpjpe"], refs)
