"""A `TrackPlan` -> one animated camera, the plate behind it and the shot's scene settings.

The camera is keyed on every solved frame f at exactly frame f (LINEAR, so a frame step moves
in a straight line between solved frames and frame f shows the solved pose exactly); the lens
and shift are keyed only with zoom; `dust3r_confidence` is an animated custom property, so weak
frames show in the Graph Editor. Keys are written in bulk (`keyframe_points.foreach_set`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import bpy
import numpy as np
from mathutils import Matrix

from ..core.schema import FRAME_CONFIDENCE
from .cameras import new_background, new_camera

if TYPE_CHECKING:
    from ..core.plan import PlateBackground, TrackPlan

LINEAR = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value


def camera_object(plan: "TrackPlan") -> bpy.types.Object:
    """The shot's camera with its first frame's settings, animated over every solved frame."""
    obj = new_camera(plan.camera_name, plan.cameras[0], plan.clip, plan.display_size,
                     plan.properties)
    obj.rotation_mode = "XYZ"  # the keyed channels (_animate)
    _animate(obj, plan)
    return obj


def _animate(obj: bpy.types.Object, plan: "TrackPlan") -> None:
    frames = np.asarray(plan.frames, np.float64)
    location = np.array([c.matrix_world[:3, 3] for c in plan.cameras])
    rotation, previous = [], None
    for cam in plan.cameras:  # Euler angles continuous from frame to frame (no 360 flips)
        matrix = Matrix(cam.matrix_world[:3, :3].tolist())
        euler = matrix.to_euler("XYZ", previous) if previous is not None else matrix.to_euler("XYZ")
        rotation.append(tuple(euler))
        previous = euler
    rotation = np.array(rotation)
    obj_action = _action(obj, f"{plan.camera_name} camera")
    for index in range(3):
        _keys(obj, obj_action, "location", index, frames, location[:, index])
        _keys(obj, obj_action, "rotation_euler", index, frames, rotation[:, index])
    _keys(obj, obj_action, f'["{FRAME_CONFIDENCE}"]', 0, frames, plan.confidence)
    if plan.zoom:
        data = obj.data
        data_action = _action(data, f"{plan.camera_name} lens")
        for path in ("lens", "shift_x", "shift_y"):
            _keys(data, data_action, path, 0, frames,
                  np.array([getattr(c, path) for c in plan.cameras]))


def _action(id_block, name: str) -> bpy.types.Action:
    action = bpy.data.actions.new(name)
    id_block.animation_data_create().action = action
    return action


def _keys(id_block, action: bpy.types.Action, path: str, index: int, frames: np.ndarray,
          values: np.ndarray) -> None:
    """LINEAR keys (frame, value) on one channel, written in bulk."""
    if hasattr(action, "fcurve_ensure_for_datablock"):  # 4.4+: layered actions with slots
        curve = action.fcurve_ensure_for_datablock(id_block, path, index=index)
    else:
        curve = action.fcurves.new(path, index=index)
    points = curve.keyframe_points
    points.add(len(frames))
    points.foreach_set("co", np.stack([frames, values], -1).astype(np.float32).ravel())
    points.foreach_set("interpolation", np.full(len(frames), LINEAR, np.int32))
    curve.update()


def add_plate(obj: bpy.types.Object, background: "PlateBackground"):
    """The plate behind the camera, playing with the timeline; returns its Movie Clip or
    image sequence datablock."""
    slot = new_background(obj)
    if background.source == "MOVIE_CLIP":
        block = bpy.data.movieclips.load(background.path, check_existing=False)
        block.frame_start = background.frame_start
        block.frame_offset = 0
        slot.source = "MOVIE_CLIP"
        slot.clip = block
        slot.use_camera_clip = False
    else:
        block = bpy.data.images.load(background.path, check_existing=False)
        block.source = "SEQUENCE"
        slot.source = "IMAGE"
        slot.image = block
        user = slot.image_user
        user.frame_start = background.frame_start
        user.frame_offset = background.frame_offset
        user.frame_duration = background.frame_duration
        user.use_auto_refresh = True  # follow the timeline
        user.use_cyclic = False
    return block


def set_scene(bl_scene: bpy.types.Scene, plan: "TrackPlan", obj: bpy.types.Object) -> None:
    """Frame range, rate (movies), resolution and the active camera of the shot."""
    render = bl_scene.render
    bl_scene.frame_start, bl_scene.frame_end = plan.frame_range
    if plan.fps is not None:
        render.fps, render.fps_base = plan.fps
    render.resolution_x, render.resolution_y = plan.resolution
    render.resolution_percentage = 100
    render.pixel_aspect_x = render.pixel_aspect_y = 1.0
    bl_scene.camera = obj
    bl_scene.frame_set(plan.frame_range[0])
