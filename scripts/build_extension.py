"""Blender's own `blender --command extension ...` without the Blender binary.

The bpy wheel ships the extension CLI (`bl_pkg/cli/blender_ext.py`, stdlib only); this runs it
with plain Python, so CI can validate and build the add-on:

    python scripts/build_extension.py validate .
    python scripts/build_extension.py build --source-dir . --output-dir dist

With no arguments it validates the repository and builds dist/<id>-<version>.zip.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blender_ext():
    """Blender's extension CLI module, loaded from the installed bpy wheel (bpy not imported)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise SystemExit("The bpy module (Blender as a Python module) is not installed")
    root = os.path.dirname(spec.origin)
    found = glob.glob(os.path.join(root, "*", "scripts", "addons_core", "bl_pkg", "cli",
                                   "blender_ext.py"))
    if not found:
        raise SystemExit(f"Blender's extension CLI was not found under {root}")
    spec = importlib.util.spec_from_file_location("blender_ext", found[0])
    mod = importlib.util.module_from_spec(spec)
    sys.modules["blender_ext"] = mod
    spec.loader.exec_module(mod)
    scripts = found[0].split(os.sep + "addons_core" + os.sep)[0]
    mod.ARG_DEFAULTS_OVERRIDE.build_valid_tags = os.path.join(
        scripts, "modules", "_bpy_internal", "extensions", "tags.py")
    return mod


def main(argv: list[str]) -> int:
    mod = blender_ext()
    if argv:
        return mod.main(argv, args_internal=False, prog="blender --command extension")
    dist = os.path.join(REPO, "dist")
    os.makedirs(dist, exist_ok=True)  # the CLI needs an existing output folder
    for args in (["validate", REPO], ["build", "--source-dir", REPO, "--output-dir", dist]):
        rc = mod.main(args, args_internal=False, prog="blender --command extension")
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
