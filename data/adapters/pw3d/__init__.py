"""3DPW (ECCV 2018) in its two public formats -> PersonRecords in the camera frame.

Official: ``sequenceFiles/{train,validation,test}/<seq>.pkl`` (latin-1 pickles; per person: ``poses`` (N,72)
world axis-angle, ``trans`` (N,3), ``betas`` (10,) [or more; the first 10 are used], ``poses2d`` (N,3,18)
OpenPose-18 x/y/conf, ``jointPositions`` (N,72) world, ``campose_valid`` (N,), ``genders`` 'm'/'f'; per frame:
``cam_poses`` (N,4,4) world->camera, ``img_frame_ids`` (N,); ``cam_intrinsics`` (3,3)), images
``imageFiles/<seq>/image_%05d.jpg`` (:mod:`.official`).

3DCrowdNet (COCO style): ``[data/]3DPW_latest_{split}.json`` (images: ``file_name``, ``sequence``, ``width``,
``height``, ``cam_param{focal, princpt}``; annotations: ``image_id``, ``bbox``, ``smpl_param{pose, shape,
trans, gender}`` already in the camera frame, ``openpose_result`` 18x3) and HigherHRNet inputs
``3DPW_{split}_crowd_hhrnet_result.json`` (``{ann_id: {coco_joints 17x3, img_id}}``) (:mod:`.crowdnet_json`).

Crops (``crop``): 'pose2d' (3DCrowdNet test: box of the input 2D joints with confidence > 0.05, sides x1.2,
sanitised to the image; GT box when fewer than 2 joints) or 'gt' (the annotated box: SEFD's edge models).
Helpers both formats use live in :mod:`.shared`; :mod:`.load` reads a subset in either format.
"""
from data.adapters.pw3d.load import lazy_rest_pelvis, load_pw3d_records, read_pw3d
from data.adapters.pw3d.official import read_official_sequence, rest_pelvis_from_models, world_to_camera_smpl
from data.adapters.pw3d.shared import Pw3dError, RestPelvisFn, add_midpoint, sanitize_bbox

__all__ = ["Pw3dError", "RestPelvisFn", "add_midpoint", "lazy_rest_pelvis", "load_pw3d_records",
           "read_official_sequence", "read_pw3d", "rest_pelvis_from_models", "sanitize_bbox", "world_to_camera_smpl"]
