"""Blender cameras <-> `core.cameras` settings, background photos, photo custom properties.

A camera keeps its photo's resolution and intrinsics in custom properties (`dust3r_*`):
the render resolution is one per scene, so `activate_camera` sets it from them.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional

import bpy
import numpy as np
from mathutils import Matrix

from ..core.cameras import BlenderCamera, PinholeCamera

if TYPE_CHECKING:
    from ..core.images import Photo

PROP = "dust3r_"  # prefix of the custom properties


def camera_object(name: str, bcam: BlenderCamera, cam: PinholeCamera, photo: Optional["Photo"],
                  image_index: int, clip: tuple[float, float],
                  display_size: float) -> bpy.types.Object:
    """A camera object that projects like `cam` (in the Blender world of `bcam`)."""
    data = bpy.data.cameras.new(name)
    data.type = "PERSP"
    data.sensor_fit = bcam.sensor_fit
    data.sensor_width, data.sensor_height = bcam.sensor_width, bcam.sensor_height
    data.lens = bcam.lens
    data.shift_x, data.shift_y = bcam.shift_x, bcam.shift_y
    data.clip_start, data.clip_end = clip
    data.display_size = display_size
    obj = bpy.data.objects.new(name, data)
    obj.matrix_world = Matrix(bcam.matrix_world.tolist())
    props = dict(width=cam.width, height=cam.height, fx=cam.fx, fy=cam.fy, cx=cam.cx, cy=cam.cy,
                 pixel_aspect_x=bcam.pixel_aspect[0], pixel_aspect_y=bcam.pixel_aspect[1],
                 image_index=image_index)
    if photo is not None:
        props.update(source=photo.path, exif_orientation=photo.exif_orientation)
    for key, value in props.items():
        obj[PROP + key] = value
    return obj


def upright_photo(photo: "Photo") -> bpy.types.Image:
    """The photo as Blender shows it behind the camera: EXIF orientation applied.

    Blender ignores EXIF orientation when it loads a file, so a rotated photo is decoded
    upright here and packed into the .blend instead.
    """
    name = os.path.basename(photo.path)
    if photo.exif_orientation in (0, 1):
        image = bpy.data.images.load(photo.path, check_existing=False)
        image.name = name
        return image
    from ..core.images import open_upright  # PIL: loaded with the pipeline's dependencies

    upright, _ = open_upright(photo.path)
    w, h = upright.size
    rgba = np.ones((h, w, 4), np.float32)
    rgba[..., :3] = np.asarray(upright, np.float32) / 255.0  # byte image: raw sRGB values
    image = bpy.data.images.new(name, w, h, alpha=False)
    image.pixels.foreach_set(rgba[::-1].ravel())  # Blender rows run bottom-up
    image.pack()
    image.filepath_raw = photo.path  # where it came from; the packed pixels are upright
    return image


def add_background(obj: bpy.types.Object, image: bpy.types.Image) -> None:
    background = obj.data.background_images.new()
    background.image = image
    background.frame_method = "STRETCH"  # the camera frame is the photo: same aspect
    background.alpha = 0.8
    background.display_depth = "BACK"
    obj.data.show_background_images = True


def activate_camera(scene: bpy.types.Scene, obj: bpy.types.Object) -> None:
    """Look through `obj` at its photo's resolution and pixel aspect."""
    scene.camera = obj
    if PROP + "width" in obj:
        render = scene.render
        render.resolution_x, render.resolution_y = obj[PROP + "width"], obj[PROP + "height"]
        render.resolution_percentage = 100
        render.pixel_aspect_x = obj.get(PROP + "pixel_aspect_x", 1.0)
        render.pixel_aspect_y = obj.get(PROP + "pixel_aspect_y", 1.0)


def blender_camera(obj: bpy.types.Object, scene: bpy.types.Scene) -> BlenderCamera:
    """The settings of a Blender camera object, at its photo's resolution when it has one
    (cameras of an earlier import) and at the scene's render resolution otherwise."""
    data, render = obj.data, scene.render
    if data.type != "PERSP":
        raise ValueError(f"Camera {obj.name!r} is not a perspective camera")
    if PROP + "width" in obj:
        size = (int(obj[PROP + "width"]), int(obj[PROP + "height"]))
        aspect = (obj.get(PROP + "pixel_aspect_x", 1.0), obj.get(PROP + "pixel_aspect_y", 1.0))
    else:
        pct = render.resolution_percentage / 100
        size = (round(render.resolution_x * pct), round(render.resolution_y * pct))
        aspect = (render.pixel_aspect_x, render.pixel_aspect_y)
    return BlenderCamera(np.array(obj.matrix_world, np.float64), data.lens, data.sensor_fit,
                         data.sensor_width, data.sensor_height, data.shift_x, data.shift_y,
                         size, (float(aspect[0]), float(aspect[1])))
