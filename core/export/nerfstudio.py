"""A nerfstudio dataset: transforms.json with its images, masks and seed cloud.

    FOLDER/
      transforms.json       (the name given; any .json)
      images/<photo>        the upright photos (`photos`)
      masks/<photo>.png     only with masks: one channel, 255 = keep, 0 = ignore
      sparse_pc.ply         the seed cloud (x y z, red green blue, confidence)
      dust3r_export.json    marks the folder as an export (it is replaced as a whole)

transforms.json, as nerfstudio's own data parser reads it:

    camera_model    "PINHOLE" (no distortion)
    ply_file_path   "sparse_pc.ply", in the same world as the poses (so no applied_transform)
    frames[]        file_path, transform_matrix (4x4 camera-to-world with OpenGL camera axes:
                    x right, y up, looking down -z, which is also a Blender camera's
                    matrix_world), fl_x, fl_y, cx, cy (pixels, pixel centres at +0.5 as
                    nerfstudio casts its rays: cx = OpenCV cx + 0.5), w, h, and mask_path with
                    masks (for every frame: nerfstudio wants all or none)

The world is the export's (Blender's, Z up); nerfstudio re-centres and re-scales the poses
itself (its orientation and centring options).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import numpy as np

from ..cameras import CV_TO_BLENDER_CAMERA
from ..destination import EXPORT_MARKER, check_export_folder
from ..errors import Dust3rError
from ..progress import Cancel
from .description import DEFAULT_MAX_POINTS, ExportScene
from .files import staged_folder
from .photos import has_masks, plan_photos, write_masks, write_photos
from .ply import write_ply

PLY_NAME = "sparse_pc.ply"  # nerfstudio's own name for the seed cloud


def dataset_folder(path: str | os.PathLike) -> Path:
    """The folder a transforms file at `path` makes (its parent), checked up front."""
    path = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    if path.suffix.lower() != ".json" or path.name == EXPORT_MARKER:
        raise Dust3rError(f"The transforms file must be a .json file (not {EXPORT_MARKER}), "
                          f"not {path}")
    return check_export_folder(path.parent)


def write_transforms(export: ExportScene, path: str | os.PathLike, *,
                     max_points: int = DEFAULT_MAX_POINTS,
                     cancel: Optional[Cancel] = None) -> Path:
    """Write the nerfstudio dataset of `export`: `path` (e.g. out/shot/transforms.json) and,
    beside it, images/, masks/ and the cloud (a seeded subset of `max_points`; 0 = all). The
    folder must be new, empty or an earlier export; it is replaced whole. With the run's
    masks (`export.masks`) every frame gets a mask_path. Returns `path`."""
    folder = dataset_folder(path)
    name = Path(path).name
    files = plan_photos(export.cameras)
    masks = has_masks(files, export.masks)
    frames = []
    for file in files:
        cam = file.camera.camera
        frame = {"file_path": f"images/{file.name}",
                 "transform_matrix": (np.asarray(cam.c2w, np.float64)
                                      @ CV_TO_BLENDER_CAMERA).tolist(),
                 "fl_x": cam.fx, "fl_y": cam.fy, "cx": cam.cx + 0.5, "cy": cam.cy + 0.5,
                 "w": cam.width, "h": cam.height}
        if masks:
            frame["mask_path"] = f"masks/{file.mask_name}"
        frames.append(frame)
    transforms = {"camera_model": "PINHOLE", "ply_file_path": PLY_NAME, "frames": frames}
    points = export.points.subset(max_points)
    with staged_folder(folder, "nerfstudio") as stage:
        write_photos(files, stage.path / "images", cancel)
        if masks:
            write_masks(files, export.masks, stage.path / "masks", cancel)
        write_ply(stage.path / PLY_NAME, points)
        with open(stage.path / name, "w", encoding="utf-8") as f:
            json.dump(transforms, f, indent=2)
        stage.record.update(transforms=name, images=len(files), points=len(points),
                            masks=masks, world="Blender (Z up)")
    return folder / name
