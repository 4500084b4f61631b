"""51 static face landmarks (iBUG-68 points 17..67) placed on the open mesh by rules (an approximation).

No annotated data exists for this mesh, so the points are found from its geometry and from anny's facial
actions, looking at the face from the front (SMPL frame: +z is the front, the subject's right is -x; iBUG
numbers the subject's right side first):
- eyes: the part of each eyeball visible between the lids gives the eye corners and two points per lid;
- brows: per column above the eye, the height where the brow actions (browDown/browOuterUp/browInnerUp)
  move the skin most;
- mouth: the corners are the lateral ends of the lips (skin that mouthRollUpper/Lower move by >= 30% of
  their maximum); the lip line is where the front surface changes from head- to jaw-driven skin; on the
  midline depth profile, the upper / lower lip bulges and the labiomental fold give the lip heights, which
  set the outer lip points at fixed fractions; the inner lips (closed mouth) sit on the lip line;
- nose: the bridge from eye height down to the tip (most anterior midline point); the nose base at the
  deepest midline point between tip and upper lip, its width from where the sneer actions act most.
Each target (x, y) is projected along -z onto the front-most skin triangle, giving a face index and
barycentric coordinates, as in SMPL-X's ``lmk_faces_idx`` / ``lmk_bary_coords``.
"""
from __future__ import annotations

import numpy as np


class FrontView:
    """Orthographic front view of a set of triangles: front-most hit under (x, y) points."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        self.vertices, self.faces = vertices, faces
        tri = vertices[faces]
        self.tri = tri
        self.a, self.b, self.c = tri[:, 0, :2], tri[:, 1, :2], tri[:, 2, :2]
        self.det = (self.b[:, 0] - self.a[:, 0]) * (self.c[:, 1] - self.a[:, 1]) - \
                   (self.c[:, 0] - self.a[:, 0]) * (self.b[:, 1] - self.a[:, 1])
        self.lo, self.hi = tri[:, :, :2].min(1), tri[:, :, :2].max(1)

    def hit(self, points_xy: np.ndarray, chunk: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P, 2) points -> triangle index (P,) (-1: miss), barycentrics (P, 3), depth z (P,) (-inf: miss)."""
        idx, bary, depth = [], [], []
        for start in range(0, len(points_xy), chunk):
            p = points_xy[start:start + chunk, None, :]  # (P, 1, 2) against the triangles near the chunk
            near = np.nonzero(np.all(self.hi >= p.min((0, 1)), 1) & np.all(self.lo <= p.max((0, 1)), 1))[0]
            if len(near) == 0:
                idx.append(np.full(len(p), -1))
                bary.append(np.zeros((len(p), 3)))
                depth.append(np.full(len(p), -np.inf))
                continue
            a, b, c, det = self.a[near], self.b[near], self.c[near], self.det[near]
            ok = np.abs(det) > 1e-14
            with np.errstate(divide="ignore", invalid="ignore"):
                l1 = ((p[..., 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (p[..., 1] - a[:, 1])) / det
                l2 = ((b[:, 0] - a[:, 0]) * (p[..., 1] - a[:, 1]) - (p[..., 0] - a[:, 0]) * (b[:, 1] - a[:, 1])) / det
            w = np.stack([1.0 - l1 - l2, l1, l2], -1)  # (P, F, 3)
            inside = ok & np.all(w >= -1e-9, -1)
            z = np.where(inside, (w * self.tri[near][None, :, :, 2]).sum(-1), -np.inf)
            best = np.argmax(z, 1)
            rows = np.arange(len(best))
            found = np.isfinite(z[rows, best])
            idx.append(np.where(found, near[best], -1))
            bary.append(np.where(found[:, None], w[rows, best], 0.0))
            depth.append(z[rows, best])
        return np.concatenate(idx), np.concatenate(bary), np.concatenate(depth)

    def sample(self, points_xy: np.ndarray, per_vertex: np.ndarray) -> np.ndarray:
        """Interpolate a per-vertex field at the front-most hit of each point (NaN on a miss)."""
        idx, bary, _ = self.hit(points_xy)
        out = (per_vertex[self.faces[idx]] * bary).sum(1)
        return np.where(idx >= 0, out, np.nan)


def _grid(x0, x1, y0, y1, step=0.0007):
    xs, ys = np.arange(x0, x1, step), np.arange(y0, y1, step)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], 1)


