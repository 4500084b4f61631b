"""Shared library code: config, body models, geometry, rendering, networks, engine, evaluation."""
