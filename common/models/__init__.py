"""Models: the 3DCrowdNet-style regressor, its losses, the builder and official-checkpoint loading."""
from common.models.build import build_model
from common.models.crowdnet import CrowdNetRegressor
from common.models.losses import LossWeights
from common.models.official_checkpoint import load_official_checkpoint

__all__ = ["CrowdNetRegressor", "LossWeights", "build_model", "load_official_checkpoint"]
