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

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "cli.py"


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
    assert "pairs 2/2" in proc.stdout and "2 cameras in 'From CLI' ->" in proc.stdout
    assert "DUSt3R note: Two photos are solved directly" in proc.stdout  # --niter unused
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
    proc = run_cli("a.jpg", "-o", "x.blend", "--masks", "m", "--alpha-masks", tmp_path=tmp_path)
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr


@pytest.mark.slow
def test_cli_keeps_the_poses_of_the_cameras_in_a_base_file(addon, tmp_path):
    from blender_helpers import synthetic_scene

    photos = [write_photo(tmp_path / f"base{i}.jpg", (96, 72), seed=i) for i in range(2)]
    views = addon.core.images.load_images([str(p) for p in photos], size=64)
    c2w = np.stack([np.eye(4), np.eye(4)])
    c2w[1, :3, 3] = (0.4, -0.1, 0.2)
    scene = synthetic_scene(addon.core, [v["photo"] for v in views], c2w, [60.0, 60.0],
                            [(31.5, 23.5), (31.5, 23.5)])
    addon.importer.import_scene(scene, addon.core.settings.ImportOptions(
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
    args = cli.parser(addon).parse_args(["a.jpg", "-o", "x.blend"])
    model = cli.model_choice(args, addon)
    assert model.folder == str(tmp_path)
    assert model.allow_download is bpy.app.online_access is False  # module mode: offline
    args = cli.parser(addon).parse_args(["a.jpg", "-o", "x.blend", "--model-dir", "/elsewhere",
                                         "--online"])
    model = cli.model_choice(args, addon)
    assert model.folder == "/elsewhere" and model.allow_download


# ------------------------------------------------------------------ bad input, in process
# Each case: a preparation of the files that returns the extra options (or a pair: extra
# photos, extra options), and the message. Every one must exit 1 with "DUSt3R error: ..." naming the
# problem, print no traceback, and write nothing.

def chattr(path: Path, flag: str) -> bool:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


def known_file(tmp_path: Path, data) -> str:
    path = tmp_path / "known.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def mask_dir(t: Path, masks: dict) -> list:
    """`--masks DIR` with DIR holding {file name: (W, H) of a white mask, ((W, H), grey level),
    or the file's bytes}."""
    from PIL import Image

    folder = t / "masks"
    folder.mkdir()
    for name, content in masks.items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            size, level = content if isinstance(content[0], tuple) else (content, 255)
            Image.new("L", size, level).save(folder / name)
    return ["--masks", folder]


BAD_INPUT = {
    "output not a .blend": (lambda t: ["-o", t / "scene.obj"], "must be a .blend"),
    "output is a folder": (lambda t: (t / "x.blend").mkdir() or ["-o", t / "x.blend"],
                           "a folder of that name exists"),
    "output under a file": (lambda t: [(t / "file").write_text("x"),
                                       "-o", t / "file" / "x.blend"][1:],
                            "is a file, not a folder"),
    "base missing": (lambda t: ["--base", t / "nowhere.blend"], "does not exist"),
    "base not a blend": (lambda t: [(t / "b.blend").write_text("hello"),
                                    "--base", t / "b.blend"][1:], "is not a .blend file"),
    "use-cameras without base": (lambda t: ["--use-cameras", "pose"], "--base"),
    "focal text": (lambda t: ["--known-cameras", known_file(t, {"0": {"focal": "abc"}})],
                   "photo 0: focal must be a number"),
    "focal list": (lambda t: ["--known-cameras", known_file(t, {"0": {"focal": []}})],
                   "photo 0: focal must be a number"),
    "focal true": (lambda t: ["--known-cameras", known_file(t, {"0": {"focal": True}})],
                   "photo 0: focal must be a number"),
    "focal absurd": (lambda t: ["--known-cameras", known_file(t, {"1": {"focal": 1e30}})],
                     "not a plausible focal length"),
    "pp text": (lambda t: ["--known-cameras", known_file(t, {"0": {"pp": "ab"}})],
                "principal point must be two numbers"),
    "pose not a matrix": (lambda t: ["--known-cameras", known_file(t, {"0": {"c2w": [1, 2]}})],
                          "pose must be a 4x4"),
    "camera of a missing photo": (lambda t: ["--known-cameras", known_file(t, {"7": {}})],
                                  "photo 7, but there are only 3 photos"),
    "camera key misspelt": (lambda t: ["--known-cameras", known_file(t, {"0": {"fx": 500}})],
                            "must be an object with the keys"),
    "cameras not json": (lambda t: ["--known-cameras", known_file(t, "{oops")],
                         "Cannot read the known cameras"),
    "cameras file missing": (lambda t: ["--known-cameras", t / "none.json"], "does not exist"),
    "cameras file a fifo": (lambda t: os.mkfifo(t / "fifo.json") or
                            ["--known-cameras", t / "fifo.json"], "not a regular file"),
    "same photo twice": (lambda t: ([t / "p0.jpg"], []), "is the same file as"),
    "photo a fifo": (lambda t: (os.mkfifo(t / "pipe.jpg"), [t / "pipe.jpg"], [])[1:],
                     "named pipe"),
    "text file as checkpoint": (lambda t: [(t / "m.pth").write_text("hello"), "--model",
                                           t / "m.pth"][1:], "is not a DUSt3R checkpoint"),
    "model not downloaded, offline": (lambda t: ["--model", "224_linear", "--model-dir",
                                                 t / "models"],
                                      "online access is off"),
    "max points negative": (lambda t: ["--max-points", "-1"], "Max points"),
    "depth stride zero": (lambda t: ["--depth-meshes", "--depth-stride", "0"],
                          "Depth stride must be a whole number of pixels, 1 or more, not 0"),
    "depth stride negative": (lambda t: ["--depth-stride", "-2"],
                              "Depth stride must be a whole number of pixels, 1 or more, not -2"),
    "scale nan": (lambda t: ["--scale", "nan"], "Scale must be"),
    "scale negative": (lambda t: ["--scale", "-1"], "Scale must be"),
    "radius negative": (lambda t: ["--point-radius", "-1"], "Point radius"),
    "radius nan": (lambda t: ["--point-radius", "nan"], "Point radius"),
    "early stop negative": (lambda t: ["--early-stop", "-1"], "early stop"),
    "iterations negative": (lambda t: ["--niter", "-1"], "iterations must be 0 or more"),
    "learning rate zero": (lambda t: ["--lr", "0"], "learning rate must be positive"),
    "confidence nan": (lambda t: ["--min-conf-thr", "nan"], "confidence threshold"),
    "batch size zero": (lambda t: ["--batch-size", "0"], "batch size"),
    "image size odd": (lambda t: ["--image-size", "17"], "image size"),
    "graph unknown": (lambda t: ["--scene-graph", "star"], "Unknown scene graph"),
    "reference outside": (lambda t: ["--scene-graph", "oneref-9"], "reference image 9"),
    "export into a folder of other files": (
        lambda t: [(t / "mine").mkdir(), (t / "mine" / "a.txt").write_text("x"),
                   "--export-colmap", t / "mine"][2:], "not a DUSt3R export"),
    "export folder is a file": (lambda t: [(t / "c").write_text("x"), "--export-colmap",
                                           t / "c"][1:], "a file of that name exists"),
    "export folder under a file": (lambda t: [(t / "f").write_text("x"), "--export-depth",
                                              t / "f" / "depth"][1:], "is a file, not a folder"),
    "export ply not a .ply": (lambda t: ["--export-ply", t / "cloud.xyz"], "must be a .ply"),
    "export transforms not a .json": (lambda t: ["--export-transforms", t / "ns" / "t.txt"],
                                      "must be a .json"),
    "export inside another export": (lambda t: ["--export-colmap", t / "ds", "--export-ply",
                                                t / "ds" / "cloud.ply"],
                                     "lies in the folder of --export-colmap"),
    "output inside an export": (lambda t: ["--export-transforms", t / "ns" / "transforms.json",
                                           "-o", t / "ns" / "scene.blend"],
                                "--output"),
    "export max points negative": (lambda t: ["--export-max-points", "-1"],
                                   "--export-max-points must be 0"),
    "mask folder missing": (lambda t: ["--masks", t / "nomasks"], "nomasks does not exist"),
    "mask folder empty": (lambda t: mask_dir(t, {}), "holds no image files"),
    "masks fit no photo": (lambda t: mask_dir(t, {"other.png": (96, 72)}),
                           "fits any photo: a mask is named after its photo's file stem"),
    "mask folder is the photos'": (lambda t: ["--masks", t], "is the folder of the photo"),
    "mask leaves no pixel": (lambda t: mask_dir(t, {"p0.png": (96, 72),
                                                  "p1.png": ((96, 72), 0)}),
                             "p1.png leaves no pixel of p1.jpg"),
    "mask of another aspect": (lambda t: mask_dir(t, {"p2.png": (72, 72)}),
                               "p2.png is 72x72 but its photo"),
    "mask unreadable": (lambda t: mask_dir(t, {"p1.png": b"not a png"}), "Cannot read"),
    "two masks for one photo": (lambda t: mask_dir(t, {"p1.png": (96, 72), "p1.tif": b""}),
                                "named p1: p1.png and p1.tif"),
    "alpha masks on JPEGs": (lambda t: ["--alpha-masks"],
                             "none of the 3 photos has an alpha channel"),
    "invert without masks": (lambda t: ["--invert-masks"], "--invert-masks needs masks"),
    "three plates": (lambda t: ["--sequence"], "--sequence takes one PLATE"),
    "plate option without --sequence": (lambda t: ["--frame-step", "2", "--zoom"],
                                        "--frame-step, --zoom apply only to a plate"),
}


def plate_dir(t: Path, numbers=(1001, 1002, 1003, 1004), odd=None) -> Path:
    """plate/plate.NNNN.png, 96x72 (frame `odd`: 64x48)."""
    folder = t / "plate"
    folder.mkdir()
    for n in numbers:
        write_photo(folder / f"plate.{n}.png", (64, 48) if n == odd else (96, 72), seed=n)
    return folder


BAD_PLATE = {  # the arguments after PLATE --sequence, from the test's folder
    "plate missing": (lambda t: [t / "nowhere"], "nowhere does not exist"),
    "range outside": (lambda t: [plate_dir(t), "--frame-end", "1010"],
                      "The frame range 1001-1010 is not inside the plate"),
    "frame missing": (lambda t: [plate_dir(t, (1001, 1002, 1004))], "misses frames 1003"),
    "one frame": (lambda t: [plate_dir(t), "--frame-start", "1004"], "at least two"),
    "frames of two sizes": (lambda t: [plate_dir(t, odd=1003)], "Frame 1003"),
    "frame unreadable": (lambda t: [plate_dir(t), (t / "plate" / "plate.1002.png").write_text(
        "x")][:1], "plate.1002.png"),
    "movie unreadable": (lambda t: [(t / "shot.mp4").write_text("x"), t / "shot.mp4"][1:],
                         "shot.mp4"),
    "pyav missing": (lambda t: [(t / "shot.mp4").write_text("x"), t / "shot.mp4",
                                "PYAV"][1:], "pip install av"),
    "range backwards": (lambda t: [plate_dir(t), "--frame-start", "1003", "--frame-end",
                                   "1002"], "ends before it starts"),
    "step zero": (lambda t: [plate_dir(t), "--frame-step", "0"], "frame step"),
    "keyframe step negative": (lambda t: [plate_dir(t), "--keyframe-step", "-1"],
                               "keyframe step"),
    "zoom and a lens": (lambda t: [plate_dir(t), "--zoom", "--lens-mm", "35"],
                        "exclude each other"),
    "sensor zero": (lambda t: [plate_dir(t), "--lens-mm", "35", "--sensor-mm", "0"],
                    "sensor width"),
    "depth meshes": (lambda t: [plate_dir(t), "--depth-meshes"],
                     "--depth-meshes apply to photos, not to a plate"),
    "plate to COLMAP": (lambda t: [plate_dir(t), "--export-colmap", t / "colmap"],
                        "--export-colmap apply to photos, not to a plate"),
    "known cameras": (lambda t: [plate_dir(t), "--known-cameras", known_file(t, {})],
                      "--known-cameras apply to photos"),
    "use cameras": (lambda t: [plate_dir(t), "--use-cameras", "pose"],
                    "--use-cameras apply to photos"),
    "shared focal": (lambda t: [plate_dir(t), "--shared-focal"], "unless --zoom"),
}


@pytest.fixture(scope="module")
def cli_module(addon):
    import importlib

    return importlib.import_module(addon.__name__ + ".cli")


@pytest.fixture(scope="module")
def tiny_pth(tmp_path_factory) -> Path:
    return write_pth(tmp_path_factory.mktemp("ckpt") / "tiny.pth", "tiny_linear")


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_refused_with_a_clear_message(cli_module, tiny_pth, tmp_path, capsys,
                                                   case):
    prepare, message = BAD_INPUT[case]
    photos = [write_photo(tmp_path / f"p{i}.jpg", (96, 72), seed=i) for i in range(3)]
    extra = prepare(tmp_path)
    more_photos, extra = extra if isinstance(extra, tuple) else ([], extra)
    args = [*map(str, photos + more_photos), "-o", str(tmp_path / "out.blend"), "--model",
            str(tiny_pth), "--device", "cpu", "--niter", "2", *map(str, extra)]  # extra wins
    before = sorted(p.name for p in tmp_path.iterdir())
    assert cli_module.main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("DUSt3R error: ") and message in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.parametrize("case", sorted(BAD_PLATE))
def test_a_bad_plate_is_refused_before_any_work(cli_module, tiny_pth, tmp_path, capsys,
                                                monkeypatch, case):
    prepare, message = BAD_PLATE[case]
    plate, *extra = prepare(tmp_path)
    if extra[-1:] == ["PYAV"]:
        extra.pop()
        monkeypatch.setitem(sys.modules, "av", None)  # import av fails
    loads = []
    monkeypatch.setattr(cli_module.package().core.pipeline, "load_model",
                        lambda *a: loads.append(a))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    args = [str(plate), "--sequence", "-o", str(tmp_path / "out.blend"), "--model",
            str(tiny_pth), "--device", "cpu", *map(str, extra)]
    assert cli_module.main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("DUSt3R error: ") and message in err, err
    assert "Traceback" not in err and not loads
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


@pytest.mark.parametrize("where", ["folder", "file"])
def test_an_output_that_cannot_be_written_fails_before_any_work(cli_module, tmp_path, capsys,
                                                                monkeypatch, where):
    folder = tmp_path / "locked"
    folder.mkdir()
    target = folder / "scene.blend"
    if where == "file":
        target.write_bytes(b"BLENDER-old")
    if not chattr(target if where == "file" else folder, "+i"):
        pytest.skip("chattr +i is not available here")
    loaded = []
    monkeypatch.setattr(cli_module, "model_choice", lambda *a: loaded.append(1))
    try:
        photo = write_photo(tmp_path / "p.jpg", (96, 72))
        assert cli_module.main([str(photo), "-o", str(target)]) == 1
    finally:
        chattr(target if where == "file" else folder, "-i")
    err = capsys.readouterr().err
    assert "DUSt3R error: Cannot" in err and str(target) in err and not loaded
    assert sorted(folder.iterdir()) == ([target] if where == "file" else [])
    if where == "file":
        assert target.read_bytes() == b"BLENDER-old"


def test_ctrl_c_at_start_up_exits_130_without_a_traceback(cli_module, monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "package", interrupted)
    assert cli_module.main(["a.jpg", "-o", "x.blend"]) == 130
    assert capsys.readouterr().err == "DUSt3R: interrupted\n"


def test_ctrl_c_while_blender_starts_lets_it_start_then_exits_130(tmp_path):
    """`python cli.py`: an interrupt inside Blender's start-up scripts segfaulted the
    process, or they swallowed it and the run went on. A stand-in bpy whose start-up gets
    the Ctrl-C half way: it finishes starting, then the command exits 130."""
    fake = tmp_path / "fake" / "bpy"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "import os, signal, time\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(0.2)  # the rest of the start-up\n"
        "STARTED = True\n")
    script = (f"import sys; sys.path[:0] = [{str(fake.parent)!r}, {str(REPO)!r}]\n"
              "import cli\n"
              "rc = cli.main(['a.jpg', '-o', 'x.blend'])\n"
              "print('rc', rc, 'started', sys.modules['bpy'].STARTED)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.stdout.strip() == "rc 130 started True", proc.stdout + proc.stderr
    assert proc.stderr == "DUSt3R: interrupted\n"


@pytest.mark.slow
def test_without_a_base_the_output_holds_only_the_reconstruction(tmp_path):
    photos = [write_photo(tmp_path / f"e{i}.jpg", (96, 72), seed=i) for i in range(3)]
    ckpt = write_pth(tmp_path / "tiny.pth", "tiny_linear")
    out = tmp_path / "empty_start.blend"
    proc = run_cli(*photos, "-o", out, "--model", ckpt, "--device", "cpu", "--niter", "2",
                   "--scene-graph", "swin-5", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "DUSt3R note: The pair graph swin-5 with 3 photos" in proc.stdout
    assert "6 pairs" in proc.stdout  # swin-2: no photo paired with itself
    bpy.ops.wm.open_mainfile(filepath=str(out))
    names = {o.name for o in bpy.data.objects}
    assert not names & {"Cube", "Light", "Camera"}  # not the startup scene's
    assert len(names) == 5  # the points, three cameras and their parent, the origin


# ------------------------------------------------------------------ exports
@pytest.mark.slow
def test_cli_exports_without_a_blend(tmp_path):
    import pycolmap
    photos = [write_photo(tmp_path / f"x{i}.jpg", (96, 72), seed=i) for i in range(2)]
    ckpt = write_pth(tmp_path / "tiny.pth", "tiny_linear")
    out = tmp_path / "out"
    proc = run_cli(*photos, "--model", ckpt, "--device", "cpu", "--export-colmap",
                   out / "colmap", "--colmap-format", "text", "--export-transforms",
                   out / "ns" / "transforms.json", "--export-ply", out / "cloud.ply",
                   "--export-depth", out / "depth", "--export-max-points", "300",
                   tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["cloud.ply", "colmap", "depth", "ns"]
    assert not list(tmp_path.glob("*.blend"))
    for line in ("COLMAP model (text), 2 photos, 300 points ->", "nerfstudio dataset, 2 photos",
                 "point cloud, ", "depth maps of 2 photos ->"):
        assert f"DUSt3R: {line}" in proc.stdout, proc.stdout
    rec = pycolmap.Reconstruction(str(out / "colmap" / "sparse" / "0"))
    assert rec.num_images() == 2 and rec.num_points3D() == 300
    frames = json.loads((out / "ns" / "transforms.json").read_text())["frames"]
    assert [f["file_path"] for f in frames] == ["images/x0.jpg", "images/x1.jpg"]


@pytest.mark.slow
def test_cli_exports_the_cameras_it_imports(addon, tmp_path):
    """The COLMAP model of a run is the .blend's cameras, in Blender's world."""
    import pycolmap
    from_blender = addon.core.cameras.from_blender
    blender_camera = addon.tool.cameras.blender_camera

    photos = [write_photo(tmp_path / f"y{i}.jpg", (96, 72), seed=i) for i in range(3)]
    photos.append(write_photo(tmp_path / "y3.jpg", (96, 72), orientation=6, seed=3))
    ckpt = write_pth(tmp_path / "tiny.pth", "tiny_linear")
    out = tmp_path / "scene.blend"
    proc = run_cli(*photos, "-o", out, "--model", ckpt, "--device", "cpu", "--niter", "5",
                   "--export-colmap", tmp_path / "colmap", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    bpy.ops.wm.open_mainfile(filepath=str(out))
    rec = pycolmap.Reconstruction(str(tmp_path / "colmap" / "sparse" / "0"))
    images = {rec.images[i].name: rec.images[i] for i in rec.images}
    cams = [o for o in bpy.data.objects if o.type == "CAMERA"]
    assert len(cams) == len(images) == 4
    for obj in cams:
        cam = from_blender(blender_camera(obj, bpy.context.scene), np.eye(4))
        image = images[os.path.basename(obj["dust3r_source"])]
        camera = rec.cameras[image.camera_id]
        assert (camera.width, camera.height) == (cam.width, cam.height)
        np.testing.assert_allclose(camera.params, [cam.fx, cam.fy, cam.cx + 0.5, cam.cy + 0.5],
                                   rtol=1e-6)
        # The .blend holds float32 matrices: the rotation to float32's precision, the
        # translation relative to its size (the random weights put cameras far out).
        got, want = image.cam_from_world().matrix(), np.linalg.inv(cam.c2w)[:3]
        np.testing.assert_allclose(got[:, :3], want[:, :3], atol=1e-5)
        np.testing.assert_allclose(got[:, 3], want[:, 3],
                                   atol=1e-5 * max(1.0, np.abs(want[:, 3]).max()))


def test_a_failing_export_reports_and_leaves_nothing(cli_module, addon, tiny_pth, tmp_path,
                                                     capsys, monkeypatch):
    photos = [write_photo(tmp_path / f"z{i}.jpg", (96, 72), seed=i) for i in range(2)]
    files = addon.core.export.photos

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.shutil, "copyfile", full_disk)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert cli_module.main([*map(str, photos), "--model", str(tiny_pth), "--device", "cpu",
                            "--export-colmap", str(tmp_path / "colmap"), "--export-ply",
                            str(tmp_path / "cloud.ply")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("DUSt3R error: Cannot write") and "No space left" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.slow
def test_cli_imports_a_textured_depth_mesh_per_photo(tmp_path):
    photos = [write_photo(tmp_path / f"dm{i}.jpg", (96, 72), seed=i) for i in range(2)]
    ckpt = write_pth(tmp_path / "tiny.pth", "tiny_linear")
    out = tmp_path / "meshes.blend"
    proc = run_cli(*photos, "-o", out, "--model", ckpt, "--device", "cpu", "--niter", "2",
                   "--collection", "Meshes", "--depth-meshes", "--depth-stride", "4",
                   tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "2 cameras, 2 depth meshes in 'Meshes' ->" in proc.stdout
    bpy.ops.wm.open_mainfile(filepath=str(out))
    coll = bpy.data.collections["Meshes"]
    meshes = sorted((o for o in coll.objects if o.type == "MESH" and o.name.endswith(" depth")),
                    key=lambda o: o.name)
    assert [o.name for o in meshes] == ["000 dm0 depth", "001 dm1 depth"]
    for obj in meshes:
        # The tiny model's random weights give no usable depth (negative, noise), so its
        # meshes may have no faces; test_depth_meshes.py checks the geometry and a render.
        assert obj["dust3r_depth_stride"] == 4
        assert "UVMap" in obj.data.uv_layers and "confidence" in obj.data.attributes
        texture = next(n for n in obj.data.materials[0].node_tree.nodes if n.type == "TEX_IMAGE")
        camera = coll.objects[obj.name[:-len(" depth")]]
        assert texture.image == camera.data.background_images[0].image  # one image a photo
    assert len(bpy.data.images) == 2


@pytest.mark.slow
def test_cli_masks_leave_pixels_out_and_name_the_unmasked_photos(tmp_path):
    from PIL import Image

    photos = [write_photo(tmp_path / f"m{i}.jpg", (96, 72), seed=i) for i in range(3)]
    (tmp_path / "masks").mkdir()
    keep = np.zeros((72, 96), np.uint8)
    keep[:, :48] = 255  # the left half of m1; inverted: the right half
    Image.fromarray(keep).save(tmp_path / "masks" / "m1.png")
    ckpt = write_pth(tmp_path / "tiny.pth", "tiny_linear")
    out = tmp_path / "masked.blend"
    proc = run_cli(*photos, "-o", out, "--model", ckpt, "--device", "cpu", "--niter", "2",
                   "--masks", tmp_path / "masks", "--invert-masks", "--min-conf-thr", "0",
                   "--no-clean", "--export-transforms", tmp_path / "ns" / "transforms.json",
                   tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"DUSt3R note: 2 of 3 photos have no mask in {tmp_path / 'masks'} and run " \
           "unmasked: m0.jpg, m2.jpg" in proc.stdout
    bpy.ops.wm.open_mainfile(filepath=str(out))
    points = next(o for o in bpy.data.objects if o.type == "MESH")
    index = np.empty(len(points.data.vertices), np.int32)
    points.data.attributes["image_index"].data.foreach_get("value", index)
    # Every pixel passes (no threshold, no clean-up): m1 gives exactly its kept right half.
    assert np.bincount(index).tolist() == [64 * 48, 32 * 48, 64 * 48]
    # The export carries the run's masks: every frame has one, m1's as the run used it.
    frames = json.loads((tmp_path / "ns" / "transforms.json").read_text())["frames"]
    assert [f["mask_path"] for f in frames] == [f"masks/m{i}.jpg.png" for i in range(3)]
    with Image.open(tmp_path / "ns" / frames[1]["mask_path"]) as img:
        np.testing.assert_array_equal(np.asarray(img), 255 - keep)


@pytest.mark.slow
def test_cli_solves_a_plate_into_one_animated_camera_and_its_cloud(tmp_path):
    plate = plate_dir(tmp_path)
    ckpt = write_pth(tmp_path / "tiny.pth", "tiny_linear")
    out, cloud = tmp_path / "shot.blend", tmp_path / "cloud.ply"
    proc = run_cli(plate, "--sequence", "-o", out, "--export-ply", cloud, "--model", ckpt,
                   "--device", "cpu", "--niter", "2", "--keyframe-step", "2",
                   "--collection", "Shot", tmp_path=tmp_path)
    # The tiny model's random weights see no geometry: the solved focal is refused, clearly.
    assert proc.returncode == 1 and "DUSt3R error: The keyframes were solved with a focal of" \
        in proc.stderr, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not out.exists() and not cloud.exists()
    proc = run_cli(plate, "--sequence", "-o", out, "--export-ply", cloud, "--model", ckpt,
                   "--device", "cpu", "--niter", "2", "--keyframe-step", "2", "--lens-mm",
                   "35", "--collection", "Shot", tmp_path=tmp_path)  # a known lens: solved
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "4 frames (3 keyframes)" in proc.stdout, proc.stdout
    bpy.ops.wm.open_mainfile(filepath=str(out))
    scene = bpy.context.scene
    (camera,) = [o for o in bpy.data.collections["Shot"].objects if o.type == "CAMERA"]
    assert (scene.frame_start, scene.frame_end) == (1001, 1004) and scene.camera == camera
    assert (scene.render.resolution_x, scene.render.resolution_y) == (96, 72)
    matrices = []
    for frame in range(1001, 1005):
        scene.frame_set(frame)
        matrices.append(np.array(camera.matrix_world))
    assert not np.allclose(matrices[0], matrices[-1])  # animated: the solved path moves
    assert camera.data.lens == pytest.approx(35.0)  # the known lens on its 36 mm sensor
    points = next(o for o in bpy.data.collections["Shot"].objects if o.type == "MESH")
    with open(cloud, "rb") as f:
        header = f.read(200).decode("ascii", "replace")
    assert f"element vertex {len(points.data.vertices)}" in header  # the shot's cloud


TRITON_SCRIPT = r"""
import importlib, sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
import bpy
from cli import main
from demo.render import render_scene
render_scene(sys.argv[2] + "/room", n_views=2, width=64, height=48, samples=1)  # EGL: Mesa
sys.exit(main([sys.argv[2] + "/room", "-o", sys.argv[2] + "/room.blend", "--model",
               sys.argv[3], "--device", "cpu", "--niter", "3"])
         or print("triton imported:", "triton" in sys.modules))
"""


@pytest.mark.slow
def test_a_run_after_a_render_never_loads_triton(tmp_path):
    """torch's CUDA wheels for Linux bring triton, whose own LLVM segfaulted the process
    when it loaded after Mesa's libLLVM (which a render through EGL loads, as every Mesa
    desktop does): a reconstruction never imports it."""
    script = tmp_path / "after_render.py"
    script.write_text(TRITON_SCRIPT)
    ckpt = write_pth(tmp_path / "tiny.pth", "tiny_linear")
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    proc = subprocess.run([sys.executable, str(script), str(REPO), str(tmp_path), str(ckpt)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "triton imported: False" in proc.stdout
