"""Blender cameras <-> `core.cameras` settings, background photos, photo custom properties.

A camera keeps its photo's resolution and intrinsics in custom properties (`dust3r_*`):
the render resolution is one per scene, so `activate_camera` sets it from them.
"""
from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING

import bpy
from mathutils import Matrix

from ..core import schema

if TYPE_CHECKING:
    from ..core.cameras import BlenderCamera
    from ..core.images import Photo
    from ..core.plan import CameraPlan

UPRIGHT_JPEG_QUALITY = 92  # the packed upright copy of an EXIF-rotated JPEG


def camera_object(plan: "CameraPlan") -> bpy.types.Object:
    """A camera object with the planned settings, pose and custom properties."""
    return new_camera(plan.name, plan.blender, plan.clip, plan.display_size, plan.properties)


def new_camera(name: str, bcam: "BlenderCamera", clip: tuple[float, float],
               display_size: float, properties: dict) -> bpy.types.Object:
    """A perspective camera object with `bcam`'s lens, sensor, shift and pose."""
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
    for key, value in properties.items():
        obj[key] = value
    return obj


def upright_photo(photo: "Photo") -> bpy.types.Image:
    """The photo as Blender shows it behind the camera: EXIF orientation applied.

    Blender ignores EXIF orientation when it loads a file, so a rotated photo is re-encoded
    upright (JPEG stays JPEG, anything else becomes PNG) and its file bytes are packed into
    the .blend: about the size of the photo file, never a raw float copy. Its file path names
    an upright copy beside the .blend, so unpacking never overwrites the original photo.
    """
    name = os.path.basename(photo.path)
    if photo.exif_orientation in (0, 1):
        image = bpy.data.images.load(photo.path, check_existing=False)
        image.name = name
        return image
    from ..core.images import open_upright  # PIL: loaded with the pipeline's dependencies

    upright, _ = open_upright(photo.path)
    jpeg = os.path.splitext(name)[1].lower() in (".jpg", ".jpeg")
    encoded = io.BytesIO()
    if jpeg:
        upright.save(encoded, "JPEG", quality=UPRIGHT_JPEG_QUALITY, subsampling=0)  # 4:4:4
    else:
        upright.save(encoded, "PNG")
    del upright
    data = encoded.getvalue()
    image = bpy.data.images.new(name, 1, 1)
    image.source = "FILE"
    image.filepath_raw = f"//{os.path.splitext(name)[0]}_upright{'.jpg' if jpeg else '.png'}"
    image.pack(data=data, data_len=len(data))
    return image


def new_background(obj: bpy.types.Object) -> bpy.types.CameraBackgroundImage:
    """A background behind the camera's view, filling its frame (the photo or plate has the
    frame's aspect); the caller gives it its image or clip."""
    background = obj.data.background_images.new()
    background.frame_method = "STRETCH"
    background.alpha = 0.8
    background.display_depth = "BACK"
    obj.data.show_background_images = True
    return background


def add_background(obj: bpy.types.Object, image: bpy.types.Image) -> None:
    new_background(obj).image = image


def activate_camera(scene: bpy.types.Scene, obj: bpy.types.Object) -> None:
    """Look through `obj` at its photo's resolution and pixel aspect."""
    scene.camera = obj
    if schema.has_photo_size(obj):
        render = scene.render
        render.resolution_x, render.resolution_y = obj[schema.WIDTH], obj[schema.HEIGHT]
        render.resolution_percentage = 100
        render.pixel_aspect_x = obj.get(schema.PIXEL_ASPECT_X, 1.0)
        render.pixel_aspect_y = obj.get(schema.PIXEL_ASPECT_Y, 1.0)
