"""Demo inputs: images + 3DCrowdNet-format 2D poses -> PersonRecords -> samples of the shared mapper.

``2d_pose_result.json`` = ``{image_name: [[17 x [x, y, score]] per person]}`` (COCO-17 keypoints in image
pixels). Per person, as the 3DCrowdNet demo: Pelvis / Neck are added as hip / shoulder midpoints (score =
product), keypoints with score > ``pose_thr`` are valid, the box is their extent x1.2; the record then goes
through ``data/mapper.py`` in test mode like any dataset's (``process_bbox``: square, x ``data.bbox_enlarge``;
crop; ``crowdnet30`` input pose in crop px).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from common.errors import UserError

if TYPE_CHECKING:  # torch and the data pipeline load lazily: bad arguments fail fast on a loaded machine
    import torch

    from data.mapper import Mapper
    from data.records import PersonRecord

POSE_JSON = "2d_pose_result.json"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
BOX_EXTEND = 1.2  # 3DCrowdNet's get_bbox: keypoint extent x 1.2 before process_bbox


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
    if not entries:
        raise UserError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    return entries


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


def load_inputs(input_dir: Path, img_idx: int, pose_json: str | None
                ) -> tuple[Path, np.ndarray, list[np.ndarray], Path]:
    """(image path, RGB image (H,W,3) uint8, people's COCO-17 keypoints, JSON path) of image ``img_idx``."""
    images = list_images(input_dir)
    if not 0 <= img_idx < len(images):
        raise UserError(f"--img_idx {img_idx} is out of range: {images[0].parent} has {len(images)} images "
                        f"(0..{len(images) - 1})")
    image_path = images[img_idx]
    json_path = Path(pose_json) if pose_json else input_dir / POSE_JSON
    people = person_keypoints(read_pose_json(json_path), image_path.name, json_path)
    from data.image_io import ImageReadError, load_image

    try:
        image = load_image(image_path)
    except ImageReadError as err:
        raise UserError(str(err)) from None
    return image_path, image, people, json_path


def person_record(image_path: Path, image_hw: tuple[int, int], kpts17: np.ndarray, index: int,
                  pose_thr: float) -> PersonRecord | str:
    """The PersonRecord of one person (input pose ``coco19``, box = keypoint extent x1.2), or the reason
    (str) why the person is skipped. The camera is a virtual one (focal = the image's longer side, principal
    point at its centre): the mesh is rendered with the crop's own camera (demo/render.py)."""
    from data.adapters.ehf import keypoint_bbox
    from data.adapters.pw3d.shared import add_midpoint
    from data.records import PersonRecord

    kpts = add_midpoint(add_midpoint(np.asarray(kpts17, np.float64), 11, 12), 5, 6)  # + Pelvis, + Neck
    valid = (kpts[:, 2] > pose_thr).astype(np.float32)
    box = keypoint_bbox(kpts[:, :2], valid, BOX_EXTEND)
    if box is None:
        return f"fewer than 2 keypoints with score > {pose_thr} (or no extent)"
    height, width = image_hw
    return PersonRecord(image_path=str(image_path), bbox=box.astype(np.float32),
                        focal=np.full(2, float(max(height, width)), np.float32),
                        princpt=np.array([width / 2.0, height / 2.0], np.float32),
                        pose2d_input=kpts[:, :2].astype(np.float32), pose2d_input_valid=valid,
                        pose2d_input_convention="coco19", image_hw=(int(height), int(width)), dataset="demo",
                        image_id=image_path.name, person_id=int(index))


@dataclass
class PersonInput:
    """One person ready for the model: its JSON index, crop box (4,) xywh image px, crop -> image affine
    (2, 3) and the mapper's sample (``img`` (3,S,S), ``pose2d`` (30,2), ``pose2d_valid`` (30,), ...)."""

    index: int
    bbox: np.ndarray
    crop_to_img: np.ndarray
    sample: dict[str, torch.Tensor]


def person_input(mapper: Mapper, record: PersonRecord | str, index: int) -> PersonInput | str:
    """The mapper's test-mode sample of ``record`` (or the reason, str, why the person is skipped)."""
    from data.mapper import MapperError

    if isinstance(record, str):
        return record
    try:
        sample = mapper(record, index)
    except MapperError:
        return "its keypoint box lies outside the image"
    return PersonInput(index, sample["bbox"].numpy().astype(np.float32),
                       sample["crop_to_img"].numpy().astype(np.float64), sample)
