"""Main-thread side of the background tasks: drain a job's events into the UI status.

Blender calls the poll functions from `bpy.app.timers` in the UI; tests and `blender -b`
scripts call them by hand (module mode has no event loop).
"""
from __future__ import annotations

from typing import Callable, Optional

import bpy

from ..core import jobs

POLL_INTERVAL = 0.1  # seconds


def status(kind: str):
    return getattr(bpy.context.window_manager.dust3r, kind)


def reset(kind: str) -> None:
    task = status(kind)
    task.running, task.stage, task.done, task.total = True, "starting", 0, 0
    task.message, task.error = "", ""


def poll(kind: str, on_done: Callable[[object], str], final_stage: str = "finishing"
         ) -> Optional[float]:
    """Apply the events of the `kind` task; returns the delay to the next poll, or None once
    it has ended. `on_done(result)` runs on the main thread and returns the result message;
    the poll before it shows `final_stage` so that the UI can draw it first."""
    job = jobs.active(kind)
    task = status(kind)
    if job is None:  # cancelled by a file load or by disabling the add-on
        task.running = False
        return None
    for event in job.events():
        if event.kind == "progress":
            task.stage, task.done, task.total = event.stage, event.done, event.total
            continue
        if event.kind == "done" and task.stage != final_stage:
            # Show the last stage before the (blocking) on_done, then apply it next time.
            task.stage, task.done, task.total = final_stage, 0, 1
            job.requeue(event)
            _redraw()
            return 0.01
        jobs.clear(kind)
        task.running = False
        if event.kind == "done":
            try:
                task.message = on_done(event.result)
            except Exception as exc:  # noqa: BLE001 - shown to the user, scene left as it was
                task.error = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
        elif event.kind == "cancelled":
            task.message = "Cancelled"
        else:
            task.error = event.message
        _redraw()
        return None
    _redraw()
    return POLL_INTERVAL


def start_timer(fn: Callable[[], Optional[float]]) -> None:
    if not bpy.app.timers.is_registered(fn):
        # persistent: the timer survives a file load and then ends the (cancelled) task
        bpy.app.timers.register(fn, first_interval=POLL_INTERVAL, persistent=True)


def _redraw() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "PREFERENCES"):
                area.tag_redraw()
