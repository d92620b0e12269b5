"""The point cloud as a binary little-endian PLY.

    element vertex M
    property float x, y, z          export world (Blender's, Z up)
    property uchar red, green, blue  sRGB, as in the photos
    property float confidence        the network's raw confidence (>= 1)

Blender's PLY importer (File > Import > Stanford PLY, 4.2+), plyfile, Open3D, MeshLab and
CloudCompare read it. `write_ply` also writes the seed clouds of the COLMAP and nerfstudio
exports (3D Gaussian Splatting's reader wants the normals nx, ny, nz there).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .description import ExportPoints, ExportScene
from .files import GENERATOR, staged_file


def write_points(export: ExportScene, path: str | os.PathLike, max_points: int = 0) -> Path:
    """The export's cloud (a seeded subset of `max_points`; 0 = all) to `path` (.ply),
    replaced whole or not at all; the path written."""
    with staged_file(path, (".ply",)) as temp:
        write_ply(temp, export.points.subset(max_points))
    return Path(os.path.abspath(path))


def write_ply(path: str | os.PathLike, points: ExportPoints, *, confidence: bool = True,
              normals: bool = False) -> None:
    """`points` as a binary PLY at `path`: x y z [nx ny nz] red green blue [confidence]."""
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if normals:
        fields += [("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")]
    fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    if confidence:
        fields += [("confidence", "<f4")]
    vertices = np.zeros(len(points), np.dtype(fields))  # packed: no padding between fields
    for axis, name in enumerate("xyz"):
        vertices[name] = points.xyz[:, axis]
    rgb = points.rgb8
    for channel, name in enumerate(("red", "green", "blue")):
        vertices[name] = rgb[:, channel]
    if confidence:
        vertices["confidence"] = points.confidence
    types = {"<f4": "float", "u1": "uchar"}
    header = ["ply", "format binary_little_endian 1.0", f"comment {GENERATOR}",
              f"element vertex {len(points)}",
              *(f"property {types[kind]} {name}" for name, kind in fields), "end_header"]
    with open(path, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        f.write(vertices.tobytes())

