"""Reconstruct: panel settings -> JobParams on the main thread, the pipeline on a worker
thread, the import back on the main thread. In `blender -b` (no event loop) it runs
synchronously inside execute()."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import bpy
from bpy.props import EnumProperty

from .. import importer
from ..core import jobs
from ..core.errors import Dust3rError
from ..core.progress import ProgressPrinter
from ..core.settings import JobParams
from ..tool import cameras, photos, plate, settings
from ..tool.preferences import model_dir, model_source, preferences, require_dependencies
from . import tasks

if TYPE_CHECKING:
    from ..core.frames import Plate
    from ..core.pipeline import Result

KINDS = [(kind, kind.title(), "") for kind in jobs.LABELS]


def model_choice(prefs) -> settings.ModelChoice:
    """The preferences' model settings; downloads only with Blender's online access."""
    if prefs.model == "FILE" and not prefs.model_file:
        raise Dust3rError("Choose the checkpoint file in the add-on preferences")
    return settings.ModelChoice(model_source(prefs), model_dir(prefs), prefs.device,
                                prefs.precision, bpy.app.online_access)


def job_params(context) -> JobParams:
    """Every setting of the panel and the preferences, copied into a checked plain object."""
    s = context.scene.dust3r
    if s.input_type != "PHOTOS":
        return settings.job_params(s, plate.plate_source(s), model_choice(preferences(context)))
    paths = photos.photo_paths(s)
    if not paths:
        raise Dust3rError("No photos: add photo files, choose a folder, or load images")
    known = cameras.known_cameras(context.selected_objects, context.scene, paths,
                                  s.known_mode) if s.use_known_cameras else {}
    return settings.job_params(s, paths, model_choice(preferences(context)), known)


def import_result(result: "Result", target=None) -> str:
    """Build the Blender data of a finished run (main thread); the message for the UI."""
    imported = importer.import_result(result, target=target)
    # The run's notes (e.g. photos that ran without a mask) on lines of their own.
    return "\n".join([f"{result.summary()}: {imported.summary()}", *result.notes])


def _import_and_push_undo(result: "Result") -> str:
    message = import_result(result)
    if not bpy.app.background:
        bpy.ops.ed.undo_push(message="DUSt3R Import")  # timers make no undo step of their own
    return message


def poll_job() -> Optional[float]:
    """Timer callback of the background reconstruction (tests pump it by hand)."""
    return tasks.poll("reconstruct", _import_and_push_undo, final_stage="import")


class DUST3R_OT_reconstruct(bpy.types.Operator):
    """Reconstruct the photos into points and cameras, in the background"""

    bl_idname = "dust3r.reconstruct"
    bl_label = "Reconstruct"
    bl_options = {"REGISTER"}

    mode: EnumProperty(name="Mode", default="AUTO", options={"HIDDEN", "SKIP_SAVE"}, items=(
        ("AUTO", "Auto", "In the background with a UI; synchronously in blender -b"),
        ("ASYNC", "Background", "On a worker thread, polled by a timer"),
        ("SYNC", "Synchronous", "Block until done (scripts)")))

    @classmethod
    def poll(cls, context):
        job = jobs.active("reconstruct")
        return job is None or not job.running

    def execute(self, context):
        try:
            params = job_params(context)
            require_dependencies(preferences(context))
            # A plate is read here once, for the run and for the panel's note alike.
            opened = plate.read(context.scene.dust3r)
            if self.mode == "SYNC" or (self.mode == "AUTO" and bpy.app.background):
                return self._run_now(context, params, opened)
            jobs.start(params, plate=opened)
        except Dust3rError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        tasks.reset("reconstruct")
        tasks.start_timer(poll_job)
        return {"FINISHED"}

    def invoke(self, context, event):
        result = self.execute(context)
        job = jobs.active("reconstruct")
        if "FINISHED" not in result or job is None or not job.running:
            return result
        self._job = job  # watch for ESC while it runs
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.25, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if jobs.active("reconstruct") is not self._job:  # finished, failed or cancelled
            context.window_manager.event_timer_remove(self._timer)
            return {"FINISHED"}
        if event.type == "ESC" and event.value == "PRESS":
            tasks.cancel("reconstruct")
            return {"RUNNING_MODAL"}
        return {"PASS_THROUGH"}

    def _run_now(self, context, params: JobParams, opened: "Optional[Plate]"):
        """The whole run inside execute(), printing progress (blender -b, scripts)."""
        printer = ProgressPrinter()
        work = jobs.reconstruction(params, plate=opened)
        result = work(printer, lambda: False)
        printer("import", 0, 1)
        message = import_result(result, target=context.scene)
        summary, *notes = message.splitlines()
        print(f"DUSt3R: {summary}", *(f"DUSt3R note: {note}" for note in notes), sep="\n",
              flush=True)
        self.report({"INFO"}, message)
        return {"FINISHED"}


class DUST3R_OT_cancel(bpy.types.Operator):
    """Stop the background task at its next batch or iteration; nothing is imported"""

    bl_idname = "dust3r.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER", "INTERNAL"}

    kind: EnumProperty(name="Task", items=KINDS, default="reconstruct")

    def execute(self, context):
        return {"FINISHED"} if tasks.cancel(self.kind) else {"CANCELLED"}


CLASSES = (DUST3R_OT_reconstruct, DUST3R_OT_cancel)
