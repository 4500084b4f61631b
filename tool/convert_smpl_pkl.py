"""Convert an official SMPL/MANO ``.pkl`` (with chumpy objects) to a plain ``.npz``, without chumpy.

``python -m tool.convert_smpl_pkl IN.pkl OUT.npz``

chumpy breaks on NumPy >= 1.24, and the official pickles store arrays as chumpy ``Ch`` objects (and the
joint regressor as a scipy sparse matrix). The reader maps chumpy classes to a stand-in that keeps the
pickled state, takes the array from it, and densifies sparse matrices.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from common.open_model.official_files import load_model_arrays


def convert(src: Path, dst: Path) -> dict[str, np.ndarray]:
    """Read ``src`` without chumpy and write its arrays to ``dst`` (.npz). Returns the arrays written."""
    if not src.is_file():
        raise FileNotFoundError(f"input model file not found: {src}")
    arrays = {}
    for key, value in load_model_arrays(src).items():
        arr = np.asarray(value)
        if arr.dtype == object:
            raise ValueError(f"{src}: field {key!r} is not an array ({type(value).__name__})")
        arrays[key] = arr
    dst.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dst, **arrays)
    return arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path, help="official .pkl (e.g. basicmodel_neutral_lbs_10_207_0_v1.0.0.pkl)")
    parser.add_argument("dst", type=Path, help="output .npz")
    args = parser.parse_args(argv)
    arrays = convert(args.src, args.dst)
    for key, arr in sorted(arrays.items()):
        print(f"  {key:20s} {str(arr.dtype):8s} {arr.shape}")
    print(f"wrote {args.dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
