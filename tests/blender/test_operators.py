"""The add-on end to end: settings -> background job with a real (tiny) checkpoint -> import;
cancel, bad photos and bad checkpoints leave the scene as it was; known cameras; the panel."""
from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from blender_helpers import scene_state, synthetic_scene, write_photo
from checkpoints import write_pth

import bpy

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An official-layout .pth of the tiny linear model (64 px images)."""
    return write_pth(tmp_path_factory.mktemp("ckpt") / "tiny_linear.pth", "tiny_linear")


@pytest.fixture
def photos(tmp_path) -> list[Path]:
    return [write_photo(tmp_path / f"photo{i}.jpg", (96, 72), seed=i) for i in range(3)]


def configure(addon, checkpoint, photos, **settings):
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    prefs.model, prefs.model_file, prefs.device = "FILE", str(checkpoint), "cpu"
    s = bpy.context.scene.dust3r
    s.source = "FILES"
    s.photos.clear()
    for path in photos:
        s.photos.add().path = str(path)
    s.niter = 10
    for key, value in settings.items():
        setattr(s, key, value)
    return s


def status():
    return bpy.context.window_manager.dust3r.reconstruct


def test_reconstruct_in_the_background_then_import(addon, checkpoint, photos, pump):
    configure(addon, checkpoint, photos, collection_name="Recon")
    assert bpy.ops.dust3r.reconstruct(mode="ASYNC") == {"FINISHED"}
    assert status().running and "Recon" not in bpy.data.collections  # nothing yet
    seen = []
    pump(until=lambda: seen.append((status().stage, status().done, status().total,
                                    "Recon" in bpy.data.collections)) and False)
    assert not status().running and status().error == "", status().error
    # The UI shows the import stage for one poll before the import itself runs.
    assert seen[-1] == ("import", 0, 1, False) and status().stage == "import"
    assert all(stage in ("starting", "model", "images", "pairs", "align", "import")
               for stage, *_ in seen)

    coll = bpy.data.collections["Recon"]
    points = coll.objects["Recon points"]
    cams = sorted((o for o in coll.objects if o.type == "CAMERA"), key=lambda o: o.name)
    assert [c.name for c in cams] == ["000 photo0", "001 photo1", "002 photo2"]
    n = len(points.data.vertices)
    assert n > 0 and "3 photos, 6 pairs" in status().message
    assert f"{n:,} points, 3 cameras in 'Recon'" in status().message
    for name in ("Color", "confidence", "image_index"):
        assert name in points.data.attributes
    index = np.empty(n, np.int32)
    points.data.attributes["image_index"].data.foreach_get("value", index)
    assert set(index) == {0, 1, 2}
    assert points.modifiers[0].type == "NODES"
    for cam in cams:
        assert (cam["dust3r_width"], cam["dust3r_height"]) == (96, 72)
        assert cam.data.background_images[0].image.filepath_raw.endswith(".jpg")
    assert bpy.context.scene.camera == cams[0]
    assert bpy.context.scene.render.resolution_x == 96
    assert addon.core.jobs.active() is None


def test_in_background_mode_the_operator_runs_synchronously(addon, checkpoint, photos, capsys):
    configure(addon, checkpoint, photos)
    assert bpy.app.background
    assert bpy.ops.dust3r.reconstruct() == {"FINISHED"}  # mode AUTO
    coll = [c for c in bpy.data.collections if c.name.startswith("DUSt3R")]
    assert len(coll) == 1 and len([o for o in coll[0].objects if o.type == "CAMERA"]) == 3
    out = capsys.readouterr().out
    assert "pairs 6/6" in out and "align 10/10" in out


def test_cancel_half_way_leaves_the_scene_unchanged(addon, checkpoint, tmp_path, pump):
    many = [write_photo(tmp_path / f"p{i}.jpg", (64, 48), seed=i) for i in range(5)]
    configure(addon, checkpoint, many, batch_size=1)  # 20 pairs, one per batch
    bpy.ops.object.camera_add()
    before = scene_state()
    assert bpy.ops.dust3r.reconstruct(mode="ASYNC") == {"FINISHED"}
    job = addon.core.jobs.active()
    pump(until=lambda: status().stage == "pairs" and status().done >= 1)
    assert status().done < status().total  # really half way
    assert bpy.ops.dust3r.cancel() == {"FINISHED"}
    pump()
    assert job.join(5) and not job.running  # the thread is free
    assert status().message == "Cancelled" and not status().running
    assert scene_state() == before
    assert bpy.ops.dust3r.cancel() == {"CANCELLED"}  # nothing left to cancel


def test_cancelling_stays_shown_until_the_run_ends(addon, pump):
    """The worker reports progress until it reaches its next cancel check: none of it may
    hide that the cancel was taken."""
    jobs, tasks = addon.core.jobs, addon.operators.tasks
    asked, go_on = threading.Event(), threading.Event()

    def work(progress, cancel):
        progress("align", 1, 300)
        asked.wait(5)
        for step in range(2, 6):  # still busy with the iteration it was in
            progress("align", step, 300)
            go_on.wait(0.02)
        raise addon.core.errors.Cancelled()

    jobs.start_task("reconstruct", work)
    tasks.reset("reconstruct")
    tasks.start_timer(addon.operators.reconstruct.poll_job)
    pump(until=lambda: status().stage == "align")
    assert bpy.ops.dust3r.cancel() == {"FINISHED"}
    asked.set()
    seen = []
    pump(until=lambda: seen.append((status().running, status().stage)) and False)
    assert seen and all(stage == "cancelling" for running, stage in seen if running)
    assert status().message == "Cancelled" and not status().running


def test_an_unexpected_import_failure_prints_its_traceback(addon, checkpoint, photos, pump,
                                                           monkeypatch, capsys):
    """A bug in the import is reported in the panel and its traceback reaches the console
    (for the bug report); nothing is left in the scene."""
    def broken(*args, **kwargs):
        raise ZeroDivisionError("an importer bug")

    monkeypatch.setattr(addon.importer, "import_result", broken)
    configure(addon, checkpoint, photos)
    before = scene_state()
    assert bpy.ops.dust3r.reconstruct(mode="ASYNC") == {"FINISHED"}
    pump()
    assert status().error == ("Unexpected error (ZeroDivisionError: an importer bug); details "
                              "on the system console")
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in broken" in err
    assert scene_state() == before


def test_a_corrupt_photo_gives_a_clear_error_and_no_change(addon, checkpoint, photos, pump):
    bad = photos[0].parent / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    configure(addon, checkpoint, [photos[0], bad, photos[1]])
    before = scene_state()
    bpy.ops.dust3r.reconstruct(mode="ASYNC")
    pump()
    assert "broken.jpg" in status().error and scene_state() == before
    # The same through the synchronous path: the script sees the error.
    with pytest.raises(RuntimeError, match="broken.jpg"):
        bpy.ops.dust3r.reconstruct(mode="SYNC")
    assert scene_state() == before


def test_a_corrupt_checkpoint_gives_a_clear_error_and_no_change(addon, photos, tmp_path, pump):
    bad = tmp_path / "model.pth"
    bad.write_bytes(Path(__file__).read_bytes()[:500])
    configure(addon, bad, photos)
    before = scene_state()
    bpy.ops.dust3r.reconstruct(mode="ASYNC")
    pump()
    assert "model.pth" in status().error and "checkpoint" in status().error
    assert scene_state() == before


def test_no_photos_is_refused_before_anything_starts(addon, checkpoint):
    configure(addon, checkpoint, [])
    with pytest.raises(RuntimeError, match="No photos"):
        bpy.ops.dust3r.reconstruct(mode="ASYNC")
    assert addon.core.jobs.active() is None


def test_loading_a_file_cancels_the_job_and_imports_nothing(addon, checkpoint, tmp_path, pump):
    many = [write_photo(tmp_path / f"p{i}.jpg", (64, 48), seed=i) for i in range(5)]
    configure(addon, checkpoint, many, batch_size=1)
    bpy.ops.dust3r.reconstruct(mode="ASYNC")
    job = addon.core.jobs.active()
    bpy.ops.wm.read_homefile(use_empty=True)  # runs the load_pre handlers
    assert job.cancel_requested and addon.core.jobs.active() is None
    pump()
    assert job.join(10)
    assert not any(c.name.startswith("DUSt3R") for c in bpy.data.collections)


def test_disabling_the_add_on_stops_the_job(addon, checkpoint, tmp_path):
    import addon_utils

    many = [write_photo(tmp_path / f"p{i}.jpg", (64, 48), seed=i) for i in range(5)]
    configure(addon, checkpoint, many, batch_size=1)
    bpy.ops.dust3r.reconstruct(mode="ASYNC")
    job = addon.core.jobs.active()
    addon_utils.disable(addon.__name__, default_set=True)
    try:
        assert not job.running and job.cancel_requested
        assert not bpy.app.timers.is_registered(addon.operators.reconstruct.poll_job)
    finally:
        assert addon_utils.enable(addon.__name__, default_set=True, handle_error=None)


def test_selected_cameras_become_known_cameras_in_photo_pixels(addon, tmp_path):
    paths = [write_photo(tmp_path / f"k{i}.jpg", (640, 480), seed=i) for i in range(2)]
    views = addon.core.images.load_images([str(p) for p in paths], size=64)
    rng = np.random.default_rng(0)
    c2w = np.stack([np.eye(4), np.eye(4)])
    c2w[1, :3, 3] = rng.normal(size=3)
    photos = [v["photo"] for v in views]
    focals, pps = [50.0, 55.0], [(30.0, 25.0), (33.5, 22.0)]
    scene = synthetic_scene(addon.core, photos, c2w, focals, pps)
    created = addon.importer.import_scene(scene, addon.core.settings.ImportOptions(scale=1.0))
    for cam in created.cameras:
        cam.select_set(True)
    bpy.context.scene.render.resolution_x = 100  # ignored: the cameras carry their photo size
    s = bpy.context.scene.dust3r
    s.source, s.folder, s.use_known_cameras = "FOLDER", str(tmp_path), True
    for mode in ("both", "pose", "lens"):
        s.known_mode = mode
        params = addon.operators.reconstruct.job_params(bpy.context)
        known = addon.core.pipeline._known_on_photos(params.known_cameras, photos)
        assert sorted(known) == [0, 1]
        for n in range(2):
            f0, pp0 = photos[n].intrinsics_to_photo(focals[n], np.array(pps[n]))
            if mode == "lens":
                assert known[n].c2w is None
            else:
                np.testing.assert_allclose(known[n].c2w, c2w[n], atol=1e-5)
            if mode == "pose":
                assert known[n].focal is None and known[n].pp is None
            else:
                assert known[n].focal == pytest.approx(f0, rel=1e-5)
                np.testing.assert_allclose(known[n].pp, pp0, atol=1e-3)
    assert params.has_known_poses is False  # LENS keeps no pose


def test_unmatched_cameras_are_refused(addon, tmp_path):
    for i in range(2):
        write_photo(tmp_path / f"u{i}.jpg", (64, 48), seed=i)
    bpy.ops.object.camera_add()
    s = bpy.context.scene.dust3r
    s.source, s.folder, s.use_known_cameras = "FOLDER", str(tmp_path), True
    with pytest.raises(addon.core.errors.Dust3rError, match="belong to"):
        addon.operators.reconstruct.job_params(bpy.context)


def test_set_active_camera_uses_the_photo_resolution(addon):
    photo = addon.core.images.Photo("a.jpg", (480, 640), 1, (48, 64), (0, 0, 48, 64))
    scene = synthetic_scene(addon.core, [photo], np.eye(4)[None], [50.0], [(23.5, 31.5)])
    cam = addon.importer.import_scene(scene, addon.core.settings.ImportOptions(
        set_active_camera=False)).cameras[0]
    assert bpy.context.scene.camera is None
    bpy.context.view_layer.objects.active = cam
    assert bpy.ops.dust3r.set_active_camera() == {"FINISHED"}
    r = bpy.context.scene.render
    assert bpy.context.scene.camera == cam and (r.resolution_x, r.resolution_y) == (480, 640)


class FakeLayout:
    """Records what a draw() puts in a layout (module mode has no real UI to draw into), and
    checks each call against the running Blender's UILayout: the function, its keywords and
    enum values (icons) must exist there (layout.panel is 4.1+, prop(placeholder=) 4.4+, ...)."""

    def __init__(self, log):
        self.log = log
        self.enabled, self.scale_y = True, 1.0

    @staticmethod
    def check(name, args, kwargs):
        version = bpy.app.version_string
        function = bpy.types.UILayout.bl_rna.functions.get(name)
        assert function is not None, f"UILayout.{name} does not exist in Blender {version}"
        for key, value in kwargs.items():
            parameter = function.parameters.get(key)
            assert parameter is not None, f"UILayout.{name}({key}=) is not in Blender {version}"
            if parameter.type == "ENUM" and isinstance(value, str):
                assert value in parameter.enum_items.keys(), \
                    f"UILayout.{name}({key}={value!r}) is not in Blender {version}"
        if name in ("prop", "template_list") and len(args) >= 2:
            data, prop = args[-2:] if name == "prop" else args[2:4]
            if hasattr(data, "bl_rna"):  # not the test's stand-in for the preferences
                assert prop in data.bl_rna.properties.keys(), f"{data} has no {prop}"

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.check(name, args, kwargs)
            self.log.append((name, args, kwargs))
            if name == "panel":
                return FakeLayout(self.log), FakeLayout(self.log)
            if name == "operator":
                return SimpleNamespace(kind="")
            return FakeLayout(self.log)
        return call


def drawn_paragraphs(log) -> list[tuple[str, str]]:
    """The (text, icon) of each wrapped label in a FakeLayout's log: its lines joined (a
    line break inside a long path is joined without its space)."""
    out = []
    for name, _, kw in log:
        if name != "label":
            continue
        if kw.get("icon") == "BLANK1" and out:
            text, icon = out[-1]
            out[-1] = (text + ("" if text.endswith(("/", "_")) else " ") + kw["text"], icon)
        else:
            out.append((kw.get("text"), kw.get("icon")))
    return out


def draw_texts(draw, self_, context=None) -> list[str]:
    """The texts a draw() function puts in a layout."""
    log = []
    draw(SimpleNamespace(layout=FakeLayout(log), **self_), context or bpy.context)
    return [str(kw.get("text", a[0] if a and name == "label" else "")) for name, a, kw in log]


@pytest.fixture
def no_disk(monkeypatch):
    """Fail the test if anything lists a folder or probes a package."""
    import importlib.machinery
    import os

    def touched(*args, **kwargs):
        raise AssertionError("draw() touched the disk")

    with monkeypatch.context() as m:
        for target, name in ((os, "listdir"), (os, "scandir"), (os.path, "isfile"),
                             (importlib.machinery.PathFinder, "find_spec")):
            m.setattr(target, name, touched)
        yield


def prefs_values(prefs) -> dict:
    return {k: getattr(prefs, k) for k in ("model", "model_file", "model_dir", "device",
                                           "precision", "compute_platform", "python_path")}


def test_the_panel_and_the_preferences_draw_from_cached_values(addon, checkpoint, tmp_path,
                                                                monkeypatch):
    for i in range(3):
        write_photo(tmp_path / f"p{i}.jpg", (64, 48), seed=i)
    s = configure(addon, checkpoint, [], scene_graph="swin", window=1, noncyclic=True)
    s.source, s.folder = "FOLDER", str(tmp_path)  # listed once, when the folder is set
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    monkeypatch.setattr(addon.tool.preferences, "_status", None)
    panel = addon.panels.sidebar.DUST3R_PT_reconstruct.draw
    with monkeypatch.context() as m:
        import os
        m.setattr(os, "listdir", lambda *a: (_ for _ in ()).throw(AssertionError("listed")))
        labels = draw_texts(panel, {})
        prefs_texts = " ".join(draw_texts(type(prefs).draw, prefs_values(prefs)))  # wrapped
    assert "3 photos" in labels and "4 image pairs" in labels  # swin-1-noncyclic: 0-1, 1-2
    assert "Checking the Python packages..." in prefs_texts  # not probed yet
    assert "CC BY-NC-SA 4.0" in prefs_texts
    write_photo(tmp_path / "p3.jpg", (64, 48), seed=3)
    addon.tool.preferences.refresh_dependencies(prefs)  # what start-up and Install do
    s.folder = str(tmp_path)  # setting the folder again lists it again
    labels = draw_texts(panel, {})
    assert "4 photos" in labels
    assert any("torch: 2." in t for t in draw_texts(type(prefs).draw, prefs_values(prefs)))


def test_drawing_does_no_file_system_work(addon, checkpoint, photos, no_disk):
    s = configure(addon, checkpoint, photos)
    for source in ("FILES", "FOLDER", "BLENDER"):
        s["source"] = ("FILES", "FOLDER", "BLENDER").index(source)  # no update callback
        draw_texts(addon.panels.sidebar.DUST3R_PT_reconstruct.draw, {})
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    draw_texts(type(prefs).draw, prefs_values(prefs))


def test_the_panel_says_when_two_photos_skip_the_iterations(addon, checkpoint, photos):
    configure(addon, checkpoint, photos[:2])
    labels = draw_texts(addon.panels.sidebar.DUST3R_PT_reconstruct.draw, {})
    assert any(t.startswith("Two photos are solved directly") for t in labels)
    configure(addon, checkpoint, photos, scene_graph="swin", window=5)
    labels = draw_texts(addon.panels.sidebar.DUST3R_PT_reconstruct.draw, {})
    assert "6 image pairs" in labels  # swin-5 on 3 photos: swin-2, no photo paired with itself
    assert "swin-5 with 3 photos pairs photos with themselves" in " ".join(labels)  # wrapped


def test_no_photos_count_no_pairs(addon, checkpoint):
    configure(addon, checkpoint, [])
    labels = draw_texts(addon.panels.sidebar.DUST3R_PT_reconstruct.draw, {})
    assert "0 photos" in labels and not any("image pairs" in t for t in labels)


def test_text_lines_break_at_spaces_and_long_paths_after_a_slash(addon):
    text_lines = addon.panels.widgets.text_lines
    assert text_lines("one two three four", 9, len) == ["one two", "three", "four"]
    assert text_lines("short", 9, len) == ["short"]
    assert text_lines("see /a/long/folder/name.jpg now", 12, len) == [
        "see", "/a/long/", "folder/", "name.jpg now"]
    assert text_lines("abcdefghij", 4, len) == ["abcd", "efgh", "ij"]  # no place to break


def test_every_message_in_the_panel_fits_the_sidebar(addon, checkpoint, photos):
    """Results, notes and errors wrap at the sidebar's width: none is cut in its middle."""
    widgets = addon.panels.widgets
    configure(addon, checkpoint, photos)
    task = status()
    note = ("3 photos ran without a mask: photo0.jpg, photo1.jpg, photo2.jpg (no file of "
            "their name in /a/very/long/folder/of/masks/that/does/not/fit/in/the/sidebar/)")
    cases = {"message": ("6 photos, 15 pairs, 21.3 s: 1,153,827 points and 6 cameras in "
                         "DUSt3R photos", "CHECKMARK"),
             "error": ("The keyframes were solved with a focal of 1.19e-05 pixels for a "
                       "64x48 plate, which no lens gives: give the known lens", "ERROR")}
    for field, (text, icon) in cases.items():
        task.message = task.error = ""
        setattr(task, field, text + ("\n" + note if field == "message" else ""))
        log = []
        widgets.task_row(FakeLayout(log), task, "reconstruct")
        labels = [kw["text"] for name, _, kw in log if name == "label"]
        assert len(labels) > 2 and all(widgets.text_width(t) <= widgets.label_width()
                                       for t in labels)
        expected = [(text, icon)] + ([(note, "INFO")] if field == "message" else [])
        assert drawn_paragraphs(log) == expected
    task.message = task.error = ""


