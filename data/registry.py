"""Dataset registry: dataset name -> adapter, and the torch Dataset that applies the shared mapper.

An adapter is a function ``load_records(split: str, cfg, subset: str = '') -> list[PersonRecord]`` (it may also
take ``body_model=``, then it receives the loaders' CPU body model). Register a
new one by adding a line to ``ADAPTERS`` ("module:function", imported on first use, so importing this module
does not import every dataset).
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import zlib
from typing import Callable, Sequence

from torch.utils.data import Dataset

from common.config import ConfigError
from data.edge_maps import count_unrenderable
from data.mapper import Mapper
from data.records import PersonRecord

log = logging.getLogger(__name__)

ADAPTERS: dict[str, str] = {
    "synthetic": "data.synthetic.dataset:load_synthetic_records",
    "3dpw": "data.adapters.pw3d:load_pw3d_records",
    "ehf": "data.adapters.ehf:load_ehf_records",
    "freihand": "data.adapters.freihand:load_freihand_records",
    "crowdpose": "data.adapters.crowdpose:load_crowdpose_records",
    "ochuman": "data.adapters.ochuman:load_ochuman_records",
    "mscoco": "data.adapters.mscoco:load_mscoco_records",
    "mpii": "data.adapters.mpii:load_mpii_records",
    "h36m": "data.adapters.h36m:load_h36m_records",
    "muco": "data.adapters.muco:load_muco_records",
    "humandata": "data.adapters.humandata:load_humandata_records",
}
# datasets whose adapter interprets ``subset`` (``data.test_subset``); the others reject a non-empty one
SUBSET_AWARE = frozenset({"synthetic", "3dpw"})


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
    close = difflib.get_close_matches(str(name).lower(), sorted(ADAPTERS), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"{key}: unknown dataset '{name}'{hint} (registered: {', '.join(sorted(ADAPTERS))}; "
                       "data/registry.py)")


def check_dataset_names(cfg) -> None:
    """ConfigError naming the key (``data.train_sets[i]`` / ``data.test_set``) of a dataset that is not registered;
    entry points call it right after loading the config, before anything is built."""
    for i, name in enumerate(cfg.data.train_sets):
        if name not in ADAPTERS:
            raise unknown_dataset_error(name, f"data.train_sets[{i}]")
    if cfg.data.test_set not in ADAPTERS:
        raise unknown_dataset_error(cfg.data.test_set, "data.test_set")


def adapter(name: str) -> Callable[..., list[PersonRecord]]:
    """The record loader registered as ``name`` (raises ConfigError listing the registered names)."""
    if name not in ADAPTERS:
        raise unknown_dataset_error(name)
    module, func = ADAPTERS[name].split(":")
    return getattr(importlib.import_module(module), func)


def build_dataset(name: str, split: str, cfg, train: bool, body_model=None, subset: str = "") -> RecordDataset:
    """Records of dataset ``name``/``split`` (optionally a named ``subset``) behind the shared mapper.

    Args:
        cfg: the frozen Config (data.* keys). train: training mode of the mapper (augmentation if enabled).
        body_model: optional CPU BodyModel for records with SMPL params but no 3D joints.
    """
    load = adapter(name)
    if subset and name not in SUBSET_AWARE:
        raise ConfigError(f"data.test_subset='{subset}': dataset '{name}' has no subsets (only "
                          f"{', '.join(sorted(SUBSET_AWARE))} have); leave data.test_subset empty")
    extra = {"body_model": body_model} if "body_model" in inspect.signature(load).parameters else {}
    records = load(split, cfg, subset=subset, **extra)
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
