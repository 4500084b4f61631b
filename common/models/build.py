"""Model factory: the config -> the regressor."""
from __future__ import annotations

from torch import nn

from common.models.crowdnet import CrowdNetRegressor


def build_model(cfg, body_model: nn.Module, return_features: bool = False) -> CrowdNetRegressor:
    """Build the 3DCrowdNet-style regressor from ``cfg.model`` / ``cfg.data.input_size`` / ``cfg.train.loss``.

    ``in_channels`` comes from ``cfg.model.input_channels`` (3 RGB, 4 RGB + edge for SEFD);
    ``return_features`` adds backbone features to the predictions (SEFD distillation).
    """
    return CrowdNetRegressor.from_config(cfg, body_model, return_features=return_features)