def test_unload_model_frees_the_cache(addon, monkeypatch):
    cache = addon.core.jobs.MODELS
    monkeypatch.setattr(addon.core.pipeline, "load_model", lambda *a: object())
    cache.get(addon.core.settings.JobParams(photos=["x.jpg"], model="512_dpt"))
    assert cache.loaded
    assert bpy.ops.dust3r.unload_model() == {"FINISHED"}
    assert cache.loaded is None


def test_escape_in_the_modal_operator_cancels_the_job(addon):
    jobs = addon.core.jobs
    gate = threading.Event()

    def work(progress, cancel):
        while not cancel():
            gate.wait(0.01)
        raise addon.core.errors.Cancelled()

    job = jobs.start_task("reconstruct", work)
    op = SimpleNamespace(_job=job, _timer=None)
    modal = addon.operators.reconstruct.DUST3R_OT_reconstruct.modal
    assert modal(op, bpy.context, SimpleNamespace(type="MOUSEMOVE", value="NOTHING")) == {
        "PASS_THROUGH"}
    assert modal(op, bpy.context, SimpleNamespace(type="ESC", value="PRESS")) == {
        "RUNNING_MODAL"}
    assert job.cancel_requested and job.join(5)
    jobs.clear()


def test_photos_come_from_files_a_folder_or_the_images_in_the_file(addon, tmp_path):
    paths = [write_photo(tmp_path / name, (32, 24)) for name in ("b.jpg", "a.jpg")]
    s = bpy.context.scene.dust3r
    assert bpy.ops.dust3r.add_photos(directory=str(tmp_path),
                                     files=[{"name": "b.jpg"}, {"name": "a.jpg"}]) == {"FINISHED"}
    assert bpy.ops.dust3r.add_photos(directory=str(tmp_path), files=[{"name": "a.jpg"}]) == {
        "FINISHED"}  # no duplicates
    photo_paths = addon.tool.photos.photo_paths
    assert photo_paths(s) == [str(paths[0]), str(paths[1])]  # the order picked
    s.photo_index = 0
    bpy.ops.dust3r.remove_photo()
    assert photo_paths(s) == [str(paths[1])]
    bpy.ops.dust3r.clear_photos()
    assert photo_paths(s) == []
    s.source, s.folder = "FOLDER", str(tmp_path)
    assert photo_paths(s) == [str(paths[1]), str(paths[0])]  # name order
    s.source = "BLENDER"
    for p in paths:
        bpy.data.images.load(str(p))
    bpy.data.images.new("generated", 4, 4)  # no file: not a photo
    assert photo_paths(s) == [str(paths[1]), str(paths[0])]


