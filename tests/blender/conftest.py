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
        for sub in ("core.cameras", "core.images", "core.pipeline", "core.plan", "core.scene",
                    "core.settings", "importer", "tool.cameras", "tool.photos", "tool.settings"):
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
