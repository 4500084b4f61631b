"""The dataset table: one :class:`DatasetSpec` per dataset name (adapter, evaluator, subsets, model needs).

Adding a dataset is one entry here naming its adapter (``data/adapters/``) and, for a test set, its evaluator
builder (``data/evaluators.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable, Optional, Sequence

from common.evaluation.keypoint_ap import COCO_SIGMAS, CROWDPOSE_SIGMAS
from data.adapters.subsets import PW3D_SUBSETS, SYNTHETIC_SUBSETS
from data.evaluators import (
    KeypointAP,
    ehf_evaluator,
    freihand_evaluator,
    mesh_evaluator,
    pw3d_evaluator,
    wholebody_world_evaluator,
)
from data.records import PersonRecord


class lazy:  # noqa: N801  (reads like the function it stands for)
    """An adapter named by module and function, imported on first call: the table costs no adapter imports."""

    def __init__(self, module: str, function: str):
        self.module, self.function = module, function

    def __call__(self, *args: Any, **kwargs: Any) -> list[PersonRecord]:
        return getattr(import_module(self.module), self.function)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"{self.module}.{self.function}"


Adapter = Callable[..., "list[PersonRecord]"]  # load(split, cfg, subset='' [, body_model=])
EvaluatorBuilder = Callable[[Any, Any, Any, Optional[Sequence[Any]]], Any]  # (cfg, body_model, output_dir, records)


@dataclass(frozen=True)
class DatasetSpec:
    """What the framework knows about one dataset.

    Attributes:
        adapter: ``load(split, cfg, subset='') -> list[PersonRecord]`` (plus ``body_model=`` when
            ``adapter_takes_body_model``: it then receives the loaders' CPU body model).
        evaluator: ``build(cfg, body_model, output_dir, records) -> Evaluator`` for ``data.test_set``; None for
            training-only sets.
        evaluator_needs_records: the builder reads per-sample metadata from the test records (the caller passes
            the loader's records; they are loaded once with the adapter when it has none).
        subsets: named values of ``data.test_subset`` the adapter understands (empty: the dataset has none; 3DPW
            also takes sequence lists, checked by its adapter).
        families: the model families (``model.family``) its evaluation protocol can score; ``why_families``
            says why the others cannot (shown in the error).
    """

    adapter: Adapter
    evaluator: EvaluatorBuilder | None = None
    evaluator_needs_records: bool = False
    subsets: tuple[str, ...] = ()
    families: tuple[str, ...] = ("crowdnet", "wholebody")
    why_families: str = ""
    adapter_takes_body_model: bool = False


# keypoint AP scores the SMPL regressor's projected joints (whole-body keypoints are not wired to it yet)
_SMPL_KEYPOINTS = {"families": ("crowdnet",), "why_families": "keypoint AP is wired to the SMPL regressor's joints"}

_WHOLE_BODY_ONLY = "its protocol compares SMPL-X meshes with hands and face"
DATASETS: dict[str, DatasetSpec] = {
    "synthetic": DatasetSpec(
        lazy("data.synthetic.dataset", "load_synthetic_records"), mesh_evaluator,
        subsets=tuple(s for s in SYNTHETIC_SUBSETS if s), adapter_takes_body_model=True, families=("crowdnet",),
        why_families="its protocol compares SMPL meshes (the whole-body world is 'synthetic_wholebody')"),
    "3dpw": DatasetSpec(lazy("data.adapters.pw3d", "load_pw3d_records"), pw3d_evaluator, subsets=tuple(PW3D_SUBSETS)),
    "synthetic_wholebody": DatasetSpec(
        lazy("data.synthetic_wholebody.dataset", "load_synthetic_wholebody_records"), wholebody_world_evaluator,
        evaluator_needs_records=True, families=("wholebody",), why_families=_WHOLE_BODY_ONLY),
    "ehf": DatasetSpec(lazy("data.synthetic_wholebody.ehf_export", "load_ehf_or_embedded_records"), ehf_evaluator,
                       evaluator_needs_records=True, families=("wholebody",), why_families=_WHOLE_BODY_ONLY),
    "freihand": DatasetSpec(
        lazy("data.adapters.freihand", "load_freihand_records"), freihand_evaluator, evaluator_needs_records=True,
        families=("wholebody",),
        why_families="its protocol compares MANO hand joints and vertices (the whole-body model's hand network)"),
    "crowdpose": DatasetSpec(
        lazy("data.adapters.crowdpose", "load_crowdpose_records"),
        KeypointAP("crowdpose", "annotations/crowdpose_test.json", "crowdpose14", CROWDPOSE_SIGMAS, True),
        evaluator_needs_records=True, **_SMPL_KEYPOINTS),
    "ochuman": DatasetSpec(
        lazy("data.adapters.ochuman", "load_ochuman_records"),
        KeypointAP("ochuman", "ochuman_coco_format_test_range_0.00_1.00.json", "coco17", COCO_SIGMAS, False),
        evaluator_needs_records=True, **_SMPL_KEYPOINTS),
    "mscoco": DatasetSpec(
        lazy("data.adapters.mscoco", "load_mscoco_records"),
        KeypointAP("mscoco", "annotations/person_keypoints_val2017.json", "coco17", COCO_SIGMAS, False),
        evaluator_needs_records=True, **_SMPL_KEYPOINTS),
    "pseudo_labels": DatasetSpec(  # FuRPE label files over furpe.base_set's images (training only)
        lazy("data.pseudo_labels.dataset", "load_pseudo_label_dataset"), adapter_takes_body_model=True,
        families=("wholebody",), why_families="its labels are SMPL-X whole-body parameters"),
    "mpii": DatasetSpec(lazy("data.adapters.mpii", "load_mpii_records")),
    "h36m": DatasetSpec(lazy("data.adapters.h36m", "load_h36m_records")),
    "muco": DatasetSpec(lazy("data.adapters.muco", "load_muco_records")),
    "humandata": DatasetSpec(lazy("data.adapters.humandata", "load_humandata_records")),
}
