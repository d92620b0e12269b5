"""The add-on's Blender properties: the panel's settings (per scene, saved with the file) and
the background tasks' status (per window manager: no undo steps, not saved).

Defaults come from `core.settings`' JobParams, ImportOptions and SequenceOptions, choices from
`core.options`: the panel, cli.py and scripts share them.
"""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty,
                       IntProperty, PointerProperty, StringProperty)

from ..core import options
from ..core.options import enum_items
from ..core.pairs import parse_graph
from ..core.settings import ImportOptions, JobParams, SequenceOptions
from ..tool import photos, plate

RUN, IMPORT, SEQUENCE = JobParams(), ImportOptions(), SequenceOptions()  # the defaults
_, _WINDOW, _CYCLIC = parse_graph("swin")  # the graphs' defaults
_, _REFERENCE, _ = parse_graph("oneref")


def _refresh_photos(settings, _context) -> None:
    photos.refresh(settings)


def _read_plate(settings, _context) -> None:
    plate.read(settings)


class DUST3R_PG_photo(bpy.types.PropertyGroup):
    path: StringProperty(name="Photo", subtype="FILE_PATH")


class DUST3R_PG_settings(bpy.types.PropertyGroup):
    """Every reconstruction setting of the sidebar panel (`scene.dust3r`); the names match
    cli.py's options (see `tool.settings.job_params`)."""

    source: EnumProperty(name="Photos", default="FILES", update=_refresh_photos, items=(
        ("FILES", "Files", "Photos picked with the file browser"),
        ("FOLDER", "Folder", "Every image in a folder, in name order"),
        ("BLENDER", "Blender Images", "The images loaded in this file that have a file on disk"),
    ))
    photos: CollectionProperty(type=DUST3R_PG_photo)
    photo_index: IntProperty(name="Photo", default=0)
    folder: StringProperty(name="Folder", subtype="DIR_PATH", update=_refresh_photos)

    input_type: EnumProperty(name="Input", default="PHOTOS", update=_read_plate, items=(
        ("PHOTOS", "Photos", "Still photos: a static camera each"),
        ("PLATE", "Plate", "Footage (an image sequence or a movie file) solved as one "
                           "animated camera"),
        ("CLIP", "Movie Clip", "A Movie Clip of this file solved as one animated camera"),
    ))
    plate: StringProperty(name="Plate", subtype="FILE_PATH", update=_read_plate,
                          description="A folder of numbered frames, a frame pattern such as "
                                      "plate.####.png, or a movie file (mp4, mov, mkv, avi)")
    movie_clip: PointerProperty(name="Movie Clip", type=bpy.types.MovieClip,
                                update=_read_plate)
    use_frame_start: BoolProperty(name="Start", default=SEQUENCE.frame_start is not None,
                                  description="Start at this frame (off: the plate's first)")
    frame_start: IntProperty(name="Start", default=SEQUENCE.frame_start or 1)
    use_frame_end: BoolProperty(name="End", default=SEQUENCE.frame_end is not None,
                                description="End at this frame (off: the plate's last)")
    frame_end: IntProperty(name="End", default=SEQUENCE.frame_end or 1)
    frame_step: IntProperty(name="Step", default=SEQUENCE.frame_step, min=1,
                            description="Solve every this many frames")
    keyframe_step: IntProperty(name="Keyframe Step", default=SEQUENCE.keyframe_step, min=0,
                               description="Align every this many frames with the full "
                                           "aligner, the rest against them (0 = automatic, "
                                           "from the memory budget)")
    zoom: BoolProperty(name="Zoom", default=SEQUENCE.zoom,
                       description="The focal length changes during the shot: one per frame")
    lens_mm: FloatProperty(name="Lens", default=SEQUENCE.lens_mm, min=0.0, soft_max=300.0,
                           description="A known focal length in mm, kept exactly (0 = solve "
                                       "it)")
    sensor_mm: FloatProperty(name="Sensor Width", default=SEQUENCE.sensor_mm, min=0.1,
                             soft_max=100.0, description="Sensor width in mm of the known lens "
                                                         "(camera report)")
    auto_pairs: BoolProperty(name="Automatic Pairs", default=not SEQUENCE.pair_graph,
                             description="Pair the keyframes by a graph chosen from their "
                                         "count (off: the Pairs setting)")

    scene_graph: EnumProperty(name="Pairs", default=RUN.scene_graph,
                              items=enum_items(options.SCENE_GRAPHS))
    window: IntProperty(name="K", default=_WINDOW, min=1, max=64,
                        description="Window size of the sliding and log windows")
    reference: IntProperty(name="Reference", default=_REFERENCE, min=0,
                           description="Index of the reference photo (0 = the first)")
    noncyclic: BoolProperty(name="Non-cyclic", default=not _CYCLIC,
                            description="Windows do not wrap around from the last photo to "
                                        "the first")
    niter: IntProperty(name="Iterations", default=RUN.niter, min=0, soft_max=2000,
                       description="Alignment iterations")
    lr: FloatProperty(name="Learning Rate", default=RUN.lr, min=1e-5, max=1.0, precision=4)
    schedule: EnumProperty(name="Schedule", default=RUN.schedule,
                           items=enum_items(options.SCHEDULES))
    min_conf_thr: FloatProperty(name="Confidence", default=RUN.min_conf_thr, min=0.0,
                                soft_max=20.0,
                                description="Pixels under this network confidence are left out")
    clean: BoolProperty(name="Clean Point Cloud", default=RUN.clean,
                        description="Drop points that other cameras see as occluded")
    shared_focal: BoolProperty(name="Shared Focal", default=RUN.shared_focal,
                               description="All photos were taken with the same lens and zoom")
    early_stop: IntProperty(name="Early Stop", default=RUN.early_stop_patience, min=0,
                            soft_max=100,
                            description="Stop once the alignment loss has not improved for "
                                        "this many iterations (0 = off)")
    batch_size: IntProperty(name="Batch Size", default=RUN.batch_size, min=1, max=256,
                            description="Image pairs per network batch (lower it on small GPUs)")
    image_size: IntProperty(name="Image Size", default=RUN.image_size, min=0, max=2048,
                            description="Network input size in pixels (0 = the model's own, "
                                        "512 or 224)")
    use_known_cameras: BoolProperty(
        name="Use Selected Cameras", default=False,
        description="Keep the selected Blender cameras' poses and/or lenses and solve only the "
                    "rest; a camera is matched to its photo by its background image, its "
                    "'dust3r_source' property, its name, or else by order")
    known_mode: EnumProperty(name="Keep", default="both", items=enum_items(options.KEEP_CAMERAS))
    mask_source: EnumProperty(name="Masks", default=RUN.masks.source,
                              items=enum_items(options.MASK_SOURCES),
                              description="Pixels to leave out of the reconstruction (moving "
                                          "people, a turntable, the sky)")
    mask_folder: StringProperty(name="Mask Folder", subtype="DIR_PATH",
                                description="One mask image per photo, named after the photo "
                                            "(IMG_1.png for IMG_1.jpg): white keeps a pixel, "
                                            "black leaves it out")
    invert_masks: BoolProperty(name="Invert Masks", default=RUN.masks.invert,
                               description="Leave out the white (opaque) pixels and keep the "
                                           "black (transparent) ones")

    import_points: BoolProperty(name="Points", default=IMPORT.points)
    import_cameras: BoolProperty(name="Cameras", default=IMPORT.cameras)
    background_images: BoolProperty(name="Photos as Backgrounds",
                                     default=IMPORT.background_images)
    point_radius: FloatProperty(name="Point Radius", default=IMPORT.point_radius, min=0.0,
                                soft_max=0.1, precision=4, unit="LENGTH",
                                description="0 = about one photo pixel at its depth")
    max_points: IntProperty(name="Max Points", default=IMPORT.max_points, min=0,
                            description="Keep a random subset of this size (0 = all)")
    scale: FloatProperty(name="Scale", default=IMPORT.scale, min=0.0,
                         description="Blender units per reconstruction unit; 0 = automatic "
                                     "(median depth 3 m; 1 with known poses)")
    collection_name: StringProperty(name="Collection",
                                    description="Name of the new collection (empty = automatic)")
    set_active_camera: BoolProperty(name="Activate First Camera",
                                    default=IMPORT.set_active_camera,
                                    description="Make the first photo's camera the scene camera "
                                                "and set the render resolution to its photo")
    depth_meshes: BoolProperty(name="Depth Meshes", default=IMPORT.depth_meshes,
                               description="A mesh per photo from its depth map, showing the "
                                           "photo unlit: seen through its camera it reproduces "
                                           "the photo (camera projection, set reference). "
                                           "Faces across depth jumps and on pixels under the "
                                           "confidence threshold are left out")
    depth_stride: IntProperty(name="Stride", default=IMPORT.depth_stride, min=1, soft_max=16,
                              description="A vertex every this many network pixels (1 = "
                                          "every pixel, about 200,000 faces a photo at 512 px)")


class DUST3R_PG_task(bpy.types.PropertyGroup):
    """What a background task is doing, for the UI (updated by the main-thread poll).

    Only properties here: a Python method on a registered PropertyGroup makes Blender 4.2 and
    4.3 crash on quit after the add-on is unregistered."""

    running: BoolProperty()
    stage: StringProperty()
    done: IntProperty()
    total: IntProperty()
    message: StringProperty()  # the last result
    error: StringProperty()  # the last error


class DUST3R_PG_status(bpy.types.PropertyGroup):
    reconstruct: PointerProperty(type=DUST3R_PG_task)
    install: PointerProperty(type=DUST3R_PG_task)
    download: PointerProperty(type=DUST3R_PG_task)


CLASSES = (DUST3R_PG_photo, DUST3R_PG_settings, DUST3R_PG_task, DUST3R_PG_status)


def register() -> None:
    bpy.types.Scene.dust3r = PointerProperty(type=DUST3R_PG_settings)
    bpy.types.WindowManager.dust3r = PointerProperty(type=DUST3R_PG_status)


def unregister() -> None:
    del bpy.types.WindowManager.dust3r
    del bpy.types.Scene.dust3r
