"""Add-on preferences: runtime dependencies, the model and where it lives, device, precision."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from ..core import dependencies, options
from ..core.settings import JobParams
from ..operators.setup import (DUST3R_OT_download_model, DUST3R_OT_install_dependencies,
                               DUST3R_OT_unload_model)
from ..tool import preferences as tool_prefs
from .properties import enum_items
from .widgets import task_row, wrapped_label

RUN = JobParams()  # the defaults


def _refresh_dependencies(prefs, _context) -> None:
    tool_prefs.refresh_dependencies(prefs)


class DUST3R_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = tool_prefs.PACKAGE

    model: EnumProperty(name="Model", default=RUN.model, items=enum_items(options.MODELS) + [
        ("FILE", "Local File", "A .pth checkpoint, a model.safetensors (config.json beside it) "
                               "or a Hugging Face model folder")])
    model_file: StringProperty(name="Checkpoint", subtype="FILE_PATH")
    model_dir: StringProperty(name="Model Folder", subtype="DIR_PATH",
                              description="Where released models are downloaded and looked for "
                                          "(empty = the extension's user folder)")
    device: EnumProperty(name="Device", default=RUN.device, items=enum_items(options.DEVICES))
    precision: EnumProperty(name="Precision", default=RUN.precision,
                            items=enum_items(options.PRECISIONS))
    compute_platform: EnumProperty(name="Compute Platform", default=dependencies.PLATFORMS[0][0],
                                   items=[(pid, label, f"torch wheels for {label}")
                                          for pid, label, _ in dependencies.PLATFORMS])
    python_path: StringProperty(
        name="Existing Environment", subtype="DIR_PATH", update=_refresh_dependencies,
        description="The site-packages folder of a Python environment that already has torch "
                    "(it must match Blender's Python version)")

    def draw(self, context):
        layout = self.layout
        status = context.window_manager.dust3r
        box = layout.box()
        box.label(text="Dependencies", icon="PACKAGE")
        col = box.column(align=True)
        if tool_prefs.dependency_status() is None:  # probed shortly after start-up
            col.label(text="Checking the Python packages...")
        for pkg in tool_prefs.dependency_status() or ():
            if pkg.present:
                details = [pkg.build, tool_prefs.dependency_source(pkg)]
                text = f"{pkg.version} ({', '.join(d for d in details if d)})"
            elif pkg.distribution in dependencies.ONLY_FOR:
                text = f"missing (needed for {dependencies.ONLY_FOR[pkg.distribution]})"
            else:
                text = "missing"
            wrapped_label(col, f"{pkg.distribution}: {text}",
                          "CHECKMARK" if pkg.present else "ERROR")
        box.prop(self, "compute_platform")
        row = box.row()
        row.enabled = not status.install.running
        row.operator(DUST3R_OT_install_dependencies.bl_idname, icon="IMPORT")
        task_row(box, status.install, "install")
        if not bpy.app.online_access:
            wrapped_label(box, "Online access is off (Preferences > System > Network)", "INFO")
        box.prop(self, "python_path")

        box = layout.box()
        box.label(text="Model", icon="FILE_3D")
        box.prop(self, "model")
        if self.model == "FILE":
            box.prop(self, "model_file")
        else:
            box.prop(self, "model_dir")
            row = box.row()
            row.enabled = not status.download.running
            row.operator(DUST3R_OT_download_model.bl_idname, icon="URL")
            task_row(box, status.download, "download")
        wrapped_label(box, options.MODEL_LICENCE, "ERROR")
        row = box.row()
        row.prop(self, "device")
        row.prop(self, "precision")
        box.operator(DUST3R_OT_unload_model.bl_idname, icon="TRASH")


CLASSES = (DUST3R_AP_preferences,)
