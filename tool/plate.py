"""Which plate a sequence run solves: a file path (folder, frame pattern or movie) or a
Movie Clip of the .blend.

Probing a plate reads its files' headers, so the panel draws the note kept by the last probe
(`refresh`, run when the input or the frame settings change, and by every run).
"""
from __future__ import annotations

import os

import bpy

from ..core.errors import Dust3rError

_notes: dict[str, str] = {}  # the frame note by plate path and range, for drawing


def plate_source(settings) -> str:
    """The plate of the panel's input (`input_type` PLATE or CLIP) as an absolute path; a
    Movie Clip's file (an image sequence clip: its first frame, which stands for the
    sequence, numbered by its file names as the clip is)."""
    if settings.input_type == "CLIP":
        clip = settings.movie_clip
        if clip is None:
            raise Dust3rError("Movie Clip: choose a clip of this file (Movie Clip Editor > Open)")
        return os.path.normpath(bpy.path.abspath(clip.filepath, library=clip.library))
    if not settings.plate:
        raise Dust3rError("Plate: choose a folder of numbered frames, a frame pattern such as "
                          "plate.####.png, or a movie file")
    return os.path.normpath(bpy.path.abspath(settings.plate))


def _key(settings) -> str:
    return repr((plate_source(settings), settings.use_frame_start, settings.frame_start,
                 settings.use_frame_end, settings.frame_end, settings.frame_step))


def refresh(settings) -> None:
    """Probe the plate and its frame range again, so that `plate_note` knows them (errors
    become the note: the run reports them too)."""
    if settings.input_type == "PHOTOS":
        return
    try:
        key = _key(settings)
    except Dust3rError:
        return
    from ..core.frames import frame_range, open_plate
    from .settings import sequence_options

    try:
        plate = open_plate(plate_source(settings))
        frames = frame_range(plate, sequence_options(settings))
        every = f", every {settings.frame_step}" if settings.frame_step > 1 else ""
        _notes[key] = f"{len(frames)} frames {frames[0]}-{frames[-1]}{every}"
    except (Dust3rError, ImportError, OSError) as exc:
        _notes[key] = str(exc)


def plate_note(settings) -> str:
    """The frames the run would solve ("48 frames 1001-1048"), or why it cannot, without
    touching the disk."""
    try:
        return _notes.get(_key(settings), "Plate not read yet")
    except Dust3rError as exc:
        return str(exc)
