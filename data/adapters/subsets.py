"""Named evaluation subsets (``data.test_subset``): the synthetic world's occlusion strata, and 3DPW's.

3DPW subsets (``data.test_subset``) and their resolution to (split, sequence) lists.

- ``test``: the whole official test split (3DCrowdNet's "3DPW" rows), OpenPose inputs.
- ``validation`` / ``train``: the whole split.
- ``3dpw_crowd``: validation ``courtyard_hug_00`` + ``courtyard_dancing_00`` with HigherHRNet 2D inputs
  (3DCrowdNet's "3DPW-Crowd").
- ``sefd_occlusion``: those two + test ``downtown_bar_00``, ``downtown_car_00``, ``downtown_weeklyMarket_00``
  (the SEFD release's occlusion evaluation).
- anything else: a comma-separated list of sequence names, each optionally prefixed by its split
  (``test/downtown_bar_00,courtyard_hug_00``); unprefixed names are looked up in all splits.
"""
from __future__ import annotations

from dataclasses import dataclass

from common.errors import UserError

PW3D_SPLITS = ("train", "validation", "test")
SYNTHETIC_SUBSETS = ("", "low_occlusion", "mid_occlusion", "high_occlusion")  # the SMPL world's occlusion strata


@dataclass(frozen=True)
class Pw3dSubset:
    """A set of sequences and the 2D input source 3DCrowdNet/SEFD used for it."""

    name: str
    sequences: tuple[tuple[str, str | None], ...]  # (split, sequence or None = the whole split)
    pose_source: str  # 'openpose' | 'hhrnet' (falls back to OpenPose where a person has no detection)
    description: str


PW3D_SUBSETS: dict[str, Pw3dSubset] = {
    s.name: s for s in (
        Pw3dSubset("test", (("test", None),), "openpose", "official test split"),
        Pw3dSubset("validation", (("validation", None),), "openpose", "official validation split"),
        Pw3dSubset("train", (("train", None),), "openpose", "official train split"),
        Pw3dSubset("3dpw_crowd", (("validation", "courtyard_hug_00"), ("validation", "courtyard_dancing_00")),
                   "hhrnet", "3DCrowdNet 3DPW-Crowd"),
        Pw3dSubset("sefd_occlusion", (
            ("validation", "courtyard_hug_00"), ("validation", "courtyard_dancing_00"),
            ("test", "downtown_bar_00"), ("test", "downtown_car_00"), ("test", "downtown_weeklyMarket_00"),
        ), "hhrnet", "SEFD occlusion subset (HigherHRNet inputs exist for the validation sequences only)"),
    )
}


class SubsetError(UserError, ValueError):
    """An unknown subset name or a sequence missing from the user's copy."""


def resolve_pw3d_subset(name: str, available: dict[str, list[str]]) -> Pw3dSubset:
    """Turn ``name`` into a subset whose sequences all exist.

    Args:
        name: a key of PW3D_SUBSETS, '' (= 'test'), or a comma-separated sequence list.
        available: split -> sequence names present in the user's copy.
    Raises:
        SubsetError: unknown names (listing the named subsets) or sequences absent from ``available``.
    """
    name = name.strip() or "test"
    if name in PW3D_SUBSETS:
        subset = PW3D_SUBSETS[name]
    else:
        pairs = []
        for item in (s.strip() for s in name.split(",") if s.strip()):
            split, _, seq = item.rpartition("/")
            splits = [split] if split else [s for s in PW3D_SPLITS if item in available.get(s, [])]
            if split and split not in PW3D_SPLITS or not splits:
                raise SubsetError(
                    f"unknown 3DPW subset or sequence '{item}'; named subsets: {', '.join(PW3D_SUBSETS)}; "
                    f"or a comma-separated list of sequences (split/sequence), e.g. test/downtown_bar_00")
            pairs.append((splits[0], seq))
        subset = Pw3dSubset(name, tuple(pairs), "openpose", "user sequence list")
    missing = [f"{split}/{seq}" for split, seq in subset.sequences
               if split not in available or (seq is not None and seq not in available[split])]
    if missing:
        raise SubsetError(f"3DPW subset '{subset.name}' needs sequences missing from your copy: {', '.join(missing)}")
    return subset
