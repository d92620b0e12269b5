"""Plates in the panel: the input choice and the Sequence settings become the run's
SequenceOptions (the same as cli.py's options give), the panel draws the plate's frames from
a cached probe, a Movie Clip of the .blend is solved from its file, and a bad plate is
reported before the model loads, leaving the scene as it was."""
from __future__ import annotations

import importlib
import os
import re
from types import SimpleNamespace

import numpy as np
import pytest
from blender_helpers import scene_state
from PIL import Image
from test_frames import write_movie
from test_operators import FakeLayout, checkpoint, configure, status  # noqa: F401

import bpy

FRAMES = (1001, 1002, 1003, 1004)
PLATE_KEYS = ("use_frame_start", "frame_start", "use_frame_end", "frame_end", "frame_step",
              "keyframe_step", "zoom", "lens_mm", "sensor_mm", "auto_pairs", "scene_graph",
              "window")


def write_plate(folder, numbers=FRAMES, size=(64, 48)):
    folder.mkdir(exist_ok=True)
    for n in numbers:
        pixels = np.random.default_rng(n).integers(0, 256, (size[1], size[0], 3), np.uint8)
        Image.fromarray(pixels).save(folder / f"plate.{n}.png")
    return folder


@pytest.fixture
def plate(tmp_path):
    return write_plate(tmp_path / "plate")


@pytest.fixture(scope="module")
def cli_module(addon):
    return importlib.import_module(addon.__name__ + ".cli")


def configure_plate(addon, checkpoint, source, **settings):  # noqa: F811
    s = configure(addon, checkpoint, [], input_type="PLATE", plate=str(source))
    for key in PLATE_KEYS:
        s.property_unset(key)
    for key, value in settings.items():
        setattr(s, key, value)
    return s


def drawn(addon) -> tuple[list[str], set[str]]:
    """The labels and the property names the sidebar panel draws."""
    log = []
    addon.panels.sidebar.DUST3R_PT_reconstruct.draw(SimpleNamespace(layout=FakeLayout(log)),
                                                     bpy.context)
    labels = [str(kw.get("text", a[0] if a else "")) for name, a, kw in log if name == "label"]
    props = {a[1] for name, a, _ in log if name == "prop" and len(a) > 1}
    return labels, props


