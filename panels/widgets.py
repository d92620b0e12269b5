"""Small drawing helpers shared by the sidebar panel and the preferences."""
from __future__ import annotations

from typing import Callable

import blf
import bpy

from ..operators.reconstruct import DUST3R_OT_cancel

# A label's text starts this far (unscaled pixels) from the region's left edge and must end
# as far from its right one: panel margins, the icon and its gap (Blender's own layout).
LABEL_INDENT = 44
SIDEBAR_WIDTH = 250  # unscaled pixels: what a new 3D View's sidebar is wide, for module mode


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
        for line in task.error.splitlines():
            wrapped_label(layout, line, "ERROR")
    elif task.message:  # the result, then its notes
        first, *notes = task.message.splitlines()
        wrapped_label(layout, first, "CHECKMARK")
        for note in notes:
            wrapped_label(layout, note, "INFO")


def wrapped_label(layout, text: str, icon: str = "NONE") -> None:
    """`text` as labels that each fit the region's width (a label cuts what does not fit
    out of its middle); the first line carries the icon, the others are indented under it."""
    column = layout.column(align=True)
    for n, line in enumerate(text_lines(text, label_width(), text_width)):
        column.label(text=line, icon=icon if n == 0 or icon == "NONE" else "BLANK1")


def text_lines(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """`text` broken into lines no wider than `width` by `measure`: at spaces where it can,
    inside a word (after a '/' or '_' where there is one) only when the word alone is wider."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if measure(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while measure(word) > width:  # a long path: break it where it fits
            cut = _fitting(word, width, measure)
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    lines.append(line)
    return lines


def _fitting(word: str, width: float, measure: Callable[[str], float]) -> int:
    """How many leading characters of `word` to keep on a line (at least one): as many as
    fit, or up to the last '/' or '_' among them when that keeps at least half."""
    fits = 1
    while fits < len(word) and measure(word[:fits + 1]) <= width:
        fits += 1
    cut = max(word.rfind(c, 0, fits) for c in "/\\_") + 1
    return cut if cut > fits // 2 else fits


def _scale() -> float:
    """Pixels per unscaled pixel (the resolution scale and the display's DPI); 0 in module
    mode, which has no display."""
    return bpy.context.preferences.system.ui_scale


def label_width() -> float:
    """The width in pixels a label's text may take in the region being drawn."""
    region = bpy.context.region
    scale = _scale() or 1.0
    width = region.width if region is not None and region.width > 1 else SIDEBAR_WIDTH * scale
    return width - LABEL_INDENT * scale


def text_width(text: str) -> float:
    """Pixels of `text` in the UI's label font (an average glyph width in module mode,
    where the font is not loaded)."""
    style = bpy.context.preferences.ui_styles[0]
    points = getattr(style, "widget_label", style.widget).points  # newer: `widget` only
    scale = _scale()
    if not scale:
        return len(text) * points * 0.55
    blf.size(0, points * scale)
    return blf.dimensions(0, text)[0]
