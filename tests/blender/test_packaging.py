"""The extension package: Blender's validator accepts it, the build makes the zip, Blender
installs and enables the zip with its bundled wheels."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = [sys.executable, str(REPO / "scripts" / "build_extension.py")]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(BUILD + list(args), capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = run_cli("build", "--source-dir", str(REPO), "--output-dir", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = tomllib.loads((REPO / "blender_manifest.toml").read_text())
    path = out / f"{manifest['id']}-{manifest['version']}.zip"
    assert path.is_file(), proc.stdout
    return path


def test_blender_validates_the_manifest():
    proc = run_cli("validate", str(REPO))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


def test_the_validator_rejects_a_broken_manifest(tmp_path):
    text = (REPO / "blender_manifest.toml").read_text().replace('version = "0.1.0"',
                                                                 'version = "0.1"')
    (tmp_path / "blender_manifest.toml").write_text(text)
    shutil.copytree(REPO / "wheels", tmp_path / "wheels")
    (tmp_path / "__init__.py").write_text("")
    proc = run_cli("validate", str(tmp_path))
    assert proc.returncode != 0 and "semantic-version" in proc.stdout + proc.stderr


def test_every_bundled_wheel_is_listed_and_exists():
    manifest = tomllib.loads((REPO / "blender_manifest.toml").read_text())
    listed = {Path(w).name for w in manifest["wheels"]}
    assert listed == {p.name for p in (REPO / "wheels").glob("*.whl")}
    names = " ".join(listed)
    for package in ("roma", "huggingface_hub", "safetensors", "pyyaml"):
        assert package in names
    # Binary wheels for Blender 4.2-5.0 (cp311) and 5.1+ (cp313).
    assert "cp311-cp311" in names and "cp313-cp313" in names
    assert not any(n.startswith(("numpy", "torch")) for n in listed)


def test_the_zip_holds_the_add_on_and_its_wheels_but_no_development_files(built_zip):
    names = set(zipfile.ZipFile(built_zip).namelist())
    for required in ("blender_manifest.toml", "__init__.py", "cli.py", "core/cameras.py",
                     "core/pipeline.py", "importer/__init__.py", "operators/__init__.py",
                     "panels/__init__.py"):
        assert required in names
    assert any(n.startswith("wheels/roma-") for n in names)
    assert not any(n.startswith(("tests/", ".venv/", "scripts/", ".git/", "bench/"))
                   for n in names)


INSTALL_SCRIPT = r"""
import json, os, sys
import bpy, addon_utils
zip_path = sys.argv[1]
bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                         enable_on_install=True)
module = "bl_ext.user_default.dust3r_blender"
enabled = module in {a.module for a in bpy.context.preferences.addons}
mod = sys.modules.get(module)
prefs = bpy.context.preferences.addons[module].preferences
out = dict(heavy=[m for m in ("torch", "PIL", "scipy") if m in sys.modules], enabled=enabled,
           panel=hasattr(bpy.types, "DUST3R_PT_reconstruct"),
           op=hasattr(bpy.ops.dust3r, "reconstruct"), prefs=type(prefs).__name__,
           cli=os.path.isfile(os.path.join(os.path.dirname(mod.__file__), "cli.py")))
site = [p for p in sys.path if os.sep + ".local" + os.sep in p and p.endswith("site-packages")]
out["unpacked"] = sorted(os.listdir(site[0])) if site else []
addon_utils.disable(module, default_set=True)
out["disabled"] = module not in {a.module for a in bpy.context.preferences.addons}
print("RESULT " + json.dumps(out))
"""


@pytest.mark.slow
def test_blender_installs_and_enables_the_built_zip(built_zip, tmp_path):
    script = tmp_path / "install.py"
    script.write_text(INSTALL_SCRIPT)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    proc = subprocess.run([sys.executable, "-I", str(script), str(built_zip)], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and line, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(line[0][7:])
    assert out["enabled"] and out["panel"] and out["op"] and out["cli"] and out["disabled"]
    assert out["prefs"] == "DUST3R_AP_preferences"
    # Registering imports none of the big dependencies: the add-on (and its "Install
    # Dependencies" button) works before they are installed.
    assert out["heavy"] == []
    # Blender unpacked this platform's wheels into the extensions' site-packages (the venv
    # has these packages too and comes first on sys.path, so this looks at the folder).
    for package in ("roma", "huggingface_hub", "safetensors", "yaml", "httpx2"):
        assert package in out["unpacked"], out["unpacked"]
