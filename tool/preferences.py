"""The add-on's preferences as plain values: folders, the model, dependency status.

The status of the runtime packages is probed only when asked (`refresh_dependencies`) and
kept here, so that drawing the preferences does no file-system work.
"""
from __future__ import annotations

import os
import sys
from typing import Optional

import bpy

from ..core import dependencies
from ..core.errors import Dust3rError

PACKAGE = __package__.rpartition(".")[0]  # "dust3r_blender" or "bl_ext.<repo>.dust3r_blender"

_status: Optional[list[dependencies.Package]] = None  # the last probe, for drawing
_sources: dict[str, str] = {}  # distribution -> where the last probe found it


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


def wheels_folder() -> str:
    """Where Blender unpacks the extensions' bundled wheels (roma, huggingface_hub, ...)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return os.path.join(bpy.utils.user_resource("EXTENSIONS"), ".local", "lib", version,
                        "site-packages")


def prefer_bundled_wheels() -> None:
    """The bundled wheels before the Python's own site-packages on sys.path, as Blender
    orders them at start-up (not right after an install)."""
    dependencies.before_site_packages(wheels_folder())


def _source(pkg: dependencies.Package, prefs) -> str:
    """Where a package comes from: "bundled", "installed" (Install Dependencies), "your
    environment", "Blender", or its folder."""
    installed, environment = dependency_paths(prefs)
    blender = os.path.join(bpy.utils.resource_path("LOCAL"), "python")  # its own Python
    named = ((wheels_folder(), "bundled"), (installed, "installed"),
             (environment, "your environment"), (blender, "Blender"))
    for path, name in named:
        if path and pkg.folder and dependencies.within(pkg.folder, path):
            return name
    return pkg.folder or ""


def dependency_source(pkg: dependencies.Package) -> str:
    """Where the last probe found `pkg` (see `_source`), for drawing."""
    return _sources.get(pkg.distribution, "")


def model_source(prefs) -> str:
    return bpy.path.abspath(prefs.model_file) if prefs.model == "FILE" else prefs.model


def model_dir(prefs) -> str:
    return bpy.path.abspath(prefs.model_dir) if prefs.model_dir else user_folder("models")


def refresh_dependencies(prefs) -> list[dependencies.Package]:
    """Probe which runtime packages are importable (with our folders) and keep the answer."""
    global _status, _sources
    _status = dependencies.status(dependency_paths(prefs))
    _sources = {pkg.distribution: _source(pkg, prefs) for pkg in _status if pkg.present}
    return _status


def dependency_status() -> Optional[list[dependencies.Package]]:
    """The last probe's answer (None before the first): what draw() shows."""
    return _status


def require_dependencies(prefs) -> None:
    """Put our dependency folders on sys.path (the bundled wheels first); `Dust3rError`
    naming what is still missing."""
    prefer_bundled_wheels()
    dependencies.add_paths(*dependency_paths(prefs))
    absent = [p.distribution for p in refresh_dependencies(prefs)
              if not p.present and p.distribution not in dependencies.ONLY_FOR]
    if absent:
        raise Dust3rError(f"Missing Python packages: {', '.join(absent)}. Install them with "
                          "'Install Dependencies' in the add-on's preferences")
