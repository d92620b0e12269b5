"""Which plate a sequence run solves: a file path (folder, frame pattern or movie) or a
Movie Clip of the .blend, and the plate as last read.

Reading a plate reads its files' headers (a movie without a frame count is demuxed whole),
so it is read when the plate itself changes (the input, the path, the clip), when a file
loads and when a run starts (`read`), and kept: the frame range the panel draws comes from
that plate and the frame settings without touching the disk (`plate_note`).
"""
from __future__ import annotations

import os
from typing import Optional, Union

import bpy

from ..core.errors import Dust3rError
from ..core.frames import Plate, frame_range, open_plate
from .settings import sequence_options

_read: dict[str, Union[Plate, str]] = {}  # source path -> the plate, or why it is unusable


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


def read(settings) -> Optional[Plate]:
    """Read the panel's plate again and keep it; None when there is none to read or it is
    unusable (what is wrong is kept for the note, and a run reports it)."""
    if settings.input_type == "PHOTOS":
        return None
    try:
        source = plate_source(settings)
    except Dust3rError:
        return None
    try:
        _read[source] = open_plate(source)
    except (Dust3rError, ImportError, OSError) as exc:
        _read[source] = str(exc)
        return None
    return _read[source]


def plate_note(settings) -> str:
    """The frames the run would solve ("48 frames 1001-1048"), or why it cannot: from the
    plate as last read and the frame settings, without touching the disk."""
    try:
        plate = _read.get(plate_source(settings), "Plate not read yet")
        if isinstance(plate, str):
            return plate
        frames = frame_range(plate, sequence_options(settings))
    except Dust3rError as exc:
        return str(exc)
    every = f", every {settings.frame_step}" if settings.frame_step > 1 else ""
    return f"{len(frames)} frames {frames[0]}-{frames[-1]}{every}"
