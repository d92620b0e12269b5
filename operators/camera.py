"""Look through an imported camera at its photo's resolution."""
from __future__ import annotations

import bpy

from ..core import schema
from ..importer.cameras import activate_camera


class DUST3R_OT_set_active_camera(bpy.types.Operator):
    """Make the active camera the scene camera and set the render resolution to its photo"""

    bl_idname = "dust3r.set_active_camera"
    bl_label = "Look Through Photo Camera"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and obj.type == "CAMERA"

    def execute(self, context):
        obj = context.active_object
        activate_camera(context.scene, obj)
        if not schema.has_photo_size(obj):
            self.report({"WARNING"}, f"{obj.name} has no photo size: resolution unchanged")
        return {"FINISHED"}


CLASSES = (DUST3R_OT_set_active_camera,)
