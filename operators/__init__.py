"""Blender operators (thin: settings -> `tool` -> core, results -> importer)."""
from typing import Optional

import bpy

from ..core import jobs
from ..tool import photos as photo_source
from ..tool import plate, preferences
from . import camera, export, photos, reconstruct, scene_setup, setup

CLASSES = reconstruct.CLASSES + photos.CLASSES + camera.CLASSES + setup.CLASSES
CLASSES += export.CLASSES + scene_setup.CLASSES
TIMERS = (reconstruct.poll_job, setup.poll_install, setup.poll_download)


@bpy.app.handlers.persistent
def _on_load_pre(*_args) -> None:
    """A file load ends the reconstruction: nothing is imported into the new file."""
    job = jobs.active("reconstruct")
    if job is not None:
        job.cancel()
        jobs.clear("reconstruct")


@bpy.app.handlers.persistent
def _on_load_post(*_args) -> None:
    """Count the photos of the loaded file's folder and probe its plate for the panel (it
    draws from caches)."""
    for scene in bpy.data.scenes:
        photo_source.refresh(scene.dust3r)
        plate.read(scene.dust3r)


def _probe_dependencies() -> Optional[float]:
    """Probe the runtime packages once after start-up, for the preferences to draw."""
    preferences.refresh_dependencies(preferences.preferences())
    return None


HANDLERS = ((bpy.app.handlers.load_pre, _on_load_pre), (bpy.app.handlers.load_post, _on_load_post))


def register() -> None:
    preferences.prefer_bundled_wheels()  # before anything imports a bundled package
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    for handlers, fn in HANDLERS:
        handlers.append(fn)
    bpy.types.TOPBAR_MT_file_export.append(export.menu)
    if not bpy.app.background:  # module-mode bpy 4.x hangs at exit once a timer was registered
        bpy.app.timers.register(_probe_dependencies, first_interval=0.5)


def unregister() -> None:
    jobs.stop(None, timeout=5.0)  # cancel every task and free its thread
    bpy.types.TOPBAR_MT_file_export.remove(export.menu)
    for fn in TIMERS + (_probe_dependencies,):
        if bpy.app.timers.is_registered(fn):
            bpy.app.timers.unregister(fn)
    for handlers, fn in HANDLERS:
        if fn in handlers:
            handlers.remove(fn)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
