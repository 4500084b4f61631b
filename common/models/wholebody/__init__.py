"""ExPose-style whole-body SMPL-X regressor (issue 8): body network, attention crops, hand / head networks, merge.

- ``param_vector``: the 341-d body vector (6D rotations, betas, expression, weak-perspective camera) and the
  hand (109) / head (25) vectors; ``mean_init``: the mean parameters the body regressor starts from.
- ``ief``: iterative error feedback; ``networks``: ResNet encoder (ImageNet mean/std inside) + IEF.
- ``crops``: boxes from projected part keypoints, crop -> HD affines, the differentiable sampler.
- ``parts``: part-network starts from the body prediction, the merge, part keypoints in their crops.
- ``model``: :class:`WholeBodyModel` (``from_config(cfg, layer)``, ``forward(batch)``, ``losses``,
  ``hand_forward`` / ``head_forward``); ``losses``: the weighted terms.

Why ``img_hd``: ExPose resamples the hand and head crops from the full-resolution image, so a hand that covers
40 px of a 256 px body crop still reaches the hand network with the detail the photo has. Our batches are
fixed-size tensors, so the mapper provides the person's crop window a second time at a higher resolution
(``wholebody.hd_size`` = H, made from the full image): the same window as ``img``, so body-crop px map to HD px
by H / S. Part crops sampled from it carry the full image's detail wherever H is at least the window's size in
image px (otherwise they carry the detail of an H-px view of the window, still more than ``img``'s S px).
"""
__all__ = ["WholeBodyLossWeights", "WholeBodyModel"]


def __getattr__(name: str):
    """Lazy exports: ``crops`` / ``ief`` stay importable without the SMPL-X core (and without its cost)."""
    if name == "WholeBodyModel":
        from common.models.wholebody.model import WholeBodyModel
        return WholeBodyModel
    if name == "WholeBodyLossWeights":
        from common.models.wholebody.losses import WholeBodyLossWeights
        return WholeBodyLossWeights
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
