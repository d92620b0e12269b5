"""cli.py in a subprocess, as `python cli.py ...` with the bpy module (the same code runs
under `blender -b -P cli.py -- ...`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from blender_helpers import write_photo
from checkpoints import write_pth

import bpy

CLI = Path(__file__).resolve().parents[2] / "cli.py"


def run_cli(*args, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    return subprocess.run([sys.executable, str(CLI), *map(str, args)], capture_output=True,
                          text=True, timeout=300, env=env, cwd=tmp_path)


@pytest.mark.slow
def test_cli_reconstructs_photos_into_a_blend(tmp_path):
    photos = [write_photo(tmp_path / f"cli{i}.jpg", (96, 72), seed=i) for i in range(2)]
    ckpt = write_pth(tmp_path / "tiny.pth", "tiny_linear")
    known = tmp_path / "known.json"
    known.write_text(json.dumps({"0": {"focal": 80.0}}))
    out = tmp_path / "out" / "scene.blend"
    proc = run_cli(*photos, "-o", out, "--model", ckpt, "--device", "cpu", "--niter", "5",
                   "--collection", "From CLI", "--max-points", "500", "--known-cameras", known,
                   tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "pairs 2/2" in proc.stdout and "2 cameras ->" in proc.stdout
    bpy.ops.wm.open_mainfile(filepath=str(out))
    coll = bpy.data.collections["From CLI"]
    cams = [o for o in coll.objects if o.type == "CAMERA"]
    points = coll.objects["From CLI points"]
    assert len(cams) == 2 and len(points.data.vertices) == 500
    assert {"Color", "confidence", "image_index"} <= set(points.data.attributes.keys())
    fx = {c.name: c["dust3r_fx"] for c in cams}
    assert fx["000 cli0"] == pytest.approx(80.0, rel=1e-4)  # the known focal was kept


@pytest.mark.slow
def test_cli_fails_with_a_clear_message_and_writes_nothing(tmp_path):
    good = write_photo(tmp_path / "good.jpg", (96, 72))
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    ckpt = write_pth(tmp_path / "tiny.pth", "tiny_linear")
    out = tmp_path / "scene.blend"
    proc = run_cli(good, bad, "-o", out, "--model", ckpt, "--device", "cpu", tmp_path=tmp_path)
    assert proc.returncode == 1
    assert "DUSt3R error" in proc.stderr and "bad.jpg" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


def test_cli_rejects_bad_arguments(tmp_path):
    proc = run_cli("a.jpg", tmp_path=tmp_path)  # no -o
    assert proc.returncode == 2 and "--output" in proc.stderr


@pytest.mark.slow
def test_cli_keeps_the_poses_of_the_cameras_in_a_base_file(addon, tmp_path):
    from blender_helpers import synthetic_scene

    photos = [write_photo(tmp_path / f"base{i}.jpg", (96, 72), seed=i) for i in range(2)]
    views = addon.core.images.load_images([str(p) for p in photos], size=64)
    c2w = np.stack([np.eye(4), np.eye(4)])
    c2w[1, :3, 3] = (0.4, -0.1, 0.2)
    scene = synthetic_scene(addon.core, [v["photo"] for v in views], c2w, [60.0, 60.0],
                            [(31.5, 23.5), (31.5, 23.5)])
    addon.importer.import_scene(scene, addon.core.pipeline.ImportOptions(
        collection_name="Base", scale=1.0))
    base = tmp_path / "base.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(base))
    expected = {o["dust3r_source"]: np.array(o.matrix_world) for o in
                bpy.data.collections["Base"].objects if o.type == "CAMERA"}

    ckpt = write_pth(tmp_path / "tiny.pth", "tiny_linear")
    out = tmp_path / "with_base.blend"
    proc = run_cli(*photos, "-o", out, "--base", base, "--use-cameras", "pose", "--model", ckpt,
                   "--device", "cpu", "--niter", "5", "--collection", "Solved",
                   tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    bpy.ops.wm.open_mainfile(filepath=str(out))
    assert "Base" in bpy.data.collections  # the base file's content is kept
    solved = [o for o in bpy.data.collections["Solved"].objects if o.type == "CAMERA"]
    assert len(solved) == 2
    for cam in solved:
        np.testing.assert_allclose(np.array(cam.matrix_world), expected[cam["dust3r_source"]],
                                   atol=1e-4)


def test_inside_blender_the_cli_uses_the_enabled_add_on_and_its_model_folder(addon, tmp_path):
    import importlib

    cli = importlib.import_module(addon.__name__ + ".cli")
    assert cli.package() is addon  # not a second copy of the package
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    prefs.model_dir = str(tmp_path)
    args = cli.parser().parse_args(["a.jpg", "-o", "x.blend"])
    cli.use_preferences(args, addon, bpy)
    assert args.model_dir == str(tmp_path)
    args = cli.parser().parse_args(["a.jpg", "-o", "x.blend", "--model-dir", "/elsewhere"])
    cli.use_preferences(args, addon, bpy)
    assert args.model_dir == "/elsewhere"
