"""The experiment plan: the one reading of the experiment switch (``sefd.*``; later also the model family).

Every part that depends on which experiment runs asks the plan instead of interpreting ``sefd.mode`` itself:
the config loader (``model.input_channels``), the mapper (which edge maps a sample carries,
``data/edge_maps.py``), the model builder (``common/models/build.py``: which network, its edge channel, the
teacher) and the demo (whether it can run without GT bodies).

=============  ========  =============================  ==========  =================  ========  ========
sefd.mode      channels  mapper edge maps (train/test)  model edge  model              teacher   features
=============  ========  =============================  ==========  =================  ========  ========
baseline       3         - / -                          none        regressor          no        no
teacher        4         edge=teacher_edge / same       none        regressor          no        no
edge_input     4         edge=source if SMPL / same     source*     edge_input         no        no
student        4         + teacher_edge=teacher_edge    source*     distillation when  training  training
                           in training                                training, else
                                                                      edge_input
=============  ========  =============================  ==========  =================  ========  ========

``sefd.teacher_edge=none`` (student only): the teacher is an RGB-only stage-1 network (e.g. the baseline run), so
no ``teacher_edge`` map is rendered and the teacher has 3 input channels -- the control that separates what
distillation itself gives from what the teacher's privileged edge gives (not in the paper).

``source*``: ``sefd.edge_source`` when it is computable from the image (``canny`` / ``rcf``), else ``none``
(the SMPL sources come from the mapper).

FuRPE (``furpe.*``, whole-body family only): ``furpe.distill`` / ``furpe.learned_weights`` / ``furpe.ema_teacher``
make the training model the ``furpe`` wrapper (common/models/furpe/wrapper.py); ``distill`` makes every training
sample carry the expert features, ``ema_teacher`` a second augmented view (data/furpe_sample.py); ``gt_parts``
says which parts GT datasets supervise. At test time the model is the whole-body model alone.
"""
from __future__ import annotations

from dataclasses import dataclass

from common.config.errors import ConfigError

MODES = ("baseline", "teacher", "student", "edge_input")
SMPL_EDGE_KINDS = ("smpl_overlap", "smpl_edge")  # rendered from GT bodies by the mapper
IMAGE_EDGE_KINDS = ("canny", "rcf")  # computed from the RGB crop by the model
FAMILIES = ("crowdnet", "wholebody")  # ``model.family``: 3DCrowdNet/SEFD SMPL regressor | ExPose-style SMPL-X


