"""3DCrowdNet-style demo: an image + its people's 2D poses (COCO-17) -> one SMPL mesh per person.

    python demo/demo.py --img_idx 0 [--ckpt PATH] [--cfg FILE] [--opts k=v ...] [--input DIR] [--output DIR]

Input (``--input``, default ``demo/input/``): ``images/*.{jpg,jpeg,png}`` (sorted; ``--img_idx`` picks one) and
``2d_pose_result.json`` = ``{image_name: [[17 x [x, y, score]] per person]}`` (3DCrowdNet's demo format: COCO-17
keypoints in image pixels, e.g. from a bottom-up detector). Per person, as the 3DCrowdNet demo: Pelvis / Neck are
added as hip / shoulder midpoints (score = product), keypoints with score > ``--pose_thr`` are valid, the box is
their extent x1.2, then ``process_bbox`` (square, x ``data.bbox_enlarge``); the crop and its input pose
(``crowdnet30``, crop px) go through the model as one batch.

Outputs (``--output``, default ``demo/output/``), for image ``<stem>``: ``<stem>_pose2d.png`` (input poses),
``<stem>_person<k>_mesh.png`` (one mesh over the full image), ``<stem>_all_meshes.png`` (every mesh, z-buffered
together), ``<stem>_person<k>.obj`` and ``<stem>_results.json`` (boxes, cameras, skipped people).

Back to the full image: the crop is an axis-aligned, isotropic scaling (no rotation), so the crop's virtual
camera (focal f, principal point at the crop centre) IS a pinhole camera of the full image with focal
f * (box side / S) and principal point = box centre (``image_camera``): each person's mesh is rendered with
that camera, exactly. For the all-people image each mesh is re-expressed in one shared image camera
(``to_shared_camera``), which preserves every vertex's projection and orders people by their depth rescaled to
that camera. The .obj files keep the model's output frame (the crop camera, metres); their header gives the
equivalent image camera.
"""
from __future__ import annotations

import argparse
import colorsys
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # allow `python demo/demo.py` without an installed package
    sys.path.insert(0, str(REPO_ROOT))

from common.errors import UserError, ensure_output_dir, writing  # noqa: E402

POSE_JSON = "2d_pose_result.json"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
BOX_EXTEND = 1.2  # 3DCrowdNet's get_bbox: keypoint extent x 1.2 before process_bbox


# --- inputs ------------------------------------------------------------------------------------------------
def list_images(input_dir: Path) -> list[Path]:
    """Sorted image files of ``input_dir/images`` (or of ``input_dir`` itself when it has no images/).

    An entry with an image suffix that is not a regular file (a folder, a broken link) is an error naming it:
    skipping it would silently shift every ``--img_idx`` after it.
    """
    folder = input_dir / "images" if (input_dir / "images").is_dir() else input_dir
    if not folder.is_dir():
        raise UserError(f"{input_dir}: input folder not found (--input)")
    entries = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    odd = [p for p in entries if not p.is_file()]
    if odd:
        kind = "a folder" if odd[0].is_dir() else "not a regular file (broken link?)"
        raise UserError(f"{odd[0]}: image entry is {kind}; --img_idx counts the sorted image entries, so rename or "
                        "remove it")
    images = entries
    if not images:
        raise UserError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    return images


def read_pose_json(path: Path) -> dict:
    """The 2D-pose file as {image_name: people}; UserError naming the file when it is missing or malformed."""
    if not path.is_file():
        raise UserError(f"{path}: 2D pose file not found (expected {{image_name: [[17 x [x, y, score]], ...]}})")
    try:
        poses = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(poses, dict):
        raise UserError(f"{path}: top level must be {{image_name: [people]}}, got a {type(poses).__name__}")
    return poses


