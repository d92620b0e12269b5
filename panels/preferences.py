"""Add-on preferences: runtime dependencies, the model and where it lives, device, precision."""
from __future__ import annotations

import os

import bpy
from bpy.props import EnumProperty, StringProperty

from ..core import dependencies

PACKAGE = __package__.rpartition(".")[0]  # "dust3r_blender" or "bl_ext.<repo>.dust3r_blender"
RELEASED = (("512_dpt", "512 DPT (best)", "DUSt3R ViT-Large, 512 px, DPT head (about 2.2 GB)"),
            ("512_linear", "512 Linear", "DUSt3R ViT-Large, 512 px, linear head (about 2.1 GB)"),
            ("224_linear", "224 Linear (least memory)",
             "DUSt3R ViT-Large, 224 px, linear head (about 2.1 GB)"))
LICENCE = "DUSt3R checkpoints: CC BY-NC-SA 4.0, non-commercial use only"


def user_folder(name: str) -> str:
    """A writable folder of the add-on's own (never inside the add-on's install folder)."""
    try:
        return bpy.utils.extension_path_user(PACKAGE, path=name, create=True)
    except ValueError:  # loaded as a legacy add-on (tests, development): no extension folder
        return bpy.utils.user_resource("DATAFILES", path=os.path.join("dust3r_blender", name),
                                       create=True)


def preferences(context=None) -> "DUST3R_AP_preferences":
    return (context or bpy.context).preferences.addons[PACKAGE].preferences


def dependency_paths(prefs: "DUST3R_AP_preferences") -> list[str]:
    """Where installed dependencies live: our site-packages, and the user's own environment."""
    return [user_folder("site-packages"), bpy.path.abspath(prefs.python_path)]


def model_source(prefs: "DUST3R_AP_preferences") -> str:
    return bpy.path.abspath(prefs.model_file) if prefs.model == "FILE" else prefs.model


def model_dir(prefs: "DUST3R_AP_preferences") -> str:
    return bpy.path.abspath(prefs.model_dir) if prefs.model_dir else user_folder("models")


class DUST3R_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE

    model: EnumProperty(name="Model", default="512_dpt", items=RELEASED + (
        ("FILE", "Local File", "A .pth checkpoint, a model.safetensors (config.json beside it) "
                               "or a Hugging Face model folder"),))
    model_file: StringProperty(name="Checkpoint", subtype="FILE_PATH")
    model_dir: StringProperty(name="Model Folder", subtype="DIR_PATH",
                              description="Where released models are downloaded and looked for "
                                          "(empty = the extension's user folder)")
    device: EnumProperty(name="Device", default="auto", items=(
        ("auto", "Auto", "The CUDA GPU when there is one, else the CPU"),
        ("cuda", "CUDA GPU", "An NVIDIA GPU"),
        ("cpu", "CPU", "Works everywhere, slowly")))
    precision: EnumProperty(name="Precision", default="fp32", items=(
        ("fp32", "Float32", "Exact; most memory"),
        ("bf16", "BFloat16", "GPU: about half the memory and much faster"),
        ("fp16", "Float16", "GPU: for GPUs without bfloat16")))
    compute_platform: EnumProperty(name="Compute Platform", default="cu128", items=[
        (pid, label, f"torch wheels for {label}") for pid, label, _ in dependencies.PLATFORMS])
    python_path: StringProperty(
        name="Existing Environment", subtype="DIR_PATH",
        description="The site-packages folder of a Python environment that already has torch "
                    "(it must match Blender's Python version)")

    def draw(self, context):
        from ..operators import reconstruct, setup  # idnames

        layout = self.layout
        status = context.window_manager.dust3r
        box = layout.box()
        box.label(text="Dependencies", icon="PACKAGE")
        dependencies.add_paths(*dependency_paths(self))
        col = box.column(align=True)
        for pkg in dependencies.status():
            detail = f" ({pkg.build})" if pkg.build else ""
            col.label(text=f"{pkg.distribution}: {pkg.version or 'missing'}{detail}",
                      icon="CHECKMARK" if pkg.present else "ERROR")
        box.prop(self, "compute_platform")
        row = box.row()
        row.enabled = not status.install.running
        row.operator(setup.DUST3R_OT_install_dependencies.bl_idname, icon="IMPORT")
        _task_row(box, status.install, reconstruct.DUST3R_OT_cancel.bl_idname, "install")
        if not bpy.app.online_access:
            box.label(text="Online access is off (Preferences > System > Network)", icon="INFO")
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
            row.operator(setup.DUST3R_OT_download_model.bl_idname, icon="URL")
            _task_row(box, status.download, reconstruct.DUST3R_OT_cancel.bl_idname, "download")
        box.label(text=LICENCE, icon="ERROR")
        row = box.row()
        row.prop(self, "device")
        row.prop(self, "precision")
        box.operator(setup.DUST3R_OT_unload_model.bl_idname, icon="TRASH")


def _task_row(layout, task, cancel_idname: str, kind: str) -> None:
    if task.running:
        row = layout.row(align=True)
        text = f"{task.stage} {task.done}/{task.total}" if task.total else task.stage
        if hasattr(row, "progress"):
            row.progress(factor=task.fraction, type="BAR", text=text)
        else:
            row.label(text=text)
        row.operator(cancel_idname, text="", icon="CANCEL").kind = kind
    elif task.error:
        for line in task.error.splitlines()[:4]:
            layout.label(text=line, icon="ERROR")
    elif task.message:
        layout.label(text=task.message, icon="CHECKMARK")


CLASSES = (DUST3R_AP_preferences,)
