"""The open-model build: anny -> re-posed samples -> SMPL / SMPL-X arrays -> files in one folder."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from common.open_model import anny_source, named_regressors, vertex_order, writer
from common.open_model.bodies import allowed_vertices, sample_bodies
from common.open_model.expressions import expression_space, sample_action_weights
from common.open_model.face_landmarks import place_landmarks
from common.open_model.files import (  # noqa: F401  (re-exported)
    MANIFEST_FILE,
    REGRESSORS_FILE,
    SMPL_FILE,
    SMPL_NPZ_FILE,
    SMPLX_FILE,
    VERTEX_SETS_FILE,
    BuildParams,
)
from common.open_model.hand_pca import hand_pca, sample_hand_poses
from common.open_model.joint_maps import (
    SMPL_JOINT_NAMES,
    SMPLX_JOINT_NAMES,
    bone_segments,
    joint_positions,
    layout_parents,
)
from common.open_model.mesh_parts import bone_vertex_mask, dominant, mesh_components
from common.open_model.regressor_fit import fit_joint_regressor, regressor_error_mm
from common.open_model.shape_space import fit_shape_space
from common.open_model.tpose import finger_tip_vertices

log = logging.getLogger(__name__)


def _merge(weights: torch.Tensor, segments: np.ndarray, num_joints: int) -> np.ndarray:
    """(V, B) bone weights -> (V, J) layout weights: the sum over the bones of each segment."""
    onehot = np.zeros((len(segments), num_joints))
    onehot[np.arange(len(segments)), segments] = 1.0
    return weights.numpy() @ onehot


def _timed(label: str, start: float) -> float:
    now = time.perf_counter()
    log.info("open model: %s (%.1f s)", label, now - start)
    return now


def build_files(out: Path, params: BuildParams) -> dict:
    """Build every open-model file into the folder ``out``; returns the manifest (also written there)."""
    t0 = t = time.perf_counter()
    model = anny_source.load_anny(rig="makehuman", facial_actions="all")
    t = _timed("anny loaded", t)
    labels, parents = list(model.bone_labels), list(model.bone_parents)
    bone_w = anny_source.dense_skinning_weights(model)
    faces = model.faces.numpy().astype(np.int64)
    n_verts = bone_w.shape[0]
    rest0 = anny_source.rest_geometry(model, anny_source.neutral_phenotype())
    tips = finger_tip_vertices(bone_w, rest0.vertices[0], rest0.bone_heads[0], labels)
    bodies = sample_bodies(model, bone_w, tips, params.num_samples, params.seed, params.fit_fraction)
    t = _timed(f"{params.num_samples} bodies sampled and re-posed", t)

    layouts = {}
    for layout in ("smpl", "smplx"):
        seg = bone_segments(labels, parents, layout)
        names = SMPL_JOINT_NAMES if layout == "smpl" else SMPLX_JOINT_NAMES
        w = _merge(bone_w, seg, len(names))
        joints = joint_positions(bodies.heads, labels, layout)
        if not (joints[:, 1, 0] > 0).all() or not (joints[:, 2, 0] < 0).all():
            raise RuntimeError("open model: anny's left hip is not at +x after the frame conversion")
        allowed = allowed_vertices(dominant(w), layout_parents(layout))
        reg = fit_joint_regressor(bodies.vertices[bodies.fit], joints[bodies.fit], params.num_candidates, allowed)
        err = regressor_error_mm(reg, bodies.vertices[bodies.test], joints[bodies.test])
        layouts[layout] = dict(weights=w, reg=reg, err=err, names=names)
    # One definition of the 22 shared body joints: the SMPL-X rows reuse the SMPL ones.
    layouts["smplx"]["reg"][:22] = layouts["smpl"]["reg"][:22]
    t = _timed("joint regressors fitted", t)

    shape = fit_shape_space(bodies.vertices, params.num_betas)
    t = _timed("shape PCA", t)

    # Vertex order: the anatomically right vertices at smplx's / 3DCrowdNet's hard-coded indices.
    mean_v = shape.mean
    parts = mesh_components(faces, n_verts)
    skin = torch.as_tensor(parts == 0)
    import anny

    coco = anny.KeypointsRegressor.coco(model)
    coco_w = coco.regression_weights.to(torch.float64)
    coco_pts = dict(zip(coco.labels, coco_w @ mean_v))
    cand = vertex_order.semantic_candidates(mean_v, coco_pts, tips, skin)
    targets = vertex_order.assign_vertices(cand)
    new_to_old = vertex_order.permutation_for(targets, n_verts)
    old_to_new = vertex_order.inverse_permutation(new_to_old)
    faces_new = old_to_new[faces]

    def arrays(layout: str) -> writer.LayoutArrays:
        lay = layouts[layout]
        return writer.LayoutArrays(
            v_template=mean_v.numpy()[new_to_old], faces=faces_new, shapedirs=shape.dirs.numpy()[new_to_old],
            j_regressor=lay["reg"][:, new_to_old], weights=lay["weights"][new_to_old], parents=layout_parents(layout))

    smpl = writer.smpl_dict(arrays("smpl"))
    writer.write_pickle(out / SMPL_FILE, smpl)
    writer.write_npz(out / SMPL_NPZ_FILE, smpl)
    t = _timed("SMPL layout written", t)

    # Named regressors and vertex sets (new vertex order).
    head_seg = np.isin(dominant(layouts["smplx"]["weights"]), [15, 22, 23, 24])
    head_skin = np.nonzero(head_seg & (parts == 0))[0]
    apex = head_skin[np.argmax(mean_v.numpy()[head_skin, 1])]
    near_apex = head_skin[np.argsort(np.linalg.norm(mean_v.numpy()[head_skin] - mean_v.numpy()[apex], axis=1))[:4]]
    head_top = np.zeros(n_verts)
    head_top[old_to_new[near_apex]] = 0.25
    face_ids = [vertex_order.CROWDNET_FACE_IDS[k] for k in ("nose", "leye", "reye", "lear", "rear")]
    crowd = named_regressors.crowdnet30(smpl["J_regressor"], face_ids, head_top)
    regs = {"crowdnet30": crowd, "graph15": named_regressors.graph15(crowd), "h36m17": named_regressors.h36m17(crowd),
            "coco17": coco_w.numpy()[:17][:, new_to_old]}
    np.savez_compressed(out / REGRESSORS_FILE, **{k: v.astype(np.float32) for k, v in regs.items()})
    ear_z = float(min(coco_pts["left_ear"][2], coco_pts["right_ear"][2]))
    face_old = np.nonzero(head_seg & (mean_v.numpy()[:, 2] > ear_z))[0]
    hands = {side: np.sort(old_to_new[np.nonzero(bone_vertex_mask(bone_w.numpy(), labels, [
        b for b in labels if b.endswith(f".{s}") and b.startswith(("wrist", "metacarpal", "finger"))]))[0]]).tolist()
        for side, s in (("left", "L"), ("right", "R"))}
    face_new = np.sort(old_to_new[face_old]).tolist()
    vertex_sets = {
        layout: {"left_hand": hands["left"], "right_hand": hands["right"], "face": face_new}
        for layout in ("smpl", "smplx")}
    vertex_sets["regressor_rows"] = named_regressors.REGRESSOR_NAMES
    vertex_sets["joint_names"] = {"smpl": SMPL_JOINT_NAMES, "smplx": SMPLX_JOINT_NAMES}
    vertex_sets["keypoint_vertices"] = {"crowdnet": vertex_order.CROWDNET_FACE_IDS}
    vertex_sets["anny_vertex_of"] = new_to_old.tolist()  # open-mesh vertex i is anny vertex anny_vertex_of[i]
    (out / VERTEX_SETS_FILE).write_text(json.dumps(vertex_sets))
    t = _timed("regressors and vertex sets written", t)

    # SMPL-X extras: expressions, hand PCA, landmarks.
    rng = np.random.default_rng(params.seed)
    action_names, action_dirs = anny_source.facial_action_directions(model)
    expr_dirs, expr_explained = expression_space(
        action_dirs.numpy(), sample_action_weights(params.expression_samples, action_names, rng), params.num_expression)
    hands_mean, hands_comp, hand_explained = {}, {}, {}
    for side in ("left", "right"):
        poses = sample_hand_poses(params.hand_samples, side, rng)
        hands_mean[side], hands_comp[side], hand_explained[side] = hand_pca(poses)
    seg_x = dominant(layouts["smplx"]["weights"])
    eyeballs = tuple(np.nonzero((parts != 0) & (seg_x == k))[0] for k in (23, 24))
    action_size = dict(zip(action_names, action_dirs.norm(dim=-1).numpy()))
    lmk_faces, lmk_bary = place_landmarks(mean_v.numpy(), faces, parts == 0, eyeballs, seg_x == 22,
                                          np.isin(seg_x, [15, 23, 24]), action_size)
    smplx_data = writer.smplx_dict(arrays("smplx"), expr_dirs[new_to_old], hands_mean, hands_comp, lmk_faces, lmk_bary)
    writer.write_npz(out / SMPLX_FILE, smplx_data)
    t = _timed("SMPL-X layout written", t)

    heights = {}
    for k in (-2, 0, 2):
        verts = shape.mean + k * shape.dirs[..., 0]
        heights[str(k)] = float(verts[:, 1].max() - verts[:, 1].min())
    manifest = {
        "params": asdict(params), "anny_version": anny_source.anny_version(),
        "files": {"smpl": SMPL_FILE, "smpl_npz": SMPL_NPZ_FILE, "smplx": SMPLX_FILE, "regressors": REGRESSORS_FILE,
                  "vertex_sets": VERTEX_SETS_FILE},
        "num_vertices": n_verts, "num_faces": int(len(faces)),
        "shape_explained_variance": shape.explained.tolist(), "shape_variances_m2": shape.variances.tolist(),
        "height_m_at_beta0": heights,
        "expression_explained": expr_explained.tolist(),
        "hand_pca_explained_first10": {s: v[:10].tolist() for s, v in hand_explained.items()},
        "vertex_targets": {str(k): int(v) for k, v in targets.items()},
        "regressor_error_mm": {
            layout: {"mean": float(lay["err"][0].mean()), "max": float(lay["err"][1].max()),
                     "per_joint_mean": dict(zip(lay["names"], lay["err"][0].round(2).tolist())),
                     "per_joint_max": dict(zip(lay["names"], lay["err"][1].round(2).tolist()))}
            for layout, lay in layouts.items()},
        "num_fit_samples": int(bodies.fit.sum()), "num_test_samples": int(bodies.test.sum()),
        "build_seconds": round(time.perf_counter() - t0, 1),
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
    log.info("open model: built in %.1f s", manifest["build_seconds"])
    return manifest
