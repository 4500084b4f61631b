"""Build (or locate) the embedded open body model: ``python -m tool.build_open_model [--force]``."""
from __future__ import annotations

import argparse
import json
import logging
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild even if the cached model exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from common.open_model import ensure_open_model

    start = time.perf_counter()
    paths = ensure_open_model(force=args.force)
    manifest = json.loads(paths.manifest_path.read_text())
    print(f"open body model: {paths.folder} (this call {time.perf_counter() - start:.1f} s, "
          f"build {manifest['build_seconds']} s)")
    for layout, err in manifest["regressor_error_mm"].items():
        print(f"  {layout} joint regressor error vs anny joints (held-out bodies): mean {err['mean']:.1f} mm, "
              f"max {err['max']:.1f} mm")
    print(f"  height at beta0 = -2/0/+2: {manifest['height_m_at_beta0']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
