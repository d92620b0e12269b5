"""Reconstruct: panel settings -> JobParams on the main thread, the pipeline on a worker
thread, the import back on the main thread. In `blender -b` (no event loop) it runs
synchronously inside execute()."""
from __future__ import annotations

import os
from typing import Optional

import bpy
from bpy.props import EnumProperty

from ..core import dependencies, jobs, pipeline
from ..core.cameras import from_blender
from ..core.errors import Dust3rError
from ..panels.preferences import dependency_paths, model_dir, model_source, preferences
from . import tasks

KINDS = [(kind, kind.title(), "") for kind in jobs.LABELS]


def scene_graph(settings) -> str:
    """The core scene-graph string of the panel's pair settings."""
    if settings.scene_graph in ("swin", "logwin"):
        graph = f"{settings.scene_graph}-{settings.window}"
        return graph + "-noncyclic" if settings.noncyclic else graph
    if settings.scene_graph == "oneref":
        return f"oneref-{settings.reference}"
    return "complete"


def photo_paths(settings, missing_ok: bool = False) -> list[str]:
    """The photos of the panel's source, in the order the pipeline loads them."""
    if settings.source == "FILES":
        return [bpy.path.abspath(p.path) for p in settings.photos if p.path]
    if settings.source == "FOLDER":
        folder = bpy.path.abspath(settings.folder)
        if not os.path.isdir(folder):
            if missing_ok:
                return []
            raise Dust3rError(f"The photo folder {folder or '(none)'} does not exist")
        from ..core.images import list_images

        return list_images(folder)
    paths = []
    for image in sorted(bpy.data.images, key=lambda im: im.name):
        path = bpy.path.abspath(image.filepath_raw or image.filepath, library=image.library)
        if image.source == "FILE" and os.path.isfile(path) and path not in paths:
            paths.append(os.path.normpath(path))
    return paths


def known_cameras(context, paths: list[str], mode: str) -> dict[int, pipeline.KnownCamera]:
    """The selected Blender cameras as known cameras of the photos they belong to."""
    cameras = sorted((o for o in context.selected_objects if o.type == "CAMERA"),
                     key=lambda o: o.name)
    if not cameras:
        raise Dust3rError("'Use Selected Cameras' is on but no camera is selected")
    matches = {}
    for obj in cameras:
        index = _photo_of_camera(obj, paths)
        if index is not None:
            matches[index] = obj
    if len(matches) < len(cameras):
        if matches or len(cameras) != len(paths):
            unmatched = [o.name for o in cameras if o not in matches.values()]
            raise Dust3rError(
                f"Cannot tell which photo the cameras {', '.join(unmatched)} belong to: give "
                "each a background image of its photo or the photo's name, or select one "
                "camera per photo (matched in name order)")
        matches = dict(enumerate(cameras))
    from ..importer.cameras import blender_camera

    known = {}
    for index, obj in matches.items():
        try:
            cam = from_blender(blender_camera(obj, context.scene))
        except ValueError as exc:
            raise Dust3rError(str(exc)) from exc
        lens = mode in ("BOTH", "LENS")
        known[index] = pipeline.KnownCamera(
            c2w=cam.c2w if mode in ("BOTH", "POSE") else None,
            focal=(cam.fx + cam.fy) / 2 if lens else None,
            pp=(cam.cx, cam.cy) if lens else None,
            image_size=(cam.width, cam.height))
    return known


def _photo_of_camera(obj, paths: list[str]) -> Optional[int]:
    norm = [os.path.normcase(os.path.abspath(p)) for p in paths]
    candidates = [obj.get("dust3r_source", "")]
    candidates += [bpy.path.abspath(bg.image.filepath_raw or bg.image.filepath)
                   for bg in obj.data.background_images if bg.image is not None]
    for path in filter(None, candidates):
        path = os.path.normcase(os.path.abspath(path))
        if path in norm:
            return norm.index(path)
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    return stems.index(obj.name) if obj.name in stems else None


def job_params(context) -> pipeline.JobParams:
    """Every setting of the panel and the preferences, copied into a plain object."""
    s, prefs = context.scene.dust3r, preferences(context)
    paths = photo_paths(s)
    if not paths:
        raise Dust3rError("No photos: add photo files, choose a folder, or load images")
    params = pipeline.JobParams(
        photos=paths, model=model_source(prefs), model_dir=model_dir(prefs),
        device=prefs.device, precision=prefs.precision, scene_graph=scene_graph(s),
        batch_size=s.batch_size, niter=s.niter, lr=s.lr, schedule=s.schedule,
        min_conf_thr=s.min_conf_thr, clean=s.clean, shared_focal=s.shared_focal,
        known_cameras=known_cameras(context, paths, s.known_mode) if s.use_known_cameras else {},
        import_options=pipeline.ImportOptions(
            collection_name=s.collection_name, points=s.import_points, cameras=s.import_cameras,
            background_images=s.background_images, point_radius=s.point_radius,
            confidence_threshold=s.min_conf_thr, max_points=s.max_points, scale=s.scale,
            set_active_camera=s.set_active_camera))
    if prefs.model == "FILE" and not prefs.model_file:
        raise Dust3rError("Choose the checkpoint file in the add-on preferences")
    params.validate()
    return params


def check_dependencies(context) -> None:
    dependencies.add_paths(*dependency_paths(preferences(context)))
    absent = dependencies.missing()
    if absent:
        raise Dust3rError(f"Missing Python packages: {', '.join(absent)}. Install them with "
                          "'Install Dependencies' in the add-on's preferences")


def import_result(result: pipeline.Result, target=None) -> str:
    """Build the Blender data of a finished run (main thread); the message for the UI."""
    from ..importer import import_scene

    created = import_scene(result.scene, result.import_options, target=target)
    points = len(created["points"].data.vertices) if created["points"] else 0
    return (f"{result.summary()}: {points:,} points, {len(created['cameras'])} cameras in "
            f"'{created['collection'].name}'")


def _import_and_push_undo(result: pipeline.Result) -> str:
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
            check_dependencies(context)
            if self.mode == "SYNC" or (self.mode == "AUTO" and bpy.app.background):
                return self._run_now(context, params)
            jobs.start(params)
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
            self._job.cancel()
            tasks.status("reconstruct").stage = "cancelling"
            return {"RUNNING_MODAL"}
        return {"PASS_THROUGH"}

    def _run_now(self, context, params: pipeline.JobParams):
        """The whole run inside execute(), printing progress (blender -b, scripts)."""
        printer = pipeline.ProgressPrinter()
        work = jobs.reconstruction(params)
        result = work(printer, lambda: False)
        printer("import", 0, 1)
        message = import_result(result, target=context.scene)
        print(f"DUSt3R: {message}", flush=True)
        self.report({"INFO"}, message)
        return {"FINISHED"}


class DUST3R_OT_cancel(bpy.types.Operator):
    """Stop the background task at its next batch or iteration; nothing is imported"""

    bl_idname = "dust3r.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER", "INTERNAL"}

    kind: EnumProperty(name="Task", items=KINDS, default="reconstruct")

    def execute(self, context):
        job = jobs.active(self.kind)
        if job is None or not job.running:
            return {"CANCELLED"}
        job.cancel()
        tasks.status(self.kind).stage = "cancelling"
        return {"FINISHED"}


CLASSES = (DUST3R_OT_reconstruct, DUST3R_OT_cancel)
