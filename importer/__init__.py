"""An import plan -> Blender data: a new collection with the point cloud and one camera per
photo (`import_scene`), or one camera animated through a solved plate (`import_track`),
all parented to one Empty (the reconstruction's origin, which the set-up tools move). Every
number comes from `core.plan`; this package only makes the datablocks.

`import_scene` is all-or-nothing, like Blender's own importers: if anything fails, every
datablock it created is removed and the scene settings it touched are restored.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Union

import bpy

from ..core.plan import ImportPlan, OriginPlan, TrackPlan, plan_import, plan_track
from ..core.settings import ImportOptions, JobParams, MaskOptions, SequenceOptions
from . import cameras as cam_builder
from . import depth_meshes as depth_builder
from . import points as point_builder
from . import track as track_builder

if TYPE_CHECKING:
    from ..core.frames import Plate
    from ..core.pipeline import Result
    from ..core.predictor import Predictor
    from ..core.progress import Cancel, StageProgress
    from ..core.scene import Scene
    from ..core.track import Track


@dataclass
class Imported:
    """What one import created, all inside `collection`."""

    plan: Union[ImportPlan, TrackPlan]
    collection: "bpy.types.Collection"
    origin: Optional["bpy.types.Object"] = None  # the Empty every object below is parented to
    points: Optional["bpy.types.Object"] = None
    cameras: tuple = ()  # camera objects in photo order
    material: Optional["bpy.types.Material"] = None
    node_group: Optional["bpy.types.NodeTree"] = None
    images: tuple = ()  # the photos (backgrounds and depth mesh textures), each once
    result: Optional[Result] = None  # the run, when `reconstruct` made it
    depth_meshes: tuple = ()  # depth mesh objects in photo order
    movie_clip: Optional["bpy.types.MovieClip"] = None  # a movie plate behind a track's camera

    @property
    def scale(self) -> float:
        return self.plan.scale

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.plan.warnings

    def summary(self) -> str:
        n_points = len(self.plan.points.xyz) if self.plan.points else 0
        meshes = f", {len(self.depth_meshes)} depth meshes" if self.depth_meshes else ""
        if isinstance(self.plan, TrackPlan):
            first, last = self.plan.frame_range
            return (f"{n_points:,} points, a camera on frames {first}-{last} in "
                    f"'{self.collection.name}'")
        return (f"{n_points:,} points, {len(self.cameras)} cameras{meshes} in "
                f"'{self.collection.name}'")


def import_scene(scene: "Scene", options: Optional[ImportOptions] = None, *,
                 masks: MaskOptions = MaskOptions(),
                 target: Optional["bpy.types.Scene"] = None) -> Imported:
    """Create the Blender data of `scene` in a new collection of the Blender scene `target`
    (default: the context's scene); the cameras keep the run's `masks` for exports. On any
    exception nothing stays behind."""
    return import_plan(plan_import(scene, options or ImportOptions(), masks), target=target)


def import_track(track: "Track", plate: "Plate", options: Optional[ImportOptions] = None,
                 sequence: "Optional[SequenceOptions]" = None, *,
                 target: Optional["bpy.types.Scene"] = None) -> Imported:
    """A solved plate in a new collection of `target`: one camera animated on every solved
    frame with the plate behind it, the keyframes' points, and the scene's frame range, rate
    (movies) and resolution set from the plate (`core.plan.plan_track`); `cameras` is that one
    camera. On any exception nothing stays behind and the scene settings are restored."""
    return import_plan(plan_track(track, plate, options or ImportOptions(), sequence),
                       target=target)


def import_plan(plan: Union[ImportPlan, TrackPlan], *,
                target: Optional["bpy.types.Scene"] = None) -> Imported:
    """`import_scene` or `import_track` for a plan made beforehand (all-or-nothing as well)."""
    target = target or bpy.context.scene
    existing = _datablocks()
    restore = _scene_state(target)
    try:
        imported = _build_track(plan, target) if isinstance(plan, TrackPlan) \
            else _build(plan, target)
    except BaseException:
        _remove_new(existing)
        _restore(target, restore)
        raise
    point_builder.show_colours_in_solid_shading()
    return imported


def reconstruct(params: JobParams, *, target: Optional["bpy.types.Scene"] = None,
                progress: "Optional[StageProgress]" = None, cancel: "Optional[Cancel]" = None,
                predictor: "Optional[Predictor]" = None) -> Imported:
    """Photos (or a plate, with `params.sequence`) to Blender data in one call, for scripts:
    `core.pipeline.run` then `import_result`; the returned `Imported` carries the run as
    `result`."""
    from ..core.pipeline import run  # torch: the run starts here (registering needs none)

    result = run(params, progress=progress, cancel=cancel, predictor=predictor)
    if progress:
        progress("import", 0, 1)
    return import_result(result, target=target)


def import_result(result: Result, *, target: Optional["bpy.types.Scene"] = None) -> Imported:
    """A finished run into `target`: a solved plate as one animated camera (`import_track`),
    photos as one camera each (`import_scene`); `Imported.result` is the run."""
    if result.track is not None:
        imported = import_track(result.track, result.plate, result.import_options,
                                result.sequence, target=target)
    else:
        imported = import_scene(result.scene, result.import_options, masks=result.masks,
                                target=target)
    imported.result = result
    return imported


def _build(plan: ImportPlan, bl_scene) -> Imported:
    collection = bpy.data.collections.new(plan.collection_name)
    bl_scene.collection.children.link(collection)
    out = Imported(plan, collection, origin=_origin(plan.origin, collection))
    _add_points(out)
    cameras, images = [], []
    for cam in plan.cameras:
        obj = cam_builder.camera_object(cam)
        collection.objects.link(obj)
        cameras.append(obj)
        if cam.background:
            image = cam_builder.upright_photo(cam.photo)
            cam_builder.add_background(obj, image)
            images.append(image)
    out.cameras, out.images = tuple(cameras), tuple(images)
    if plan.depth_meshes:  # textured with the background photos above: each photo once
        photos = dict(zip([c.image_index for c in plan.cameras if c.background], images))
        out.depth_meshes = depth_builder.add_depth_meshes(plan.depth_meshes, collection, photos)
        out.images = tuple(dict.fromkeys([*images, *photos.values()]))
    _parent_to_origin(out)
    if plan.active_camera is not None:
        cam_builder.activate_camera(bl_scene, cameras[plan.active_camera])
    return out


def _build_track(plan: TrackPlan, bl_scene) -> Imported:
    collection = bpy.data.collections.new(plan.collection_name)
    bl_scene.collection.children.link(collection)
    out = Imported(plan, collection, origin=_origin(plan.origin, collection))
    _add_points(out)
    camera = track_builder.camera_object(plan)
    collection.objects.link(camera)
    out.cameras = (camera,)
    if plan.background is not None:
        plate = track_builder.add_plate(camera, plan.background)
        if plan.background.source == "MOVIE_CLIP":
            out.movie_clip = plate
        else:
            out.images = (plate,)
    _parent_to_origin(out)
    track_builder.set_scene(bl_scene, plan, camera)
    return out


def _add_points(out: Imported) -> None:
    """The plan's point cloud (if any) into `out.collection`."""
    points = out.plan.points
    if points is None:
        return
    mesh = point_builder.points_mesh(points)
    out.material = point_builder.points_material(f"{out.plan.collection_name} colours")
    mesh.materials.append(out.material)
    out.node_group = point_builder.points_node_group(points.name)
    out.points = bpy.data.objects.new(points.name, mesh)
    out.collection.objects.link(out.points)
    point_builder.add_points_modifier(out.points, out.node_group, out.material,
                                      points.radius, points.min_confidence)


def _parent_to_origin(out: Imported) -> None:
    """Every object of the import hangs from its origin (which sits at the world origin, so
    world matrices and the camera's animation are unchanged)."""
    for obj in out.collection.objects:
        if obj is not out.origin:
            obj.parent = out.origin
            obj.matrix_parent_inverse.identity()


def _origin(plan: OriginPlan, collection) -> "bpy.types.Object":
    origin = bpy.data.objects.new(plan.name, None)  # an Empty
    origin.empty_display_type = "PLAIN_AXES"
    origin.empty_display_size = plan.display_size
    for key, value in plan.properties.items():
        origin[key] = value
    collection.objects.link(origin)
    return origin


def _scene_state(bl_scene) -> dict:
    render = bl_scene.render
    return dict(camera=bl_scene.camera, resolution=(render.resolution_x, render.resolution_y,
                                                    render.resolution_percentage),
                aspect=(render.pixel_aspect_x, render.pixel_aspect_y),
                frames=(bl_scene.frame_start, bl_scene.frame_end, bl_scene.frame_current),
                fps=(render.fps, render.fps_base))


def _restore(bl_scene, state: dict) -> None:
    render = bl_scene.render
    bl_scene.camera = state["camera"]
    render.resolution_x, render.resolution_y, render.resolution_percentage = state["resolution"]
    render.pixel_aspect_x, render.pixel_aspect_y = state["aspect"]
    bl_scene.frame_start, bl_scene.frame_end, frame = state["frames"]
    render.fps, render.fps_base = state["fps"]
    if bl_scene.frame_current != frame:
        bl_scene.frame_set(frame)


# The datablock types an import creates; objects first so their data is free to go.
_TYPES = ("objects", "meshes", "cameras", "materials", "node_groups", "images", "movieclips",
          "actions", "collections")


def _datablocks() -> dict[str, set[int]]:
    return {t: {block.as_pointer() for block in getattr(bpy.data, t)} for t in _TYPES}


def _remove_new(existing: dict[str, set[int]]) -> None:
    """Remove every datablock created since `existing` was taken (helpers included)."""
    for t in _TYPES:
        data = getattr(bpy.data, t)
        for block in [b for b in data if b.as_pointer() not in existing[t]]:
            data.remove(block)
