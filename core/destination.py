"""Where a run writes its result, checked before any work starts: a path that cannot be
written fails in a second with the reason, not after the whole reconstruction."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

from .errors import Dust3rError


def check_destination(path: str | os.PathLike, suffixes: Sequence[str] = ()) -> Path:
    """The absolute path of a file about to be written (created or replaced), or a
    `Dust3rError` saying why it cannot be: another suffix than `suffixes`, an existing folder
    or special file of that name, a parent path that runs through a file, a folder that
    cannot be written, or a file that cannot be replaced. Writes nothing (a probe file is
    created and removed at once)."""
    target = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    if suffixes and target.suffix.lower() not in suffixes:
        raise Dust3rError(f"The output must be a {' or '.join(suffixes)} file, not {target}")
    if target.is_dir():
        raise Dust3rError(f"Cannot write {target}: a folder of that name exists")
    if target.exists() and not target.is_file():
        raise Dust3rError(f"Cannot write {target}: it exists and is not a regular file")
    _check_writable_parent(target)
    if target.exists():
        try:  # opening for append changes nothing, and fails for read-only or immutable files
            os.close(os.open(target, os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            raise Dust3rError(f"Cannot replace {target} ({exc.strerror})") from exc
    return target


# An export folder holds this file at its top: the folder is ours to replace as a whole.
EXPORT_MARKER = "dust3r_export.json"


def check_export_folder(path: str | os.PathLike) -> Path:
    """The absolute path of a folder an export is about to write (COLMAP model, depth maps,
    nerfstudio dataset), or a `Dust3rError` saying why it cannot be: a file of that name, a
    folder holding anything but an earlier export (its top holds `EXPORT_MARKER`), a parent
    path that runs through a file, or a folder that cannot be written. A missing or empty
    folder, or an earlier export, is fine: the export replaces it as a whole. Writes nothing
    (a probe file is created and removed at once)."""
    target = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    if target.exists() and not target.is_dir():
        raise Dust3rError(f"Cannot write the folder {target}: a file of that name exists")
    if target.is_dir() and any(target.iterdir()) and not (target / EXPORT_MARKER).is_file():
        raise Dust3rError(f"Cannot write {target}: the folder holds files that are not a DUSt3R "
                          "export (an export replaces its folder as a whole): choose a new or "
                          "empty folder")
    _check_writable_parent(target)
    return target


def _check_writable_parent(target: Path) -> None:
    """The folder `target` is written in (or the nearest existing folder above it, where the
    missing ones will be created) must be a writable folder."""
    folder = target.parent
    while not folder.exists():  # the folders still to create go in the nearest existing one
        folder = folder.parent
    if not folder.is_dir():
        raise Dust3rError(f"Cannot write {target}: {folder} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".dust3r-write-test-"):
            pass
    except OSError as exc:
        raise Dust3rError(f"Cannot write {target}: the folder {folder} is not writable "
                          f"({exc.strerror})") from exc
