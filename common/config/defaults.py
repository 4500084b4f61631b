"""Typed defaults of every configuration key, one comment per key.

An experiment YAML overrides these, command-line ``--opts section.key=value`` override the YAML, and
:func:`common.config.loader.load_config` validates the result and returns a frozen :class:`Config`.
Sections are plain frozen dataclasses so that every key, its type and its default live in one place.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from common.config.frozen import FrozenDict


@dataclass(frozen=True)
class ExperimentCfg:
    name: str = "default"  # run name; the run folder is <output_dir>/<name>
    output_dir: str = "output"  # parent folder of run folders (relative to the working directory)
    seed: int = 0  # global seed: python, numpy, torch and data-loader workers
    device: str = "auto"  # 'auto' (cuda if available, else cpu) | 'cpu' | 'cuda' | 'cuda:N'
    deterministic: bool = True  # deterministic algorithms on CPU (cudnn.benchmark off when True)
    num_threads: int = 0  # CPU compute threads of each process (0 = PyTorch default); see docs/benchmarks.md
    overwrite: bool = False  # a fresh run may delete an earlier run's checkpoints in its folder (train.py --overwrite)


@dataclass(frozen=True)
class BodyModelCfg:
    source: str = "open"  # 'open': embedded anny-built model (built into the cache on first use) | 'official'
    smpl_path: str = ""  # official SMPL file or folder (SMPL_NEUTRAL.pkl/.npz), from smpl.is.tue.mpg.de
    smplx_path: str = ""  # official SMPL-X file or folder (SMPLX_NEUTRAL.npz), from smpl-x.is.tue.mpg.de
    mano_path: str = ""  # official MANO file or folder (MANO_RIGHT.pkl), from mano.is.tue.mpg.de
    gender: str = "neutral"  # body model used for predictions: 'neutral' | 'male' | 'female'
    h36m_regressor_path: str = ""  # official source: J_regressor_h36m_correct.npy (H36M-17 joints)
    extra_regressor_path: str = ""  # official source: J_regressor_extra.npy (row 3 = head top)


@dataclass(frozen=True)
class SyntheticCfg:
    num_train_images: int = 400  # synthetic training images (each has 1-5 people; every person is a sample)
    num_test_images: int = 100  # synthetic test images
    image_size: int = 320  # square side of a rendered scene image (px)
    min_people: int = 1  # fewest people per scene
    max_people: int = 5  # most people per scene
    seed: int = 1234  # generator seed; the cache key includes every synthetic.* key
    occlusion_strata: tuple[float, ...] = (0.1, 0.3)  # occlusion-ratio bin edges: low < 0.1 <= mid < 0.3 <= high


@dataclass(frozen=True)
class WholeBodyWorldCfg:
    num_train_images: int = 400  # whole-body synthetic training images (every visible person is a sample)
    num_test_images: int = 50  # whole-body synthetic test images
    image_size: int = 512  # square side of a rendered image (px); people are large so hands and faces are visible
    min_people: int = 1  # fewest people per scene
    max_people: int = 2  # most people per scene
    seed: int = 4321  # generator seed; the cache key includes every wholebody_world.* key
    ehf_frames: int = 100  # frames of the EHF-format export (data.roots.ehf=embedded), 1600x1200 like EHF


@dataclass(frozen=True)
class DataCfg:
    train_sets: tuple[str, ...] = ("synthetic",)  # dataset names for training (see data.registry)
    train_weights: tuple[float, ...] = ()  # per-dataset sampling weights; empty = 3DCrowdNet 3D/2D 50/50 scheme
    test_set: str = "synthetic"  # dataset evaluated by main/test.py and periodic evaluation
    test_subset: str = ""  # named subset of the test set ('' = all; e.g. 'high_occlusion', '3dpw_crowd')
    roots: dict = field(default_factory=FrozenDict)  # dataset name -> root folder of the user's copy
    # dataset name -> adapter keyword overrides (filters, files)
    adapter_options: dict = field(default_factory=FrozenDict)
    input_size: int = 256  # square network input crop (px); heatmaps are input_size/4
    bbox_enlarge: float = 1.25  # crop = tight person box enlarged by this factor
    augment: bool = True  # training augmentation (scale, rotation, flip, colour) on/off
    scale_jitter: float = 0.25  # random crop scale factor in [1-s, 1+s]
    rot_jitter_deg: float = 30.0  # random rotation range (deg), applied with probability rot_prob
    rot_prob: float = 0.6  # probability of rotating a training crop
    flip_prob: float = 0.5  # probability of a horizontal flip
    color_jitter: float = 0.2  # per-channel colour gain in [1-c, 1+c]
    pose2d_noise: bool = True  # synthesize input 2D poses from GT the way 3DCrowdNet's posefix does
    batch_size: int = 8  # training batch size per process
    num_workers: int = 2  # data-loader worker processes per training process
    render_workers: int = -1  # processes rendering a world on first use: -1 = 1 per core (<= 8; 64+ images), 0 = here
    synthetic: SyntheticCfg = field(default_factory=SyntheticCfg)  # the embedded synthetic world
    wholebody_world: WholeBodyWorldCfg = field(default_factory=WholeBodyWorldCfg)  # the embedded whole-body world


@dataclass(frozen=True)
class ModelCfg:
    family: str = "crowdnet"  # 'crowdnet' (3DCrowdNet/SEFD SMPL regressor) | 'wholebody' (ExPose-style SMPL-X)
    backbone: str = "resnet50"  # resnet18 | resnet34 | resnet50 | resnet101 | resnet152 (whole body: the body network)
    pretrained: str = ""  # '' = random init | 'imagenet' (torchvision weights; needs a download) | path to .pth
    pose_head: str = "6d"  # '6d': per-joint 6D rotations (no licensed file) | 'vposer': VPoser v1 decoder
    vposer_path: str = ""  # VPoser v1 checkpoint (the user's file), used when pose_head='vposer'
    node_pose2d: bool = False  # graph nodes also see the input 2D pose (not in 3DCrowdNet; official files need False)
    zero_init_residual: bool = False  # random-init backbone: residual blocks start as identity (last BN gamma 0)
    mean_params: str = ""  # SPIN-layout mean SMPL params the heads start from ('' = official identity init); the
    # embedded world's: assets/mean_params_open.npz (tool/make_mean_params.py); relative paths: cwd, then repo root
    num_input_joints: int = 30  # input 2D joints rendered as heatmaps (3DCrowdNet: 30)
    heatmap_sigma: float = 2.5  # Gaussian sigma (heatmap px) of the input joint heatmaps
    depth_bins: int = 8  # PositionNet depth bins (the 8x8x8 volume of 3DCrowdNet)
    graph_hidden: int = 128  # RotationNet graph-conv width
    graph_blocks: int = 4  # residual graph-conv blocks after the first one
    input_channels: int = 3  # 3 = RGB; 4 = RGB + edge map; derived from sefd.mode when not given (must agree)


@dataclass(frozen=True)
class LossCfg:
    joint_img: float = 1.0  # L1 on PositionNet (x, y, z) of the 15 graph joints, heatmap units
    smpl_joint_img: float = 1.0  # L1 on PositionNet coords vs. joints of the GT mesh (when SMPL GT exists)
    joint_proj: float = 1.0  # L1 on projected 30 joints vs. GT 2D, heatmap units
    joint_cam: float = 1.0  # L1 on root-relative 3D joints (m) vs. GT 3D
    smpl_joint_cam: float = 1.0  # L1 on root-relative 3D joints vs. joints of the GT mesh
    pose_param: float = 1.0  # L1 on axis-angle pose params vs. GT SMPL pose
    shape_param: float = 1.0  # L1 on betas vs. GT betas
    reprojection_trains_pose: bool = True  # False: joint_proj trains only the camera (pose/shape detached there)
    root_param: float = 0.0  # L1 on the global-orientation rotation matrix alone (0 = official: only inside pose_param)
    pose_rep: str = "axis_angle"  # pose_param on 'axis_angle' (official) | 'rotmat' (no flip at pi; see docs/DESIGN.md)


@dataclass(frozen=True)
class TrainCfg:
    epochs: int = 10  # training epochs
    lr: float = 1e-4  # Adam learning rate
    lr_steps: tuple[int, ...] = (7,)  # epochs at which the LR is multiplied by lr_factor
    lr_factor: float = 0.1  # LR decay factor at each step
    lr_schedule: str = "step"  # 'step' (x lr_factor at lr_steps; official) | 'cosine' (to lr*min_lr_factor at the end)
    warmup_iters: int = 0  # linear LR warm-up over the first iterations (0 = none); must be shorter than the run
    min_lr_factor: float = 0.0  # cosine schedule: final LR as a fraction of train.lr
    weight_decay: float = 0.0  # Adam weight decay
    grad_clip: float = 0.0  # max gradient L2 norm; 0 = no clipping
    amp: bool = True  # float16 autocast + GradScaler on CUDA (ignored on CPU; see cpu_bf16)
    cpu_bf16: bool = False  # bfloat16 autocast on CPU (R50 step ~2x, 64 px ~1.25x on AVX512-BF16; docs/benchmarks.md)
    max_iters_per_epoch: int = 0  # cap on iterations per epoch (0 = full epoch); for quick runs
    log_every: int = 20  # iterations between scalar logs
    image_log_every: int = 200  # iterations between tensorboard image logs (0 = never)
    eval_every: int = 1  # epochs between evaluations on the test split (0 = never)
    ckpt_every: int = 1  # epochs between checkpoints (>= 1; the last epoch is always saved)
    keep_last: int = 3  # checkpoints kept (>= 1; older ones deleted)
    ckpt_every_iters: int = 0  # iterations between mid-epoch checkpoints (0 = off); resuming one is exact
    sync_bn: bool = True  # DDP: BatchNorm statistics over all processes (CUDA; see common/engine/batchnorm.py)
    freeze_bn: bool = False  # BatchNorm layers use running statistics while training (eval mode); affine params train
    resume: str = ""  # checkpoint to resume from ('' = start fresh; 'auto' = latest in the run folder)
    loss: LossCfg = field(default_factory=LossCfg)  # loss weights


@dataclass(frozen=True)
class TestCfg:
    ckpt: str = ""  # checkpoint evaluated by main/test.py ('' = the untrained model, for reference numbers)
    batch_size: int = 16  # evaluation batch size
    allow_skipped: bool = False  # print headline metrics even if some samples could not be evaluated
    save_per_sample: bool = True  # write per-sample errors next to the summary JSON
    references: bool = True  # also score constant predictors (mean training pose; + GT root) with the same evaluator


@dataclass(frozen=True)
class SefdCfg:
    mode: str = "baseline"  # the experiment: baseline (RGB) | teacher (RGB+GT edge) | student (distil) | edge_input
    edge_source: str = "canny"  # student/edge_input channel: canny | rcf | smpl_edge | smpl_overlap
    teacher_edge: str = "smpl_overlap"  # teacher's edge channel: smpl_overlap | smpl_edge | none (RGB-only teacher)
    teacher_ckpt: str = ""  # stage-1 teacher checkpoint or its run folder (latest); training mode=student needs it
    rcf_weights: str = ""  # RCF-PyTorch weights (the user's file) for edge_source=rcf
    distill_loss: str = "log_softmax_l1"  # l1 | kd | log_softmax_l1 | at | fsp | pkt
    distill_layers: tuple[str, ...] = ("layer3", "layer4")  # backbone features matched
    distill_weights: tuple[float, ...] = (1.0, 2.0)  # weight per distilled layer
    distill_scale: float = 1.0  # global weight of the distillation term
    teacher_bn_drift: bool = False  # release compatibility: let teacher BN statistics update (not recommended)
    edge_dir: str = ""  # folder of precomputed SMPL edge maps (tool/precompute_edges.py); '' = render on the fly
    gray: str = "release"  # Canny channel grey: 'release' (R/B weights swapped, as the SEFD release) | 'standard'


@dataclass(frozen=True)
class WholeBodyLossCfg:
    global_orient: float = 10.0  # geodesic loss on the global orientation (ExPose/FuRPE 10)
    body_pose: float = 10.0  # geodesic loss on the 21 body joint rotations (ExPose/FuRPE 10)
    jaw_pose: float = 5.0  # geodesic loss on the jaw rotation (ExPose/FuRPE 5)
    hand_pose: float = 1.0  # geodesic loss on the 2x15 finger rotations (ExPose/FuRPE 1)
    wrist_pose: float = 1.0  # geodesic loss on the wrists predicted by the hand network (the body's wrists: body_pose)
    expression: float = 1.0  # L2 on the 10 expression coefficients (ExPose 1; FuRPE's conf_2distil 0.05)
    betas: float = 1.0  # L2 on the 10 shape coefficients where GT shape exists
    shape_prior: float = 0.0  # 0.2 * mean(beta^2) in FuRPE (its labels have no shape); 0 = off
    body_keypoints2d: float = 10.0  # L1 on projected body keypoints (OpenPose 25) vs GT 2D, crop coords [-1, 1]
    hand_keypoints2d: float = 1.0  # L1 on projected hand keypoints (2x21) vs GT 2D
    face_keypoints2d: float = 1.0  # L1 on projected face keypoints (70, where defined) vs GT 2D
    keypoints3d: float = 0.0  # L1 on pelvis-relative 3D keypoints where GT exists (m); 0 = off (ExPose: on for fits)
    part_crop_keypoints2d: float = 1.0  # L1 of the part networks' own projected keypoints in their crops


@dataclass(frozen=True)
class WholeBodyCfg:
    part_backbone: str = "resnet18"  # backbone of the hand and head networks (ExPose: ResNet-18)
    ief_stages: int = 3  # iterative error feedback stages of every regressor (ExPose: 3)
    ief_hidden: int = 1024  # hidden width of the IEF MLPs (ExPose: 1024-1024)
    ief_dropout: float = 0.5  # dropout of the IEF MLPs (ExPose: 0.5)
    camera_scale_mean: float = 0.9  # mean weak-perspective scale (softplus of the prediction; ExPose 0.9)
    hd_size: int = 512  # side (px) of the high-resolution person crop the hand / head crops are resampled from
    hand_crop_size: int = 224  # hand crop side (px) fed to the hand network (ExPose: 224)
    head_crop_size: int = 256  # head crop side (px) fed to the head network (ExPose: 256)
    hand_box_scale: float = 2.0  # hand box = extent of projected hand keypoints x this (ExPose 2.0, FuRPE 3.0)
    head_box_scale: float = 2.0  # head box = extent of projected head keypoints x this (ExPose 2.0)
    use_hand_net: bool = True  # False: fingers and wrists come from the body network (ablation)
    use_head_net: bool = True  # False: jaw and expression come from the body network (ablation)
    train_crops: str = "predicted"  # training part crops from 'predicted' (ExPose) | 'gt' 2D keypoints (where >= 3)
    train_crop_jitter: float = 0.0  # 'gt' crops: centre noise N(0, j x side), side x exp(N(0, j)) (test-time misses)
    test_crops: str = "predicted"  # evaluation part crops from 'predicted' (the method) | 'keypoints2d' (dataset 2D kp)
    mean_params: str = ""  # .npz of mean SMPL-X params the regressors start from ('' = rest pose, zero shape)
    loss: WholeBodyLossCfg = field(default_factory=WholeBodyLossCfg)  # loss weights


@dataclass(frozen=True)
class FurpeCfg:
    label_dir: str = ""  # pseudo-label root: <dir>/params3d_v/<base_set>/<stem>.npy + keypoints/<base_set>/*.json
    base_set: str = "synthetic_wholebody"  # dataset whose training images the 'pseudo_labels' dataset labels
    gt_parts: str = "all"  # parts GT datasets supervise: all | body (the ablation's 'GT body only')
    hand_storage: str = "relative"  # label files' fingers: 'relative' to the body model file's hand mean (release,
    # FrankMocap, tool/label_with_experts.py) | 'absolute'
    select: bool = False  # apply select_labels (confidence filters + per-part reprojection gate) at record build
    conf_body: float = 0.1  # selection: detector confidences below this are zeroed (body; release 0.1)
    conf_hand: float = 0.2  # selection: confidence threshold of hand keypoints (release 0.2)
    conf_face: float = 0.4  # selection: confidence threshold of face keypoints (release 0.4)
    min_points: int = 12  # selection: an image needs at least this many confident OpenPose-137 points (release 12)
    max_error_body: float = 0.0  # selection gate: max body reprojection error / box size (0 = no limit)
    max_error_hands: float = 0.0  # selection gate: max hand reprojection error / box size (0 = no limit)
    max_error_face: float = 0.0  # selection gate: max face reprojection error / box size (0 = no limit)
    keep_fraction_hands: float = 1.0  # selection gate: keep the best fraction of valid hand labels (1 = all)
    keep_fraction_face: float = 1.0  # selection gate: keep the best fraction of valid face labels (1 = all)
    distill: bool = False  # expert-feature distillation (trainable projection MLPs, batchmean KL)
    distill_weight: float = 1.0  # weight of each part's distillation term (release scale: 1e5 / feature size)
    learned_weights: bool = False  # Kendall learned loss weights over the groups body / hands / face
    ema_teacher: bool = False  # EMA teacher + two-view consistency (the mapper makes a second view)
    ema_momentum: float = 0.996  # EMA base momentum tau_0 (cosine schedule to 1 over the run)
    consistency_weight: float = 1.0  # weight of the two-view consistency term


@dataclass(frozen=True)
class Config:
    experiment: ExperimentCfg = field(default_factory=ExperimentCfg)  # run identity and reproducibility
    body_model: BodyModelCfg = field(default_factory=BodyModelCfg)  # which body model files to use
    data: DataCfg = field(default_factory=DataCfg)  # datasets, crops, augmentation, loaders
    model: ModelCfg = field(default_factory=ModelCfg)  # network architecture
    train: TrainCfg = field(default_factory=TrainCfg)  # optimisation and logging
    test: TestCfg = field(default_factory=TestCfg)  # evaluation
    sefd: SefdCfg = field(default_factory=SefdCfg)  # edge-feature distillation (SEFD)
    wholebody: WholeBodyCfg = field(default_factory=WholeBodyCfg)  # ExPose-style whole-body model (model.family)
    furpe: FurpeCfg = field(default_factory=FurpeCfg)  # FuRPE pseudo-labels and training pieces (docs/furpe.md)
