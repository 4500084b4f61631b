"""One interface over ``smplx`` for SMPL (24 joints), SMPL-X (55) and MANO (16), open or official files.

``source='open'`` uses the license-free model built from ``anny`` (:func:`common.open_model.ensure_open_model`,
built into the cache on first use). ``source='official'`` reads the user's licensed files (a file or a
folder). Official ``.pkl`` files that contain chumpy objects are read without chumpy.

Poses are axis-angle: ``global_orient`` (B, 3), ``body_pose`` (B, 69) SMPL / (B, 63) SMPL-X / (B, 45) MANO
(the hand pose). SMPL-X extras (``jaw_pose``, ``leye_pose``, ``reye_pose`` (B, 3), ``left_hand_pose``,
``right_hand_pose`` (B, 45) full axis-angle relative to the file's hand mean, ``expression`` (B, 10)) are zero
unless passed. Every tensor is passed explicitly, so the batch size is free.
"""
from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from common.body_lbs import has_zero_posedirs, smpl_skin_without_pose_blend
from common.open_model.official_files import ModelFileError, find_model_file, load_model_arrays, official_regressors

log = logging.getLogger(__name__)
KINDS = {"smpl": (24, 69), "smplx": (55, 63), "mano": (16, 45)}
SMPLX_EXTRAS = {"jaw_pose": 3, "leye_pose": 3, "reye_pose": 3, "left_hand_pose": 45, "right_hand_pose": 45,
                "expression": 10}


@dataclass
class BodyOutput:
    vertices: Tensor  # (B, V, 3) metres
    joints: Tensor  # (B, K, 3) kinematic joints (24 SMPL / 55 SMPL-X / 16 MANO), metres


class BodyModel(torch.nn.Module):
    """A ``smplx`` layer plus named vertex->joint regressors (``regress``)."""

    def __init__(self, kind: str, layer: torch.nn.Module, regressors: dict[str, np.ndarray],
                 regressor_names: dict[str, list[str]], joint_names: list[str],
                 missing: dict[str, str] | None = None, num_betas: int = 10):
        super().__init__()
        self.kind = kind
        self.num_betas = num_betas
        self.layer = layer
        self.register_buffer("faces", torch.as_tensor(np.asarray(layer.faces, dtype=np.int64)), persistent=False)
        self._regressor_keys = {}
        for name, matrix in regressors.items():
            key = f"regressor_{name}"
            self.register_buffer(key, torch.as_tensor(np.asarray(matrix, dtype=np.float32)), persistent=False)
            self._regressor_keys[name] = key
        self._regressor_names = dict(regressor_names)
        self._kinematic_names = list(joint_names)
        self._missing = dict(missing or {})
        self._skip_pose_blend = kind == "smpl" and has_zero_posedirs(layer)  # exact shortcut, common/body_lbs.py

    def forward(self, global_orient: Tensor, body_pose: Tensor, betas: Tensor, transl: Tensor | None = None,
                **extra: Tensor) -> BodyOutput:
        num_joints, pose_dim = KINDS[self.kind]
        batch = global_orient.shape[0]
        if body_pose.shape != (batch, pose_dim) or global_orient.shape != (batch, 3):
            raise ValueError(f"{self.kind}: expected global_orient ({batch}, 3) and body_pose ({batch}, {pose_dim}), "
                             f"got {tuple(global_orient.shape)} and {tuple(body_pose.shape)}")
        if betas.shape != (batch, self.num_betas):
            raise ValueError(f"{self.kind}: expected betas ({batch}, {self.num_betas}), got {tuple(betas.shape)}")
        if transl is None:
            transl = global_orient.new_zeros(batch, 3)
        if self.kind == "mano":
            out = self.layer(global_orient=global_orient, hand_pose=body_pose, betas=betas, transl=transl)
        elif self.kind == "smpl" and self._skip_pose_blend:
            verts, joints = smpl_skin_without_pose_blend(self.layer, global_orient, body_pose, betas, transl)
            return BodyOutput(vertices=verts, joints=joints)
        elif self.kind == "smpl":
            out = self.layer(global_orient=global_orient, body_pose=body_pose, betas=betas, transl=transl)
        else:
            unknown = set(extra) - set(SMPLX_EXTRAS)
            if unknown:
                raise ValueError(f"smplx: unknown inputs {sorted(unknown)}; allowed {sorted(SMPLX_EXTRAS)}")
            full = {k: extra.get(k, global_orient.new_zeros(batch, d)) for k, d in SMPLX_EXTRAS.items()}
            out = self.layer(global_orient=global_orient, body_pose=body_pose, betas=betas, transl=transl, **full)
        return BodyOutput(vertices=out.vertices, joints=out.joints[:, :num_joints])

    def regress(self, vertices: Tensor, name: str) -> Tensor:
        """(B, V, 3) -> (B, J, 3) with the named regressor (crowdnet30, graph15, h36m17, coco17)."""
        if name not in self._regressor_keys:
            if name in self._missing:
                raise KeyError(self._missing[name])
            raise KeyError(f"no joint regressor named {name!r} for this {self.kind} model; "
                           f"available: {sorted(self._regressor_keys)}")
        matrix = getattr(self, self._regressor_keys[name]).to(vertices.dtype)
        return torch.einsum("jv,bvc->bjc", matrix, vertices)

    def joint_names(self, name: str | None = None) -> list[str]:
        """Names of the kinematic joints (``name`` None or the model kind) or of a regressor's rows."""
        if name is None or name == self.kind:
            return list(self._kinematic_names)
        if name in self._regressor_names:
            return list(self._regressor_names[name])
        raise KeyError(f"unknown joint set {name!r}; known: {[self.kind] + sorted(self._regressor_names)}")


