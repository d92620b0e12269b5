"""Preferences operators: install the runtime dependencies, download the model, unload it."""
from __future__ import annotations

from typing import Optional

import bpy

from ..core import dependencies, jobs
from ..core.errors import Dust3rError
from ..tool.preferences import (model_dir, preferences, refresh_dependencies,
                                require_dependencies, user_folder)
from . import tasks


def _run(operator, kind: str, work, poll) -> set:
    """Start `work` as a background task, or run it now without an event loop."""
    try:
        if bpy.app.background:
            message = _finish(kind, work(lambda *a: None, lambda: False))
            operator.report({"INFO"}, message)
            return {"FINISHED"}
        jobs.start_task(kind, work)
    except Dust3rError as exc:
        operator.report({"ERROR"}, str(exc))
        return {"CANCELLED"}
    tasks.reset(kind)
    tasks.start_timer(poll)
    return {"FINISHED"}


def _finish(kind: str, result) -> str:
    if kind == "install":
        absent = [p.distribution for p in refresh_dependencies(preferences()) if not p.present]
        return (f"Still missing: {', '.join(absent)}" if absent
                else "All dependencies are installed")
    return f"Model ready in {result}"


def poll_install() -> Optional[float]:
    return tasks.poll("install", lambda result: _finish("install", result))


def poll_download() -> Optional[float]:
    return tasks.poll("download", lambda result: _finish("download", result))


def _require_online() -> None:
    if not bpy.app.online_access:
        raise Dust3rError("Online access is disabled: allow it in Preferences > System > "
                          "Network, or install/copy the files by hand")


class DUST3R_OT_install_dependencies(bpy.types.Operator):
    """Install the missing Python packages (torch for the chosen compute platform, scipy,
    pillow, ...) with Blender's Python into the extension's user folder"""

    bl_idname = "dust3r.install_dependencies"
    bl_label = "Install Dependencies"
    bl_options = {"REGISTER", "INTERNAL"}

    def execute(self, context):
        prefs = preferences(context)
        absent = [p.distribution for p in refresh_dependencies(prefs) if not p.present]
        if not absent:
            self.report({"INFO"}, "All dependencies are installed")
            return {"FINISHED"}
        try:
            _require_online()
            commands = dependencies.install_commands(user_folder("site-packages"),
                                                     prefs.compute_platform, absent)
        except Dust3rError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}

        def work(progress, cancel):
            return dependencies.install(commands, progress, cancel, log=print)

        return _run(self, "install", work, poll_install)


class DUST3R_OT_download_model(bpy.types.Operator):
    """Download the chosen DUSt3R checkpoint from the Hugging Face hub (CC BY-NC-SA 4.0,
    non-commercial use only)"""

    bl_idname = "dust3r.download_model"
    bl_label = "Download Model"
    bl_options = {"REGISTER", "INTERNAL"}

    def execute(self, context):
        prefs = preferences(context)
        if prefs.model == "FILE":
            self.report({"INFO"}, "A local checkpoint file needs no download")
            return {"CANCELLED"}
        try:
            _require_online()
            require_dependencies(prefs)  # the model package needs torch to import
        except Dust3rError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        name, folder = prefs.model, model_dir(prefs)

        def work(progress, cancel):
            from ..core.weights import download

            def megabytes(done, total):
                progress("download (MB)", done >> 20, total >> 20)

            return download(name, folder, progress=megabytes)

        return _run(self, "download", work, poll_download)


class DUST3R_OT_unload_model(bpy.types.Operator):
    """Free the loaded network and its GPU memory (it is loaded again by the next run)"""

    bl_idname = "dust3r.unload_model"
    bl_label = "Unload Model"
    bl_options = {"REGISTER", "INTERNAL"}

    def execute(self, context):
        loaded = jobs.MODELS.loaded
        jobs.MODELS.unload()
        self.report({"INFO"}, f"Unloaded {loaded}" if loaded else "No model was loaded")
        return {"FINISHED"}


CLASSES = (DUST3R_OT_install_dependencies, DUST3R_OT_download_model, DUST3R_OT_unload_model)
