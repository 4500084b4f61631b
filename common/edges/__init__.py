"""Edge maps for SEFD: the student's Canny channel, SMPL (overlap) edges for the teacher, precomputed files.

Submodules are imported on use (``from common.edges.canny import canny_edge_channel``); importing this package
does not pull in the rasterizer.
"""
