"""RotationNet: a graph-conv network over the 15 PositionNet joints that regresses SMPL parameters.

The official graph conv applies, for each node j, its own Linear + BatchNorm1d (keys ``fcbn_list.j.0`` /
``fcbn_list.j.1``) in a Python loop, multiplies by the normalised adjacency and applies ReLU. Here the 15
per-node layers are stored stacked and applied in one batched matmul and one BatchNorm over (B, nodes * C),
which computes exactly the same numbers (BatchNorm statistics are per feature over the batch either way);
``state_dict`` / ``load_state_dict`` still use the official per-node keys.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.joint_sets import flip_pairs, skeleton
from common.nets.heatmaps import sample_feature_map
from common.nets.sync_batchnorm import processes, synced_batch_norm

# the graph of the official release: the graph15 skeleton (index pairs into Pelvis, L_Hip, R_Hip, L_Knee, R_Knee,
# L_Ankle, R_Ankle, Neck, Head_top, L_Shoulder, R_Shoulder, L_Elbow, R_Elbow, L_Wrist, R_Wrist) and its flip pairs
GRAPH15_SKELETON = skeleton("graph15")
GRAPH15_FLIP_PAIRS = flip_pairs("graph15")
_BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def normalized_adjacency(num_nodes: int, edges, flip_pairs) -> Tensor:
    """A_hat = D^-1/2 (A + I) D^-1/2, A symmetric with ones on skeleton edges and flip pairs; (N, N) float32."""
    adj = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
    for i, j in tuple(edges) + tuple(flip_pairs):
        adj[i, j] = adj[j, i] = 1.0
    adj = adj + torch.eye(num_nodes, dtype=torch.float64)
    d = adj.sum(0).rsqrt()
    return (d[:, None] * adj * d[None, :]).float()


class NodewiseLinearBN(nn.Module):
    """Per-node Linear(dim_in -> dim_out) + BatchNorm1d(dim_out), all nodes at once.

    Storage is stacked (node-major); the state_dict exposes the official keys
    ``{j}.0.weight``, ``{j}.0.bias``, ``{j}.1.{weight,bias,running_mean,running_var,num_batches_tracked}``.
    ``sync_stats`` (set by ``common.engine.batchnorm.prepare_batchnorm`` under DDP with ``train.sync_bn``): in
    training, batch statistics over all processes (common/nets/sync_batchnorm.py; ``nn.SyncBatchNorm``
    conversion does not reach this layer, which calls F.batch_norm itself). Works on gloo (CPU) too.
    """

    batchnorm_like = True  # frozen by ``train.freeze_bn`` like nn.BatchNorm (common/engine/batchnorm.py)

    def __init__(self, num_nodes: int, dim_in: int, dim_out: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.num_nodes, self.dim_in, self.dim_out, self.eps, self.momentum = num_nodes, dim_in, dim_out, eps, momentum
        self.weight = nn.Parameter(torch.empty(num_nodes, dim_out, dim_in))
        self.bias = nn.Parameter(torch.zeros(num_nodes, dim_out))
        self.bn_weight = nn.Parameter(torch.ones(num_nodes, dim_out))
        self.bn_bias = nn.Parameter(torch.zeros(num_nodes, dim_out))
        self.register_buffer("running_mean", torch.zeros(num_nodes, dim_out))
        self.register_buffer("running_var", torch.ones(num_nodes, dim_out))
        self.register_buffer("num_batches_tracked", torch.zeros(num_nodes, dtype=torch.long))
        nn.init.normal_(self.weight, std=0.01)  # official init of Linear layers: N(0, 0.01), bias 0
        self.sync_stats = False

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, dim_in) -> (B, N, dim_out): node j uses its own Linear and BatchNorm."""
        b = x.shape[0]
        y = torch.baddbmm(self.bias[:, None, :], x.transpose(0, 1), self.weight.transpose(1, 2))  # (N, B, out)
        y = y.transpose(0, 1).reshape(b, self.num_nodes * self.dim_out)
        if self.training:
            self.num_batches_tracked.add_(1)
        if self.training and self.sync_stats and processes() > 1:
            y = synced_batch_norm(y, self.running_mean.view(-1), self.running_var.view(-1), self.bn_weight.reshape(-1),
                                  self.bn_bias.reshape(-1), self.momentum, self.eps)
            return y.reshape(b, self.num_nodes, self.dim_out)
        # views of the stacked buffers: F.batch_norm updates them in place, node-major like the flattened y
        y = F.batch_norm(y, self.running_mean.view(-1), self.running_var.view(-1), self.bn_weight.reshape(-1),
                         self.bn_bias.reshape(-1), self.training, self.momentum, self.eps)
        return y.reshape(b, self.num_nodes, self.dim_out)

    def _node_tensors(self, j: int) -> list[tuple[str, Tensor]]:
        tensors = (self.bn_weight[j], self.bn_bias[j], self.running_mean[j], self.running_var[j],
                   self.num_batches_tracked[j])
        return [("0.weight", self.weight[j]), ("0.bias", self.bias[j])] + [
            (f"1.{k}", t) for k, t in zip(_BN_KEYS, tensors)]

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for j in range(self.num_nodes):
            for name, t in self._node_tensors(j):
                destination[f"{prefix}{j}.{name}"] = t if keep_vars else t.detach()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        expected = set()
        for j in range(self.num_nodes):
            for name, target in self._node_tensors(j):
                key = f"{prefix}{j}.{name}"
                expected.add(key)
                if key not in state_dict:
                    missing_keys.append(key)
                    continue
                value = state_dict[key]
                if tuple(value.shape) != tuple(target.shape):
                    error_msgs.append(f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} "
                                      f"from checkpoint, the shape in current model is {tuple(target.shape)}.")
                    continue
                with torch.no_grad():
                    target.copy_(value)
        if strict:
            unexpected_keys.extend(k for k in state_dict if k.startswith(prefix) and k not in expected)


