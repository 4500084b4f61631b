"""Pure-PyTorch rendering: z-buffer rasterizer, shading and visualisation helpers."""
from common.render.mesh_raster import MeshFragments, concat_meshes, rasterize_meshes
from common.render.rasterizer import Fragments, rasterize
from common.render.shading import (
    composite,
    interpolate_vertex_attributes,
    per_mesh_vertex_colors,
    shade_lambert,
    vertex_normals,
)

__all__ = [
    "Fragments", "MeshFragments", "composite", "concat_meshes", "interpolate_vertex_attributes",
    "per_mesh_vertex_colors", "rasterize", "rasterize_meshes", "shade_lambert", "vertex_normals",
]