def _eye(view: FrontView, is_eyeball_face: np.ndarray, eyeball_vertices: np.ndarray, lateral: float) -> dict:
    """Corners and lid points of one eye from its visible eyeball area (lateral = +1 left eye, -1 right)."""
    centre = view.vertices[eyeball_vertices].mean(0)
    r = np.linalg.norm(view.vertices[eyeball_vertices] - centre, axis=1).max()
    pts = _grid(centre[0] - 1.6 * r, centre[0] + 1.6 * r, centre[1] - 1.2 * r, centre[1] + 1.2 * r)
    idx, _, _ = view.hit(pts)
    vis = pts[(idx >= 0) & is_eyeball_face[np.maximum(idx, 0)]]
    outer_x = vis[:, 0].max() if lateral > 0 else vis[:, 0].min()
    inner_x = vis[:, 0].min() if lateral > 0 else vis[:, 0].max()
    margin = 0.0005  # place the corners just outside the opening
    out = {"outer": np.array([outer_x + lateral * margin, vis[np.abs(vis[:, 0] - outer_x) < 0.0015, 1].mean()]),
           "inner": np.array([inner_x - lateral * margin, vis[np.abs(vis[:, 0] - inner_x) < 0.0015, 1].mean()])}
    for name, t in (("a", 1 / 3), ("b", 2 / 3)):  # a: nearer the outer corner
        x = outer_x + t * (inner_x - outer_x)
        col = vis[np.abs(vis[:, 0] - x) < 0.0008, 1]
        out[f"upper_{name}"] = _lid_point(view, is_eyeball_face, x, col.max(), +1.0)
        out[f"lower_{name}"] = _lid_point(view, is_eyeball_face, x, col.min(), -1.0)
    return out


def _lid_point(view: FrontView, is_eyeball_face: np.ndarray, x: float, edge_y: float, direction: float,
               step: float = 0.00025, limit: float = 0.006) -> np.ndarray:
    """The lid point above (direction +1) / below (-1) the eye opening's edge at column x.

    Moving outward from the last eyeball-visible height, the first point whose front-most surface is skin lying
    no deeper than 4 mm behind the eyeball's visible surface is on the lid. A fixed offset is not enough: on a
    coarse grid it can fall in the opening where the front-most skin is the socket behind the eyeball (open
    model v1 put two upper-lid landmarks ~3 cm deep that way).
    """
    _, _, eye_z = view.hit(np.array([[x, edge_y]]))
    front_z = float(eye_z[0]) if np.isfinite(eye_z[0]) else -np.inf
    for k in range(1, int(limit / step) + 1):
        y = edge_y + direction * k * step
        idx, _, z = view.hit(np.array([[x, y]]))
        if idx[0] >= 0 and not is_eyeball_face[idx[0]] and z[0] >= front_z - 0.004:
            return np.array([x, y])
    raise ValueError(f"no lid skin within {limit * 1000:.0f} mm of the eye opening at x={x:.4f}")


def _peak_y(view: FrontView, x: float, y0: float, y1: float, field: np.ndarray) -> float:
    """Height in [y0, y1] where a per-vertex field, sampled on the front surface at x, is largest."""
    ys = np.arange(y0, y1, 0.0005)
    values = view.sample(np.stack([np.full_like(ys, x), ys], 1), field)
    return float(ys[np.nanargmax(values)])


