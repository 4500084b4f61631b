"""PersonRecord: one annotated person, the common output of every dataset adapter.

Units: pixels in the original image for 2D quantities (x right, y down, origin at the top-left pixel
centre), metres in the camera frame (x right, y down, z forward) for 3D ones, radians for axis-angles.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.errors import UserError
from common.joint_sets import JOINT_SETS, num_joints

GENDERS = {"neutral": 0, "male": 1, "female": 2}


class RecordError(UserError, ValueError):
    """A record field has a wrong shape, NaN/inf values or an unknown name."""


@dataclass
class PersonRecord:
    """One annotated person. Optional fields are ``None`` when the dataset does not provide them.

    Attributes:
        image_path: image file (absolute, or relative to the working directory).
        bbox: (4,) tight person box, xywh px.
        focal, princpt: (2,) camera intrinsics, px (datasets without a camera use a virtual one).
        joints2d, joints2d_valid: (J,2) px and (J,) 0/1, GT 2D joints in convention ``joints_convention``.
        joints3d, joints3d_valid: (J,3) m camera frame (absolute, not root-relative) and (J,) 0/1.
        smpl_pose: (72,) axis-angle, camera frame (joint 0 = global orient). smpl_betas: (10,).
        smpl_transl: (3,) m, SMPL translation in the camera frame. smpl_gender: neutral | male | female.
        smplx_pose: (55,3) SMPL-X axis-angle, camera frame (row 0 = global orient, SMPL-X joint order, eyes
            zero), ABSOLUTE finger rotations (common/wholebody/params.py). smplx_betas, smplx_expression: (10,).
        smplx_transl: (3,) m, so that ``WholeBodyLayer(pose, betas, expression, transl)`` is the person's mesh.
        left_hand_valid, right_hand_valid, face_valid: 0/1 whether that part is seen well enough to supervise it
            (None: unknown, e.g. a dataset without whole-body labels).
        pose2d_input, pose2d_input_valid: (K,2) px, (K,) detector 2D pose in ``pose2d_input_convention``.
        others_smpl_pose/betas/transl: (N,72), (N,10), (N,3) the other people of the same image.
        others_joints2d, others_joints2d_valid: (N,J,2) px, (N,J) their 2D joints in ``joints_convention``.
        others_bbox: (N,4) their tight boxes, xywh px.
        image_hw: (height, width) of the image in px, when known without reading it.
        occlusion: fraction of the person hidden by others, -1 when unknown.
        dataset, sequence, image_id, person_id: identity of the record; meta: anything else (JSON-able).
    """

    image_path: str
    bbox: np.ndarray
    focal: np.ndarray
    princpt: np.ndarray
    joints_convention: str = "crowdnet30"
    joints2d: np.ndarray | None = None
    joints2d_valid: np.ndarray | None = None
    joints3d: np.ndarray | None = None
    joints3d_valid: np.ndarray | None = None
    smpl_pose: np.ndarray | None = None
    smpl_betas: np.ndarray | None = None
    smpl_transl: np.ndarray | None = None
    smpl_gender: str = "neutral"
    smplx_pose: np.ndarray | None = None
    smplx_betas: np.ndarray | None = None
    smplx_expression: np.ndarray | None = None
    smplx_transl: np.ndarray | None = None
    left_hand_valid: float | None = None
    right_hand_valid: float | None = None
    face_valid: float | None = None
    pose2d_input: np.ndarray | None = None
    pose2d_input_valid: np.ndarray | None = None
    pose2d_input_convention: str = "coco17"
    others_smpl_pose: np.ndarray | None = None
    others_smpl_betas: np.ndarray | None = None
    others_smpl_transl: np.ndarray | None = None
    others_joints2d: np.ndarray | None = None
    others_joints2d_valid: np.ndarray | None = None
    others_bbox: np.ndarray | None = None
    image_hw: tuple[int, int] | None = None
    occlusion: float = -1.0
    dataset: str = ""
    sequence: str = ""
    image_id: Any = None
    person_id: Any = None
    meta: dict = field(default_factory=dict)

    @property
    def has_smpl(self) -> bool:
        return self.smpl_pose is not None and self.smpl_betas is not None

    @property
    def has_smplx(self) -> bool:
        return self.smplx_pose is not None and self.smplx_betas is not None

    @property
    def has_3d(self) -> bool:
        return self.joints3d is not None or self.has_smpl

    def validate(self, source: str = "") -> "PersonRecord":
        """Check shapes, names and finiteness; raise RecordError naming ``source`` and the field. Returns self."""
        where = source or self.image_path

        def fail(name: str, what: str) -> None:
            raise RecordError(f"{where}: PersonRecord.{name} {what} (person {self.person_id!r})")

        def check(name: str, shape: tuple, optional: bool = True) -> None:
            value = getattr(self, name)
            if value is None:
                if not optional:
                    fail(name, "is missing")
                return
            arr = np.asarray(value)
            if arr.shape != shape and not (None in shape and _matches(arr.shape, shape)):
                fail(name, f"has shape {arr.shape}, expected {tuple('N' if s is None else s for s in shape)}")
            if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
                fail(name, "has NaN/inf or non-numeric values")

        for conv_field in ("joints_convention", "pose2d_input_convention"):
            if getattr(self, conv_field) not in JOINT_SETS:
                fail(conv_field, f"'{getattr(self, conv_field)}' is not a known joint set")
        if self.smpl_gender not in GENDERS:
            fail("smpl_gender", f"'{self.smpl_gender}' is not one of {', '.join(GENDERS)}")
        j, k = num_joints(self.joints_convention), num_joints(self.pose2d_input_convention)
        check("bbox", (4,), optional=False)
        check("focal", (2,), optional=False)
        check("princpt", (2,), optional=False)
        check("joints2d", (j, 2))
        check("joints2d_valid", (j,))
        check("joints3d", (j, 3))
        check("joints3d_valid", (j,))
        check("smpl_pose", (72,))
        check("smpl_betas", (10,))
        check("smpl_transl", (3,))
        check("smplx_pose", (55, 3))
        check("smplx_betas", (10,))
        check("smplx_expression", (10,))
        check("smplx_transl", (3,))
        for flag in ("left_hand_valid", "right_hand_valid", "face_valid"):
            if getattr(self, flag) is not None and getattr(self, flag) not in (0, 1):
                fail(flag, f"must be 0, 1 or None, got {getattr(self, flag)!r}")
        if (self.smplx_expression is not None or self.smplx_transl is not None) and not self.has_smplx:
            fail("smplx_pose", "and smplx_betas must be given with smplx_expression / smplx_transl")
        check("pose2d_input", (k, 2))
        check("pose2d_input_valid", (k,))
        check("others_smpl_pose", (None, 72))
        check("others_smpl_betas", (None, 10))
        check("others_smpl_transl", (None, 3))
        check("others_joints2d", (None, j, 2))
        check("others_joints2d_valid", (None, j))
        check("others_bbox", (None, 4))
        for a, b in (("joints2d", "joints2d_valid"), ("joints3d", "joints3d_valid"),
                     ("pose2d_input", "pose2d_input_valid"), ("others_joints2d", "others_joints2d_valid")):
            if (getattr(self, a) is None) != (getattr(self, b) is None):
                fail(b, f"must be given together with {a}")
        if self.bbox[2] <= 0 or self.bbox[3] <= 0:
            fail("bbox", f"has non-positive size {np.asarray(self.bbox).tolist()}")
        return self

    def replace(self, **changes: Any) -> "PersonRecord":
        return dataclasses.replace(self, **changes)


def _matches(shape: tuple, pattern: tuple) -> bool:
    return len(shape) == len(pattern) and all(p is None or s == p for s, p in zip(shape, pattern))
