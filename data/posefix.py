"""Synthesize realistic input 2D poses from GT joints, the way 3DCrowdNet's PoseFix-style module does.

Each valid joint independently becomes one of (error classes of PoseFix, Moon et al. CVPR-W 2019):
  jitter     small displacement: distance in [d(0.85), d(0.50)] from the GT joint,
  miss       large displacement: distance in [d(0.50), d(0.10)] from the GT joint or from a confusable point,
  inversion  near the same person's left/right counterpart (within d(0.50)),
  swap       near the same (or mirrored) joint of an overlapping person (within d(0.50)),
  good       within d(0.85) of the GT joint,
  drop       marked invalid (not in PoseFix; default probability 0),
where d(ks) is the distance at which the COCO keypoint similarity of that joint equals ks for the person's box
area: d = sqrt(-2 * area * (2 * sigma)^2 * ln ks). Candidate points are rejected when they land closer to
another confusable point than intended (as in the reference). Probabilities of unavailable classes are
dropped and the rest renormalised; a joint with no available class is dropped (as in the release). The
release pools 500 candidates per class and picks one; we draw until one is accepted (same distribution for a
single source; pooled sources are chosen with their pool weights instead of their acceptance counts).

Default probabilities are those of the 3DCrowdNet release (common/utils/posefix.py), given per COCO joint.
Joints outside COCO-17 (SMPL spine, toes, hands, head top, ...) borrow the values and the OKS sigma of an
anatomically close COCO joint (``COCO_ANALOG``; our choice). Valid-joint thresholds (10 and 5 of 17 in the
release) are applied as fractions of the joints given. Unlike the release (COCO joints only), every given
joint is perturbed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from common.joint_sets import COCO17, SAME_POINT

COCO_SIGMAS = dict(zip(COCO17, np.array(
    [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0))

# Non-COCO joint -> the COCO joint whose sigma and error probabilities it uses.
COCO_ANALOG = {
    "Pelvis": "L_Hip", "Spine1": "L_Hip", "Spine2": "L_Shoulder", "Spine3": "L_Shoulder", "Neck": "L_Shoulder",
    "L_Collar": "L_Shoulder", "R_Collar": "R_Shoulder", "Thorax": "L_Shoulder", "Head": "L_Ear",
    "Head_top": "L_Ear", "L_Foot": "L_Ankle", "R_Foot": "R_Ankle", "L_Hand": "L_Wrist", "R_Hand": "R_Wrist",
}


def _per_coco(face: float, arms: float, hips: float, legs: float, nose: float | None = None,
              shoulders: float | None = None, ankles: float | None = None) -> dict[str, float]:
    """Probability per COCO joint from group values (face=eyes/ears, arms=shoulder/elbow/wrist, legs=knee/ankle)."""
    out = {}
    for name in COCO17:
        if name == "Nose":
            out[name] = face if nose is None else nose
        elif name.endswith(("Eye", "Ear")):
            out[name] = face
        elif name.endswith("Shoulder") and shoulders is not None:
            out[name] = shoulders
        elif name.endswith(("Shoulder", "Elbow", "Wrist")):
            out[name] = arms
        elif name.endswith("Hip"):
            out[name] = hips
        elif name.endswith("Ankle") and ankles is not None:
            out[name] = ankles
        else:
            out[name] = legs
    return out


@dataclass(frozen=True)
class PosefixParams:
    """Error probabilities per COCO joint (see module docstring); defaults = the 3DCrowdNet release.

    jitter: (many valid, <= few_valid_frac valid). miss: (many, <= few_valid_frac, <= very_few_valid_frac).
    swap: (calm, crowded); crowded = (valid <= few_valid_frac and >= 1 overlapping person) or
    (valid <= crowded_valid_frac and >= 3 overlapping people). good_ks: OKS radius of the 'good' class
    (1.0 = exactly the GT position). num_candidates: most candidate points drawn per class.
    """

    jitter: tuple[dict, dict] = (_per_coco(.15, .15, .20, .10, nose=.10), _per_coco(.20, .20, .25, .15, nose=.15))
    miss: tuple[dict, dict, dict] = (
        _per_coco(.02, .10, .10, .10, shoulders=.05, ankles=.05),
        _per_coco(.10, .15, .15, .15, shoulders=.13, ankles=.13),
        _per_coco(.15, .25, .25, .25, shoulders=.20, ankles=.20),
    )
    inversion: dict = field(default_factory=lambda: _per_coco(.01, .03, .06, .06))
    swap: tuple[dict, dict] = (_per_coco(.01, .06, .03, .03), _per_coco(.02, .15, .10, .10))
    drop_prob: float = 0.0
    good_ks: float = 0.85
    few_valid_frac: float = 10 / 17
    very_few_valid_frac: float = 5 / 17
    crowded_valid_frac: float = 15 / 17
    num_candidates: int = 500

    @classmethod
    def disabled(cls) -> "PosefixParams":
        """Every error probability 0 and exact 'good' joints: synthesize_pose returns the GT."""
        zero = {n: 0.0 for n in COCO17}
        return cls(jitter=(zero, zero), miss=(zero, zero, zero), inversion=zero, swap=(zero, zero), good_ks=1.0)


def _analog(name: str) -> str:
    name = SAME_POINT.get(name, name)  # dataset names matched to an SMPL joint use that joint's analog
    key = name if name in COCO_SIGMAS else COCO_ANALOG.get(name)
    if key is None:
        raise KeyError(f"posefix: no COCO analog for joint '{name}' (add it to COCO_ANALOG)")
    return key


_CLASSES = ("jitter", "miss", "inversion", "swap", "good")


def _draw(rng: np.random.Generator, sources: np.ndarray, center_w: np.ndarray, avoid: np.ndarray, rmin: np.ndarray,
          rmax: np.ndarray, fixed_radius: np.ndarray | None, todo: np.ndarray, max_draws: int,
          batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """One accepted candidate per joint, all joints at once.

    Args:
        sources: (J,S,2) candidate centres / confusable points (padding anywhere, masked by the weights).
        center_w: (J,S) weight of each source as a centre. avoid: (J,S) bool, points to keep away from
            (the chosen centre itself is always exempt).
        rmin, rmax: (J,) radius range. fixed_radius: (J,) keep-away distance, or None = the draw's own radius.
        todo: (J,) bool, joints that need a candidate.
    Returns:
        (J,2) points and (J,) bool found. The first accepted of i.i.d. draws is distributed like a random
        accepted point of a large pool (the release pools 500); gives up after ``max_draws`` draws.
    """
    n_joints, n_src = center_w.shape
    points, found = np.zeros((n_joints, 2)), np.zeros(n_joints, dtype=bool)
    todo = todo & (center_w.sum(1) > 0)
    cum = np.cumsum(center_w, 1) / np.maximum(center_w.sum(1, keepdims=True), 1e-12)
    for _ in range(max(1, -(-max_draws // batch))):
        rows = np.flatnonzero(todo & ~found)
        if len(rows) == 0:
            break
        pick = np.minimum((rng.random((len(rows), batch, 1)) > cum[rows, None, :]).sum(-1), n_src - 1)  # (R,K)
        centre = np.take_along_axis(sources[rows], pick[..., None], axis=1)  # (R,K,2)
        r = rng.uniform(0.0, 1.0, (len(rows), batch)) * (rmax - rmin)[rows, None] + rmin[rows, None]
        a = rng.uniform(0.0, 2.0 * np.pi, (len(rows), batch))
        pts = centre + np.stack([r * np.cos(a), r * np.sin(a)], -1)
        dist = np.linalg.norm(pts[:, :, None, :] - sources[rows, None, :, :], axis=-1)  # (R,K,S)
        keep_away = avoid[rows, None, :] & (np.arange(n_src)[None, None, :] != pick[..., None])
        limit = r if fixed_radius is None else np.broadcast_to(fixed_radius[rows, None], r.shape)
        ok = np.all((dist > limit[..., None]) | ~keep_away, axis=-1)  # (R,K)
        hit = ok.any(1)
        first = np.argmax(ok, 1)
        points[rows[hit]] = pts[hit, first[hit]]
        found[rows[hit]] = True
    return points, found


def synthesize_pose(joints: np.ndarray, valid: np.ndarray, names: tuple[str, ...], area: float,
                    near_joints: np.ndarray | None = None, near_valid: np.ndarray | None = None,
                    num_overlap: int = 0, params: PosefixParams = PosefixParams(),
                    rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Perturb GT 2D joints into a detector-like pose.

    Args:
        joints: (J,2) GT joints, px (any frame; distances scale with ``area``). valid: (J,) 0/1.
        names: the J joint names (left/right counterparts found by name).
        area: the person's box area in the same px units (sets the error radii).
        near_joints, near_valid: (N,J,2), (N,J) the same joints of the overlapping people (swap sources).
        num_overlap: number of overlapping people (the release counts boxes with IoU >= 0.1).
    Returns:
        (J,2) float32 synthesized joints and (J,) float32 validity.
    """
    rng = rng if rng is not None else np.random.default_rng()
    joints = np.asarray(joints, dtype=np.float64)
    valid = np.asarray(valid) > 0
    n_joints = len(names)
    if near_joints is None or len(near_joints) == 0:
        near_joints, near_valid = np.zeros((0, n_joints, 2)), np.zeros((0, n_joints), dtype=bool)
    near_joints = np.asarray(near_joints, dtype=np.float64)
    near_valid = np.asarray(near_valid) > 0
    n_near = len(near_joints)
    n_valid = int(valid.sum())
    few = n_valid <= params.few_valid_frac * n_joints
    very_few = n_valid <= params.very_few_valid_frac * n_joints
    crowded = (few and num_overlap > 0) or (n_valid <= params.crowded_valid_frac * n_joints and num_overlap >= 3)

    # sources per joint: [GT, swap (N), inversion (1), swap-inversion (N)] and their availability
    mirror = np.array([_mirror_index(names, j) if _mirror_index(names, j) is not None else j
                       for j in range(n_joints)])
    has_mirror = mirror != np.arange(n_joints)
    sources = np.concatenate([joints[:, None], near_joints.transpose(1, 0, 2), joints[mirror][:, None],
                              near_joints[:, mirror].transpose(1, 0, 2)], axis=1)  # (J, 2N+2, 2)
    avail = np.concatenate([np.ones((n_joints, 1), bool), near_valid.T, (has_mirror & valid[mirror])[:, None],
                            near_valid[:, mirror].T & has_mirror[:, None]], axis=1)
    role = np.array([0] + [1] * n_near + [2] + [3] * n_near)  # 0 GT, 1 swap, 2 inversion, 3 swap-inversion
    is_gt = (role == 0)[None] & avail

    coco = [_analog(n) for n in names]
    sigma2 = (2.0 * np.array([COCO_SIGMAS[c] for c in coco])) ** 2
    area = max(float(area), 1.0)
    d10, d50, d85, d_good = (np.sqrt(-2.0 * area * sigma2 * np.log(ks)) for ks in (0.10, 0.50, 0.85,
                                                                                   min(params.good_ks, 0.999999)))
    probs = np.array([[params.jitter[1 if few else 0][c], params.miss[2 if very_few else 1 if few else 0][c],
                       params.inversion[c], params.swap[1 if crowded else 0][c]] for c in coco])
    probs = np.concatenate([probs, np.clip(1.0 - probs.sum(1, keepdims=True), 0.0, None)], 1)  # (J,5)

    m, zero = params.num_candidates, np.zeros(n_joints)
    others = avail & ~is_gt
    plan = {  # class -> (centre weights, keep-away set, rmin, rmax, fixed keep-away radius)
        "jitter": (is_gt, others, d85, d50, None),
        "miss": (avail * np.where(role == 0, 1.0, 0.25)[None], avail, d50, d10, d50),
        "inversion": (avail & (role == 2)[None], avail & (role != 2)[None], zero, d50, None),
        "swap": (avail & np.isin(role, (1, 3))[None], avail & np.isin(role, (0, 2))[None], zero, d50, None),
        "good": (is_gt, others, zero, d_good, None),
    }
    cand, found = np.zeros((5, n_joints, 2)), np.zeros((5, n_joints), dtype=bool)
    for k, name in enumerate(_CLASSES):
        weights, avoid, rmin, rmax, fixed = plan[name]
        todo = valid & (probs[:, k] > 0)
        if name == "good" and params.good_ks >= 1.0:
            cand[k], found[k] = joints, todo
            continue
        cand[k], found[k] = _draw(rng, sources, weights.astype(np.float64), avoid, rmin, rmax, fixed, todo, m)

    p = probs * found.T  # classes without a candidate are dropped, the rest renormalised
    total = p.sum(1)
    choice = np.array([rng.choice(5, p=p[j] / total[j]) if total[j] > 0 else 0 for j in range(n_joints)])
    out = cand[choice, np.arange(n_joints)]
    keep = valid & (total > 0) & (rng.random(n_joints) >= params.drop_prob)
    out[~keep] = 0.0
    return out.astype(np.float32), keep.astype(np.float32)


def _mirror_index(names: tuple[str, ...], j: int) -> int | None:
    name = names[j]
    if name[:2] not in ("L_", "R_"):
        return None
    mirror = ("R_" if name.startswith("L_") else "L_") + name[2:]
    return names.index(mirror) if mirror in names else None
