"""The real-window session, run once for the tests of this folder (scripts/gui-test.sh).

It needs the chroot of scripts/gui-chroot.sh (`GUI_CHROOT`) and root (mounts, chroot); the
rest of the suite leaves this folder out unless `DUST3R_REAL_WINDOW` is set (tests/conftest.py).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "out" / "gui"


@dataclass
class Session:
    report: dict
    console: str
    returncode: int
    out: Path

    def run(self, name: str) -> dict:
        return self.report["runs"][name]


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


@pytest.fixture(scope="session")
def window() -> Session:
    chroot = Path(os.environ["GUI_CHROOT"])
    src, out = chroot / "src", chroot / "out"
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    src.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    mounts = REPO / "scripts" / "gui-chroot-mount.sh"
    subprocess.run([str(mounts), str(chroot)], check=True)
    try:
        _mount("--bind", str(REPO), str(src))
        _mount("-o", "remount,bind,ro", str(src))
        _mount("--bind", str(OUT), str(out))
        # A clean environment: nothing of this process (bpy's OCIO, a venv) reaches Debian's
        # Blender.
        subprocess.run(["chroot", str(chroot), "/usr/bin/env", "-i",
                        "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "/bin/bash",
                        "/src/tests/gui/session.sh"], check=True, timeout=1200)
    finally:
        for target in (out, src):
            subprocess.run(["umount", "-l", str(target)], check=False)
        subprocess.run([str(mounts), "--umount", str(chroot)], check=False)
    report = OUT / "report.json"
    assert report.is_file(), (OUT / "console.log").read_text()[-3000:]
    return Session(json.loads(report.read_text()), (OUT / "console.log").read_text(),
                   int((OUT / "blender.rc").read_text()), OUT)