class GraphConvBlock(nn.Module):
    """Per-node Linear + BN, then A_hat @ x, then ReLU. (B, N, dim_in) -> (B, N, dim_out)."""

    def __init__(self, adjacency: Tensor, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.register_buffer("adjacency", adjacency.clone(), persistent=False)
        self.fcbn_list = NodewiseLinearBN(adjacency.shape[0], dim_in, dim_out)

    def forward(self, x: Tensor) -> Tensor:
        y = self.fcbn_list(x)
        return F.relu(torch.matmul(self.adjacency.to(y.dtype), y))


class GraphResBlock(nn.Module):
    """out = block2(block1(x)) + x with two GraphConvBlocks of width dim."""

    def __init__(self, adjacency: Tensor, dim: int) -> None:
        super().__init__()
        self.graph_block1 = GraphConvBlock(adjacency, dim, dim)
        self.graph_block2 = GraphConvBlock(adjacency, dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.graph_block2(self.graph_block1(x)) + x


class RotationNet(nn.Module):
    """Graph conv over joint-sampled features -> root 6D, pose code, betas, camera.

    Node input = image feature bilinearly sampled at the node's (x, y) + (x, y, z) + score, optionally followed by
    ``node_extra_dim`` more numbers per node (``node_extra`` in forward; not in the release).

    Args:
        feat_channels: channels of the backbone's last feature (2048 for ResNet-50).
        num_nodes: graph joints (15; the graph15 skeleton and flip pairs are used).
        hidden: graph-conv width (official 128).
        num_res_blocks: residual blocks after the first graph conv (official 4).
        pose_dim: outputs of ``pose_out`` (32 = VPoser latent; 21 * 6 = 126 for the 6D head).
        shape_dim: betas (10).
        node_extra_dim: extra inputs per node (0 = official layout; 3 for the input 2D pose, see CrowdNetRegressor).
    """

    def __init__(self, feat_channels: int = 2048, num_nodes: int = 15, hidden: int = 128, num_res_blocks: int = 4,
                 pose_dim: int = 32, shape_dim: int = 10, node_extra_dim: int = 0) -> None:
        super().__init__()
        if num_nodes != 15:
            raise ValueError(f"common/nets/rotation_net.py: only the 15-joint graph is defined, got {num_nodes}")
        adjacency = normalized_adjacency(num_nodes, GRAPH15_SKELETON, GRAPH15_FLIP_PAIRS)
        self.num_nodes, self.hidden = num_nodes, hidden
        self.graph_block = nn.Sequential(
            GraphConvBlock(adjacency, feat_channels + 4 + node_extra_dim, hidden),
            *[GraphResBlock(adjacency, hidden) for _ in range(num_res_blocks)],
        )
        flat = num_nodes * hidden
        self.root_pose_out = nn.Sequential(nn.Linear(flat, 6))
        self.pose_out = nn.Sequential(nn.Linear(flat, pose_dim))
        self.shape_out = nn.Sequential(nn.Linear(flat, shape_dim))
        self.cam_out = nn.Sequential(nn.Linear(flat, 3))
        for head in (self.root_pose_out, self.pose_out, self.shape_out, self.cam_out):
            nn.init.normal_(head[0].weight, std=0.01)
            nn.init.zeros_(head[0].bias)

    def forward(self, feat: Tensor, joints_img: Tensor, joints_score: Tensor,
                node_extra: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """feat (B, C, h, w), joints_img (B, N, 3) voxel units, joints_score (B, N), node_extra (B, N, E) or None
        -> root_6d (B, 6), pose (B, pose_dim), betas (B, shape_dim), cam (B, 3)."""
        node_feat = sample_feature_map(feat, joints_img[..., :2]).to(joints_img.dtype)
        parts = [node_feat, joints_img, joints_score[..., None]]
        x = torch.cat(parts + ([node_extra.to(joints_img.dtype)] if node_extra is not None else []), dim=2)
        x = self.graph_block(x).reshape(x.shape[0], self.num_nodes * self.hidden)
        return self.root_pose_out(x), self.pose_out(x), self.shape_out(x), self.cam_out(x)
