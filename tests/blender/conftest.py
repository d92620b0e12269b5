"""Set-up for the tests that run Blender as a Python module (bpy, headless).

The repository root is the add-on package. The tests enable it under the name
`dust3r_blender` through a symlink in a temporary folder, as Blender would load it, and reach
its modules through the `addon` fixture (`addon.core`, `addon.importer`, ...), so that classes
and exceptions are the ones the add-on itself uses.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "dust3r_blender"

if importlib.util.find_spec("bpy") is None:
    collect_ignore_glob = ["test_*.py"]  # the rest of the suite runs without Blender
else:
    # Before the first `import bpy`: keep Blender's user folders (extensions, config) out of $HOME.
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="bpy-user-"))
    import bpy
    import addon_utils  # on sys.path once bpy is imported

    @pytest.fixture(scope="session", autouse=True)
    def addon():
        """The enabled add-on's package module."""
        parent = Path(tempfile.mkdtemp(prefix="dust3r-addon-"))
        (parent / PACKAGE).symlink_to(REPO, target_is_directory=True)
        sys.path.insert(0, str(parent))
        mod = addon_utils.enable(PACKAGE, default_set=True, handle_error=None)
        assert mod is not None, "the add-on failed to enable"
        for sub in ("core.cameras", "core.images", "core.pipeline", "core.scene", "importer"):
            importlib.import_module(f"{PACKAGE}.{sub}")  # reachable as addon.core.<...>
        yield mod
        addon_utils.disable(PACKAGE, default_set=True)
        sys.path.remove(str(parent))

    @pytest.fixture(autouse=True)
    def empty_scene():
        """Every test starts from an empty file; read_homefile keeps enabled add-ons."""
        bpy.ops.wm.read_homefile(use_empty=True)
        yield

    @pytest.fixture
    def pump(addon):
        """Run the add-on's job poll callback by hand (module mode has no event loop)."""

        def run(timeout: float = 120.0, until=None):
            poll = addon.operators.reconstruct.poll_job
            t0 = time.monotonic()
            while bpy.app.timers.is_registered(poll):
                if until is not None and until():
                    return
                if time.monotonic() - t0 > timeout:
                    raise TimeoutError("the reconstruction job did not finish")
                delay = poll()
                if delay is None:
                    bpy.app.timers.unregister(poll)
                    break
                time.sleep(min(delay, 0.05))

        return run

    _exit_status = 0

    def pytest_sessionfinish(session, exitstatus):
        global _exit_status
        _exit_status = int(exitstatus)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(config):
        # bpy 4.x hangs or segfaults at interpreter exit when anything stayed registered.
        if bpy.app.version < (5, 0, 0):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(_exit_status)


def scene_state() -> dict:
    """Everything a failed or cancelled run must leave as it was."""
    import bpy

    render = bpy.context.scene.render
    names = {t: sorted(b.name for b in getattr(bpy.data, t))
             for t in ("objects", "meshes", "cameras", "materials", "node_groups", "images",
                       "collections")}
    return dict(names, camera=bpy.context.scene.camera and bpy.context.scene.camera.name,
                resolution=(render.resolution_x, render.resolution_y))


def write_photo(path: Path, size: tuple[int, int], orientation: int = 1, seed: int = 0) -> Path:
    """A small textured JPEG of `size` (stored pixels) with an optional EXIF orientation."""
    from PIL import Image

    w, h = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    pixels = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1),
                       rng.integers(0, 255, (h, w))], -1).astype(np.uint8)
    img = Image.fromarray(pixels)
    exif = img.getexif()
    if orientation != 1:
        exif[0x0112] = orientation
    img.save(path, quality=95, exif=exif)
    return path


def synthetic_scene(core, photos: list, c2w: np.ndarray, focals, pps, depth: float = 2.0,
                    colors=None):
    """A Scene with constant-depth maps seen by the given cameras (network-frame intrinsics)."""
    depthmaps, pts3d, conf, masks, cols = [], [], [], [], []
    for n, photo in enumerate(photos):
        w, h = photo.network_size
        v, u = np.mgrid[0:h, 0:w].astype(np.float64)
        d = np.full((h, w), depth)
        cam = np.stack([(u - pps[n][0]) / focals[n] * d, (v - pps[n][1]) / focals[n] * d, d], -1)
        pts = cam @ c2w[n][:3, :3].T + c2w[n][:3, 3]
        depthmaps.append(d.astype(np.float32))
        pts3d.append(pts.astype(np.float32))
        conf.append(np.linspace(1.0, 10.0, h * w, dtype=np.float32).reshape(h, w))
        masks.append(np.ones((h, w), bool))
        rgb = colors[n] if colors is not None else np.full(3, 0.5)
        cols.append(np.broadcast_to(np.asarray(rgb, np.float32), (h, w, 3)).copy())
    return core.scene.Scene(np.asarray(c2w, np.float32), np.asarray(focals, np.float32),
                            np.asarray(pps, np.float32), depthmaps, pts3d, conf, masks, cols,
                            photos=list(photos))
