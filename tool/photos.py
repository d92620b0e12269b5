"""Which photos a run uses: picked files, a folder, or the images loaded in the .blend.

Listing a folder touches the disk, so the panel draws the count kept by the last listing
(`refresh`, run when the folder or source changes, when a file loads, and by every run).
"""
from __future__ import annotations

import os
from typing import Optional

import bpy

from ..core.errors import Dust3rError

_folder_counts: dict[str, int] = {}  # photo count by absolute folder, for drawing


def photo_paths(settings) -> list[str]:
    """The photos of the panel's source (`scene.dust3r`), in the order the pipeline loads
    them; `Dust3rError` for a folder that does not exist."""
    if settings.source == "FILES":
        return [bpy.path.abspath(p.path) for p in settings.photos if p.path]
    if settings.source == "FOLDER":
        folder = bpy.path.abspath(settings.folder)
        if not os.path.isdir(folder):
            _folder_counts.pop(folder, None)
            raise Dust3rError(f"The photo folder {folder or '(none)'} does not exist")
        from ..core.images import list_images  # PIL: a dependency

        paths = list_images(folder)
        _folder_counts[folder] = len(paths)
        return paths
    paths = []
    for image in _file_images():
        path = os.path.normpath(bpy.path.abspath(image.filepath_raw or image.filepath,
                                                 library=image.library))
        if os.path.isfile(path) and path not in paths:
            paths.append(path)
    return paths


def refresh(settings) -> None:
    """List the folder source again, so that `photo_count` knows it (errors stay quiet:
    the run reports them)."""
    if settings.source == "FOLDER":
        try:
            photo_paths(settings)
        except (Dust3rError, ImportError, OSError):
            pass


def photo_count(settings) -> Optional[int]:
    """How many photos the source holds, without touching the disk (None: not listed yet)."""
    if settings.source == "FILES":
        return sum(1 for p in settings.photos if p.path)
    if settings.source == "FOLDER":
        return _folder_counts.get(bpy.path.abspath(settings.folder))
    return len({image.filepath_raw or image.filepath for image in _file_images()})


def _file_images() -> list:
    return sorted((im for im in bpy.data.images if im.source == "FILE"
                   and (im.filepath_raw or im.filepath)), key=lambda im: im.name)