def person_keypoints(poses: dict, image_name: str, json_path: Path) -> list[np.ndarray]:
    """Validated COCO-17 keypoints (17, 3) = (x px, y px, score) of every person listed for ``image_name``."""
    if image_name not in poses:
        known = ", ".join(sorted(poses)[:5]) + (" ..." if len(poses) > 5 else "")
        raise UserError(f"{json_path}: no entry for image '{image_name}' (entries: {known or 'none'})")
    people = poses[image_name]
    if not isinstance(people, list):
        raise UserError(f"{json_path}: image '{image_name}': expected a list of people, got {type(people).__name__}")
    result = []
    for k, person in enumerate(people):
        try:
            kpts = np.asarray(person, dtype=np.float64)
            got = f"shape {kpts.shape}" if kpts.shape != (17, 3) else "non-finite values"
        except (TypeError, ValueError):  # ragged lists, strings, ...
            kpts, got = None, f"a {type(person).__name__} that is not a 17 x 3 array of numbers"
        if kpts is None or kpts.shape != (17, 3) or not np.isfinite(kpts).all():
            raise UserError(f"{json_path}: image '{image_name}', person {k}: keypoints must be 17 x (x, y, score) "
                            f"finite numbers (COCO-17), got {got}")
        result.append(kpts)
    return result


def add_pelvis_neck(kpts17: np.ndarray) -> np.ndarray:
    """COCO-17 (17, 3) -> ``coco19`` (19, 3): + Pelvis (hip midpoint), Neck (shoulder midpoint); score = product."""
    out = np.concatenate([kpts17, np.zeros((2, 3))], axis=0)
    for row, (a, b) in zip((17, 18), ((11, 12), (5, 6))):  # (L_Hip, R_Hip), (L_Shoulder, R_Shoulder)
        out[row, :2] = (kpts17[a, :2] + kpts17[b, :2]) / 2.0
        out[row, 2] = kpts17[a, 2] * kpts17[b, 2]
    return out


def keypoint_box(xy: np.ndarray, valid: np.ndarray, extend: float = BOX_EXTEND) -> np.ndarray | None:
    """Box (4,) xywh px of the valid keypoints' extent, both sides x ``extend`` about the centre; None if < 2."""
    pts = np.asarray(xy, np.float64)[np.asarray(valid) > 0]
    if len(pts) < 2:
        return None
    lo, hi = pts.min(0), pts.max(0)
    center, size = (lo + hi) / 2.0, (hi - lo) * extend
    return np.array([*(center - size / 2.0), *size], dtype=np.float32)


@dataclass
class PersonCrop:
    index: int  # the person's position in the JSON list
    bbox: np.ndarray  # (4,) crop box xywh, image px
    img_to_crop: np.ndarray  # (2, 3)
    crop_to_img: np.ndarray  # (2, 3)
    crop: np.ndarray  # (S, S, 3) float32 RGB in [0, 1]
    pose2d: np.ndarray  # (30, 2) crowdnet30, crop px
    pose2d_valid: np.ndarray  # (30,) 0/1


def prepare_person(image: np.ndarray, kpts17: np.ndarray, index: int, input_size: int, pose_thr: float,
                   enlarge: float = 1.25) -> PersonCrop | str:
    """Crop + crowdnet30 input pose of one person, or the reason (str) why the person is skipped."""
    from common.geometry.transforms2d import apply_affine, bbox_center_scale, bbox_to_affine, process_bbox, warp_crop
    from common.joint_sets import convert_joints, convert_validity

    kpts = add_pelvis_neck(kpts17)
    valid = (kpts[:, 2] > pose_thr).astype(np.float32)
    box = keypoint_box(kpts[:, :2], valid)
    if box is None:
        return f"fewer than 2 keypoints with score > {pose_thr}"
    s, (height, width) = int(input_size), image.shape[:2]
    bbox = process_bbox(box, (s, s), (width, height), enlarge)
    if bbox is None:
        return "its keypoint box lies outside the image"
    center, scale = bbox_center_scale(bbox)
    img_to_crop = bbox_to_affine(center, scale, 0.0, (s, s))
    crop = warp_crop(image, img_to_crop, (s, s)).astype(np.float32) / 255.0
    pose_crop = apply_affine(kpts[:, :2], img_to_crop)
    pose2d, mask = convert_joints(pose_crop, "coco19", "crowdnet30")
    inside = (pose2d[:, 0] >= 0) & (pose2d[:, 0] < s) & (pose2d[:, 1] >= 0) & (pose2d[:, 1] < s)
    pose_valid = mask * convert_validity(valid, "coco19", "crowdnet30") * inside
    return PersonCrop(index, bbox, img_to_crop, bbox_to_affine(center, scale, 0.0, (s, s), inverse=True), crop,
                      pose2d.astype(np.float32), pose_valid.astype(np.float32))