def _make_layer(kind: str, path: Path, gender: str) -> torch.nn.Module:
    """A smplx module whose pose/shape inputs are never stored (all passed to forward)."""
    import smplx

    no_params = dict(create_global_orient=False, create_body_pose=False, create_betas=False, create_transl=False)
    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning for 10-component models
        if kind == "smpl":
            data = smplx.utils.Struct(**load_model_arrays(path))
            ids = dict(smplx.vertex_ids.vertex_ids["smplh"])
            if max(ids.values()) >= len(data.v_template):  # a non-SMPL mesh: extra joints are unused here
                ids = {k: 0 for k in ids}
            return smplx.SMPL(model_path=str(path), data_struct=data, gender=gender, vertex_ids=ids, **no_params)
        if kind == "smplx":
            return smplx.SMPLX(model_path=str(path), ext=path.suffix.lstrip("."), gender=gender, use_pca=False,
                               create_jaw_pose=False, create_leye_pose=False, create_reye_pose=False,
                               create_left_hand_pose=False, create_right_hand_pose=False, create_expression=False,
                               **no_params)
        data = smplx.utils.Struct(**load_model_arrays(path))
        return smplx.MANO(model_path=str(path), data_struct=data, is_rhand="LEFT" not in path.name.upper(),
                          use_pca=False, create_global_orient=False, create_hand_pose=False, create_betas=False,
                          create_transl=False)


def _kinematic_names(kind: str) -> list[str]:
    from common.open_model.joint_maps import SMPL_JOINT_NAMES, SMPLX_JOINT_NAMES

    if kind == "mano":
        fingers = [f"{f}{k}" for f in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2, 3)]
        return ["wrist"] + fingers
    return SMPL_JOINT_NAMES if kind == "smpl" else SMPLX_JOINT_NAMES


