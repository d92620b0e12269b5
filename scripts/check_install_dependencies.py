"""Install Dependencies for real, as a new user's Blender does it (run by
scripts/check-install-dependencies.sh in a venv that has only the bpy module and what bpy
itself needs, numpy among them).

    python scripts/check_install_dependencies.py ZIP WORK_DIR

1. installs the built zip as Install from Disk does and enables it;
2. presses Install Dependencies (compute platform "PyPI default": on Linux PyPI's torch is
   a CUDA build that runs on the CPU too): pip with this Python into the extension's user
   folder, from PyPI;
3. checks that Blender's numpy is untouched and that every runtime package now imports from
   that folder;
4. reconstructs three photos with a tiny checkpoint in the official layout (random weights),
   which imports those packages, and imports the result.
It prints what it measured and a last line `RESULT {json}`; the exit status is 0 when every
check held.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path

ZIP, WORK = sys.argv[1], Path(sys.argv[2])
os.environ["BLENDER_USER_RESOURCES"] = str(WORK / "user")  # before bpy: a fresh user folder
REPO = Path(__file__).resolve().parents[1]

import bpy  # noqa: E402
import numpy  # noqa: E402  (Blender's numpy: bpy's own dependency)

MODULE = "bl_ext.user_default.dust3r_blender"
result: dict = {"python": sys.version.split()[0], "blender": bpy.app.version_string,
                "numpy_before": [numpy.__version__, os.path.dirname(numpy.__file__)]}


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> int:
    bpy.context.preferences.system.use_online_access = True  # the user's "Allow Online Access"
    bpy.ops.extensions.package_install_files(filepath=ZIP, repo="user_default",
                                             enable_on_install=True)
    tool = importlib.import_module(MODULE + ".tool.preferences")
    prefs = tool.preferences()
    prefs.compute_platform = "pypi"
    result["missing_before"] = [p.distribution for p in tool.refresh_dependencies(prefs)
                                if not p.present]
    t0 = time.perf_counter()
    assert bpy.ops.dust3r.install_dependencies() == {"FINISHED"}  # synchronous in module mode
    result["install_seconds"] = round(time.perf_counter() - t0, 1)
    target = Path(tool.user_folder("site-packages"))
    result["installed_to"] = str(target)
    result["installed_mb"] = round(folder_size(target) / 2**20)
    result["distributions"] = sorted(p.name.split("-")[0] for p in target.glob("*.dist-info"))
    result["missing_after"] = [p.distribution for p in tool.refresh_dependencies(prefs)
                               if not p.present]

    # A reconstruction, which imports the installed packages (from that folder).
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO / "tests" / "blender"))
    tool.require_dependencies(prefs)
    from blender_helpers import write_photo
    from checkpoints import write_pth

    photos = [write_photo(WORK / f"photo{i}.jpg", (96, 72), seed=i) for i in range(3)]
    prefs.model, prefs.model_file = "FILE", str(write_pth(WORK / "tiny.pth", "tiny_linear"))
    prefs.device = "cpu"
    s = bpy.context.scene.dust3r
    s.source, s.niter = "FILES", 10
    for path in photos:
        s.photos.add().path = str(path)
    cameras_before = {o.name for o in bpy.data.objects if o.type == "CAMERA"}
    assert bpy.ops.dust3r.reconstruct(mode="SYNC") == {"FINISHED"}
    result["cameras"] = len({o.name for o in bpy.data.objects if o.type == "CAMERA"}
                            - cameras_before)
    result["imported_from"] = {name: os.path.dirname(sys.modules[name].__file__)
                               for name in ("torch", "scipy", "PIL", "safetensors", "av")
                               if name in sys.modules}
    importlib.import_module("av")  # movies and EXR plates
    result["imported_from"]["av"] = os.path.dirname(sys.modules["av"].__file__)
    result["numpy_after"] = [numpy.__version__, os.path.dirname(numpy.__file__)]
    pinned = next(target.glob("numpy-*.dist-info"), None)
    result["numpy_in_target"] = pinned.name[len("numpy-"):-len(".dist-info")] if pinned else None
    result["torch"] = sys.modules["torch"].__version__

    checks = {
        "something was missing": bool(result["missing_before"]),
        "nothing is missing now": result["missing_after"] == [],
        "Blender's numpy is the one in use": result["numpy_after"] == result["numpy_before"],
        "a numpy pip put beside it is the same version": result["numpy_in_target"] in (
            None, numpy.__version__),
        "the packages come from the extension's folder": all(
            folder.startswith(str(target)) for folder in result["imported_from"].values()),
        "the reconstruction imported its cameras": result["cameras"] == 3,
    }
    result["checks"] = checks
    for check, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {check}")
    print("RESULT " + json.dumps(result), flush=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # what was imported from the new folder stays loaded: skip the teardown
