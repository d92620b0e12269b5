"""Main-thread side of the background tasks: drain a job's events into the UI status.

Blender calls the poll functions from `bpy.app.timers` in the UI; tests and `blender -b`
scripts call them by hand (module mode has no event loop).
"""
from __future__ import annotations

from typing import Callable, Optional

import bpy

from ..core import jobs
from ..core.errors import user_message

POLL_INTERVAL = 0.1  # seconds
CANCELLING = "cancelling"


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
    the poll before it shows `final_stage` so that the UI can draw it first. Once a cancel
    is asked for, the stage stays "cancelling" until the task ends."""
    job = jobs.active(kind)
    task = status(kind)
    if job is None:  # cancelled by a file load or by disabling the add-on
        task.running = False
        return None
    events = job.events()
    for event in events:
        if event.kind == "progress":
            task.stage, task.done, task.total = event.stage, event.done, event.total
            continue
        if event.kind == "done" and task.stage != final_stage:
            # Show the last stage before the (blocking) on_done, then apply it next time.
            task.stage, task.done, task.total = final_stage, 0, 1
            job.requeue(event)
            redraw()
            return 0.01
        jobs.clear(kind)
        task.running = False
        if event.kind == "done":
            try:
                task.message = on_done(event.result)
            except Exception as exc:  # the scene is left as it was
                task.error = user_message(exc)
        elif event.kind == "cancelled":
            task.message = "Cancelled"
        else:
            task.error = event.message
        redraw()
        return None
    if job.cancel_requested and task.stage != CANCELLING:
        task.stage, task.done, task.total = CANCELLING, 0, 0
    elif not events:
        return POLL_INTERVAL  # nothing new to draw
    redraw()
    return POLL_INTERVAL


def cancel(kind: str) -> bool:
    """Ask the running task of `kind` to stop (the Cancel button, ESC); False when none runs."""
    job = jobs.active(kind)
    if job is None or not job.running:
        return False
    job.cancel()
    status(kind).stage = CANCELLING
    redraw()
    return True


def start_timer(fn: Callable[[], Optional[float]]) -> None:
    if not bpy.app.timers.is_registered(fn):
        # persistent: the timer survives a file load and then ends the (cancelled) task
        bpy.app.timers.register(fn, first_interval=POLL_INTERVAL, persistent=True)


def redraw() -> None:
    """Redraw where the task status is drawn: the 3D Views' sidebars and the Preferences.
    Only those regions: redrawing a whole 3D View (its viewport) on every poll starves the
    UI while the worker computes."""
    wm = bpy.context.window_manager
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type not in ("VIEW_3D", "PREFERENCES"):
                continue
            for region in area.regions:
                if region.type == ("UI" if area.type == "VIEW_3D" else "WINDOW"):
                    region.tag_redraw()