def test_install_dependencies_and_download_in_background_mode(addon, monkeypatch, tmp_path):
    deps = addon.core.dependencies
    monkeypatch.setattr(deps, "PACKAGES", (("numpy", "numpy"),))
    assert bpy.ops.dust3r.install_dependencies() == {"FINISHED"}  # nothing to do
    assert not addon.core.jobs.active("install")

    calls = []

    def fake_download(name, folder, progress=None):
        progress(1 << 20, 2 << 20)
        calls.append((name, folder))
        return Path(folder) / "naver--model"

    import importlib
    weights = importlib.import_module(addon.__name__ + ".core.weights")
    monkeypatch.setattr(weights, "download", fake_download)
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    prefs.model, prefs.model_dir = "224_linear", str(tmp_path)
    if not bpy.app.online_access:  # module mode: Blender's "Allow Online Access" is off
        with pytest.raises(RuntimeError, match="Online access is disabled"):
            bpy.ops.dust3r.download_model()
        monkeypatch.setattr(deps, "PACKAGES", (("no_such_module_xyz", "no-such-dist"),))
        with pytest.raises(RuntimeError, match="Online access is disabled"):
            bpy.ops.dust3r.install_dependencies()
        assert calls == [] and not addon.core.jobs.active("install")
    else:
        assert bpy.ops.dust3r.download_model() == {"FINISHED"}
        assert calls == [("224_linear", str(tmp_path))]


