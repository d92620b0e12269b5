"""The add-on's preferences as plain values: folders, the model, dependency status.

The status of the runtime packages is probed only when asked (`refresh_dependencies`) and
kept here, so that drawing the preferences does no file-system work.
"""
from __future__ import annotations

import os
from typing import Optional

import bpy

from ..core import dependencies
from ..core.errors import Dust3rError

PACKAGE = __package__.rpartition(".")[0]  # "dust3r_blender" or "bl_ext.<repo>.dust3r_blender"

_status: Optional[list[dependencies.Package]] = None  # the last probe, for drawing


def preferences(context=None):
    """The add-on's AddonPreferences (it must be enabled)."""
    return (context or bpy.context).preferences.addons[PACKAGE].preferences


def enabled_preferences():
    """The AddonPreferences when the add-on is enabled in this Blender, else None (cli.py
    also runs from a plain checkout)."""
    addon = bpy.context.preferences.addons.get(PACKAGE)
    return addon.preferences if addon is not None else None


def user_folder(name: str) -> str:
    """A writable folder of the add-on's own (never inside the add-on's install folder)."""
    try:
        return bpy.utils.extension_path_user(PACKAGE, path=name, create=True)
    except ValueError:  # loaded as a legacy add-on (tests, development): no extension folder
        return bpy.utils.user_resource("DATAFILES", path=os.path.join("dust3r_blender", name),
                                       create=True)


def dependency_paths(prefs) -> list[str]:
    """Where installed dependencies live: our site-packages, and the user's own environment."""
    return [user_folder("site-packages"), bpy.path.abspath(prefs.python_path)]


def model_source(prefs) -> str:
    return bpy.path.abspath(prefs.model_file) if prefs.model == "FILE" else prefs.model


def model_dir(prefs) -> str:
    return bpy.path.abspath(prefs.model_dir) if prefs.model_dir else user_folder("models")


def refresh_dependencies(prefs) -> list[dependencies.Package]:
    """Probe which runtime packages are importable (with our folders) and keep the answer."""
    global _status
    _status = dependencies.status(dependency_paths(prefs))
    return _status


def dependency_status() -> Optional[list[dependencies.Package]]:
    """The last probe's answer (None before the first): what draw() shows."""
    return _status


def require_dependencies(prefs) -> None:
    """Put our dependency folders on sys.path; `Dust3rError` naming what is still missing."""
    dependencies.add_paths(*dependency_paths(prefs))
    absent = [p.distribution for p in refresh_dependencies(prefs)
              if not p.present and p.distribution not in dependencies.ONLY_FOR]
    if absent:
        raise Dust3rError(f"Missing Python packages: {', '.join(absent)}. Install them with "
                          "'Install Dependencies' in the add-on's preferences")
