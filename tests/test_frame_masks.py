"""Masks of a plate's frames (core.masks.frame_masks), and a sequence's checks in the pipeline
before any model is loaded."""
import numpy as np
import pytest
from PIL import Image
from test_frames import H, W, write_exr, write_movie, write_sequence

from core import pipeline
from core.dependencies import ONLY_FOR, PACKAGES, missing
from core.errors import Dust3rError, ImageError
from core.frames import load_frames, open_plate
from core.settings import JobParams, SequenceOptions
from core.masks import frame_masks
from core.settings import MaskOptions


def write_mask(path, keep_rows):
    """A mask that keeps rows `keep_rows` (a slice) of a W x H frame."""
    levels = np.zeros((H, W), np.uint8)
    levels[keep_rows] = 255
    Image.fromarray(levels).save(path)


@pytest.fixture
def plate(tmp_path):
    write_sequence(tmp_path / "plate", range(1001, 1007))
    return open_plate(str(tmp_path / "plate"))


def test_masks_are_matched_by_frame_number_whatever_their_prefix(plate, tmp_path):
    (tmp_path / "m").mkdir()
    write_mask(tmp_path / "m" / "matte.1001.png", slice(0, 24))  # top half
    write_mask(tmp_path / "m" / "1002.png", slice(24, 48))  # bottom half
    write_mask(tmp_path / "m" / "roto_v2_00001004.png", slice(0, 48))
    frames = [1001, 1002, 1003, 1004, 1005, 1006]
    views = load_frames(plate, frames, 64)
    masks, notes = frame_masks(plate, frames, views, MaskOptions(folder=str(tmp_path / "m")))
    (h, w) = views[0]["true_shape"][0]
    assert masks[0].shape == (h, w) and masks[0][: h // 2].all() and not masks[0][h // 2:].any()
    assert masks[1][h // 2:].all() and not masks[1][: h // 2].any()
    assert masks[3].all() and masks[2] is None and masks[4] is None and masks[5] is None
    assert notes == [f"3 of 6 frames have no mask in {tmp_path / 'm'} and run unmasked: "
                     "1003, 1005-1006"]
    inverted, _ = frame_masks(plate, frames[:2], views[:2],
                              MaskOptions(folder=str(tmp_path / "m"), invert=True))
    assert (inverted[0] == ~masks[0]).all() and (inverted[1] == ~masks[1]).all()


@pytest.mark.parametrize("layout, message", [
    ({"matte.1001.png": slice(0, 0)}, r"leaves no pixel .*\(frame 1001\)"),
    ({"a.1001.png": slice(0, 9), "b.1001.png": slice(0, 9)},
     "Two masks in .* are for frame 1001: a.1001.png and b.1001.png"),
    ({"matte.2001.png": slice(0, 9)}, "No mask in .* fits any of the frames 1001-1002"),
])
def test_unusable_mask_folders_are_named(plate, tmp_path, layout, message):
    (tmp_path / "m").mkdir()
    for name, rows in layout.items():
        write_mask(tmp_path / "m" / name, rows)
    views = load_frames(plate, [1001, 1002], 64)
    with pytest.raises(Dust3rError, match=message):
        frame_masks(plate, [1001, 1002], views, MaskOptions(folder=str(tmp_path / "m")))


def test_the_plates_own_folder_is_not_a_mask_folder(plate, tmp_path):
    views = load_frames(plate, [1001, 1002], 64)
    with pytest.raises(Dust3rError, match="is the plate's folder"):
        frame_masks(plate, [1001, 1002], views, MaskOptions(folder=str(tmp_path / "plate")))


def test_a_mask_of_another_aspect_is_refused(plate, tmp_path):
    (tmp_path / "m").mkdir()
    Image.new("L", (W, W), 255).save(tmp_path / "m" / "1001.png")
    with pytest.raises(ImageError, match="1001.png is 64x64 but its photo .* is 64x48"):
        frame_masks(plate, [1001], load_frames(plate, [1001, 1002], 64)[:1],
                    MaskOptions(folder=str(tmp_path / "m")))


def test_alpha_masks_come_from_each_frames_alpha_png_or_exr(tmp_path):
    (tmp_path / "s").mkdir()
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[:, : W // 2, 3] = 0  # the left half transparent
    Image.fromarray(rgba).save(tmp_path / "s" / "p.1.png")
    Image.fromarray(rgba[..., :3]).save(tmp_path / "s" / "p.2.png")  # no alpha
    plate = open_plate(str(tmp_path / "s"))
    views = load_frames(plate, [1, 2], 64)
    masks, notes = frame_masks(plate, [1, 2], views, MaskOptions(alpha=True))
    w = views[0]["true_shape"][0][1]
    assert not masks[0][:, : w // 2].any() and masks[0][:, w // 2:].all() and masks[1] is None
    assert notes == ["1 of 2 frames have no alpha channel and run unmasked: 2"]

    (tmp_path / "e").mkdir()
    linear = np.ones((H, W, 4), np.float32)
    linear[: H // 2, :, 3] = 0.25  # the top half mostly transparent
    for n in (1, 2):
        write_exr(tmp_path / "e" / f"x.{n}.exr", linear)
    plate = open_plate(str(tmp_path / "e"))
    views = load_frames(plate, [1, 2], 64)
    masks, notes = frame_masks(plate, [1, 2], views, MaskOptions(alpha=True))
    h = views[0]["true_shape"][0][0]
    assert not masks[1][: h // 2].any() and masks[1][h // 2:].all() and notes == []


def test_alpha_masks_need_a_frame_with_alpha_and_are_not_read_from_movies(plate, tmp_path):
    views = load_frames(plate, [1001, 1002], 64)
    with pytest.raises(Dust3rError, match="none of the 2 frames .* has an alpha channel"):
        frame_masks(plate, [1001, 1002], views, MaskOptions(alpha=True))
    movie = open_plate(write_movie(tmp_path / "m.mp4", 3))
    with pytest.raises(Dust3rError, match="use a mask folder"):
        frame_masks(movie, [1, 2], load_frames(movie, [1, 2], 64), MaskOptions(alpha=True))


# --- the pipeline ------------------------------------------------------------------------

def test_a_sequence_is_checked_before_any_model_is_loaded(plate, tmp_path, monkeypatch):
    loads = []
    monkeypatch.setattr(pipeline, "load_model", lambda *a, **k: loads.append(a))
    source = str(tmp_path / "plate")
    for sequence, message in [
        (dict(frame_end=1010), "range 1001-1010 is not inside the plate: the plate .* has "
                               "frames 1001-1006"),
        (dict(frame_start=1006), "needs at least two"),
        (dict(frame_step=0), "frame step"),  # refused when the settings are made
    ]:
        with pytest.raises(Dust3rError, match=message):
            pipeline.run(JobParams(photos=source, sequence=SequenceOptions(**sequence)))
    (tmp_path / "plate" / "plate.1003.png").unlink()
    with pytest.raises(Dust3rError, match="misses frames 1003 of the range 1001-1006"):
        pipeline.run(JobParams(photos=source, sequence=SequenceOptions()))
    (tmp_path / "m").mkdir()
    with pytest.raises(Dust3rError, match="holds no image files"):
        pipeline.run(JobParams(photos=str(tmp_path / "plate" / "plate.####.png"),
                                        sequence=SequenceOptions(frame_end=1002),
                                        masks=MaskOptions(folder=str(tmp_path / "m"))))
    assert loads == []


@pytest.mark.parametrize("change, message", [
    (dict(photos=["a.png", "b.png"]), "one folder, frame pattern or movie file, not a list"),
    (dict(sequence="yes"), "sequence must be SequenceOptions or None"),
    (dict(sequence=dict(sensor_mm=-1.0)), "sensor width"),
])
def test_sequence_settings_no_run_could_use_are_refused(change, message):
    with pytest.raises(Dust3rError, match=message):  # when they are made
        if isinstance(change.get("sequence"), dict):
            change = dict(sequence=SequenceOptions(**change["sequence"]))
        JobParams(**{"photos": "plate.####.exr", "sequence": SequenceOptions(), **change})


def test_install_dependencies_installs_pyav_but_runs_start_without_it(monkeypatch):
    assert ("av", "av") in PACKAGES and "av" in ONLY_FOR
    monkeypatch.setattr("core.dependencies.PACKAGES", (("no_such_av_xyz", "av"),
                                                       ("no_such_module_xyz", "no-such-dist")))
    assert missing() == ["av", "no-such-dist"]
    assert missing(required=True) == ["no-such-dist"]