CASES = {  # cli.py's options, the panel's settings, the SequenceOptions both give
    "defaults": ([], {}, {}),
    "range, keyframes, lens": (
        ["--frame-start", "1002", "--frame-end", "1004", "--frame-step", "2",
         "--keyframe-step", "3", "--lens-mm", "35", "--sensor-mm", "23.5"],
        dict(use_frame_start=True, frame_start=1002, use_frame_end=True, frame_end=1004,
             frame_step=2, keyframe_step=3, lens_mm=35.0, sensor_mm=23.5),
        dict(frame_start=1002, frame_end=1004, frame_step=2, keyframe_step=3, lens_mm=35.0,
             sensor_mm=23.5)),
    "end only": (["--frame-end", "1003"], dict(use_frame_end=True, frame_end=1003),
                 dict(frame_end=1003)),
    "zoom, own pair graph": (["--zoom", "--scene-graph", "sequence-2"],
                             dict(zoom=True, auto_pairs=False, scene_graph="sequence",
                                  window=2),
                             dict(zoom=True, pair_graph="sequence-2")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_panel_and_the_cli_give_the_same_sequence_options(addon, checkpoint, plate,
                                                              cli_module, case):
    options, panel, expected = CASES[case]
    SequenceOptions = addon.core.settings.SequenceOptions
    configure_plate(addon, checkpoint, plate, **panel)
    from_panel = addon.operators.reconstruct.job_params(bpy.context)
    assert from_panel.photos == str(plate) and from_panel.sequence == SequenceOptions(**expected)

    p = cli_module.parser(addon)
    args = p.parse_args([str(plate), "--sequence", "-o", "x.blend", *options])
    cli_module.panel_settings(args, p, addon)
    model = addon.tool.settings.ModelChoice(str(checkpoint), "", "cpu", "auto", False)
    from_cli = addon.tool.settings.job_params(args, str(plate), model)
    assert from_cli.sequence == from_panel.sequence


def test_photos_give_no_sequence_and_a_plate_no_depth_meshes(addon, checkpoint, plate,
                                                              tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48)).save(photo)
    s = configure(addon, checkpoint, [photo, photo], input_type="PHOTOS", depth_meshes=True)
    params = addon.operators.reconstruct.job_params(bpy.context)
    assert params.sequence is None and params.import_options.depth_meshes
    s.input_type, s.plate = "PLATE", str(plate)
    params = addon.operators.reconstruct.job_params(bpy.context)
    assert params.sequence is not None and not params.import_options.depth_meshes


def test_the_panel_draws_a_plates_frames_from_the_plate_as_last_read(addon, checkpoint,
                                                                       plate, monkeypatch):
    """The plate is read when it changes (and by every run); the frame settings and draw()
    work on that reading, never on the disk."""
    reads = []
    open_plate = addon.tool.plate.open_plate
    monkeypatch.setattr(addon.tool.plate, "open_plate",
                        lambda source: reads.append(source) or open_plate(source))
    s = configure_plate(addon, checkpoint, plate)
    assert len(reads) == 1
    labels, props = drawn(addon)
    assert "4 frames 1001-1004" in labels
    assert {"plate", "frame_start", "frame_end", "frame_step", "keyframe_step", "zoom",
            "lens_mm", "sensor_mm", "auto_pairs"} <= props
    assert not {"source", "folder", "shared_focal", "use_known_cameras"} & props
    s.frame_start, s.use_frame_start, s.frame_step = 1002, True, 2  # no reading
    s.auto_pairs, s.scene_graph = False, "sequence"
    (plate / "plate.1004.png").unlink()  # the last reading does not know: draw() does not look

    def touched(*args, **kwargs):
        raise AssertionError("draw() touched the disk")

    with monkeypatch.context() as m:
        for target, name in ((os, "listdir"), (os, "scandir"), (os, "stat"),
                             (os.path, "exists"), (os.path, "isdir"), (os.path, "isfile"),
                             (addon.tool.plate, "open_plate")):
            m.setattr(target, name, touched)
        labels, props = drawn(addon)
    assert "2 frames 1002-1004, every 2" in labels and len(reads) == 1
    assert {"scene_graph", "window"} <= props and "noncyclic" not in props  # never wraps
    s.plate = str(plate)  # choosing the plate (again) reads it: it now ends at 1003
    s.frame_step = 1
    assert "2 frames 1002-1003" in drawn(addon)[0] and len(reads) == 2


def test_a_movie_clip_is_solved_from_its_file_numbered_as_blender_numbers_it(
        addon, checkpoint, tmp_path):  # noqa: F811
    movie = str(write_movie(tmp_path / "shot.mp4", 6, rate=25))
    clip = bpy.data.movieclips.load(movie)
    s = configure(addon, checkpoint, [], input_type="CLIP")
    assert any("choose a clip" in label for label in drawn(addon)[0])
    s.movie_clip = clip
    params = addon.operators.reconstruct.job_params(bpy.context)
    assert params.photos == movie and params.sequence is not None
    first, last = clip.frame_start, clip.frame_start + clip.frame_duration - 1
    assert f"{clip.frame_duration} frames {first}-{last}" in drawn(addon)[0]

    write_plate(tmp_path / "seq")
    frames = bpy.data.movieclips.load(str(tmp_path / "seq" / "plate.1001.png"))
    assert frames.source == "SEQUENCE"
    s.movie_clip = frames
    params = addon.operators.reconstruct.job_params(bpy.context)
    assert params.photos == str(tmp_path / "seq" / "plate.1001.png")
    assert "4 frames 1001-1004" in drawn(addon)[0]  # the file names' numbers


@pytest.mark.parametrize("problem, message", [
    ("range outside", "The frame range 1001-1010 is not inside the plate"),
    ("missing frame", "misses frames 1003"),
    ("no plate", "Plate: choose a folder"),
    ("zoom and lens", "zoom (one focal per frame) and a lens in mm exclude each other"),
])
def test_a_bad_plate_is_reported_before_the_model_loads(addon, checkpoint, plate, pump,
                                                        monkeypatch, problem, message):
    addon.core.jobs.MODELS.unload()
    loads = []
    monkeypatch.setattr(addon.core.pipeline, "load_model", lambda *a: loads.append(a))
    settings = {"range outside": dict(use_frame_end=True, frame_end=1010),
                "zoom and lens": dict(zoom=True, lens_mm=35.0)}.get(problem, {})
    configure_plate(addon, checkpoint, "" if problem == "no plate" else plate, **settings)
    if problem == "missing frame":
        (plate / "plate.1003.png").unlink()
    before = scene_state()
    if problem in ("no plate", "zoom and lens"):  # the operator refuses: no task starts
        with pytest.raises(RuntimeError, match=re.escape(message)):
            bpy.ops.dust3r.reconstruct(mode="ASYNC")
    else:  # the task checks the plate's headers first
        assert bpy.ops.dust3r.reconstruct(mode="ASYNC") == {"FINISHED"}
        pump()
        assert message in status().error
    assert not loads and scene_state() == before


def test_a_panel_run_reads_its_plate_once(addon, checkpoint, plate, pump, monkeypatch):
    """Reading a plate reads every frame's header (a movie without a frame count is
    demuxed whole): the operator reads it once, for the run and the panel's note."""
    configure_plate(addon, checkpoint, plate, niter=2, lens_mm=36.0, sensor_mm=36.0)
    reads = []
    for module in (addon.tool.plate, addon.core.pipeline):
        opener = module.open_plate
        monkeypatch.setattr(module, "open_plate",
                            lambda source, opener=opener: reads.append(source) or opener(source))
    assert bpy.ops.dust3r.reconstruct(mode="ASYNC") == {"FINISHED"}
    pump()
    assert status().error == "" and status().message.startswith("4 frames")
    assert reads == [str(plate)]


def test_a_plate_from_the_panel_runs_through_the_pipeline(addon, checkpoint, plate):
    """Up to `core.pipeline.run`: the import of a track into Blender is importer's. The
    random weights see no geometry in noise, so the lens is given (a solved focal would be
    implausible, which is an error: `test_track.py`)."""
    configure_plate(addon, checkpoint, plate, use_frame_end=True, frame_end=1003, niter=5,
                    lens_mm=36.0, sensor_mm=36.0)
    params = addon.operators.reconstruct.job_params(bpy.context)
    result = addon.core.pipeline.run(params)
    assert result.plate.frames == FRAMES
    assert result.track.frames == FRAMES[:3]
    assert np.allclose(result.track.focals, 64.0)  # 36 mm on a 36 mm sensor 64 px wide