# --- cameras -----------------------------------------------------------------------------------------------
def image_camera(crop_to_img: np.ndarray, focal: float, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The crop's virtual camera (focal px, principal point at the crop centre) as a camera of the full image.

    Exact for an axis-aligned crop: u_img = a u_crop + t = (a f) x / z + (a S/2 + t). Returns focal (2,),
    princpt (2,) in image px.
    """
    from common.geometry.transforms2d import apply_affine

    m = np.asarray(crop_to_img, np.float64)
    if abs(m[0, 1]) > 1e-9 or abs(m[1, 0]) > 1e-9:
        raise ValueError("image_camera: the crop is rotated; only axis-aligned crops map to a pinhole camera")
    center = apply_affine(np.array([[input_size / 2.0, input_size / 2.0]]), m)[0]
    return np.array([m[0, 0], m[1, 1]]) * focal, center.astype(np.float64)


def to_shared_camera(vertices: np.ndarray, focal: float, princpt: np.ndarray, shared_focal: float,
                     shared_princpt: np.ndarray) -> np.ndarray:
    """Re-express points (V, 3) seen by camera (focal, princpt) in camera (shared_focal, shared_princpt) so
    that every point projects to the same pixel: z' = z F / f, xy' = xy + (c - c') z / f."""
    v = np.asarray(vertices, np.float64)
    z = v[:, 2:3]
    xy = v[:, :2] + (np.asarray(princpt) - np.asarray(shared_princpt)) * z / focal
    return np.concatenate([xy, z * shared_focal / focal], axis=1)


# --- model and outputs -------------------------------------------------------------------------------------
def demo_config(cfg_file: str | None, ckpt: str | None, opts: Sequence[str]):
    """--cfg, else the config saved in our checkpoint (--ckpt), else the defaults; then --opts."""
    import tempfile

    import yaml

    from common.config import ConfigError, load_config

    if cfg_file or not ckpt:
        return load_config(cfg_file, opts), cfg_file or "defaults"
    from common.engine.checkpoint import CheckpointError, read_checkpoint

    try:
        saved = read_checkpoint(ckpt).get("config")
    except CheckpointError:  # an official file (or a broken one: loading the weights reports it)
        saved = None
    if not saved:
        return load_config(None, opts), "defaults"
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        yaml.safe_dump(saved, handle)
        handle.flush()
        try:
            load_config(handle.name)
        except ConfigError as err:  # e.g. a key renamed since the checkpoint was written
            message = str(err).replace(handle.name, "saved config")
            raise UserError(f"{ckpt}: {message} (pass --cfg to use another config)") from None
        return load_config(handle.name, opts), f"the config saved in {ckpt}"


def load_model(cfg, ckpt: str | None, device):
    """The network ``sefd.mode`` selects (the same builder as main/test.py) on ``device`` in eval mode, with
    ``ckpt`` (ours or official) loaded. Edge channels (Canny / RCF) are computed by the model from the crop;
    the SMPL edge sources need GT bodies of every person, which a demo image does not have."""
    from common.body_models import body_model_from_config
    from common.engine import load_model_weights
    from common.models.build import build_experiment_model

    uses_gt_edges = cfg.sefd.mode == "teacher" or (cfg.sefd.mode in ("edge_input", "student")
                                                  and cfg.sefd.edge_source in ("smpl_edge", "smpl_overlap"))
    if uses_gt_edges:
        raise UserError(f"sefd.mode={cfg.sefd.mode} with edge {cfg.sefd.edge_source!r}/{cfg.sefd.teacher_edge!r}: "
                        "the demo has no GT bodies to render SMPL edges from; use a canny or rcf edge source")
    model = build_experiment_model(cfg, body_model_from_config(cfg, kind="smpl"), training=False)
    if ckpt:
        meta = load_model_weights(ckpt, model)
        print(f"loaded {ckpt} (epoch {meta.get('epoch', '?')})")
    else:
        print("WARNING: no --ckpt given: running an UNTRAINED model; the meshes are meaningless "
              "(pass one of our checkpoints or an official 3DCrowdNet/SEFD .pth.tar)", file=sys.stderr)
    return model.to(device).eval()


def person_color(index: int) -> tuple[float, float, float]:
    """Distinct RGB colour in [0, 1] for person ``index`` (golden-ratio hue steps)."""
    return colorsys.hsv_to_rgb((0.1 + index * 0.618034) % 1.0, 0.5, 1.0)


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray, header: Sequence[str] = ()) -> None:
    """Wavefront .obj: ``v x y z`` per vertex, ``f a b c`` (1-based) per face, ``#`` header lines."""
    lines = [f"# {h}" for h in header]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(vertices, np.float64)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces, np.int64)]
    with writing(path, "mesh"):
        path.write_text("\n".join(lines) + "\n")


