"""Pre-generate a synthetic-crowds split and print its statistics.

    python -m tool.make_synthetic [--cfg configs/X.yaml] [--split train|test|all] [--opts data.synthetic.k=v ...]

Renders into ``cache_dir()/synthetic/<key>/<split>/`` unless already there (then it only reads), and prints
people per image, kept/skipped counts, the occlusion histogram and strata, and the generation speed.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter

import numpy as np


def split_stats(folder) -> dict:
    """Statistics of a generated split folder (from its annotations.json)."""
    data = json.loads((folder / "annotations.json").read_text())
    people = [p for image in data["images"] for p in image["people"]]
    kept = [p for p in people if p["kept"]]
    occ = np.array([p["occlusion"] for p in kept])
    hist, edges = np.histogram(occ, bins=10, range=(0.0, 1.0))
    visible = np.array([np.mean(p["joints_visible"]) for p in kept]) if kept else np.zeros(0)
    return {
        "folder": str(folder), "images": len(data["images"]),
        "people_per_image": dict(sorted(Counter(len(i["people"]) for i in data["images"]).items())),
        "people": len(people), "kept": len(kept),
        "skipped": dict(Counter(p["skip_reason"] for p in people if not p["kept"])),
        "strata": dict(Counter(p["stratum"] for p in kept)),
        "occlusion_mean": float(occ.mean()) if len(occ) else 0.0,
        "occlusion_histogram": {f"{edges[i]:.1f}-{edges[i + 1]:.1f}": int(h) for i, h in enumerate(hist)},
        "visible_joint_fraction_mean": float(visible.mean()) if len(visible) else 0.0,
        "generation": data["stats"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg", default="", help="experiment YAML (defaults when omitted)")
    parser.add_argument("--split", default="all", choices=("train", "test", "all"))
    parser.add_argument("--opts", nargs="*", default=[], help="config overrides section.key=value")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from common.body_models import body_model_from_config
    from common.config import load_config
    from data.synthetic.dataset import synthetic_split_dir

    cfg = load_config(args.cfg or None, args.opts)
    body_model = body_model_from_config(cfg, kind="smpl")
    for split in ("train", "test") if args.split == "all" else (args.split,):
        start = time.perf_counter()
        folder = synthetic_split_dir(split, cfg, body_model, progress=not args.quiet)
        stats = split_stats(folder)
        stats["wall_seconds_this_call"] = round(time.perf_counter() - start, 2)
        print(f"== synthetic {split}")
        print(json.dumps(stats, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
