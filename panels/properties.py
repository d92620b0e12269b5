"""The add-on's Blender properties: the panel's settings (per scene, saved with the file) and
the background tasks' status (per window manager: no undo steps, not saved)."""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty,
                       IntProperty, PointerProperty, StringProperty)


class DUST3R_PG_photo(bpy.types.PropertyGroup):
    path: StringProperty(name="Photo", subtype="FILE_PATH")


class DUST3R_PG_settings(bpy.types.PropertyGroup):
    """Every reconstruction setting of the sidebar panel (`scene.dust3r`)."""

    source: EnumProperty(name="Photos", default="FILES", items=(
        ("FILES", "Files", "Photos picked with the file browser"),
        ("FOLDER", "Folder", "Every image in a folder, in name order"),
        ("BLENDER", "Blender Images", "The images loaded in this file that have a file on disk"),
    ))
    photos: CollectionProperty(type=DUST3R_PG_photo)
    photo_index: IntProperty(name="Photo", default=0)
    folder: StringProperty(name="Folder", subtype="DIR_PATH")

    scene_graph: EnumProperty(name="Pairs", default="complete", items=(
        ("complete", "Complete", "Every photo with every other: best for up to ~20 photos"),
        ("swin", "Sliding Window", "Each photo with its K neighbours in order: video-like sets"),
        ("logwin", "Log Window", "Neighbours at distances 1, 2, 4, ... 2^(K-1)"),
        ("oneref", "One Reference", "Every photo with one reference photo: fewest pairs"),
    ))
    window: IntProperty(name="K", default=3, min=1, max=64,
                        description="Window size of the sliding and log windows")
    reference: IntProperty(name="Reference", default=0, min=0,
                           description="Index of the reference photo (0 = the first)")
    noncyclic: BoolProperty(name="Non-cyclic", default=False,
                            description="Windows do not wrap around from the last photo to "
                                        "the first")
    niter: IntProperty(name="Iterations", default=300, min=0, soft_max=2000,
                       description="Alignment iterations")
    lr: FloatProperty(name="Learning Rate", default=0.01, min=1e-5, max=1.0, precision=4)
    schedule: EnumProperty(name="Schedule", default="cosine", items=(
        ("cosine", "Cosine", "Cosine learning-rate decay"),
        ("linear", "Linear", "Linear learning-rate decay")))
    min_conf_thr: FloatProperty(name="Confidence", default=3.0, min=0.0, soft_max=20.0,
                                description="Pixels under this network confidence are left out")
    clean: BoolProperty(name="Clean Point Cloud", default=True,
                        description="Drop points that other cameras see as occluded")
    shared_focal: BoolProperty(name="Shared Focal", default=False,
                               description="All photos were taken with the same lens and zoom")
    batch_size: IntProperty(name="Batch Size", default=8, min=1, max=256,
                            description="Image pairs per network batch (lower it on small GPUs)")
    use_known_cameras: BoolProperty(
        name="Use Selected Cameras", default=False,
        description="Keep the selected Blender cameras' poses and/or lenses and solve only the "
                    "rest; a camera is matched to its photo by its background image, its "
                    "'dust3r_source' property, its name, or else by order")
    known_mode: EnumProperty(name="Keep", default="BOTH", items=(
        ("BOTH", "Pose and Lens", "Keep position, rotation, focal length and shift"),
        ("POSE", "Pose", "Keep position and rotation, solve the lens"),
        ("LENS", "Lens", "Keep focal length and shift, solve the pose")))

    import_points: BoolProperty(name="Points", default=True)
    import_cameras: BoolProperty(name="Cameras", default=True)
    background_images: BoolProperty(name="Photos as Backgrounds", default=True)
    point_radius: FloatProperty(name="Point Radius", default=0.0, min=0.0, soft_max=0.1,
                                precision=4, unit="LENGTH",
                                description="0 = about one photo pixel at its depth")
    max_points: IntProperty(name="Max Points", default=0, min=0,
                            description="Keep a random subset of this size (0 = all)")
    scale: FloatProperty(name="Scale", default=0.0, min=0.0,
                         description="Blender units per reconstruction unit; 0 = automatic "
                                     "(median depth 3 m; 1 with known poses)")
    collection_name: StringProperty(name="Collection",
                                    description="Name of the new collection (empty = automatic)")
    set_active_camera: BoolProperty(name="Activate First Camera", default=True,
                                    description="Make the first photo's camera the scene camera "
                                                "and set the render resolution to its photo")


class DUST3R_PG_task(bpy.types.PropertyGroup):
    """What a background task is doing, for the UI (updated by the main-thread poll)."""

    running: BoolProperty()
    stage: StringProperty()
    done: IntProperty()
    total: IntProperty()
    message: StringProperty()  # the last result
    error: StringProperty()  # the last error

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


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
