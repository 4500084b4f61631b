"""The embedded whole-body world: SMPL-X people with sampled hands and faces (docs/synthetic_world.md)."""
