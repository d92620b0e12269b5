"""Scene -> Blender data: a new collection with the point cloud and one camera per photo.

`import_scene` is all-or-nothing, like Blender's own importers: if anything fails, every
datablock it created is removed and the scene settings it touched are restored.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional

import bpy
import numpy as np

from ..core.cameras import PinholeCamera, to_blender, transform_points, world_matrix
from ..core.pipeline import ImportOptions, JobParams, run

if TYPE_CHECKING:
    from ..core.scene import Scene
from . import cameras as cam_builder
from . import points as point_builder

AUTO_MEDIAN_DEPTH = 3.0  # auto scale: the photos' median depth becomes 3 m


def import_scene(scene: "Scene", options: Optional[ImportOptions] = None, *,
                 target: Optional[bpy.types.Scene] = None) -> dict:
    """Create the Blender data of `scene` in a new collection of the Blender scene `target`
    (default: the context's scene).

    Returns {"collection", "points" (object or None), "cameras" (objects, image order),
    "material", "node_group", "images", "scale", "warnings"}. On any exception nothing
    stays behind.
    """
    options = options or ImportOptions()
    target = target or bpy.context.scene
    existing = _datablocks()
    restore = _scene_state(target)
    try:
        return _build(scene, options, target)
    except BaseException:
        _remove_new(existing)
        _restore(target, restore)
        raise


def reconstruct(params: JobParams, *, target: Optional[bpy.types.Scene] = None,
                progress=None, cancel=None, predictor=None, model=None) -> dict:
    """Photos to Blender data in one call, for scripts: `core.pipeline.run` then
    `import_scene`. Returns import_scene's dict plus "result" (the `pipeline.Result`)."""
    result = run(params, progress=progress, cancel=cancel, predictor=predictor, model=model)
    if progress:
        progress("import", 0, 1)
    created = import_scene(result.scene, result.import_options, target=target)
    created["result"] = result
    return created


def _build(scene: "Scene", options: ImportOptions, bl_scene) -> dict:
    masked_depths = [np.asarray(scene.depthmaps[n])[np.asarray(scene.masks[n], bool)]
                     for n in range(scene.n_images)]
    median_depth = _median([d for d in masked_depths if d.size]) or 1.0
    scale = options.scale or AUTO_MEDIAN_DEPTH / median_depth
    world = world_matrix(scale)

    name = options.collection_name or _default_name(scene)
    collection = bpy.data.collections.new(name)
    bl_scene.collection.children.link(collection)
    result = dict(collection=collection, points=None, cameras=[], material=None,
                  node_group=None, images=[], scale=scale, warnings=[])

    cloud = scene.point_cloud()
    if options.max_points and len(cloud) > options.max_points:
        keep_idx = np.sort(np.random.default_rng(0).choice(len(cloud), options.max_points,
                                                           replace=False))
        cloud = type(cloud)(cloud.xyz[keep_idx], cloud.rgb[keep_idx],
                            cloud.confidence[keep_idx], cloud.image_index[keep_idx])

    if options.points:
        mesh = point_builder.points_mesh(f"{name} points", transform_points(world, cloud.xyz),
                                         cloud.rgb, cloud.confidence, cloud.image_index)
        material = point_builder.points_material(f"{name} colours")
        mesh.materials.append(material)
        group = point_builder.points_node_group(f"{name} points")
        obj = bpy.data.objects.new(f"{name} points", mesh)
        collection.objects.link(obj)
        radius = options.point_radius or 0.75 * scale * _median(
            [d / f for d, f in zip(masked_depths, scene.focals) if d.size]) or 0.01
        point_builder.add_points_modifier(obj, group, material, radius,
                                          options.confidence_threshold)
        result.update(points=obj, material=material, node_group=group)

    if options.cameras:
        sizes, focals, pps = scene.photo_sizes, scene.photo_focals, scene.photo_pp
        sample = cloud.xyz[:: max(1, len(cloud) // 100_000)].astype(np.float64)  # for clipping
        for n in range(scene.n_images):
            photo = scene.photo(n)
            cam = PinholeCamera(int(sizes[n][0]), int(sizes[n][1]), focals[n], focals[n],
                                pps[n][0], pps[n][1], np.asarray(scene.c2w[n], np.float64))
            stem = os.path.splitext(os.path.basename(photo.path))[0] if photo else "camera"
            clip = _clip_range(cam.c2w, sample, scale)
            obj = cam_builder.camera_object(f"{n:03d} {stem}", to_blender(cam, world), cam,
                                            photo, n, clip, 0.1 * median_depth * scale)
            collection.objects.link(obj)
            result["cameras"].append(obj)
            if options.background_images and photo is not None:
                if os.path.isfile(photo.path):
                    image = cam_builder.upright_photo(photo)
                    cam_builder.add_background(obj, image)
                    result["images"].append(image)
                else:
                    result["warnings"].append(f"No background for {obj.name}: "
                                              f"{photo.path} is gone")
        if options.set_active_camera and result["cameras"]:
            cam_builder.activate_camera(bl_scene, result["cameras"][0])
    return result


def _median(arrays: list) -> float:
    values = [np.asarray(a, np.float64).ravel() for a in arrays]
    values = [v for v in values if v.size]
    return float(np.median(np.concatenate(values))) if values else 0.0


def _default_name(scene: "Scene") -> str:
    photo = scene.photo(0)
    folder = os.path.basename(os.path.dirname(os.path.abspath(photo.path))) if photo else ""
    return f"DUSt3R {folder}" if folder else "DUSt3R reconstruction"


def _clip_range(c2w: np.ndarray, xyz: np.ndarray, scale: float) -> tuple[float, float]:
    """Clip start/end that keep the visible cloud: the depth range of the points ahead."""
    depth = (xyz - c2w[:3, 3]) @ c2w[:3, 2]
    depth = depth[depth > 0]
    if not depth.size:
        return 0.1, 1000.0
    near = max(1e-4, 0.5 * float(np.percentile(depth, 0.5)) * scale)
    far = max(2.0 * float(depth.max()) * scale, near * 10)
    return near, far


def _scene_state(bl_scene) -> dict:
    render = bl_scene.render
    return dict(camera=bl_scene.camera, resolution=(render.resolution_x, render.resolution_y,
                                                    render.resolution_percentage),
                aspect=(render.pixel_aspect_x, render.pixel_aspect_y))


def _restore(bl_scene, state: dict) -> None:
    render = bl_scene.render
    bl_scene.camera = state["camera"]
    render.resolution_x, render.resolution_y, render.resolution_percentage = state["resolution"]
    render.pixel_aspect_x, render.pixel_aspect_y = state["aspect"]


# The datablock types an import creates; objects first so their data is free to go.
_TYPES = ("objects", "meshes", "cameras", "materials", "node_groups", "images", "collections")


def _datablocks() -> dict[str, set[int]]:
    return {t: {block.as_pointer() for block in getattr(bpy.data, t)} for t in _TYPES}


def _remove_new(existing: dict[str, set[int]]) -> None:
    """Remove every datablock created since `existing` was taken (helpers included)."""
    for t in _TYPES:
        data = getattr(bpy.data, t)
        for block in [b for b in data if b.as_pointer() not in existing[t]]:
            data.remove(block)
