"""Exports are written whole or not at all.

A writer works in a hidden sibling of its destination (same folder, so the final move is a
rename on one file system): `staged_file` for one file, `staged_folder` for a folder. Only
when everything is written does it move into place; an exception (a full disk, a bad photo,
a cancel) removes the sibling and any folder made for it, and leaves what was there before
untouched. A folder export replaces a missing or empty folder, or an earlier export (the
marker `core.destination.EXPORT_MARKER` at its top, which this module writes); a folder with
other content is refused before anything is written (`check_export_folder`).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from ..destination import EXPORT_MARKER, check_destination, check_export_folder

GENERATOR = "DUSt3R Photo Reconstruction for Blender"


@dataclass
class Staged:
    """A folder export being written: `path` is the hidden folder to fill, `record` what its
    marker file will say (the writer adds its own entries)."""

    path: Path
    target: Path
    record: dict = field(default_factory=dict)


@contextmanager
def staged_folder(target: str | os.PathLike, kind: str) -> Iterator[Staged]:
    """Yield an empty hidden folder beside `target`; on success it becomes `target` (with
    the marker file), replacing an earlier export or an empty folder."""
    target = check_export_folder(target)
    created = _make_folders(target.parent)
    stage = None
    try:
        stage = _unique(target, "new", os.mkdir)
        staged = Staged(stage, target, {"generator": GENERATOR, "format": kind,
                                        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        yield staged
        with open(stage / EXPORT_MARKER, "w", encoding="utf-8") as f:
            json.dump(staged.record, f, indent=2)
        _move_folder(stage, target)
    except BaseException:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        _remove_folders(created)
        raise


@contextmanager
def staged_file(target: str | os.PathLike, suffixes: Sequence[str]) -> Iterator[Path]:
    """Yield a hidden path beside `target` to write; on success it replaces `target`."""
    target = check_destination(target, suffixes)
    created = _make_folders(target.parent)
    temp = None
    try:
        temp = _unique(target, "new", lambda path: open(path, "xb").close())
        yield temp
        os.replace(temp, target)
    except BaseException:
        if temp is not None:
            temp.unlink(missing_ok=True)
        _remove_folders(created)
        raise


def _unique(target: Path, what: str, create) -> Path:
    """A new hidden sibling of `target`, created with `create(path)` (mode from the umask)."""
    while True:
        path = target.with_name(f".{target.name}.dust3r-{what}-{secrets.token_hex(4)}")
        try:
            create(path)
            return path
        except FileExistsError:
            continue


def _move_folder(stage: Path, target: Path) -> None:
    """Rename `stage` to `target`; an existing `target` (checked: empty or an earlier
    export) is renamed aside first, put back if the move fails, else removed."""
    if not target.exists():
        os.rename(stage, target)
        return
    old = _unique(target, "old", lambda path: os.rename(target, path))
    try:
        os.rename(stage, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _make_folders(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; the ones created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    created = []
    try:
        for path in reversed(missing):
            path.mkdir()
            created.append(path)
    except BaseException:
        _remove_folders(created)
        raise
    return created


def _remove_folders(created: list[Path]) -> None:
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:
            break
