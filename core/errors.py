"""Errors the pipeline raises on purpose, and the cancel check shared by its long loops.

A `Dust3rError` message is written for the user: the Blender UI reports it as is and the
command line prints it and exits non-zero. Anything else escaping the pipeline is a bug.
"""
from __future__ import annotations

import traceback
from typing import Optional

from .progress import Cancel


class Dust3rError(Exception):
    """Base class of the errors whose message is meant for the user."""


class ImageError(Dust3rError):
    """A photo is unreadable, too small, or the set of photos cannot be used."""


class CheckpointError(Dust3rError):
    """A checkpoint or config is missing, corrupt, or does not fit the network."""


class AlignmentError(Dust3rError):
    """The pairwise predictions cannot be aligned into one scene."""


class OutOfMemory(Dust3rError):
    """The GPU (or CPU) ran out of memory; the message says what to change."""


class Cancelled(Exception):
    """The user cancelled the job; not an error, so not a `Dust3rError`."""


def raise_if_cancelled(cancel: Optional[Cancel]) -> None:
    """Raise `Cancelled` when the cancel callback says so (called between batches/iterations)."""
    if cancel is not None and cancel():
        raise Cancelled()


def user_message(exc: BaseException) -> str:
    """What the UI says of an exception: a `Dust3rError`'s own message; anything else is a
    bug, whose traceback goes to the console (stderr) for the bug report."""
    if isinstance(exc, Dust3rError):
        return str(exc)
    traceback.print_exception(exc)
    return (f"Unexpected error ({type(exc).__name__}: {exc}); details on the system "
            "console")
