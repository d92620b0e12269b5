"""Masks in the panel: the settings become the run's MaskOptions, they draw from properties
alone, a masked run shows which photos ran unmasked under its result, and a bad mask is
reported before the model loads, leaving the scene as it was."""
from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from blender_helpers import scene_state, write_photo
from PIL import Image
from test_operators import (FakeLayout, checkpoint, configure, drawn_paragraphs,  # noqa: F401
                            no_disk, status)

import bpy


@pytest.fixture
def photos(tmp_path):
    (tmp_path / "photos").mkdir()
    return [write_photo(tmp_path / "photos" / f"photo{i}.jpg", (96, 72), seed=i)
            for i in range(3)]


@pytest.fixture
def masks(tmp_path):
    """A mask for photo1 only, keeping its left half."""
    folder = tmp_path / "masks"
    folder.mkdir()
    keep = np.zeros((72, 96), np.uint8)
    keep[:, :48] = 255
    Image.fromarray(keep).save(folder / "photo1.png")
    return folder


def test_the_panel_settings_become_the_runs_mask_options(addon, checkpoint, photos, masks,
                                                         tmp_path):
    MaskOptions = addon.core.settings.MaskOptions
    job_params = addon.operators.reconstruct.job_params
    s = configure(addon, checkpoint, photos)
    assert (s.mask_source, s.invert_masks) == ("none", False)  # JobParams' defaults
    assert job_params(bpy.context).masks == MaskOptions()
    s.invert_masks = True  # hidden without a source: no effect
    assert job_params(bpy.context).masks == MaskOptions()
    s.mask_source = "alpha"
    assert job_params(bpy.context).masks == MaskOptions(alpha=True, invert=True)
    s.mask_source, s.invert_masks = "folder", False
    with pytest.raises(addon.core.errors.Dust3rError, match="choose the mask folder"):
        job_params(bpy.context)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    s = bpy.context.scene.dust3r
    with warnings.catch_warnings():  # 5.0 warns that such a property takes no "//" ...
        warnings.simplefilter("ignore", RuntimeWarning)
        s.mask_folder = "//masks"  # ... which 4.2's file browser writes by default
    assert job_params(bpy.context).masks == MaskOptions(folder=str(masks))


def test_the_panel_draws_the_mask_settings_from_properties_alone(addon, checkpoint, photos,
                                                                 no_disk):  # noqa: F811
    s = configure(addon, checkpoint, photos)
    drawn = {}
    for source in ("none", "alpha", "folder"):
        s["mask_source"] = ("none", "alpha", "folder").index(source)  # no update callback
        log = []
        addon.panels.sidebar.DUST3R_PT_reconstruct.draw(
            SimpleNamespace(layout=FakeLayout(log)), bpy.context)
        drawn[source] = {args[1] for name, args, _ in log if name == "prop" and len(args) > 1}
    assert "mask_source" in drawn["none"]
    assert not {"mask_folder", "invert_masks"} & drawn["none"]
    assert "invert_masks" in drawn["alpha"] and "mask_folder" not in drawn["alpha"]
    assert {"mask_folder", "invert_masks"} <= drawn["folder"]


def test_a_masked_run_names_the_unmasked_photos_under_its_result(addon, checkpoint, photos,
                                                                 masks, pump):
    configure(addon, checkpoint, photos, mask_source="folder", mask_folder=str(masks),
              min_conf_thr=0.0, clean=False)
    assert bpy.ops.dust3r.reconstruct(mode="ASYNC") == {"FINISHED"}
    pump()
    assert status().error == "", status().error
    summary, note = status().message.splitlines()
    assert "3 photos, 6 pairs" in summary
    assert note == f"2 of 3 photos have no mask in {masks} and run unmasked: photo0.jpg, " \
                   "photo2.jpg"
    log = []
    addon.panels.widgets.task_row(FakeLayout(log), status(), "reconstruct")
    assert drawn_paragraphs(log) == [(summary, "CHECKMARK"), (note, "INFO")]
    # Every pixel passes (no threshold, no clean-up): photo1 gives exactly its kept half.
    points = next(o for o in bpy.data.objects if o.type == "MESH")
    index = np.empty(len(points.data.vertices), np.int32)
    points.data.attributes["image_index"].data.foreach_get("value", index)
    assert np.bincount(index).tolist() == [64 * 48, 32 * 48, 64 * 48]


@pytest.mark.parametrize("problem", ["folder missing", "empty mask"])
def test_a_bad_mask_is_reported_before_the_model_loads(addon, checkpoint, photos, masks, pump,
                                                       monkeypatch, problem):
    addon.core.jobs.MODELS.unload()
    loads = []
    monkeypatch.setattr(addon.core.pipeline, "load_model", lambda *a: loads.append(a))
    folder = masks if problem == "empty mask" else masks.parent / "gone"
    Image.new("L", (96, 72), 0).save(masks / "photo1.png")
    configure(addon, checkpoint, photos, mask_source="folder", mask_folder=str(folder))
    before = scene_state()
    assert bpy.ops.dust3r.reconstruct(mode="ASYNC") == {"FINISHED"}
    pump()
    expected = "gone does not exist" if problem == "folder missing" else \
        "photo1.png leaves no pixel of photo1.jpg"
    assert expected in status().error and not loads
    assert scene_state() == before
