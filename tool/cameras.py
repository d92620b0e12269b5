"""Blender cameras as `core` cameras, and the user's cameras matched to the photos they show
(known cameras: their pose and/or lens are kept, the rest is solved)."""
from __future__ import annotations

import os
from typing import Iterable, Optional

import bpy
import numpy as np

from ..core import schema
from ..core.cameras import BlenderCamera, from_blender
from ..core.errors import Dust3rError
from ..core.settings import KnownCamera


def blender_camera(obj: bpy.types.Object, scene: bpy.types.Scene) -> BlenderCamera:
    """The settings of a Blender camera object, at its photo's resolution when it has one
    (cameras of an earlier import) and at the scene's render resolution otherwise."""
    data, render = obj.data, scene.render
    if data.type != "PERSP":
        raise Dust3rError(f"Camera {obj.name!r} is not a perspective camera")
    try:
        if schema.WIDTH in obj:
            size = (int(obj[schema.WIDTH]), int(obj[schema.HEIGHT]))
            aspect = (float(obj.get(schema.PIXEL_ASPECT_X, 1.0)),
                      float(obj.get(schema.PIXEL_ASPECT_Y, 1.0)))
        else:
            pct = render.resolution_percentage / 100
            size = (round(render.resolution_x * pct), round(render.resolution_y * pct))
            aspect = (render.pixel_aspect_x, render.pixel_aspect_y)
    except (KeyError, TypeError, ValueError) as exc:
        raise Dust3rError(f"Camera {obj.name!r} has unusable '{schema.PREFIX}*' properties "
                          f"({exc}): remove them to use the render resolution") from exc
    if min(size) < 1 or min(aspect) <= 0:
        raise Dust3rError(f"Camera {obj.name!r}: size {size} or pixel aspect {aspect} is empty")
    return BlenderCamera(np.array(obj.matrix_world, np.float64), data.lens, data.sensor_fit,
                         data.sensor_width, data.sensor_height, data.shift_x, data.shift_y,
                         size, aspect)


def known_cameras(cameras: Iterable[bpy.types.Object], scene: bpy.types.Scene,
                  paths: list[str], keep: str) -> dict[int, KnownCamera]:
    """`cameras` as known cameras of the photos `paths`, keeping "both" (pose and lens),
    "pose" or "lens" (`core.options.KEEP_CAMERAS`).

    A camera belongs to the photo named by its `dust3r_source` property or shown as its
    background image, else to the photo whose file name (without extension) is its name;
    when none of them tells, one camera per photo pairs them in name order.
    """
    cameras = sorted((o for o in cameras if o.type == "CAMERA"), key=lambda o: o.name)
    if not cameras:
        raise Dust3rError("Known cameras are asked for, but there is no camera to use "
                          "(select the cameras to keep)")
    matches = {}
    for obj in cameras:
        index = photo_of_camera(obj, paths)
        if index is not None:
            if index in matches:
                raise Dust3rError(f"The cameras {matches[index].name} and {obj.name} both "
                                  f"belong to the photo {paths[index]}")
            matches[index] = obj
    if len(matches) < len(cameras):
        if matches or len(cameras) != len(paths):
            unmatched = [o.name for o in cameras if o not in matches.values()]
            raise Dust3rError(
                f"Cannot tell which photo the cameras {', '.join(unmatched)} belong to: give "
                "each a background image of its photo or the photo's name, or select one "
                "camera per photo (matched in name order)")
        matches = dict(enumerate(cameras))
    known = {}
    for index, obj in matches.items():
        cam = from_blender(blender_camera(obj, scene))
        lens = keep in ("both", "lens")
        known[index] = KnownCamera(
            c2w=cam.c2w if keep in ("both", "pose") else None,
            focal=(cam.fx + cam.fy) / 2 if lens else None,
            pp=(cam.cx, cam.cy) if lens else None,
            image_size=(cam.width, cam.height))
    return known


def photo_of_camera(obj: bpy.types.Object, paths: list[str]) -> Optional[int]:
    """The index in `paths` of the photo `obj` belongs to, or None."""
    norm = [os.path.normcase(os.path.abspath(p)) for p in paths]
    candidates = [str(obj.get(schema.SOURCE, ""))]
    candidates += [bpy.path.abspath(bg.image.filepath_raw or bg.image.filepath)
                   for bg in obj.data.background_images if bg.image is not None]
    for path in filter(None, candidates):
        path = os.path.normcase(os.path.abspath(path))
        if path in norm:
            return norm.index(path)
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    return stems.index(obj.name) if obj.name in stems else None
