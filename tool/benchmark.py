"""``python -m tool.benchmark``: the throughput benchmarks of :mod:`tool.bench` (usage: :mod:`tool.bench.run`)."""
import sys

from tool.bench.run import main

if __name__ == "__main__":
    sys.exit(main())