def build_body_model(kind: str, source: str = "open", model_path: str | None = None, gender: str = "neutral",
                     h36m_regressor_path: str | None = None, extra_regressor_path: str | None = None) -> BodyModel:
    """Build a :class:`BodyModel` of ``kind`` ('smpl' | 'smplx' | 'mano') from ``source`` ('open' | 'official').

    The open MANO is the right hand cut from the open SMPL-X (``model_path='left'`` gives the left hand); its
    hand pose pastes into the open SMPL-X's ``right_hand_pose`` unchanged (same hand mean, same joint frames).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown body model kind {kind!r}; expected one of {sorted(KINDS)}")
    if gender not in ("neutral", "male", "female"):
        raise ValueError(f"unknown gender {gender!r}; expected 'neutral', 'male' or 'female'")
    names = _kinematic_names(kind)
    if source == "open":
        if kind == "mano":  # the MANO-layout hand cut from the open SMPL-X (common/open_model/part_models.py)
            from common.open_model.part_models import ensure_open_part_models

            parts = ensure_open_part_models()
            side = "left" if model_path and str(model_path).lower() == "left" else "right"
            path = parts.mano_left if side == "left" else parts.mano_right
            return BodyModel(kind, _make_layer(kind, path, "neutral"), {}, {}, names)
        if gender != "neutral":
            log.warning("the open body model is neutral only; using it for gender=%r", gender)
        from common.open_model import ensure_open_model
        from common.open_model.named_regressors import REGRESSOR_NAMES

        paths = ensure_open_model()
        path = paths.smpl_path if kind == "smpl" else paths.smplx_path
        with np.load(paths.regressors_path) as reg:
            regressors = {k: reg[k] for k in reg.files}
        return BodyModel(kind, _make_layer(kind, path, "neutral"), regressors, REGRESSOR_NAMES, names)
    if source != "official":
        raise ValueError(f"unknown body model source {source!r}; expected 'open' or 'official'")
    path = find_model_file(kind, model_path, gender)
    try:
        layer = _make_layer(kind, path, gender)
    except ModelFileError:
        raise
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, OSError, RuntimeError) as exc:
        # a readable file that is not a complete model (missing arrays, wrong shapes, truncated .npz, ...)
        raise ModelFileError(f"{path}: not a usable official {kind.upper()} model file "
                             f"({type(exc).__name__}: {str(exc).strip()[:200]})") from None
    j_regressor = layer.J_regressor.detach().cpu().numpy()
    regressors, reg_names, missing = official_regressors(kind, j_regressor, h36m_regressor_path, extra_regressor_path)
    return BodyModel(kind, layer, regressors, reg_names, names, missing)


def body_model_from_config(cfg, kind: str = "smpl") -> BodyModel:
    """Build from ``cfg.body_model`` (source, smpl_path / smplx_path / mano_path, gender, regressor paths)."""
    bm = cfg.body_model
    path = {"smpl": bm.smpl_path, "smplx": bm.smplx_path, "mano": bm.mano_path}.get(kind)
    return build_body_model(kind, source=bm.source, model_path=path or None, gender=bm.gender,
                            h36m_regressor_path=bm.h36m_regressor_path or None,
                            extra_regressor_path=bm.extra_regressor_path or None)


def family_body_model(cfg) -> BodyModel:
    """The body model ``model.family`` regresses (SMPL for crowdnet, SMPL-X for wholebody), from ``cfg.body_model``."""
    from common.config.plan import ExperimentPlan

    return body_model_from_config(cfg, kind=ExperimentPlan.from_config(cfg).body_model_kind)


def gendered_gt_models(cfg: Any, device: Any = None) -> dict[str, Any]:
    """{'male', 'female'}: official gendered SMPL models of ``cfg.body_model`` (``smpl_path`` file or folder).

    The open model is neutral only, and a gender whose file is missing is left out: the evaluator then uses
    the neutral model for it and says so in ``protocol.gt_models``.
    """
    if cfg.body_model.source != "official":
        return {}
    models = {}
    for gender in ("male", "female"):
        try:
            model = build_body_model("smpl", source="official", model_path=cfg.body_model.smpl_path or None,
                                     gender=gender, h36m_regressor_path=cfg.body_model.h36m_regressor_path or None,
                                     extra_regressor_path=cfg.body_model.extra_regressor_path or None)
        except (FileNotFoundError, ValueError) as err:
            log.warning("3DPW GT: no %s SMPL model (%s); the neutral model is used for %s GT", gender, err, gender)
            continue
        models[gender] = model.to(device) if device is not None else model
    return models


def neutral_smpl(cfg: Any) -> Any:
    """The neutral SMPL model of ``cfg.body_model`` (for J0 when a gendered file is missing)."""
    return build_body_model("smpl", source=cfg.body_model.source, model_path=cfg.body_model.smpl_path or None)
