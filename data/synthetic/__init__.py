"""The embedded synthetic world: seeded multi-person scenes with real overlaps, rendered with the open body model.

``poses`` (plausible SMPL poses), ``scene`` (camera, placement, clothes, backgrounds), ``generator`` (rendering,
annotations, cache), ``dataset`` (PersonRecords: the adapter). See docs/synthetic_world.md.
"""
