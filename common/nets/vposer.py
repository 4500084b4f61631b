"""VPoser v1 body-pose prior (decoder used by 3DCrowdNet), with the official module names.

The weights are the user's file (VPoser v1.0 snapshot, e.g. ``TR00_E096.pt``, a plain state_dict with keys
``bodyprior_*``) or come with an official 3DCrowdNet / SEFD checkpoint (keys ``vposer.vposer.bodyprior_*``).
Decoding: fc1 (32->512), leaky ReLU 0.2, fc2 (512->512), leaky ReLU 0.2, out (512->21*6); each 6-vector is a
6D rotation (Gram-Schmidt) converted to axis-angle. The 21 joints are SMPL body joints 1..21; the hand joints
22, 23 are returned as zero. The encoder exists only so that checkpoints load strictly.
VPoser is frozen and always in eval mode (the official v1 decoder applies dropout(0.1) after fc1 when its
module is in train mode; here decoding is deterministic).
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.geometry.rotations import rot6d_to_axis_angle
from common.weights_file import read_weights_file

_WHERE = "common/nets/vposer.py"


class VPoserV1(nn.Module):
    """VPoser v1 layers (num_neurons 512, latent 32, 21 joints, continuous rotation output)."""

    def __init__(self, num_neurons: int = 512, latent_dim: int = 32, num_joints: int = 21) -> None:
        super().__init__()
        self.num_joints = num_joints
        n_in = num_joints * 3
        self.bodyprior_enc_bn1 = nn.BatchNorm1d(n_in)
        self.bodyprior_enc_fc1 = nn.Linear(n_in, num_neurons)
        self.bodyprior_enc_bn2 = nn.BatchNorm1d(num_neurons)
        self.bodyprior_enc_fc2 = nn.Linear(num_neurons, num_neurons)
        self.bodyprior_enc_mu = nn.Linear(num_neurons, latent_dim)
        self.bodyprior_enc_logvar = nn.Linear(num_neurons, latent_dim)
        self.bodyprior_dec_fc1 = nn.Linear(latent_dim, num_neurons)
        self.bodyprior_dec_fc2 = nn.Linear(num_neurons, num_neurons)
        self.bodyprior_dec_out = nn.Linear(num_neurons, num_joints * 6)

    def encode_mean(self, body_pose: Tensor) -> Tensor:
        """(B, 21 * 3) axis-angle -> (B, latent) posterior mean (eval-mode encoder)."""
        x = self.bodyprior_enc_bn1(body_pose)
        x = self.bodyprior_enc_bn2(F.leaky_relu(self.bodyprior_enc_fc1(x), 0.2))
        x = F.leaky_relu(self.bodyprior_enc_fc2(x), 0.2)
        return self.bodyprior_enc_mu(x)

    def decode_6d(self, z: Tensor) -> Tensor:
        """(B, latent) -> (B, 21, 6) 6D rotations."""
        x = F.leaky_relu(self.bodyprior_dec_fc1(z), 0.2)
        x = F.leaky_relu(self.bodyprior_dec_fc2(x), 0.2)
        return self.bodyprior_dec_out(x).reshape(z.shape[0], self.num_joints, 6)


class VPoserDecoder(nn.Module):
    """Frozen VPoser v1: latent code -> SMPL body pose (B, 69) axis-angle (hands zero).

    Args:
        weights_path: VPoser v1 state_dict file; '' leaves the weights unset until a checkpoint with
            ``vposer.*`` keys is loaded (decoding before that raises).
    """

    def __init__(self, weights_path: str = "") -> None:
        super().__init__()
        self.vposer = VPoserV1()
        self.vposer.requires_grad_(False)
        self.weights_source = ""
        if weights_path:
            self.load_weights(weights_path)
        self.train(False)

    def train(self, mode: bool = True) -> "VPoserDecoder":
        """Always eval: the prior is fixed (no dropout, no BatchNorm statistics updates)."""
        return super().train(False)

    def load_weights(self, path: str) -> None:
        """Load a VPoser v1 state_dict file (``module.`` / ``vposer.`` prefixes allowed) strictly."""
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: VPoser v1 weights not found (model.vposer_path); download VPoser v1.0 "
                                    f"from smpl-x.is.tue.mpg.de or load an official 3DCrowdNet checkpoint")
        state = read_weights_file(path, "VPoser weights file")  # ValueError naming the file
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise ValueError(f"{path}: expected a VPoser v1 state_dict, got {type(state).__name__}")
        state = {k.removeprefix("module.").removeprefix("vposer."): v for k, v in state.items()}
        own = self.vposer.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        mismatched = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
        if missing or unexpected or mismatched:
            raise ValueError(f"{path}: not a VPoser v1 (512 neurons, latent 32, 21 joints) state_dict: missing "
                             f"{missing[:8]}, unexpected {unexpected[:8]}, shape mismatch {mismatched[:8]}")
        self.vposer.load_state_dict(state, strict=True)
        self.weights_source = path

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if any(k.startswith(prefix + "vposer.") for k in state_dict):
            self.weights_source = "checkpoint"

    def forward(self, z: Tensor) -> Tensor:
        """(B, 32) latent -> (B, 69) SMPL body pose axis-angle (joints 1..21 decoded, 22..23 zero)."""
        if not self.weights_source:
            raise RuntimeError(f"{_WHERE}: VPoser weights are not loaded; set model.vposer_path to the VPoser v1 "
                               f"file or load an official 3DCrowdNet/SEFD checkpoint (or use model.pose_head='6d')")
        pose = rot6d_to_axis_angle(self.vposer.decode_6d(z)).reshape(z.shape[0], -1)  # (B, 63)
        return torch.cat([pose, pose.new_zeros(z.shape[0], 6)], dim=1)