def landmark_targets(view: FrontView, eyes: dict[str, dict], actions: dict[str, np.ndarray],
                     jaw_face: np.ndarray) -> np.ndarray:
    """(51, 2) frontal (x, y) targets of iBUG points 17..67 (see the module docstring)."""
    v = view.vertices
    left, right = eyes["left"], eyes["right"]
    eye_y = 0.5 * (left["inner"][1] + right["inner"][1])
    eye_w = abs(left["outer"][0] - left["inner"][0])
    icd = abs(left["inner"][0] - right["inner"][0])
    lips = actions["mouthRollUpper"] + actions["mouthRollLower"]
    on_face = np.zeros(len(v), dtype=bool)
    on_face[view.faces] = True
    lip_region = on_face & (lips >= 0.3 * lips[on_face].max()) & (v[:, 1] < eye_y)
    corners = {side: v[lip_region][np.argmax(sign * v[lip_region, 0]), :2]
               for side, sign in (("Left", 1.0), ("Right", -1.0))}
    mouth_y = 0.5 * (corners["Left"][1] + corners["Right"][1])
    half = 0.5 * (corners["Left"][0] - corners["Right"][0])

    ys = np.arange(mouth_y - 2.0 * half, eye_y, 0.0005)  # midline depth profile
    _, _, depth = view.hit(np.stack([np.zeros_like(ys), ys], 1))
    tip_y = float(ys[np.argmax(np.where(ys > mouth_y, depth, -np.inf))])

    def lip_line(x: float) -> float:
        col = np.arange(mouth_y - 0.5 * half, mouth_y + 0.5 * half, 0.0003)
        hit, _, _ = view.hit(np.stack([np.full_like(col, x), col], 1))
        jaw = jaw_face[np.maximum(hit, 0)] & (hit >= 0)
        return float(col[jaw].max()) if jaw.any() else mouth_y

    def extreme(lo: float, hi: float, largest: bool) -> float:
        inside = (ys > lo) & (ys < hi)
        pick = np.argmax(depth[inside]) if largest else np.argmin(depth[inside])
        return float(ys[inside][pick])

    stomion = {fx: lip_line(fx * half) for fx in (-0.6, -0.45, -0.25, 0.0, 0.25, 0.45, 0.6)}
    reach = tip_y - stomion[0.0]
    ls_y = extreme(stomion[0.0], stomion[0.0] + 0.35 * reach, True)  # upper lip bulge (labrale superius)
    sub_y = extreme(ls_y, tip_y, False)  # deepest point under the nose
    li_y = extreme(stomion[0.0] - 0.35 * reach, stomion[0.0], True)  # lower lip bulge
    groove_y = extreme(stomion[0.0] - 0.7 * reach, li_y, False)  # labiomental fold
    h_up, h_low = ls_y - stomion[0.0], stomion[0.0] - (li_y - 0.3 * (li_y - groove_y))
    sneer = actions["noseSneerLeft"] + actions["noseSneerRight"]
    ala = abs(v[np.argmax(np.where((v[:, 1] < tip_y) & (v[:, 1] > sub_y), sneer, -1.0)), 0])
    ala = float(np.clip(ala, 0.3 * icd, 0.6 * icd))

    pts: list[tuple[float, float]] = []
    brow = actions["browDownLeft"] + actions["browDownRight"] + actions["browInnerUp"] + \
        actions["browOuterUpLeft"] + actions["browOuterUpRight"]
    for eye, reverse in ((right, False), (left, True)):  # 17-21 right outer->inner, 22-26 left inner->outer
        span = eye["outer"][0] - eye["inner"][0]
        xs = np.linspace(eye["outer"][0] + 0.15 * span, eye["inner"][0] - 0.05 * span, 5)
        seq = [(x, _peak_y(view, x, eye_y + 0.3 * eye_w, eye_y + 1.3 * eye_w, brow)) for x in xs]
        pts += seq[::-1] if reverse else seq
    for t in np.linspace(0.0, 1.0, 4):  # 27-30 bridge to tip
        pts.append((0.0, eye_y + 0.1 * eye_w + t * (tip_y - eye_y - 0.1 * eye_w)))
    for fx, fy in ((-0.9, 0.45), (-0.45, 0.2), (0.0, 0.0), (0.45, 0.2), (0.9, 0.45)):  # 31-35 nose base
        pts.append((fx * ala, sub_y + fy * (tip_y - sub_y)))
    pts += [tuple(right[k]) for k in ("outer", "upper_a", "upper_b", "inner", "lower_b", "lower_a")]  # 36-41
    pts += [tuple(left[k]) for k in ("inner", "upper_b", "upper_a", "outer", "lower_a", "lower_b")]  # 42-47
    pts.append(tuple(corners["Right"]))  # 48
    for fx, fh in ((-0.6, 0.7), (-0.25, 1.05), (0.0, 1.0), (0.25, 1.05), (0.6, 0.7)):  # 49-53 upper lip
        pts.append((fx * half, stomion[fx] + fh * h_up))
    pts.append(tuple(corners["Left"]))  # 54
    for fx, fh in ((0.6, 0.65), (0.25, 0.95), (0.0, 1.0), (-0.25, 0.95), (-0.6, 0.65)):  # 55-59 lower lip
        pts.append((fx * half, stomion[fx] - fh * h_low))
    eps = 0.0006  # 60-67 inner lips of a closed mouth: just above / below the lip line
    pts.append((corners["Right"][0] + 0.1 * half, corners["Right"][1]))
    pts += [(fx * half, stomion[fx] + eps) for fx in (-0.45, 0.0, 0.45)]
    pts.append((corners["Left"][0] - 0.1 * half, corners["Left"][1]))
    pts += [(fx * half, stomion[fx] - eps) for fx in (0.45, 0.0, -0.45)]
    return np.array(pts, dtype=np.float64)


