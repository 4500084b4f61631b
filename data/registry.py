"""Datasets and evaluators by name, from the dataset table (:data:`data.datasets.DATASETS`), and the torch
Dataset that applies the shared mapper to an adapter's records.
"""
from __future__ import annotations

import difflib
import logging
import zlib
from pathlib import Path
from typing import Any, Callable, Sequence

from torch.utils.data import Dataset

from common.config import ConfigError
from common.evaluation.evaluator import Evaluator
from data.datasets import DATASETS, DatasetSpec
from data.edge_maps import count_unrenderable
from data.mapper import Mapper
from data.records import PersonRecord

log = logging.getLogger(__name__)


class RecordDataset(Dataset):
    """A list of PersonRecords seen through a Mapper; ``set_epoch`` selects the augmentation stream.

    Args:
        records: the adapter's records (validated). mapper: the shared mapper. name: dataset name (messages).
    """

    def __init__(self, records: Sequence[PersonRecord], mapper: Mapper, name: str = ""):
        self.records = list(records)
        self.mapper = mapper
        self.name = name
        self.epoch = 0
        self.stream = zlib.crc32(name.encode())  # different augmentation streams for datasets of a mixture

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def has_3d(self) -> bool:
        """True when the records carry measured 3D joints (the 3D group of the 3DCrowdNet 50/50 mixture).

        Pseudo-GT SMPL fits (NeuralAnnot on COCO/MPII/CrowdPose) do not make a 2D dataset a 3D one.
        """
        return any(r.joints3d is not None for r in self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        return self.mapper(self.records[index], index, self.epoch, self.stream)


def unknown_dataset_error(name: str, key: str = "dataset") -> ConfigError:
    """One-line error naming the config key, the unknown name, the nearest registered one and all of them."""
    close = difflib.get_close_matches(str(name).lower(), sorted(DATASETS), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"{key}: unknown dataset '{name}'{hint} (registered: {', '.join(sorted(DATASETS))}; "
                       "data/datasets.py)")


def check_dataset_names(cfg) -> None:
    """ConfigError naming the key (``data.train_sets[i]`` / ``data.test_set``) of a dataset that is not registered;
    entry points call it right after loading the config, before anything is built."""
    for i, name in enumerate(cfg.data.train_sets):
        if name not in DATASETS:
            raise unknown_dataset_error(name, f"data.train_sets[{i}]")
    if cfg.data.test_set not in DATASETS:
        raise unknown_dataset_error(cfg.data.test_set, "data.test_set")


def dataset_spec(name: str) -> DatasetSpec:
    """The table entry of dataset ``name`` (raises ConfigError listing the registered names)."""
    if name not in DATASETS:
        raise unknown_dataset_error(name)
    return DATASETS[name]


def adapter(name: str) -> Callable[..., list[PersonRecord]]:
    """The record loader registered as ``name`` (raises ConfigError listing the registered names)."""
    return dataset_spec(name).adapter


def load_records(name: str, split: str, cfg: Any, subset: str = "", body_model: Any = None) -> list[PersonRecord]:
    """Records of dataset ``name``/``split``/``subset`` from its adapter (``body_model`` to adapters that take one)."""
    spec = dataset_spec(name)
    if subset and not spec.subsets:
        raise ConfigError(f"data.test_subset='{subset}': dataset '{name}' has no subsets (only "
                          f"{', '.join(sorted(n for n, s in DATASETS.items() if s.subsets))} have); "
                          "leave data.test_subset empty")
    extra = {"body_model": body_model} if spec.adapter_takes_body_model else {}
    return spec.adapter(split, cfg, subset=subset, **extra)


def build_dataset(name: str, split: str, cfg, train: bool, body_model=None, subset: str = "") -> RecordDataset:
    """Records of dataset ``name``/``split`` (optionally a named ``subset``) behind the shared mapper.

    Args:
        cfg: the frozen Config (data.* keys). train: training mode of the mapper (augmentation if enabled).
        body_model: optional CPU BodyModel for records with SMPL params but no 3D joints.
    """
    records = load_records(name, split, cfg, subset, body_model)
    if not records:
        raise ConfigError(f"dataset '{name}' split '{split}'{f' subset {subset!r}' if subset else ''} has no records")
    log.info("dataset %s/%s%s: %d records", name, split, f"/{subset}" if subset else "", len(records))
    mapper = Mapper.from_config(cfg, train, body_model=body_model, dataset=name, split=split)
    if mapper.edges is not None:
        missing = count_unrenderable(records)
        if missing:
            log.warning("dataset %s/%s: %d of %d records have no placed SMPL params; their SEFD edge maps (%s) are "
                        "all zero", name, split, missing, len(records), ", ".join(sorted(mapper.edges.kinds)))
    return RecordDataset(records, mapper, name)


def check_model_can_evaluate(cfg: Any) -> None:
    """Raise ConfigError (one line) when ``data.test_set``'s protocol cannot score the ``model.family`` model."""
    name, family = cfg.data.test_set, cfg.model.family
    spec = DATASETS.get(name)
    if spec is None or family in spec.families:
        return
    why = f" ({spec.why_families})" if spec.why_families else ""
    raise ConfigError(f"data.test_set={name}: cannot evaluate a model.family={family} model{why}; it evaluates "
                      f"model.family={' | '.join(spec.families)}")


def build_evaluator(cfg: Any, body_model: Any, output_dir: str | Path | None,
                    records: Sequence[PersonRecord] | None = None) -> Evaluator:
    """The evaluator of ``cfg.data.test_set``; unknown names raise ConfigError listing the known.

    ``records``: the test dataset's records (``loader.dataset.records``); builders that need them and get none
    load them once with the adapter (test split, ``data.test_subset``).
    """
    name = cfg.data.test_set
    spec = DATASETS.get(name)
    if spec is None or spec.evaluator is None:
        known = sorted(n for n, s in DATASETS.items() if s.evaluator is not None)
        raise ConfigError(f"data.test_set: no evaluator for '{name}'; known: {', '.join(known)}")
    if records is None and spec.evaluator_needs_records:
        records = load_records(name, "test", cfg, subset=cfg.data.test_subset)
    out = Path(output_dir) if output_dir is not None else None
    return spec.evaluator(cfg, body_model, out, list(records) if records is not None else None)


def dataset_records(loader: Any) -> list | None:
    """The PersonRecords behind a test loader (``loader.dataset.records``), or None for other datasets."""
    records = getattr(getattr(loader, "dataset", None), "records", None)
    return list(records) if records is not None else None
