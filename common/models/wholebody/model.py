"""WholeBodyModel: the ExPose-style body network, attention crops, hand / head networks and the merge.

forward(batch) -> predictions (names the evaluators and the demo rely on; B batch, S = data.input_size,
H = wholebody.hd_size, V vertices):
    vertices (B, V, 3) m: the final merged mesh in the model frame (the layer's output, no translation);
    joints (B, 55, 3); keypoints3d (B, 137, 3) OpenPose-137; keypoints2d (B, 137, 2) body-crop px,
    px = (s (X_xy + t) + 1) / 2 * S; params (SMPLXParams, final); camera (B, 3) decoded (s, tx, ty);
    body_params (SMPLXParams) / body_vertices (B, V, 3): the body network before the merge; body_stages: the
    341-d vectors after every IEF stage; body_keypoints2d (B, 137, 2) body-crop px of the body network (the crops
    are placed around these); left_hand_box / right_hand_box / head_box (B, 4) xyxy in img_hd px;
    left_hand_affine / right_hand_affine / head_affine (B, 2, 3) crop px -> img_hd px (the left hand's is
    mirrored); and where the part network ran: left_hand_camera / right_hand_camera / head_camera (B, 3) and
    left_hand_crop_keypoints2d / right_hand_crop_keypoints2d (B, 21, 2) / head_crop_keypoints2d (B, |HEAD_IDS|, 2)
    crop px (the part networks' own projections, for the part-crop keypoint terms).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.profiler import record_function

from common.models.wholebody import parts
from common.models.wholebody.crops import (
    box_affines,
    boxes_from_points,
    part_box_scales,
    part_keypoint_ids,
    with_gt_boxes,
)
from common.models.wholebody.kinematics import global_rotations
from common.models.wholebody.losses import WholeBodyLossWeights, wholebody_losses
from common.models.wholebody.mean_init import mean_body_vector
from common.models.wholebody.networks import body_network, hand_network, head_network
from common.models.wholebody.param_vector import (
    body_vector_to_params,
    hand_dict_to_vector,
    hand_vector_to_dict,
    head_dict_to_vector,
    head_vector_to_dict,
    units_to_px,
    weak_perspective,
)
from common.models.wholebody.part_pass import fp32 as _fp32
from common.models.wholebody.part_pass import part_keypoints, run_hands, run_head
from common.wholebody.layout import HEAD_IDS, LEFT_HAND, RIGHT_HAND

_WHERE = "common/models/wholebody/model.py"


class WholeBodyModel(nn.Module):
    """Image crop (+ its HD version) -> SMPL-X parameters, mesh and keypoints (module docstring).

    Args: layer (WholeBodyLayer; used, not owned: outside the state_dict, moved with the model), input_size S,
    hd_size H, backbone (body), part_backbone, pretrained ('imagenet' also initialises the part ResNets; a file
    only the body's), zero_init_residual, ief_stages / ief_hidden / ief_dropout, camera_scale_mean,
    hand_crop_size / head_crop_size, hand_box_scale / head_box_scale, use_hand_net / use_head_net, mean_params
    (.npz, '' = rest pose), loss_weights.
    """

    def __init__(self, layer: nn.Module, input_size: int = 256, hd_size: int = 512, backbone: str = "resnet50",
                 part_backbone: str = "resnet18", pretrained: str = "", zero_init_residual: bool = False,
                 ief_stages: int = 3, ief_hidden: int = 1024, ief_dropout: float = 0.5,
                 camera_scale_mean: float = 0.9, hand_crop_size: int = 224, head_crop_size: int = 256,
                 hand_box_scale: float = 2.0, head_box_scale: float = 2.0, use_hand_net: bool = True,
                 use_head_net: bool = True, mean_params: str = "", train_crops: str = "predicted",
                 train_crop_jitter: float = 0.0, test_crops: str = "predicted",
                 loss_weights: WholeBodyLossWeights | None = None) -> None:
        super().__init__()
        object.__setattr__(self, "layer", layer)  # not a submodule: no state_dict keys
        self.input_size, self.hd_size = input_size, hd_size
        self.hand_crop_size, self.head_crop_size = hand_crop_size, head_crop_size
        self.hand_box_scale, self.head_box_scale = hand_box_scale, head_box_scale
        self.use_hand_net, self.use_head_net = use_hand_net, use_head_net
        self.train_crops = train_crops  # 'gt': training crops from GT keypoints where a part has them
        self.train_crop_jitter = train_crop_jitter  # of those GT crops (fraction of the box side)
        self.test_crops = test_crops  # 'keypoints2d': evaluation crops from the batch's 2D keypoints (detections)
        self.loss_weights = loss_weights or WholeBodyLossWeights()
        self.keep_crops = False  # True: preds also hold the sampled crops (tests, debugging)
        ief = dict(hidden=ief_hidden, stages=ief_stages, dropout=ief_dropout, zero_init_residual=zero_init_residual)
        self.body_net = body_network(backbone, mean_body_vector(layer, camera_scale_mean, mean_params),
                                     pretrained=pretrained, **ief)
        part_pretrained = "imagenet" if pretrained == "imagenet" else ""
        self.hand_net = hand_network(part_backbone, pretrained=part_pretrained, **ief) if use_hand_net else None
        self.head_net = head_network(part_backbone, pretrained=part_pretrained, **ief) if use_head_net else None
        self._init_part_means()

    @classmethod
    def from_config(cls, cfg, layer: nn.Module) -> "WholeBodyModel":
        """``cfg.model.backbone / pretrained / zero_init_residual``, ``cfg.data.input_size``, ``cfg.wholebody.*``."""
        w = cfg.wholebody
        return cls(layer, input_size=cfg.data.input_size, hd_size=w.hd_size, backbone=cfg.model.backbone,
                   part_backbone=w.part_backbone, pretrained=cfg.model.pretrained,
                   zero_init_residual=cfg.model.zero_init_residual, ief_stages=w.ief_stages,
                   ief_hidden=w.ief_hidden, ief_dropout=w.ief_dropout, camera_scale_mean=w.camera_scale_mean,
                   hand_crop_size=w.hand_crop_size, head_crop_size=w.head_crop_size,
                   hand_box_scale=w.hand_box_scale, head_box_scale=w.head_box_scale, use_hand_net=w.use_hand_net,
                   use_head_net=w.use_head_net, mean_params=w.mean_params, train_crops=w.train_crops,
                   train_crop_jitter=w.train_crop_jitter, test_crops=w.test_crops,
                   loss_weights=WholeBodyLossWeights.from_config(w.loss))

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.layer._apply(fn)  # keep the (unregistered) layer on the network's device / dtype
        return self

    @property
    def faces(self) -> Tensor:
        return self.layer.faces

    @torch.no_grad()
    def _init_part_means(self) -> None:
        """The part networks' default start (``hand_forward`` / ``head_forward`` without ``init``): what the
        body network's mean parameters give them (right hand; head)."""
        params, camera = body_vector_to_params(self.body_net.mean[None])
        out = self.layer(params)
        rotations = global_rotations(params)
        boxes = self._boxes(weak_perspective(out.keypoints, camera))
        if self.hand_net is not None:
            init = parts.hand_init(params, out.joints, rotations, camera, boxes["right_hand"], self.hd_size, "right")
            self.hand_net.mean.copy_(hand_dict_to_vector(init)[0])
        if self.head_net is not None:
            init = parts.head_init(params, out.joints, rotations, camera, boxes["head"], self.hd_size)
            self.head_net.mean.copy_(head_dict_to_vector(init)[0])

    def _boxes(self, kp_units: Tensor) -> dict[str, Tensor]:
        """Projected keypoints (B, 137, 2) in [-1, 1] -> detached square boxes (B, 4) in img_hd px."""
        kp_hd = units_to_px(kp_units.detach(), self.hd_size)
        valid = self.layer.keypoints_valid
        head = list(HEAD_IDS)
        return {"left_hand": boxes_from_points(kp_hd[:, LEFT_HAND], valid[LEFT_HAND], self.hand_box_scale),
                "right_hand": boxes_from_points(kp_hd[:, RIGHT_HAND], valid[RIGHT_HAND], self.hand_box_scale),
                "head": boxes_from_points(kp_hd[:, head], valid[head], self.head_box_scale)}

    def hand_forward(self, images: Tensor, init: Tensor | dict | None = None) -> dict[str, Tensor]:
        """Hand network alone on right-hand crops (B, 3, h, h) in [0, 1] (FreiHAND path; mirror left hands first).

        init: (B, 109) vector or a dict like the output (None = the network's mean). Returns wrist (B, 3, 3)
        global, hand_pose (B, 15, 3, 3) absolute, betas (B, 10), camera (B, 3) (s, tx, ty) relative to the wrist
        in the crop, feature (B, 512), stages [(B, 109)].
        """
        if self.hand_net is None:
            raise RuntimeError(f"{_WHERE}: the hand network is off (wholebody.use_hand_net = false)")
        if isinstance(init, dict):
            init = hand_dict_to_vector(init)
        stages, feature = self.hand_net(images, init)
        return dict(hand_vector_to_dict(stages[-1].float()), feature=feature, stages=stages)

    def head_forward(self, images: Tensor, init: Tensor | dict | None = None) -> dict[str, Tensor]:
        """Head network alone on head crops (B, 3, h, h) in [0, 1]. Returns head_pose (B, 3, 3) global,
        jaw_pose (B, 3, 3), expression (B, 10), camera (B, 3) relative to the head joint, feature, stages."""
        if self.head_net is None:
            raise RuntimeError(f"{_WHERE}: the head network is off (wholebody.use_head_net = false)")
        if isinstance(init, dict):
            init = head_dict_to_vector(init)
        stages, feature = self.head_net(images, init)
        return dict(head_vector_to_dict(stages[-1].float()), feature=feature, stages=stages)

    def _crops_from_keypoints(self) -> bool:
        """Part boxes from the batch's 2D keypoints (where a part has >= 3) instead of the body prediction:
        training with ``train_crops='gt'``, evaluation with ``test_crops='keypoints2d'``."""
        return self.train_crops == "gt" if self.training else self.test_crops == "keypoints2d"

    def _check_batch(self, batch: dict) -> None:
        s, h = self.input_size, self.hd_size
        need = {"img": s} | ({"img_hd": h} if self.hand_net is not None or self.head_net is not None else {})
        for key, side in need.items():
            if key not in batch:
                raise KeyError(f"{_WHERE}: batch lacks {key!r} (the whole-body mapper provides img and img_hd)")
            if batch[key].dim() != 4 or tuple(batch[key].shape[1:]) != (3, side, side):
                raise ValueError(f"{_WHERE}: batch[{key!r}] is {tuple(batch[key].shape)}, expected (B, 3, {side}, "
                                 f"{side}) ({'data.input_size' if key == 'img' else 'wholebody.hd_size'})")

    def forward(self, batch: dict) -> dict:
        """batch (img, img_hd) -> predictions (module docstring).

        The networks run under whatever autocast the caller set; decoding, SMPL-X, boxes, the crop sampler and
        the merge run in float32 (half-precision rotations and skinning cost centimetres).
        """
        self._check_batch(batch)
        img = batch["img"].float()
        with record_function("body_net"):
            body_stages, body_feature = self.body_net(img)
        with _fp32(img), record_function("body_geometry"):
            body, camera = body_vector_to_params(body_stages[-1].float())
            body_out = self.layer(body)
            rotations = global_rotations(body)
            body_kp = weak_perspective(body_out.keypoints, camera)
            boxes = self._boxes(body_kp)
            if self._crops_from_keypoints() and "keypoints2d" in batch:
                boxes = with_gt_boxes(boxes, batch["keypoints2d"], batch["keypoints2d_valid"],
                                      part_box_scales(self.hand_box_scale, self.head_box_scale),
                                      part_keypoint_ids(self.layer.keypoints_valid), self.hd_size / self.input_size,
                                      jitter=self.train_crop_jitter if self.training else 0.0)
            affines = {"left_hand": box_affines(boxes["left_hand"], self.hand_crop_size, mirror=True),
                       "right_hand": box_affines(boxes["right_hand"], self.hand_crop_size),
                       "head": box_affines(boxes["head"], self.head_crop_size)}
        preds = {"body_stages": body_stages, "body_params": body, "body_vertices": body_out.vertices,
                 "body_keypoints2d": units_to_px(body_kp, self.input_size),
                 "camera": camera, "left_hand_box": boxes["left_hand"], "right_hand_box": boxes["right_hand"],
                 "head_box": boxes["head"], "features": {"body": body_feature}}  # pooled features (FuRPE)
        preds.update({f"{k}_affine": v for k, v in affines.items()})
        start = (body, body_out.joints, rotations, camera, boxes)
        left = right = head = None
        if self.hand_net is not None:
            left, right = run_hands(self, batch["img_hd"], start, affines, preds)
        if self.head_net is not None:
            head = run_head(self, batch["img_hd"], start, affines, preds)
        with _fp32(img), record_function("merge"):
            final = parts.merge(body, rotations, left, right, head)
            out = self.layer(final)
            preds.update(vertices=out.vertices, joints=out.joints, keypoints3d=out.keypoints, params=final,
                         keypoints2d=units_to_px(weak_perspective(out.keypoints, camera), self.input_size))
            part_keypoints(out, rotations, head, preds, self.hand_crop_size, self.head_crop_size)
        return preds

    def losses(self, batch: dict, preds: dict) -> dict[str, Tensor]:
        """Every weighted term (common/models/wholebody/losses.py); the trainer sums them."""
        with _fp32(preds["camera"]), record_function("losses"):
            return wholebody_losses(batch, preds, self.loss_weights, self.layer.keypoints_valid, self.input_size,
                                    self.hd_size, self.hand_crop_size, self.head_crop_size,
                                    hand_net=self.hand_net is not None,
                                    head_net=self.head_net is not None)
