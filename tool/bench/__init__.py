"""Throughput benchmarks (not tests): ``python -m tool.benchmark`` runs them (:mod:`tool.bench.run`).

``timing`` (interleaved timing, figures) and ``workbench`` (shared config, dataset, batch) are used by the
sections ``pipeline`` (train, loader), ``sefd`` and ``render``; ``run`` puts the sections together.
"""
