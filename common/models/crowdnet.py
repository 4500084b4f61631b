"""3DCrowdNet-style regressor: ResNet + joint heatmaps -> PositionNet -> graph RotationNet -> SMPL mesh.

Module names reproduce the official release's state_dict (``backbone``, ``pose2feat``, ``position_net``,
``rotation_net``, ``vposer``), so official checkpoints load strictly (common/models/official_checkpoint.py;
they need ``pose_head='vposer'``). The body model is used, not owned: it is kept out of the state_dict and
parameters, and moves with the module on ``.to()`` (give the model its own body-model instance).

Pose heads: '6d' (default) predicts 21 6D rotations for SMPL body joints 1..21; 'vposer' predicts VPoser v1's
32-d latent. In both, the hand joints 22, 23 are zero (the official release neither predicts nor supervises
them). Camera: virtual perspective camera, focal 5000 px at a 256 crop (scaled with the input size), principal
point at the crop centre, t = (tx, ty, k sigmoid(s)) (common/geometry/camera.py).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.profiler import record_function

from common.geometry.camera import crowdnet_cam_translation, perspective_project
from common.geometry.rotations import rot6d_to_axis_angle
from common.models.losses import GRAPH15_IN_CROWDNET30, CropGeometry, LossWeights, crowdnet_losses
from common.models.mean_params import MeanParams, load_mean_params
from common.nets.backbone import ResNetBackbone
from common.nets.heatmaps import render_gaussian_heatmaps
from common.nets.pose2feat import Pose2Feat
from common.nets.position_net import PositionNet
from common.nets.rotation_net import RotationNet
from common.nets.vposer import VPoserDecoder

_WHERE = "common/models/crowdnet.py"
POSE_HEADS = ("6d", "vposer")
IDENTITY_6D = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)  # first two columns of I, read row-major as 3x2
_INPUT_KEYS = ("img", "pose2d", "pose2d_valid")


class CrowdNetRegressor(nn.Module):
    """Image crop + input 2D pose -> SMPL parameters, mesh and joints (predictions as in docs/DESIGN.md).

    Args:
        body_model: BodyModel (docs/DESIGN.md): SMPL layout, ``regress(vertices, 'crowdnet30')``.
        backbone: resnet18/34/50/101/152.
        input_size: crop side S (px), a multiple of 32; heatmaps are S/4, the volume (depth_bins, S/32, S/32).
        in_channels: 3 (RGB) or 4 (RGB + ``edge`` channel, SEFD).
        pretrained: backbone init ('' random, 'imagenet', or a torchvision state_dict file).
        pose_head: '6d' or 'vposer'.
        vposer_path: VPoser v1 weights for pose_head='vposer' ('' = from a checkpoint loaded later).
        num_input_joints, heatmap_sigma: input heatmaps (30 joints, sigma in heatmap cells).
        depth_bins, graph_hidden, graph_blocks: PositionNet / RotationNet sizes (official 8, 128, 4).
        loss_weights: weights of the seven terms.
        pose_loss_rep: 'axis_angle' (official) or 'rotmat': how the pose_param term compares rotations.
        focal_at_256: virtual focal (px) at a 256 crop; camera_3d_size: person extent (m) for the depth scale;
        bbox_3d_size: depth range (m) of the PositionNet volume.
        return_features: add ``features`` {layer1..layer4} to the predictions (distillation).
        mean_params: start the root / body-pose / betas heads at these parameters (HMR/SPIN mean-parameter
            init); None = the official init (identity rotations, zero betas).
        zero_init_residual: start every backbone residual block as the identity (random init only).
        reprojection_trains_pose: False = the projected joints carry gradients to the camera only (pose, shape
            detached), so that while the camera is still wrong the 2D terms do not bend the body to make up for it.
        node_pose2d: also give each graph node the input 2D pose at its joint (x/S, y/S, validity). Not in the
            release (whose checkpoints need False): from random init the CNN path alone learns the 2D -> 3D
            lifting too slowly for a CPU budget (docs/learning.md).
    """

    def __init__(self, body_model: nn.Module, backbone: str = "resnet50", input_size: int = 256,
                 in_channels: int = 3, pretrained: str = "", pose_head: str = "6d", vposer_path: str = "",
                 num_input_joints: int = 30, heatmap_sigma: float = 2.5, depth_bins: int = 8,
                 graph_hidden: int = 128, graph_blocks: int = 4, loss_weights: LossWeights | None = None,
                 pose_loss_rep: str = "axis_angle",
                 focal_at_256: float = 5000.0, camera_3d_size: float = 2.5, bbox_3d_size: float = 2.0,
                 return_features: bool = False, mean_params: MeanParams | None = None,
                 zero_init_residual: bool = False, reprojection_trains_pose: bool = True,
                 node_pose2d: bool = False) -> None:
        super().__init__()
        if pose_head not in POSE_HEADS:
            raise ValueError(f"{_WHERE}: model.pose_head must be one of {POSE_HEADS}, got {pose_head!r}")
        if input_size % 32:
            raise ValueError(f"{_WHERE}: data.input_size must be a multiple of 32, got {input_size}")
        object.__setattr__(self, "body_model", body_model)  # not a submodule: no state_dict keys
        self.geometry = CropGeometry.for_input(input_size, depth_bins, focal_at_256, bbox_3d_size, camera_3d_size)
        self.in_channels, self.pose_head = in_channels, pose_head
        self.heatmap_sigma, self.return_features = heatmap_sigma, return_features
        self.loss_weights = loss_weights or LossWeights.defaults()
        self.pose_loss_rep = pose_loss_rep
        self.reprojection_trains_pose = reprojection_trains_pose

        self.backbone = ResNetBackbone(backbone, in_channels, pretrained, zero_init_residual)
        self.pose2feat = Pose2Feat(num_input_joints, self.backbone.stem_channels)
        self.position_net = PositionNet(self.backbone.out_channels, 15, depth_bins)
        pose_dim = 32 if pose_head == "vposer" else 21 * 6
        self.node_pose2d = node_pose2d
        self.rotation_net = RotationNet(self.backbone.out_channels, 15, graph_hidden, graph_blocks, pose_dim,
                                        node_extra_dim=3 if node_pose2d else 0)
        self.vposer = VPoserDecoder(vposer_path) if pose_head == "vposer" else None
        self._init_heads(mean_params)

    @classmethod
    def from_config(cls, cfg, body_model: nn.Module, return_features: bool = False) -> "CrowdNetRegressor":
        m = cfg.model
        return cls(body_model, backbone=m.backbone, input_size=cfg.data.input_size, in_channels=m.input_channels,
                   pretrained=m.pretrained, pose_head=m.pose_head, vposer_path=m.vposer_path,
                   num_input_joints=m.num_input_joints, heatmap_sigma=m.heatmap_sigma, depth_bins=m.depth_bins,
                   graph_hidden=m.graph_hidden, graph_blocks=m.graph_blocks,
                   loss_weights=LossWeights.from_config(cfg.train.loss), pose_loss_rep=cfg.train.loss.pose_rep,
                   return_features=return_features,
                   mean_params=load_mean_params(m.mean_params) if m.mean_params else None,
                   zero_init_residual=m.zero_init_residual,
                   reprojection_trains_pose=cfg.train.loss.reprojection_trains_pose,
                   node_pose2d=m.node_pose2d)

    def _init_heads(self, mean_params: MeanParams | None) -> None:
        """Official init (conv N(0, 0.001), bias 0); rotation biases start at the identity rotation, or at
        ``mean_params`` (root, body joints 1..21 of the 6D head, betas) when given. The head weights are
        N(0, 0.01), so the first predictions are close to the biases."""
        for conv in (self.pose2feat.conv[0], self.position_net.conv[0]):
            nn.init.normal_(conv.weight, std=0.001)
            nn.init.zeros_(conv.bias)
        pose6d = (torch.tensor(IDENTITY_6D).repeat(24, 1) if mean_params is None
                  else torch.as_tensor(mean_params.pose6d, dtype=torch.float32))
        with torch.no_grad():
            self.rotation_net.root_pose_out[0].bias.copy_(pose6d[0])
            if self.pose_head == "6d":
                self.rotation_net.pose_out[0].bias.copy_(pose6d[1:22].reshape(-1))
            if mean_params is not None:
                self.rotation_net.shape_out[0].bias.copy_(torch.as_tensor(mean_params.betas))

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        if isinstance(self.body_model, nn.Module):
            self.body_model._apply(fn)  # keep the (unregistered) body model on the network's device/dtype
        return self

    @property
    def faces(self) -> Tensor:
        return self.body_model.faces

    # the geometry's most read entries (demo, visualizer, checkpoint geometry check), owned by ``self.geometry``
    @property
    def input_size(self) -> int:
        return self.geometry.input_size

    @property
    def volume_shape(self) -> tuple[int, int, int]:
        return self.geometry.volume_shape

    @property
    def focal(self) -> float:
        return self.geometry.focal

    def _check_batch(self, batch: dict) -> None:
        keys = _INPUT_KEYS + (("edge",) if self.in_channels == 4 else ())
        missing = [k for k in keys if k not in batch]
        if missing:
            raise KeyError(f"{_WHERE}: batch lacks {missing} (in_channels={self.in_channels}); see docs/DESIGN.md")
        s = self.input_size
        if tuple(batch["img"].shape[-2:]) != (s, s):
            raise ValueError(f"{_WHERE}: batch['img'] is {tuple(batch['img'].shape)}, expected (B, 3, {s}, {s}) "
                             f"(data.input_size)")

    def forward(self, batch: dict) -> dict:
        """batch (docs/DESIGN.md) -> predictions dict (shapes in the module docstring of docs/DESIGN.md)."""
        self._check_batch(batch)
        x = batch["img"] if self.in_channels == 3 else torch.cat([batch["img"], batch["edge"]], dim=1)
        with record_function("backbone"):  # labels for tool/profile_step.py (no cost without a profiler)
            early = self.backbone.stem(x)
            hm_size = early.shape[-1]
            with torch.no_grad():
                heatmaps = render_gaussian_heatmaps(batch["pose2d"].float() * (hm_size / self.input_size),
                                                    batch["pose2d_valid"], hm_size, hm_size, self.heatmap_sigma)
            feats = self.backbone.forward_layers(self.pose2feat(early, heatmaps))
        with record_function("heads"):
            joints_img, joints_score = self.position_net(feats["layer4"])
            root_6d, pose_code, betas, cam_param = self.rotation_net(feats["layer4"], joints_img.detach(),
                                                                     joints_score.detach(), self._node_pose2d(batch))
            root_6d, pose_code, betas, cam_param = (root_6d.float(), pose_code.float(), betas.float(),
                                                    cam_param.float())
            root_pose = rot6d_to_axis_angle(root_6d)
            if self.vposer is not None:
                body_pose = self.vposer(pose_code)
            else:
                body = rot6d_to_axis_angle(pose_code.reshape(-1, 21, 6)).reshape(-1, 63)
                body_pose = torch.cat([body, body.new_zeros(body.shape[0], 6)], dim=1)
        preds = self.body_outputs(root_pose, body_pose, betas, cam_param)
        preds.update(joints_img=joints_img, joints_score=joints_score)
        if self.return_features:
            preds["features"] = feats
        return preds

    def _node_pose2d(self, batch: dict) -> Tensor | None:
        """(B, 15, 3) input 2D pose at the graph joints: (x/S, y/S, validity), or None (official layout)."""
        if not self.node_pose2d:
            return None
        g = list(GRAPH15_IN_CROWDNET30)
        valid = batch["pose2d_valid"][:, g, None].float()
        return torch.cat([batch["pose2d"][:, g].float() / self.input_size * valid, valid], dim=2)

    def body_outputs(self, root_pose: Tensor, body_pose: Tensor, betas: Tensor, cam_param: Tensor) -> dict:
        """SMPL params + camera -> mesh in the camera frame, pelvis-relative joints and their projections."""
        geo = self.geometry
        s, f = geo.input_size, geo.focal
        with torch.autocast(root_pose.device.type, enabled=False), record_function("body_model"):  # fp16: cm errors
            cam_trans = crowdnet_cam_translation(cam_param, (f, f), (s, s), geo.camera_3d_size)
            out = self.body_model(global_orient=root_pose, body_pose=body_pose, betas=betas, transl=cam_trans)
            joints = self.body_model.regress(out.vertices, "crowdnet30")  # (B, 30, 3) camera frame
            shift = cam_trans[:, None]
            seen = joints if self.reprojection_trains_pose else (joints - shift).detach() + shift
            proj = perspective_project(seen, (f, f), (geo.princpt, geo.princpt))
        return {"root_pose": root_pose, "body_pose": body_pose, "betas": betas, "cam_param": cam_param,
                "cam_trans": cam_trans, "vertices": out.vertices, "joints_cam": joints - joints[:, :1],
                "joints_proj": proj}

    @torch.no_grad()
    def gt_mesh_joints(self, batch: dict) -> Tensor | None:
        """(B, 30, 3) pelvis-relative crowdnet30 joints of the GT SMPL mesh, or None when no sample has SMPL."""
        if "smpl_valid" not in batch or not bool((batch["smpl_valid"] > 0).any()):
            return None
        pose, betas = batch["smpl_pose"].float(), batch["smpl_betas"].float()
        with torch.autocast(pose.device.type, enabled=False), record_function("gt_mesh_joints"):
            out = self.body_model(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas, transl=None)
            joints = self.body_model.regress(out.vertices, "crowdnet30")
        return joints - joints[:, :1]

    def losses(self, batch: dict, preds: dict) -> dict[str, Tensor]:
        """The seven weighted 3DCrowdNet terms (common/models/losses.py); the trainer sums them."""
        gt_joints = self.gt_mesh_joints(batch)
        with record_function("losses"):
            return crowdnet_losses(batch, preds, gt_joints, self.loss_weights, self.geometry,
                                   pose_rep=self.pose_loss_rep)
