"""A reconstruction's parent (the Empty every imported object hangs from) and what the scene
set-up tools read in Blender: selected points, the cloud, the cameras; and moving it all.

The maths is `core.scene_setup`; this module only reads and writes Blender data.
"""
from __future__ import annotations

from typing import Optional

import bpy
import numpy as np
from mathutils import Matrix

from ..core.errors import Dust3rError
from ..core.schema import ORIGIN, is_points, origin_of, shown, world_positions


def find_origin(context) -> bpy.types.Object:
    """The parent of the reconstruction of the active object, else of the scene's only one."""
    origin = origin_of(context.active_object)
    if origin is not None:
        return origin
    found = [o for o in context.scene.objects if ORIGIN in o]
    if len(found) == 1:
        return found[0]
    if not found:
        raise Dust3rError("There is no DUSt3R reconstruction in this scene (reconstructions "
                          "imported before the set-up tools have no origin: import again)")
    raise Dust3rError(f"This scene holds {len(found)} DUSt3R reconstructions: select an "
                      "object of the one to set up")


def _world_vertices(obj: bpy.types.Object, selected: bool) -> np.ndarray:
    """The world positions [M, 3] of `obj`'s vertices: the selected ones, or the ones the
    cloud shows (above its live Min Confidence)."""
    if obj.mode == "EDIT":
        obj.update_from_editmode()  # edit-mode selection reaches the mesh only on request
    if selected:
        keep = np.empty(len(obj.data.vertices), bool)
        obj.data.vertices.foreach_get("select", keep)
    else:
        keep = shown(obj)
    return world_positions(obj)[keep]


def _meshes(context, origin: bpy.types.Object) -> list[bpy.types.Object]:
    """The active mesh of the reconstruction (points or a depth mesh), else its point clouds."""
    obj = context.active_object
    if obj is not None and obj.type == "MESH" and origin_of(obj) == origin:
        return [obj]
    return [o for o in origin.children_recursive if is_points(o)]


def selected_points(context, origin: bpy.types.Object) -> np.ndarray:
    """World positions [M, 3] of the selected vertices (Edit Mode selection) of the active
    mesh of the reconstruction, else of its point cloud."""
    return np.concatenate([np.zeros((0, 3))] + [_world_vertices(o, True)
                                                for o in _meshes(context, origin)])


def cloud_points(origin: bpy.types.Object) -> np.ndarray:
    """World positions [M, 3] of every point the reconstruction's clouds show."""
    clouds = [o for o in origin.children_recursive if is_points(o)]
    if not clouds:
        raise Dust3rError(f"{origin.name}: the reconstruction has no point cloud to find a "
                          "floor in (select at least 3 points of a mesh instead)")
    return np.concatenate([_world_vertices(o, False) for o in clouds])


def cameras(origin: bpy.types.Object) -> list[bpy.types.Object]:
    return [o for o in origin.children_recursive if o.type == "CAMERA"]


def camera_positions(origin: bpy.types.Object) -> np.ndarray:
    """World positions [K, 3] of the reconstruction's cameras (at the current frame)."""
    return np.array([tuple(o.matrix_world.translation) for o in cameras(origin)],
                    np.float64).reshape(-1, 3)


def leave_edit_mode(context) -> None:
    """Back to Object Mode: an edit-mode undo step holds only the mesh, so a move of the
    parent made in Edit Mode could not be undone."""
    if context.mode != "OBJECT" and context.active_object is not None:
        bpy.ops.object.mode_set(mode="OBJECT")


def move(context, origin: bpy.types.Object, matrix: np.ndarray, scale: float = 1.0) -> None:
    """Apply the world similarity `matrix` (uniform `scale`) to the reconstruction's parent.
    Camera clipping distances are in world units, so they are scaled with it."""
    origin.matrix_world = Matrix((matrix @ np.array(origin.matrix_world)).tolist())
    if scale != 1.0:
        for data in {obj.data for obj in cameras(origin)}:  # linked duplicates share one
            data.clip_start *= scale
            data.clip_end *= scale
    context.view_layer.update()  # children's matrix_world follow now, not at the next redraw
