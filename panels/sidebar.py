"""The 3D View sidebar panel (N panel, "DUSt3R" tab). Drawing reads only properties and
cached values: no file-system work on a redraw."""
from __future__ import annotations

import bpy

from ..core.pairs import fit_graph, pair_indices
from ..core.settings import notes
from ..core import schema
from ..operators.camera import DUST3R_OT_set_active_camera
from ..operators.photos import DUST3R_OT_add_photos, DUST3R_OT_clear_photos, DUST3R_OT_remove_photo
from ..operators.reconstruct import DUST3R_OT_reconstruct
from ..operators.scene_setup import DUST3R_OT_set_floor, DUST3R_OT_set_origin, DUST3R_OT_set_scale
from ..tool import photos, plate, preferences, scene_setup, settings
from .widgets import task_row, wrapped_label


class DUST3R_UL_photos(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname):
        layout.label(text=bpy.path.basename(item.path), icon="IMAGE_DATA")


class DUST3R_PT_reconstruct(bpy.types.Panel):
    bl_label = "DUSt3R Reconstruction"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "DUSt3R"

    def draw(self, context):
        layout = self.layout
        s = context.scene.dust3r
        task = context.window_manager.dust3r.reconstruct

        layout.prop(s, "input_type", expand=True)
        plate_input = s.input_type != "PHOTOS"
        if plate_input:
            draw_plate(layout, s)
        else:
            layout.prop(s, "source", expand=True)
            if s.source == "FILES":
                row = layout.row()
                row.template_list("DUST3R_UL_photos", "", s, "photos", s, "photo_index", rows=3)
                col = row.column(align=True)
                col.operator(DUST3R_OT_add_photos.bl_idname, text="", icon="ADD")
                col.operator(DUST3R_OT_remove_photo.bl_idname, text="", icon="REMOVE")
                col.operator(DUST3R_OT_clear_photos.bl_idname, text="", icon="X")
            elif s.source == "FOLDER":
                layout.prop(s, "folder", text="")
            n_photos = photos.photo_count(s)
            layout.label(text="Folder not read yet" if n_photos is None else f"{n_photos} photos")
        layout.prop(s, "mask_source")
        if s.mask_source == "folder":
            layout.prop(s, "mask_folder", text="")
        if s.mask_source != "none":
            layout.prop(s, "invert_masks")

        box = layout.box()
        if plate_input:
            box.prop(s, "auto_pairs")
        if not (plate_input and s.auto_pairs):
            draw_pairs(box, s, None if plate_input else n_photos or 0)
        col = box.column(align=True)
        col.prop(s, "niter")
        col.prop(s, "schedule")
        col.prop(s, "min_conf_thr")
        row = box.row()
        if not plate_input:  # a plate's focal: the Sequence sub-panel's zoom and lens
            row.prop(s, "shared_focal")
        row.prop(s, "clean")
        if not plate_input:
            draw_known_cameras(box, s, context, n_photos)

        header, body = layout.panel("dust3r_import", default_closed=True)
        header.label(text="Import")
        if body:
            row = body.row()
            row.prop(s, "import_points")
            row.prop(s, "import_cameras")
            body.prop(s, "background_images")
            body.prop(s, "set_active_camera")
            body.prop(s, "point_radius")
            body.prop(s, "max_points")
            body.prop(s, "scale")
            body.prop(s, "collection_name")
            header, meshes = body.panel("dust3r_depth_meshes", default_closed=True)
            header.enabled = not plate_input  # no depth meshes of a plate
            header.prop(s, "depth_meshes")
            if meshes:
                meshes.enabled = s.depth_meshes and not plate_input
                meshes.prop(s, "depth_stride")

        header, body = layout.panel("dust3r_advanced", default_closed=True)
        header.label(text="Advanced")
        if body:
            body.prop(s, "lr")
            body.prop(s, "early_stop")
            body.prop(s, "batch_size")
            body.prop(s, "image_size")
            prefs = preferences.preferences(context)
            body.label(text=f"Model: {prefs.model}, {prefs.device}, {prefs.precision} "
                            "(Preferences)")

        row = layout.row()
        row.scale_y = 1.4
        row.enabled = not task.running
        row.operator(DUST3R_OT_reconstruct.bl_idname, icon="PLAY")
        task_row(layout, task, "reconstruct")

        obj = context.active_object
        if obj is not None and schema.has_photo_size(obj):
            layout.operator(DUST3R_OT_set_active_camera.bl_idname, icon="VIEW_CAMERA")