def place_landmarks(vertices: np.ndarray, faces: np.ndarray, skin: np.ndarray, eyeballs: tuple[np.ndarray, np.ndarray],
                    jaw: np.ndarray, head: np.ndarray, actions: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(lmk_faces_idx (51,), lmk_bary_coords (51, 3)) on the front skin of the head.

    Args:
        vertices: (V, 3) mean rest mesh (SMPL frame); faces: (F, 3); skin: (V,) bool body-surface vertices;
        eyeballs: vertex ids of the (left, right) eyeball; jaw / head: (V,) bool vertices driven by the jaw /
        the rest of the head; actions: facial-action name -> (V,) displacement magnitude per unit action.
    """
    in_head = (head | jaw)[faces].all(1)
    normals = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    front = in_head & (normals[:, 2] > 0) & (vertices[faces].mean(1)[:, 2] > vertices[head, 2].mean())
    eye_vertices = np.zeros(len(vertices), dtype=bool)
    eye_vertices[np.concatenate(eyeballs)] = True
    with_eyes = np.nonzero(front & (skin[faces].all(1) | eye_vertices[faces].all(1)))[0]
    view = FrontView(vertices, faces[with_eyes])
    is_eyeball = eye_vertices[faces[with_eyes]].all(1)
    eyes = {"left": _eye(view, is_eyeball, eyeballs[0], 1.0), "right": _eye(view, is_eyeball, eyeballs[1], -1.0)}
    skin_faces = np.nonzero(front & skin[faces].all(1))[0]
    skin_view = FrontView(vertices, faces[skin_faces])
    jaw_face = jaw[faces[skin_faces]].sum(1) >= 2
    targets = landmark_targets(skin_view, eyes, actions, jaw_face)
    idx, bary, _ = skin_view.hit(targets)
    if (idx < 0).any():
        raise ValueError(f"face landmarks {np.nonzero(idx < 0)[0] + 17} do not project onto the face")
    return skin_faces[idx], bary
