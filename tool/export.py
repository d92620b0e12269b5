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
from ..core.settings import MaskOptions
from ..core.plan import PROPERTY_PREFIX as PROP
from ..importer.points import COLOR, CONFIDENCE, IMAGE_INDEX, points_input
from .cameras import blender_camera


def is_photo_camera(obj: bpy.types.Object) -> bool:
    """A camera an import made for a photo."""
    return obj.type == "CAMERA" and PROP + "width" in obj and PROP + "image_index" in obj


def is_points(obj: bpy.types.Object) -> bool:
    """An imported point cloud (a mesh with its attributes)."""
    return obj.type == "MESH" and all(name in obj.data.attributes
                                      for name in (COLOR, CONFIDENCE, IMAGE_INDEX))


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
            cameras.append((int(obj[PROP + "image_index"]), obj.name, obj))
        except (TypeError, ValueError) as exc:
            raise Dust3rError(f"Camera {obj.name!r} has an unusable '{PROP}image_index' "
                              f"({exc})") from exc
    described = []
    for index, _, obj in sorted(cameras, key=lambda c: c[:2]):
        source = obj.get(PROP + "source")
        described.append(ExportCamera(
            index, from_blender(blender_camera(obj, scene), np.eye(4)),
            bpy.path.abspath(str(source)) if source else None, obj.name))
    clouds = [_points(o) for o in objects if is_points(o)]
    points = ExportPoints(*(np.concatenate([c[k] for c in clouds]) for k in range(4))) \
        if clouds else ExportPoints.empty()
    return ExportScene(tuple(described), points, masks=_masks([c[2] for c in cameras]))


def _masks(cameras: list[bpy.types.Object]) -> MaskOptions:
    """The masks of the run that made `cameras` (kept by the import), for masks/ beside
    the photos."""
    for obj in cameras:
        if PROP + "mask_folder" in obj:
            return MaskOptions(bpy.path.abspath(str(obj[PROP + "mask_folder"])),
                               bool(obj[PROP + "mask_alpha"]), bool(obj[PROP + "mask_invert"]))
    return MaskOptions()


def _points(obj: bpy.types.Object) -> tuple[np.ndarray, ...]:
    """xyz (world), sRGB, confidence and image index of the vertices the cloud shows."""
    mesh, n = obj.data, len(obj.data.vertices)
    xyz = np.empty(n * 3, np.float32)
    mesh.attributes["position"].data.foreach_get("vector", xyz)
    rgba = np.empty(n * 4, np.float32)
    mesh.attributes[COLOR].data.foreach_get("color_srgb", rgba)
    confidence = np.empty(n, np.float32)
    mesh.attributes[CONFIDENCE].data.foreach_get("value", confidence)
    index = np.empty(n, np.int32)
    mesh.attributes[IMAGE_INDEX].data.foreach_get("value", index)
    matrix = np.array(obj.matrix_world, np.float64)
    xyz = (xyz.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]).astype(np.float32)
    keep = confidence >= float(points_input(obj, "Min Confidence", 0.0) or 0.0)
    return xyz[keep], rgba.reshape(-1, 4)[keep, :3], confidence[keep], index[keep]
