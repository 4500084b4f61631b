"""Tests for common.geometry.procrustes."""
import torch

from common.geometry.procrustes import procrustes_transform, rigid_procrustes, similarity_procrustes
from common.geometry.rotations import axis_angle_to_matrix


def _transformed_copy(seed=0, batch=3, n=17):
    g = torch.Generator().manual_seed(seed)
    gt = torch.randn(batch, n, 3, generator=g)
    rot = axis_angle_to_matrix(torch.randn(batch, 3, generator=g))
    scale = torch.tensor([0.5, 1.7, 3.0])[:batch]
    shift = torch.randn(batch, 1, 3, generator=g) * 5
    pred = scale[:, None, None] * gt @ rot.transpose(1, 2) + shift
    return pred, gt


def test_similarity_recovers_exact_copy():
    pred, gt = _transformed_copy()
    aligned = similarity_procrustes(pred, gt)
    assert aligned.dtype == pred.dtype
    assert (aligned - gt).norm(dim=-1).max() < 1e-5


def test_mask_ignores_outliers():
    pred, gt = _transformed_copy(seed=1)
    mask = torch.ones(pred.shape[:2], dtype=torch.bool)
    pred[:, :3] += 10.0  # corrupt three joints
    mask[:, :3] = False
    aligned = similarity_procrustes(pred, gt, mask)
    assert (aligned[:, 3:] - gt[:, 3:]).norm(dim=-1).max() < 1e-5
    unmasked = similarity_procrustes(pred, gt)
    assert (unmasked[:, 3:] - gt[:, 3:]).norm(dim=-1).max() > 0.1


def test_reflection_is_not_allowed():
    pred, gt = _transformed_copy(seed=2)
    mirrored = pred * torch.tensor([-1.0, 1.0, 1.0])
    scale, rot, _ = procrustes_transform(mirrored, gt)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(3, dtype=torch.float64), atol=1e-9)
    assert (similarity_procrustes(mirrored, gt) - gt).norm(dim=-1).mean() > 0.1
    assert (scale > 0).all()


def test_rigid_keeps_scale():
    pred, gt = _transformed_copy(seed=3)
    aligned = rigid_procrustes(pred, gt)
    # Without scale the spread of the aligned points equals the spread of pred.
    def spread(x):
        return (x - x.mean(1, keepdim=True)).norm(dim=-1).mean(1)

    assert torch.allclose(spread(aligned), spread(pred), rtol=1e-5)
    # Sample 1 was scaled 1.7: rigid fit cannot reach gt, similarity can.
    assert (aligned[1] - gt[1]).norm(dim=-1).mean() > 0.1
    same_scale = gt[:1] @ axis_angle_to_matrix(torch.tensor([0.3, -0.2, 1.0])).T + 2.0
    assert (rigid_procrustes(same_scale, gt[:1]) - gt[:1]).abs().max() < 1e-5