def draw_plate(layout, s) -> None:
    """The plate, its cached frame note, and the Sequence sub-panel."""
    if s.input_type == "PLATE":
        layout.prop(s, "plate", text="")
    else:
        layout.template_ID(s, "movie_clip", open="clip.open")
    wrapped_label(layout, plate.plate_note(s))
    header, body = layout.panel("dust3r_sequence", default_closed=False)
    header.label(text="Sequence")
    if not body:
        return
    col = body.column(align=True)
    for use, frame, label in (("use_frame_start", "frame_start", "Start"),
                              ("use_frame_end", "frame_end", "End")):
        row = col.row(align=True)
        row.prop(s, use, text="")
        used = getattr(s, use)  # off: the plate's first or last frame
        sub = row.row(align=True)
        sub.enabled = used
        sub.prop(s, frame, text=label if used else f"{label}: plate's")
    col.prop(s, "frame_step")
    body.prop(s, "keyframe_step")
    body.prop(s, "zoom")
    col = body.column(align=True)
    col.enabled = not s.zoom  # a known lens is constant
    col.prop(s, "lens_mm")
    col.prop(s, "sensor_mm")


def draw_pairs(box, s, n_photos) -> None:
    """The pair graph and, for photos, how many pairs it makes."""
    box.prop(s, "scene_graph")
    if s.scene_graph in ("swin", "logwin", "sequence"):
        row = box.row()
        row.prop(s, "window")
        if s.scene_graph != "sequence":  # a sequence never wraps
            row.prop(s, "noncyclic")
    elif s.scene_graph == "oneref":
        box.prop(s, "reference")
    if not n_photos:  # a plate's keyframes are counted when it runs; no photos, no pairs
        return
    graph = settings.scene_graph(s)
    try:
        box.label(text=f"{len(pair_indices(n_photos, fit_graph(graph, n_photos)))} image pairs")
    except ValueError as exc:
        wrapped_label(box, str(exc), "ERROR")


def draw_known_cameras(box, s, context, n_photos) -> None:
    box.prop(s, "use_known_cameras")
    if s.use_known_cameras:
        box.prop(s, "known_mode")
        n_cams = sum(o.type == "CAMERA" for o in context.selected_objects)
        box.label(text=f"{n_cams} cameras selected")
    known_poses = s.use_known_cameras and s.known_mode != "lens"
    for note in notes(settings.scene_graph(s), n_photos, known_poses) if n_photos else ():
        wrapped_label(box, note, "INFO")


class DUST3R_PT_scene_setup(bpy.types.Panel):
    """Floor, origin and scale of the active object's reconstruction (moves its parent)."""

    bl_label = "Scene Set-up"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "DUSt3R"
    bl_parent_id = "DUST3R_PT_reconstruct"

    @classmethod
    def poll(cls, context):
        return schema.origin_of(context.active_object) is not None

    def draw(self, context):
        layout = self.layout
        origin = schema.origin_of(context.active_object)
        layout.label(text=origin.users_collection[0].name if origin.users_collection
                     else origin.name, icon="OUTLINER_COLLECTION")
        layout.label(text="Edit Mode: select points first", icon="INFO")
        layout.operator(DUST3R_OT_set_floor.bl_idname, icon="MESH_PLANE")
        row = layout.row(align=True)
        row.operator(DUST3R_OT_set_origin.bl_idname, text="Origin at Cursor",
                     icon="PIVOT_CURSOR").source = "cursor"
        row.operator(DUST3R_OT_set_origin.bl_idname, text="At Selected",
                     icon="PIVOT_MEDIAN").source = "selected"
        row = layout.row(align=True)
        row.operator(DUST3R_OT_set_scale.bl_idname, text="Scale: Two Points",
                     icon="DRIVER_DISTANCE").source = "points"
        row.operator(DUST3R_OT_set_scale.bl_idname, text="Camera Height",
                     icon="VIEW_CAMERA").source = "camera"


CLASSES = (DUST3R_UL_photos, DUST3R_PT_reconstruct, DUST3R_PT_scene_setup)