def save_png(path: Path, image_rgb: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(str(path), np.ascontiguousarray(image_rgb[:, :, ::-1])):
        raise UserError(f"{path}: cannot write the image (is the output folder writable?)")


def draw_inputs(image: np.ndarray, people: list[np.ndarray], crops: list[PersonCrop], pose_thr: float) -> np.ndarray:
    """Input COCO-17 poses (valid keypoints), crop boxes and person indices over the image."""
    import cv2

    from common.joint_sets import skeleton
    from common.render.visualize import draw_pose2d

    out = image.copy()
    for k, kpts in enumerate(people):
        out = draw_pose2d(out, kpts[:, :2], kpts[:, 2] > pose_thr, skeleton("coco17"), person_color(k), 2, 1)
    for crop in crops:
        x, y, w, h = crop.bbox
        colour = tuple(int(255 * c) for c in person_color(crop.index))
        cv2.rectangle(out, (int(x), int(y)), (int(x + w), int(y + h)), colour, 1)
        cv2.putText(out, str(crop.index), (int(x) + 2, int(y) + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1)
    return out


def load_inputs(args: argparse.Namespace) -> tuple[Path, np.ndarray, list[np.ndarray], Path]:
    """(image path, RGB image, people's COCO-17 keypoints, JSON path) of image ``args.img_idx``, validated."""
    from data.image_io import ImageReadError, load_image

    input_dir = Path(args.input)
    images = list_images(input_dir)
    if not 0 <= args.img_idx < len(images):
        raise UserError(f"--img_idx {args.img_idx} is out of range: {images[0].parent} has {len(images)} images "
                        f"(0..{len(images) - 1})")
    image_path = images[args.img_idx]
    json_path = Path(args.pose_json) if args.pose_json else input_dir / POSE_JSON
    people = person_keypoints(read_pose_json(json_path), image_path.name, json_path)
    try:
        image = load_image(image_path)
    except ImageReadError as err:
        raise UserError(str(err)) from None
    return image_path, image, people, json_path


def predict(model, crops: list[PersonCrop], device) -> dict:
    """One batch of all crops through the model -> predictions (4-channel models add their edge channel)."""
    import torch

    batch = {"img": torch.as_tensor(np.stack([c.crop.transpose(2, 0, 1) for c in crops])),
             "pose2d": torch.as_tensor(np.stack([c.pose2d for c in crops])),
             "pose2d_valid": torch.as_tensor(np.stack([c.pose2d_valid for c in crops]))}
    with torch.no_grad():
        return model({k: v.to(device) for k, v in batch.items()})


def write_meshes(out_dir: Path, stem: str, image: np.ndarray, crops: list[PersonCrop], preds: dict,
                 faces: np.ndarray, crop_focal: float, input_size: int) -> tuple[list[Path], list[dict]]:
    """Per-person overlay PNG + .obj and the all-people PNG; returns (files, per-person result dicts)."""
    import torch

    from common.render.visualize import overlay_mesh

    verts = preds["vertices"].float().cpu().numpy()
    shared_focal, shared_c = float(max(image.shape[:2])), np.array([image.shape[1], image.shape[0]]) / 2.0
    written, people, scene_verts, colours = [], [], [], []
    for i, (crop, v) in enumerate(zip(crops, verts)):
        focal, princpt = image_camera(crop.crop_to_img, crop_focal, input_size)
        colour = person_color(crop.index)
        png, obj = out_dir / f"{stem}_person{crop.index}_mesh.png", out_dir / f"{stem}_person{crop.index}.obj"
        save_png(png, overlay_mesh(image, v, faces, focal, princpt, colour))
        camera = f"focal {focal.round(3).tolist()} princpt {princpt.round(3).tolist()} px"
        write_obj(obj, v, faces, [f"{stem} person {crop.index}: vertices in the crop camera (m)",
                                  f"the same camera in image pixels: {camera}"])
        written += [png, obj]
        scene_verts.append(torch.as_tensor(to_shared_camera(v, float(focal.mean()), princpt, shared_focal, shared_c)))
        colours.append(colour)
        people.append({"index": crop.index, "bbox": crop.bbox.astype(float).round(2).tolist(),
                       "image_focal": focal.round(3).tolist(), "image_princpt": princpt.round(3).tolist(),
                       "cam_trans_m": preds["cam_trans"][i].tolist()})
    written.append(out_dir / f"{stem}_all_meshes.png")
    save_png(written[-1], overlay_mesh(image, scene_verts, [torch.as_tensor(faces)] * len(crops),
                                       (shared_focal, shared_focal), shared_c, np.asarray(colours)))
    return written, people


def run_demo(args: argparse.Namespace) -> list[Path]:
    """Validate the inputs, run the model on every person of image ``args.img_idx``, write the outputs."""
    from common.engine import resolve_device

    image_path, image, people, json_path = load_inputs(args)
    if args.ckpt and not Path(args.ckpt).is_file():
        raise UserError(f"{args.ckpt}: checkpoint not found (--ckpt)")
    cfg, cfg_source = demo_config(args.cfg, args.ckpt, args.opts)
    crops = []
    for k, kpts in enumerate(people):
        crop = prepare_person(image, kpts, k, cfg.data.input_size, args.pose_thr, cfg.data.bbox_enlarge)
        if isinstance(crop, str):
            print(f"skipping person {k} of {image_path.name}: {crop}")
        else:
            crops.append(crop)
    out_dir, stem = Path(args.output), image_path.stem
    ensure_output_dir(out_dir, "output folder (--output)")
    written = [out_dir / f"{stem}_pose2d.png"]
    save_png(written[0], draw_inputs(image, people, crops, args.pose_thr))
    print(f"{image_path}: {len(people)} people in {json_path.name}, {len(crops)} to reconstruct; config: {cfg_source}")
    results = {"image": str(image_path), "people": [],
               "skipped": sorted(set(range(len(people))) - {c.index for c in crops})}
    if crops:
        device = resolve_device(cfg.experiment.device)
        model = load_model(cfg, args.ckpt, device)
        regressor = getattr(model, "student", model)  # SEFD wrappers hold the regressor as .student
        preds = {k: v.detach().cpu() for k, v in predict(model, crops, device).items()
                 if hasattr(v, "detach")}
        files, results["people"] = write_meshes(out_dir, stem, image, crops, preds, regressor.faces.cpu().numpy(),
                                                regressor.focal, cfg.data.input_size)
        written += files
    else:
        print(f"warning: no person of {image_path.name} could be reconstructed", file=sys.stderr)
    written.append(out_dir / f"{stem}_results.json")
    with writing(written[-1], "results"):
        written[-1].write_text(json.dumps(results, indent=1))
    print(f"wrote {len(written)} files to {out_dir}")
    return written


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Mesh recovery demo on an image with given 2D poses.")
    parser.add_argument("--img_idx", type=int, required=True, help="index of the image (sorted file names)")
    parser.add_argument("--cfg", default=None, help="experiment YAML (default: the checkpoint's config, or defaults)")
    parser.add_argument("--ckpt", default=None, help="our checkpoint or an official 3DCrowdNet/SEFD .pth.tar")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--input", default=str(REPO_ROOT / "demo" / "input"), help="folder with images/ + JSON")
    parser.add_argument("--pose_json", default=None, help=f"2D pose file (default: <input>/{POSE_JSON})")
    parser.add_argument("--output", default=str(REPO_ROOT / "demo" / "output"), help="output folder")
    parser.add_argument("--pose_thr", type=float, default=0.1, help="keypoint score threshold (3DCrowdNet: 0.1)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from common.engine import CheckpointError, DeviceError

    try:
        run_demo(args)
    except (UserError, CheckpointError, DeviceError, FileNotFoundError) as err:
        message = " | ".join(line.strip() for line in str(err).splitlines() if line.strip())
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
