"""Geometry utilities: rotations, Procrustes alignment, cameras and 2D crop transforms."""
from common.geometry.camera import (
    crowdnet_cam_translation,
    crowdnet_depth_scale,
    crowdnet_virtual_camera,
    perspective_project,
)
from common.geometry.procrustes import procrustes_transform, rigid_procrustes, similarity_procrustes
from common.geometry.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rot6d,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rot6d_to_axis_angle,
    rot6d_to_matrix,
)
from common.geometry.transforms2d import (
    apply_affine,
    bbox_center_scale,
    bbox_to_affine,
    invert_affine,
    process_bbox,
    warp_crop,
)

__all__ = [
    "apply_affine", "axis_angle_to_matrix", "axis_angle_to_quaternion", "bbox_center_scale", "bbox_to_affine",
    "crowdnet_cam_translation", "crowdnet_depth_scale", "crowdnet_virtual_camera", "invert_affine",
    "matrix_to_axis_angle", "matrix_to_quaternion", "matrix_to_rot6d", "perspective_project", "process_bbox",
    "procrustes_transform", "quaternion_to_axis_angle", "quaternion_to_matrix", "rigid_procrustes",
    "rot6d_to_axis_angle", "rot6d_to_matrix", "similarity_procrustes", "warp_crop",
]
