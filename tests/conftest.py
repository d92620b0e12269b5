"""Shared test set-up. Tests under tests/blender/ need the bpy module; all others do not."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

if not os.environ.get("DUST3R_REAL_WINDOW"):
    collect_ignore = ["gui"]  # the real-window tests: scripts/gui-test.sh

REPO = Path(__file__).resolve().parent.parent
OFFICIAL = Path(__file__).resolve().parent / "data" / "official"  # outputs of the official code


def pytest_report_header(config):
    if importlib.util.find_spec("bpy") is None:
        return "bpy is not installed: the tests in tests/blender/ are not collected"
    return None


@pytest.fixture(scope="session")
def official() -> Path:
    """Folder of the reference fixtures produced by the official DUSt3R code."""
    return OFFICIAL
