"""A reconstruction collection as it is now -> `core.export.ExportScene`.

A reconstruction is a collection holding the cameras an import made (`dust3r_width`,
`dust3r_image_index`, ... custom properties) and/or its points object (a mesh with the
`Color`, `confidence` and `image_index` attributes). What is exported is what the user sees:
each camera's current matrix_world, lens, sensor and shift (read at its photo's size,
`tool.cameras.blender_camera`), the points' current positions through the object's matrix,
without the points under the cloud's live Min Confidence, and nothing that was deleted;
masks as the run that made the cameras used them.
The export world is Blender's world, in scene units.
"""
from __future__ import annotations

import bpy
import numpy as np

from ..core.cameras import from_blender
from ..core.errors import Dust3rError
from ..core.export import ExportCamera, ExportPoints, ExportScene
from ..core.schema import (IMAGE_INDEX, MASK_ALPHA, MASK_FOLDER, MASK_INVERT, PREFIX, SOURCE,
                           is_photo_camera, is_points, shown_points)
from ..core.settings import MaskOptions
from .cameras import blender_camera


def reconstructions(scene: bpy.types.Scene) -> list[bpy.types.Collection]:
    """The collections of `scene` that directly hold imported cameras or points."""
    collections = [scene.collection, *scene.collection.children_recursive]
    return [c for c in collections if any(is_photo_camera(o) or is_points(o) for o in c.objects)]


def find_reconstruction(context, name: str = "") -> bpy.types.Collection:
    """The reconstruction to export: the collection called `name`, else the one holding the
    active object, else the active collection, else the scene's only one."""
    found = reconstructions(context.scene)
    if name:
        collection = bpy.data.collections.get(name)
        if collection is None or collection not in found:
            raise Dust3rError(f"There is no DUSt3R reconstruction called {name!r} in this scene")
        return collection
    obj = context.active_object
    for collection in (list(obj.users_collection) if obj else []) + [context.collection]:
        if collection in found:
            return collection
    if len(found) == 1:
        return found[0]
    if not found:
        raise Dust3rError("There is no DUSt3R reconstruction in this scene to export")
    raise Dust3rError(f"This scene holds {len(found)} DUSt3R reconstructions: select an object "
                      "of the one to export")


def describe_collection(collection: bpy.types.Collection,
                        scene: bpy.types.Scene) -> ExportScene:
    """The cameras and points of `collection` (and the collections inside it) as they are
    now, in Blender's world (after a script moves objects, `view_layer.update()` first:
    matrix_world follows at the next update)."""
    objects = list(collection.all_objects)
    cameras = []
    for obj in (o for o in objects if is_photo_camera(o)):
        try:
            cameras.append((int(obj[IMAGE_INDEX]), obj.name, obj))
        except (TypeError, ValueError) as exc:
            raise Dust3rError(f"Camera {obj.name!r} has an unusable '{IMAGE_INDEX}' "
                              f"({exc})") from exc
    described = []
    for index, _, obj in sorted(cameras, key=lambda c: c[:2]):
        source = obj.get(SOURCE)
        described.append(ExportCamera(
            index, from_blender(blender_camera(obj, scene), np.eye(4)),
            bpy.path.abspath(str(source)) if source else None, obj.name))
    clouds = [shown_points(o) for o in objects if is_points(o)]
    points = ExportPoints(*(np.concatenate([c[k] for c in clouds]) for k in range(4))) \
        if clouds else ExportPoints.empty()
    return ExportScene(tuple(described), points, masks=_masks([c[2] for c in cameras]))


def _masks(cameras: list[bpy.types.Object]) -> MaskOptions:
    """The masks of the run that made `cameras` (kept by the import), for masks/ beside
    the photos."""
    for obj in cameras:
        if MASK_FOLDER in obj:
            return MaskOptions(bpy.path.abspath(str(obj[MASK_FOLDER])), bool(obj[MASK_ALPHA]),
                               bool(obj[MASK_INVERT]))
    return MaskOptions()
