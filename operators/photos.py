"""Choosing photos: the file browser with multi-select, removing and clearing the list."""
from __future__ import annotations

import os

import bpy
from bpy.props import CollectionProperty, StringProperty


class DUST3R_OT_add_photos(bpy.types.Operator):
    """Add photos to reconstruct (select several with Shift or Ctrl)"""

    bl_idname = "dust3r.add_photos"
    bl_label = "Add Photos"
    bl_options = {"REGISTER", "UNDO"}

    files: CollectionProperty(type=bpy.types.OperatorFileListElement,
                              options={"HIDDEN", "SKIP_SAVE"})
    directory: StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"})
    filter_image: bpy.props.BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})
    filter_folder: bpy.props.BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})

    def execute(self, context):
        settings = context.scene.dust3r
        existing = {p.path for p in settings.photos}
        added = 0
        for entry in self.files:
            path = os.path.join(self.directory, entry.name)
            if entry.name and os.path.isfile(path) and path not in existing:
                settings.photos.add().path = path
                existing.add(path)
                added += 1
        settings.source = "FILES"
        self.report({"INFO"}, f"Added {added} photos")
        return {"FINISHED"}

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}


class DUST3R_OT_remove_photo(bpy.types.Operator):
    """Remove the highlighted photo from the list"""

    bl_idname = "dust3r.remove_photo"
    bl_label = "Remove Photo"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.dust3r
        if not 0 <= settings.photo_index < len(settings.photos):
            return {"CANCELLED"}
        settings.photos.remove(settings.photo_index)
        settings.photo_index = max(0, min(settings.photo_index, len(settings.photos) - 1))
        return {"FINISHED"}


class DUST3R_OT_clear_photos(bpy.types.Operator):
    """Remove every photo from the list"""

    bl_idname = "dust3r.clear_photos"
    bl_label = "Clear Photos"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        context.scene.dust3r.photos.clear()
        return {"FINISHED"}


CLASSES = (DUST3R_OT_add_photos, DUST3R_OT_remove_photo, DUST3R_OT_clear_photos)
