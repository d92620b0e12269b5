"""Set-up for the tests that run Blender as a Python module (bpy, headless)."""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile

import pytest

if importlib.util.find_spec("bpy") is None:
    collect_ignore_glob = ["test_*.py"]  # the rest of the suite runs without Blender
else:
    # Before the first `import bpy`: keep Blender's user folders (extensions, config) out of $HOME.
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="bpy-user-"))
    import bpy

    @pytest.fixture(autouse=True)
    def empty_scene():
        """Every test starts from an empty file; read_homefile keeps enabled add-ons."""
        bpy.ops.wm.read_homefile(use_empty=True)
        yield

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