@dataclass(frozen=True)
class ExperimentPlan:
    """What the experiment needs, decided once from the config (:meth:`from_config`).

    Attributes:
        family: ``model.family`` (``crowdnet`` | ``wholebody``).
        mode: ``sefd.mode``.
        input_channels: network input channels the mode implies (3 RGB, 4 RGB + edge).
        train_edge_maps / test_edge_maps: ((sample key, edge kind), ...) the mapper renders from GT bodies
            (keys ``edge`` / ``teacher_edge``, kinds in :data:`SMPL_EDGE_KINDS`).
        model_edge: the edge the model computes from the image: ``canny`` | ``rcf`` | ``none``.
        edge_wrapper: the regressor is wrapped to take its edge channel from the batch or compute it
            (``EdgeInputModel`` / ``DistillationWrapper``); False for a plain regressor.
        teacher_in_training: training distils from the frozen stage-1 teacher (``sefd.teacher_ckpt``).
        teacher_input_channels: the teacher's input (4 = RGB + ``sefd.teacher_edge``; 3 with ``teacher_edge=none``).
    """

    family: str
    mode: str
    input_channels: int
    train_edge_maps: tuple[tuple[str, str], ...]
    test_edge_maps: tuple[tuple[str, str], ...]
    model_edge: str
    edge_wrapper: bool
    teacher_in_training: bool
    furpe_pieces: tuple[str, ...] = ()  # training pieces switched on: distill / learned_weights / ema_teacher
    gt_parts: str = "all"  # furpe.gt_parts
    teacher_input_channels: int = 4

    @classmethod
    def from_config(cls, cfg) -> ExperimentPlan:
        """The plan of ``cfg`` (reads ``sefd.mode``, ``sefd.edge_source``, ``sefd.teacher_edge``)."""
        sefd = cfg.sefd
        family = cfg.model.family
        if family not in FAMILIES:
            raise ConfigError(f"model.family: unknown family {family!r} (choices: {', '.join(FAMILIES)})")
        if sefd.mode not in MODES:
            raise ConfigError(f"sefd.mode: unknown mode {sefd.mode!r} (choices: {', '.join(MODES)})")
        if family == "wholebody" and sefd.mode != "baseline":
            raise ConfigError(f"sefd.mode: {sefd.mode!r} needs model.family=crowdnet (SEFD distils the SMPL regressor; "
                              "the whole-body model takes RGB only)")
        if sefd.teacher_edge == "none" and sefd.mode == "teacher":
            raise ConfigError("sefd.teacher_edge: 'none' is for sefd.mode=student (distilling from an RGB-only network "
                              "such as the baseline run); a stage-1 teacher is trained on an edge: smpl_overlap | "
                              "smpl_edge")
        maps: list[tuple[str, str]] = []
        if sefd.mode == "teacher":
            maps.append(("edge", sefd.teacher_edge))
        elif sefd.mode in ("student", "edge_input") and sefd.edge_source in SMPL_EDGE_KINDS:
            maps.append(("edge", sefd.edge_source))
        student = sefd.mode == "student"
        teacher_map = (("teacher_edge", sefd.teacher_edge),) if student and sefd.teacher_edge != "none" else ()
        edge_wrapper = sefd.mode in ("student", "edge_input")
        model_edge = sefd.edge_source if edge_wrapper and sefd.edge_source in IMAGE_EDGE_KINDS else "none"
        furpe = getattr(cfg, "furpe", None)
        pieces = tuple(k for k in ("distill", "learned_weights", "ema_teacher") if furpe and getattr(furpe, k))
        if pieces and family != "wholebody":
            raise ConfigError(f"furpe.{pieces[0]}: needs model.family=wholebody (FuRPE trains the whole-body model)")
        return cls(furpe_pieces=pieces, gt_parts=furpe.gt_parts if furpe else "all", family=family,
                   mode=sefd.mode, input_channels=3 if sefd.mode == "baseline" else 4,
                   train_edge_maps=tuple(maps) + teacher_map, test_edge_maps=tuple(maps), model_edge=model_edge,
                   edge_wrapper=edge_wrapper, teacher_in_training=student,
                   teacher_input_channels=3 if sefd.teacher_edge == "none" else 4)

    @property
    def body_model_kind(self) -> str:
        """The body model the family regresses and its data/evaluators use: ``smpl`` | ``smplx``."""
        return "smplx" if self.family == "wholebody" else "smpl"

    def edge_maps(self, train: bool) -> dict[str, str]:
        """{sample key: edge kind} the mapper must produce (empty: the sample carries no edge map)."""
        return dict(self.train_edge_maps if train else self.test_edge_maps)

    def needs_teacher(self, train: bool) -> bool:
        """True when the model of this phase distils from the frozen teacher (student training only)."""
        return self.teacher_in_training and train

    def returns_features(self, train: bool) -> bool:
        """True when the regressor must return its backbone features (the distillation loss needs them)."""
        return self.needs_teacher(train)

    def needs_gt_bodies(self, train: bool) -> bool:
        """True when a sample's edge maps are rendered from GT SMPL bodies (impossible on a bare image)."""
        return bool(self.edge_maps(train))

    def expert_features(self, train: bool) -> bool:
        """True when every sample carries ``expert_features`` / ``expert_valid`` (FuRPE distillation, training)."""
        return train and "distill" in self.furpe_pieces

    def two_views(self, train: bool) -> bool:
        """True when every sample carries a second augmented view (FuRPE EMA consistency, training)."""
        return train and "ema_teacher" in self.furpe_pieces

    def model_kind(self, train: bool) -> str:
        """``regressor`` | ``edge_input`` | ``distillation`` | ``furpe``: the network the model builder returns."""
        if train and self.furpe_pieces:
            return "furpe"
        if self.needs_teacher(train):
            return "distillation"
        return "edge_input" if self.edge_wrapper else "regressor"
