"""Validate and build the extension zip with Blender's own `blender --command extension ...`.

With the bpy module installed (the development venvs) its extension CLI
(`bl_pkg/cli/blender_ext.py`, stdlib only) runs in this Python, no Blender binary needed;
without it, a Blender binary does the same: `$BLENDER`, else `blender` on the PATH.

    python scripts/build_extension.py validate .
    python scripts/build_extension.py build --source-dir . --output-dir dist

With no arguments it validates the repository and builds dist/<id>-<version>.zip.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess
import sys
from typing import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROG = "blender --command extension"


def blender_ext():
    """Blender's extension CLI module from the installed bpy wheel (bpy not imported), or
    None without the bpy module."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        return None
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


def extension_command() -> Callable[[list[str]], int]:
    """`run(args) -> exit status` of Blender's extension command: in this Python with the bpy
    module, else through a Blender binary."""
    mod = blender_ext()
    if mod is not None:
        return lambda args: mod.main(args, args_internal=False, prog=PROG)
    blender = os.environ.get("BLENDER") or shutil.which("blender")
    if not blender:
        raise SystemExit("Neither the bpy module nor a Blender binary was found: install "
                         "bpy (scripts/setup-dev.sh), put blender on the PATH, or set BLENDER")
    return lambda args: subprocess.run([blender, "--command", "extension", *args]).returncode


def main(argv: list[str]) -> int:
    run = extension_command()
    if argv:
        return run(argv)
    dist = os.path.join(REPO, "dist")
    os.makedirs(dist, exist_ok=True)  # the CLI needs an existing output folder
    for args in (["validate", REPO], ["build", "--source-dir", REPO, "--output-dir", dist]):
        rc = run(args)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
