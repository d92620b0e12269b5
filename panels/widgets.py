"""Small drawing helpers shared by the sidebar panel and the preferences."""
from __future__ import annotations

from ..operators.reconstruct import DUST3R_OT_cancel


def task_row(layout, task, kind: str) -> None:
    """A background task: a progress bar with Cancel while it runs, else its last result."""
    if task.running:
        row = layout.row(align=True)
        text = f"{task.stage} {task.done}/{task.total}" if task.total else task.stage
        if hasattr(row, "progress"):
            row.progress(factor=task.done / task.total if task.total else 0.0, type="BAR",
                         text=text)
        else:
            row.label(text=text)
        row.operator(DUST3R_OT_cancel.bl_idname, text="", icon="CANCEL").kind = kind
    elif task.error:
        for line in task.error.splitlines()[:4]:
            layout.label(text=line, icon="ERROR")
    elif task.message:  # the result, then its notes
        first, *notes = task.message.splitlines()
        layout.label(text=first, icon="CHECKMARK")
        for note in notes:
            layout.label(text=note, icon="INFO")