def test_the_add_on_registers_and_draws_before_its_dependencies_are_installed(tmp_path):
    """A fresh install has no torch, scipy or PIL: the add-on must still enable, and its
    panel and preferences draw (the preferences then offer Install Dependencies)."""
    import os
    import subprocess
    import sys

    script = f"""
import importlib.abc, os, sys, tempfile
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "scipy", "PIL", "roma", "safetensors"):
            raise ImportError(f"{{name}} is not installed")
sys.meta_path.insert(0, Absent())
import bpy, addon_utils
parent = tempfile.mkdtemp()
os.symlink({str(REPO)!r}, os.path.join(parent, "dust3r_blender"))
sys.path.insert(0, parent)
assert addon_utils.enable("dust3r_blender", default_set=True, handle_error=None)
from types import SimpleNamespace
import dust3r_blender.panels.sidebar as sidebar, dust3r_blender.tool.preferences as tp
class Layout:
    def __getattr__(self, name):
        return lambda *a, **k: (Layout(), Layout()) if name == "panel" else Layout()
sidebar.DUST3R_PT_reconstruct.draw(SimpleNamespace(layout=Layout()), bpy.context)
prefs = tp.preferences()
tp.refresh_dependencies(prefs)
type(prefs).draw(SimpleNamespace(layout=Layout(), model=prefs.model), bpy.context)
assert not {{"torch", "PIL", "scipy"}} & set(sys.modules)
addon_utils.disable("dust3r_blender", default_set=True)
print("DRAWN")
"""
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "DRAWN" in proc.stdout
