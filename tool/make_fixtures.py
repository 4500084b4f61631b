"""Write the dataset fixtures (tiny copies in each dataset's real file format) into ``cache_dir()/fixtures``.

    python -m tool.make_fixtures                   # all: 3dpw, ehf, freihand
    python -m tool.make_fixtures --only ehf --force

Each fixture is written into a temporary folder and renamed into place, so an interrupted run leaves no
half-written fixture; an existing one is kept unless ``--force``. 3DPW uses the open SMPL model, EHF the open
SMPL-X model (its vertex count replaces EHF's 10,475), FreiHAND needs no body model.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Callable

from common.paths import cache_dir

FIXTURES = ("3dpw", "ehf", "freihand")


def _writer(name: str) -> Callable[[Path], object]:
    """The function that writes fixture ``name`` into a folder (body models built on demand)."""
    if name == "freihand":
        from tool.fixtures.freihand import write_freihand_fixture

        return write_freihand_fixture
    from common.body_models import build_body_model

    if name == "3dpw":
        from tool.fixtures.pw3d import write_pw3d_fixture

        return lambda root: write_pw3d_fixture(root, build_body_model("smpl", source="open"))
    if name == "ehf":
        from tool.fixtures.ehf import write_ehf_fixture

        return lambda root: write_ehf_fixture(root, build_body_model("smplx", source="open"))
    raise ValueError(f"unknown fixture '{name}'; known: {', '.join(FIXTURES)}")


def make_fixture(name: str, out_root: Path | None = None, force: bool = False) -> Path:
    """Write fixture ``name`` under ``out_root`` (default ``cache_dir()/fixtures``) and return its folder."""
    out_root = Path(out_root) if out_root is not None else cache_dir() / "fixtures"
    folder = out_root / name
    if folder.is_dir() and not force:
        return folder
    writer = _writer(name)
    tmp = out_root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    writer(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(FIXTURES), help=f"comma-separated subset of {', '.join(FIXTURES)}")
    parser.add_argument("--out", default=None, help="output root (default: cache_dir()/fixtures)")
    parser.add_argument("--force", action="store_true", help="rewrite fixtures that already exist")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in FIXTURES]
    if unknown:
        parser.error(f"unknown fixture(s) {', '.join(unknown)}; known: {', '.join(FIXTURES)}")
    for name in names:
        print(f"{name}: {make_fixture(name, Path(args.out) if args.out else None, args.force)}")


if __name__ == "__main__":
    main()
