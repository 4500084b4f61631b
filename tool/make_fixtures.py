"""Write the dataset fixtures (tiny copies in each dataset's real file format) into ``cache_dir()/fixtures``.

    python -m tool.make_fixtures                   # all of FIXTURES
    python -m tool.make_fixtures --only ehf,crowdpose --force

Each fixture is written into a temporary folder and renamed into place, so an interrupted run leaves no
half-written fixture; an existing one is kept unless ``--force`` or its version stamp (``.fixture_version``)
is older than the writer's (``VERSIONS``). Body models: 3DPW, H36M and MuCo use the open SMPL model, EHF the
open SMPL-X model (its vertex count replaces EHF's 10,475); the others need none.

Folders (point ``data.roots[name]`` at them): ``3dpw`` (both formats; validation courtyard_hug_00 and
courtyard_dancing_00, test downtown_bar_00, downtown_car_00 and downtown_weeklyMarket_00: every named subset),
``ehf``, ``freihand``, ``crowdpose`` and ``ochuman`` (+ ``detections/<name>_test_{results,matched}.json``:
simulated detector poses and their 3DCrowdNet matching, for ``pose2d_file=``), ``mscoco``, ``mpii``, ``h36m``
(subjects 1, 5, 6, 7, 8, 9, 11), ``muco`` and ``humandata`` (``train.npz`` = ``test.npz`` + ``images/``).
"""
from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Callable

from common.paths import cache_dir

FIXTURES = ("3dpw", "ehf", "freihand", "crowdpose", "ochuman", "mscoco", "mpii", "h36m", "muco", "humandata")
VERSIONS = {name: 1 for name in FIXTURES} | {"3dpw": 2}  # bump when a writer's output changes
PW3D_SEQUENCES = (("validation", "courtyard_hug_00"), ("validation", "courtyard_dancing_00"),
                  ("test", "downtown_bar_00"), ("test", "downtown_car_00"), ("test", "downtown_weeklyMarket_00"))
H36M_SUBJECTS = (1, 5, 6, 7, 8, 9, 11)  # 3DCrowdNet's train (1, 5-8) and test (9, 11) subjects
DETECTIONS = {"crowdpose": ("annotations/crowdpose_test.json", "crowdpose14", 14),
              "ochuman": ("ochuman_coco_format_test_range_0.00_1.00.json", "coco17", 17)}
_STAMP = ".fixture_version"


def _smpl():
    from common.body_models import build_body_model

    return build_body_model("smpl", source="open")


def _write_3dpw(root: Path) -> None:
    from tool.fixtures.pw3d import write_pw3d_fixture

    write_pw3d_fixture(root, _smpl(), sequences=PW3D_SEQUENCES)


def _write_ehf(root: Path) -> None:
    from common.body_models import build_body_model
    from tool.fixtures.ehf import write_ehf_fixture

    write_ehf_fixture(root, build_body_model("smplx", source="open"))


def _write_2d(name: str) -> Callable[[Path], None]:
    def write(root: Path) -> None:
        from tool.fixtures.coco_style import WRITERS
        from tool.fixtures.detections import write_matched_detections

        WRITERS[name](root)
        if name in DETECTIONS:
            gt, convention, k = DETECTIONS[name]
            write_matched_detections(root / gt, root / "detections", f"{name}_test", convention, k)
    return write


def _write_3d(name: str) -> Callable[[Path], None]:
    def write(root: Path) -> None:
        from data.adapters.h36m import linear_rest_pelvis, regressed_joints_fn
        from tool.fixtures.h36m_muco import write_h36m, write_muco

        body = _smpl()
        if name == "h36m":
            write_h36m(root, regressed_joints_fn(body), linear_rest_pelvis(body), subjects=H36M_SUBJECTS)
        else:
            write_muco(root, regressed_joints_fn(body))
    return write


def _write_humandata(root: Path) -> None:
    from tool.fixtures.humandata import write_humandata_fixture

    path = write_humandata_fixture(root)["path"]
    for split in ("train", "test"):  # a folder of <split>.npz files: data.roots['humandata'] = the folder
        shutil.copyfile(path, root / f"{split}.npz")
    path.unlink()


def _writer(name: str) -> Callable[[Path], object]:
    """The function that writes fixture ``name`` into a folder (body models built on demand)."""
    if name == "freihand":
        from tool.fixtures.freihand import write_freihand_fixture

        return write_freihand_fixture
    writers = {"3dpw": _write_3dpw, "ehf": _write_ehf, "humandata": _write_humandata,
               **{n: _write_2d(n) for n in ("crowdpose", "ochuman", "mscoco", "mpii")},
               **{n: _write_3d(n) for n in ("h36m", "muco")}}
    if name not in writers:
        raise ValueError(f"unknown fixture '{name}'; known: {', '.join(FIXTURES)}")
    return writers[name]


def is_current(folder: Path, name: str) -> bool:
    """True when ``folder`` holds fixture ``name`` written by the current writer version."""
    stamp = folder / _STAMP
    return stamp.is_file() and stamp.read_text().strip() == str(VERSIONS[name])


def make_fixture(name: str, out_root: Path | None = None, force: bool = False) -> Path:
    """Write fixture ``name`` under ``out_root`` (default ``cache_dir()/fixtures``) and return its folder."""
    out_root = Path(out_root) if out_root is not None else cache_dir() / "fixtures"
    folder = out_root / name
    if not force and is_current(folder, name):
        return folder
    writer = _writer(name)
    tmp = out_root / f".{name}.{os.getpid()}.tmp"  # per process: concurrent writers do not collide
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        writer(tmp)
        (tmp / _STAMP).write_text(str(VERSIONS[name]))
        if not force and is_current(folder, name):  # another process finished first: keep its copy
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def make_fixtures(names: tuple[str, ...] = FIXTURES, out_root: Path | None = None,
                  force: bool = False) -> dict[str, Path]:
    """:func:`make_fixture` for each name; returns {name: folder}."""
    return {name: make_fixture(name, out_root, force) for name in names}


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
