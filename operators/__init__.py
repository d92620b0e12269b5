"""Blender operators (thin: read properties -> core, core results -> importer)."""
import bpy

from ..core import jobs
from . import camera, photos, reconstruct, setup

CLASSES = reconstruct.CLASSES + photos.CLASSES + camera.CLASSES + setup.CLASSES
TIMERS = (reconstruct.poll_job, setup.poll_install, setup.poll_download)


@bpy.app.handlers.persistent
def _cancel_on_file_load(*_args) -> None:
    """A file load ends the reconstruction: nothing is imported into the new file."""
    job = jobs.active("reconstruct")
    if job is not None:
        job.cancel()
        jobs.clear("reconstruct")


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.app.handlers.load_pre.append(_cancel_on_file_load)


def unregister() -> None:
    jobs.stop(None, timeout=5.0)  # cancel every task and free its thread
    for fn in TIMERS:
        if bpy.app.timers.is_registered(fn):
            bpy.app.timers.unregister(fn)
    if _cancel_on_file_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_cancel_on_file_load)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
