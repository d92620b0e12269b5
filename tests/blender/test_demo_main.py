"""The README's demo command: checkpoint discovery, and one whole run on small photos."""
import importlib

import bpy
import numpy as np
import pytest
from PIL import Image, ImageOps

from demo.render import render_scene


@pytest.fixture
def demo(addon):
    return importlib.import_module(f"{addon.__name__}.demo.main")


def test_a_named_checkpoint_that_does_not_exist_is_an_error(demo, addon, monkeypatch, tmp_path):
    monkeypatch.delenv(demo.CHECKPOINT_ENV, raising=False)
    with pytest.raises(addon.core.errors.Dust3rError, match="nowhere.pth.*--checkpoint"):
        demo.find_checkpoint(str(tmp_path / "nowhere.pth"))
    monkeypatch.setenv(demo.CHECKPOINT_ENV, str(tmp_path / "gone.pth"))
    with pytest.raises(addon.core.errors.Dust3rError, match="gone.pth.*DUST3R_CHECKPOINT"):
        demo.find_checkpoint(None)


def test_checkpoint_from_the_argument_the_environment_or_the_model_folder(demo, monkeypatch, tmp_path):
    named, env = tmp_path / "named.pth", tmp_path / "env.pth"
    named.touch(), env.touch()
    monkeypatch.setenv(demo.CHECKPOINT_ENV, str(env))
    assert demo.find_checkpoint(str(named)) == str(named)
    assert demo.find_checkpoint(None) == str(env)
    monkeypatch.delenv(demo.CHECKPOINT_ENV)
    folder = tmp_path / "models" / "naver--DUSt3R_ViTLarge_BaseDecoder_512_dpt"
    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (folder / name).touch()
    assert demo.find_checkpoint(None, str(tmp_path / "models")) == str(folder)


@pytest.mark.slow
def test_demo_run_without_a_checkpoint(demo, monkeypatch, tmp_path, capfd):
    monkeypatch.delenv(demo.CHECKPOINT_ENV, raising=False)
    render_scene(tmp_path / "photos", n_views=3, width=320, height=240, samples=1)  # reused
    assert demo.main(["--out", str(tmp_path), "--ground-truth", "--niter", "40"]) == 0
    printed = capfd.readouterr().out
    assert "GROUND-TRUTH PREDICTOR" in printed and "worst" in printed
    assert printed.count(".jpg ") == 3  # one error row per photo

    sheet = np.asarray(Image.open(tmp_path / "demo.png").convert("RGB"), np.float64)
    assert sheet.shape == (240 + 28, 2 * 320 + 8, 3)
    photo = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "photos" / "view_00.jpg")),
                       np.float64)
    np.testing.assert_array_equal(sheet[:240, :320], photo)
    render = sheet[:240, 328:]
    covered = render.sum(-1) > 30  # points, not the dark backdrop
    assert covered.mean() > 0.7
    # The points seen through the imported camera look like the photo, pixel for pixel.
    error = np.abs(render - photo)[covered].mean()
    assert error < 0.5 * np.abs(render - photo[::-1, ::-1])[covered].mean()

    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "demo.blend"))
    cameras = [o for o in bpy.data.collections["DUSt3R demo"].objects if o.type == "CAMERA"]
    assert len(cameras) == 3 and bpy.context.scene.camera in cameras
