"""Exports of a finished run, read back by independent readers: pycolmap for the COLMAP model,
plyfile for the clouds, plain json/numpy/Pillow for nerfstudio and the depth maps. Expected
values come from the Scene itself (its photo cameras, points and depth), in Blender's world."""
from __future__ import annotations

import json
from dataclasses import replace
import os
from pathlib import Path

import numpy as np
import pytest
from export_helpers import PHOTOS, photo_scene
from PIL import Image

from core.cameras import PinholeCamera, world_matrix
from core.destination import EXPORT_MARKER
from core.errors import Cancelled, Dust3rError
from core.settings import MaskOptions
from core.export import ExportCamera, ExportPoints, ExportScene, describe_scene
from core.export import colmap, depth, nerfstudio, photos, ply
from core.settings import ImportOptions

SCALE = 2.0  # export units per reconstruction unit (given, so the tests know the world)
WORLD = world_matrix(SCALE)


@pytest.fixture(scope="module")
def pycolmap():
    """The independent COLMAP reader (a test dependency: requirements-common.txt)."""
    import pycolmap  # a test dependency: never skipped

    return pycolmap


@pytest.fixture(scope="module")
def plyfile():
    import plyfile  # a test dependency: never skipped

    return plyfile


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return photo_scene(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def export(scene):
    return describe_scene(scene, ImportOptions(scale=SCALE))


def expected_camera(scene, n: int) -> PinholeCamera:
    """Photo n's camera from the Scene: photo intrinsics, pose in Blender's scaled world."""
    c2w = WORLD @ np.asarray(scene.c2w[n], np.float64)
    c2w[:3, :3] /= SCALE
    (w, h), f, (cx, cy) = scene.photo_sizes[n], scene.photo_focals[n], scene.photo_pp[n]
    return PinholeCamera(int(w), int(h), f, f, cx, cy, c2w)


def world_cloud(scene):
    cloud = scene.point_cloud()
    return cloud.xyz.astype(np.float64) @ WORLD[:3, :3].T + WORLD[:3, 3], cloud


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def siblings(folder: Path) -> list[str]:
    """Hidden leftovers beside an export (the staging folders and files)."""
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------ COLMAP
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "text"])
def test_colmap_reads_back_in_pycolmap_with_the_photo_cameras(scene, export, tmp_path, binary,
                                                              pycolmap):
    out = colmap.write_colmap(export, tmp_path / "colmap", binary=binary, max_points=2000)
    ext = ".bin" if binary else ".txt"
    assert {f"sparse/0/{name}{ext}" for name in ("cameras", "images", "points3D")} \
        <= set(tree(out))
    rec = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    assert rec.num_images() == len(PHOTOS) and rec.num_cameras() == len(PHOTOS)
    names = [rec.images[i].name for i in sorted(rec.images)]
    assert names == ["wall_left.jpg", "door.png", "phone.jpg", "grey.png"]
    for n, image_id in enumerate(sorted(rec.images)):
        image = rec.images[image_id]
        camera, want = rec.cameras[image.camera_id], expected_camera(scene, n)
        assert camera.model == pycolmap.CameraModelId.PINHOLE
        assert (camera.width, camera.height) == (want.width, want.height)
        # COLMAP's pixel centres are at +0.5
        np.testing.assert_allclose(camera.params, [want.fx, want.fy, want.cx + 0.5,
                                                   want.cy + 0.5], rtol=1e-9)
        np.testing.assert_allclose(image.cam_from_world().matrix(),
                                   np.linalg.inv(want.c2w)[:3], atol=1e-6)  # float32 scene


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "text"])
def test_colmap_points_project_where_our_cameras_put_them(scene, export, tmp_path, binary,
                                                          pycolmap):
    out = colmap.write_colmap(export, tmp_path / "colmap", binary=binary, max_points=2000)
    rec = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    xyz, cloud = world_cloud(scene)
    assert rec.num_points3D() == 2000
    ids = sorted(rec.points3D)
    got = np.array([rec.points3D[i].xyz for i in ids])
    # a seeded subset of the cloud, in order, with its colours
    index = np.array([np.argmin(np.abs(xyz - p).sum(1)) for p in got])
    assert np.all(np.diff(index) > 0)
    np.testing.assert_allclose(got, xyz[index], atol=1e-5)
    np.testing.assert_array_equal([rec.points3D[i].color for i in ids],
                                  np.rint(cloud.rgb[index] * 255))
    worst = 0.0
    cameras = {image_id: expected_camera(scene, n) for n, image_id in enumerate(sorted(rec.images))}
    for k, point_id in enumerate(ids):
        point = rec.points3D[point_id]
        (element,) = point.track.elements  # every point keeps the photo it was seen in
        assert element.image_id - 1 == cloud.image_index[index[k]]
        image = rec.images[element.image_id]
        ours = cameras[element.image_id].project(point.xyz[None])[0, :2] + 0.5
        worst = max(worst, np.abs(image.project_point(point.xyz) - ours).max(),
                    np.abs(image.points2D[element.point2D_idx].xy - ours).max())
        assert image.points2D[element.point2D_idx].point3D_id == point_id
    assert worst < 0.01
    assert all(rec.images[i].num_points3D > 0 for i in rec.images)  # gsplat's depth loss


def test_colmap_layout_is_the_one_3dgs_and_gsplat_read(scene, export, tmp_path, pycolmap, plyfile):
    """sparse/0 with the three files and points3D.ply (3DGS reads its x y z nx ny nz red green
    blue when present); images/ holding exactly the images the model names (gsplat pairs the
    sorted file lists); the marker at the top."""
    out = colmap.write_colmap(export, tmp_path / "colmap", max_points=500)
    assert tree(out) == [EXPORT_MARKER, "images", "images/door.png", "images/grey.png",
                         "images/phone.jpg", "images/wall_left.jpg", "sparse", "sparse/0",
                         "sparse/0/cameras.bin", "sparse/0/images.bin", "sparse/0/points3D.bin",
                         "sparse/0/points3D.ply"]
    vertex = plyfile.PlyData.read(str(out / "sparse/0/points3D.ply"))["vertex"]
    assert {"x", "y", "z", "nx", "ny", "nz", "red", "green", "blue"} <= set(vertex.data.dtype.names)
    rec = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    np.testing.assert_allclose(np.stack([vertex["x"], vertex["y"], vertex["z"]], 1),
                               [rec.points3D[i].xyz for i in sorted(rec.points3D)], atol=1e-6)
    record = json.loads((out / EXPORT_MARKER).read_text())
    assert record["format"] == "colmap" and record["points"] == 500


def test_colmap_text_has_two_lines_per_image(export, tmp_path):
    """3DGS's own text reader takes the line after each image line as its observations."""
    out = colmap.write_colmap(export, tmp_path / "colmap", binary=False, max_points=50)
    lines = [line for line in (out / "sparse/0/images.txt").read_text().split("\n")
             if not line.startswith("#")][:-1]
    assert len(lines) == 2 * len(PHOTOS)
    assert [line.split()[9] for line in lines[::2]] == ["wall_left.jpg", "door.png",
                                                        "phone.jpg", "grey.png"]


def test_photos_are_copied_or_made_upright(scene, export, tmp_path):
    out = colmap.write_colmap(export, tmp_path / "colmap", max_points=10)
    source = {Path(p.path).name: Path(p.path) for p in scene.photos}
    # upright 8-bit RGB JPEG and PNG: the same bytes
    assert (out / "images/wall_left.jpg").read_bytes() == source["wall left.jpg"].read_bytes()
    assert (out / "images/door.png").read_bytes() == source["door.png"].read_bytes()
    # stored sideways with EXIF orientation 6: upright pixels, no orientation left
    with Image.open(out / "images/phone.jpg") as img, Image.open(source["phone.jpg"]) as src:
        assert img.size == (72, 96) and img.getexif().get(0x0112, 1) == 1
        upright = np.asarray(src.transpose(Image.Transpose.ROTATE_270), np.float64)
        assert np.abs(np.asarray(img, np.float64) - upright).mean() < 3  # JPEG quality 95
    with Image.open(out / "images/grey.png") as img:  # grey: 8-bit RGB for every trainer
        assert img.mode == "RGB" and img.size == (80, 60)


def mask_folder(folder: Path, masks: dict) -> MaskOptions:
    """A mask folder holding {file name: bool keep-mask}."""
    folder.mkdir()
    for name, keep in masks.items():
        Image.fromarray(keep.astype(np.uint8) * 255).save(folder / name)
    return MaskOptions(folder=str(folder))


def test_the_runs_masks_are_written_as_one_channel_pngs(export, tmp_path):
    mask = np.zeros((72, 96), bool)
    mask[10:30, 5:50] = True
    masked = replace(export, masks=mask_folder(tmp_path / "masks", {"wall left.png": mask}))
    out = colmap.write_colmap(masked, tmp_path / "colmap", max_points=10)
    assert sorted(p.name for p in (out / "masks").iterdir()) == [
        "door.png.png", "grey.png.png", "phone.jpg.png", "wall_left.jpg.png"]
    with Image.open(out / "masks/wall_left.jpg.png") as img:
        assert img.mode == "L"
        np.testing.assert_array_equal(np.asarray(img), mask * 255)
    with Image.open(out / "masks/phone.jpg.png") as img:  # no mask: keep everything
        assert img.size == (72, 96) and np.asarray(img).min() == 255
    # inverted: the mask of what to leave out
    out = colmap.write_colmap(replace(masked, masks=replace(masked.masks, invert=True)),
                              tmp_path / "inverted", max_points=10)
    with Image.open(out / "masks/wall_left.jpg.png") as img:
        np.testing.assert_array_equal(np.asarray(img), ~mask * 255)
    assert "masks" not in {p.name for p in colmap.write_colmap(
        export, tmp_path / "plain", max_points=10).iterdir()}  # a run without masks


def test_a_mask_that_no_longer_fits_its_photo_writes_nothing(export, tmp_path):
    masked = replace(export, masks=mask_folder(tmp_path / "masks",
                                               {"door.png": np.ones((10, 10), bool)}))
    with pytest.raises(Dust3rError, match="door"):
        colmap.write_colmap(masked, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_rotation_quaternions_agree_with_pycolmap(pycolmap):
    rng = np.random.default_rng(3)
    rotations = [np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([-1.0, -1, 1])]
    for _ in range(50):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        rotations.append(q * np.sign(np.linalg.det(q)))
    for r in rotations:
        x, y, z, w = pycolmap.Rotation3d(r).quat  # pycolmap: x y z w
        ours = colmap.quaternion(r)
        assert ours[0] >= 0
        np.testing.assert_allclose(ours, np.array([w, x, y, z]) * np.sign(w or 1), atol=1e-12)


# ------------------------------------------------------------------ nerfstudio
def test_transforms_project_like_our_cameras_with_opengl_axes(scene, export, tmp_path, plyfile):
    path = nerfstudio.write_transforms(export, tmp_path / "ns" / "transforms.json",
                                       max_points=3000)
    meta = json.loads(path.read_text())
    assert meta["camera_model"] == "PINHOLE" and "applied_transform" not in meta
    xyz, cloud = world_cloud(scene)
    for n, frame in enumerate(meta["frames"]):
        want = expected_camera(scene, n)
        assert (frame["w"], frame["h"]) == (want.width, want.height)
        assert (path.parent / frame["file_path"]).is_file() and "mask_path" not in frame
        mine = xyz[cloud.image_index == n]
        # nerfstudio's camera: x right, y up, looking down -z; pixel centres at +0.5
        cam = (mine - np.array(frame["transform_matrix"])[:3, 3]) \
            @ np.array(frame["transform_matrix"])[:3, :3]
        u = frame["cx"] + frame["fl_x"] * cam[:, 0] / -cam[:, 2]
        v = frame["cy"] - frame["fl_y"] * cam[:, 1] / -cam[:, 2]
        np.testing.assert_allclose(np.stack([u, v], 1), want.project(mine)[:, :2] + 0.5,
                                   atol=0.01)
    vertex = plyfile.PlyData.read(str(path.parent / meta["ply_file_path"]))["vertex"]
    assert len(vertex) == 3000  # points of the cloud, in the poses' world
    seeds = np.stack([vertex["x"], vertex["y"], vertex["z"]], 1)[::15]
    assert np.abs(seeds[:, None] - xyz[None]).sum(-1).min(1).max() < 1e-5
    assert tree(path.parent) == sorted([EXPORT_MARKER, "images", "sparse_pc.ply",
                                        "transforms.json", *(f"images/{name}" for name in (
                                            "wall_left.jpg", "door.png", "phone.jpg",
                                            "grey.png"))])


def test_transforms_with_masks_name_a_mask_for_every_frame(export, tmp_path):
    mask = np.ones((80, 60), bool)
    mask[:20] = False
    masked = replace(export, masks=mask_folder(tmp_path / "masks", {"door.png": mask}))
    path = nerfstudio.write_transforms(masked, tmp_path / "ns" / "shot.json")
    frames = json.loads(path.read_text())["frames"]
    assert [f["mask_path"] for f in frames] == [
        "masks/wall_left.jpg.png", "masks/door.png.png", "masks/phone.jpg.png",
        "masks/grey.png.png"]
    with Image.open(path.parent / frames[1]["mask_path"]) as img:
        assert img.mode == "L" and img.size == (60, 80)
        np.testing.assert_array_equal(np.asarray(img) > 0, mask)


def test_a_run_exports_with_its_masks(scene, tmp_path):
    options = mask_folder(tmp_path / "masks", {"door.png": np.ones((80, 60), bool)})
    export = describe_scene(scene, ImportOptions(scale=SCALE), options)
    assert export.masks == options
    path = nerfstudio.write_transforms(export, tmp_path / "ns" / "transforms.json")
    assert all("mask_path" in f for f in json.loads(path.read_text())["frames"])


def test_transforms_keep_non_square_pixels(tmp_path):
    """fl_x and fl_y differ when a Blender camera has a pixel aspect (checked by hand)."""
    photo = tmp_path / "p.png"
    Image.new("RGB", (40, 30)).save(photo)
    c2w = np.eye(4)
    cam = PinholeCamera(40, 30, 50.0, 60.0, 19.0, 15.5, c2w)
    points = ExportPoints(np.array([[0.1, -0.2, 2.0]], np.float32), np.zeros((1, 3), np.float32),
                          np.ones(1, np.float32), np.zeros(1, np.int32))
    export = ExportScene((ExportCamera(0, cam, str(photo)),), points)
    frame = json.loads(nerfstudio.write_transforms(export, tmp_path / "ns/t.json")
                       .read_text())["frames"][0]
    assert (frame["fl_x"], frame["fl_y"], frame["cx"], frame["cy"]) == (50.0, 60.0, 19.5, 16.0)
    np.testing.assert_array_equal(frame["transform_matrix"], np.diag([1.0, -1, -1, 1]))


# ------------------------------------------------------------------ PLY
def test_ply_is_binary_little_endian_with_colour_and_confidence(scene, export, tmp_path, plyfile):
    path = ply.write_points(export, tmp_path / "cloud.ply")
    data = plyfile.PlyData.read(str(path))
    assert data.byte_order == "<" and not data.text
    vertex = data["vertex"]
    assert [(p.name, p.val_dtype) for p in vertex.properties] == [
        ("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1"),
        ("confidence", "f4")]
    xyz, cloud = world_cloud(scene)
    assert len(vertex) == len(cloud)
    np.testing.assert_allclose(np.stack([vertex["x"], vertex["y"], vertex["z"]], 1), xyz,
                               atol=1e-5)
    np.testing.assert_array_equal(np.stack([vertex["red"], vertex["green"], vertex["blue"]], 1),
                                  np.rint(cloud.rgb * 255))
    np.testing.assert_array_equal(vertex["confidence"], cloud.confidence)


# ------------------------------------------------------------------ depth maps
def test_depth_maps_unproject_to_the_scene_points(scene, export, tmp_path):
    out = depth.write_depth(export, tmp_path / "depth")
    frames = json.loads((out / "depth.json").read_text())["frames"]
    assert len(frames) == len(PHOTOS)
    for n, frame in enumerate(frames):
        d = np.load(out / frame["depth"])
        assert d.dtype == np.float32 and d.shape == (frame["height"], frame["width"])
        v, u = np.mgrid[0:frame["height"], 0:frame["width"]]
        cam = np.stack([d * (u - frame["cx"]) / frame["fx"], d * (v - frame["cy"]) / frame["fy"],
                        d], -1)
        c2w = np.array(frame["c2w"])
        world = cam @ c2w[:3, :3].T + c2w[:3, 3]
        want = np.asarray(scene.pts3d[n], np.float64) @ WORLD[:3, :3].T + WORLD[:3, 3]
        np.testing.assert_allclose(world, want, atol=1e-4)
        np.testing.assert_array_equal(np.load(out / frame["mask"]), scene.masks[n])
        np.testing.assert_array_equal(np.load(out / frame["confidence"]), scene.confidence[n])
        assert frame["photo_camera"]["fx"] == pytest.approx(scene.photo_focals[n])
        assert frame["photo"]["size"] == list(scene.photo_sizes[n])


def test_depth_needs_a_run(export, tmp_path):
    with pytest.raises(Dust3rError, match="no depth maps"):
        depth.write_depth(ExportScene(export.cameras, export.points), tmp_path / "d")
    assert not (tmp_path / "d").exists()


# ------------------------------------------------------------------ whole or nothing
def fail_on_second_photo(monkeypatch):
    copy = photos.shutil.copyfile
    calls = []

    def failing(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return copy(src, dst)

    monkeypatch.setattr(photos.shutil, "copyfile", failing)


@pytest.mark.parametrize("kind", ["colmap", "nerfstudio"])
def test_a_failed_export_leaves_nothing_behind(export, tmp_path, monkeypatch, kind):
    fail_on_second_photo(monkeypatch)
    target = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(OSError, match="No space"):
        if kind == "colmap":
            colmap.write_colmap(export, target)
        else:
            nerfstudio.write_transforms(export, target / "transforms.json")
    assert sorted(tmp_path.iterdir()) == []  # the folders made for it are gone too


def test_a_failed_or_cancelled_export_keeps_the_earlier_one(export, tmp_path, monkeypatch):
    target = colmap.write_colmap(export, tmp_path / "colmap", max_points=100)
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    with pytest.raises(Cancelled):
        colmap.write_colmap(export, target, max_points=200, cancel=lambda: True)
    fail_on_second_photo(monkeypatch)
    with pytest.raises(OSError):
        colmap.write_colmap(export, target, max_points=200)
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert siblings(target) == []


def test_an_earlier_export_is_replaced_and_other_folders_are_refused(export, tmp_path):
    target = colmap.write_colmap(export, tmp_path / "colmap", max_points=100)
    (target / "sparse/0/extra.txt").write_text("from the old export")
    colmap.write_colmap(export, target, binary=False, max_points=100)
    assert not (target / "sparse/0/extra.txt").exists()
    assert (target / "sparse/0/images.txt").exists()
    assert not (target / "sparse/0/images.bin").exists()
    assert siblings(target) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    colmap.write_colmap(export, empty, max_points=10)  # an empty folder is fine
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(Dust3rError, match="not a DUSt3R export"):
        colmap.write_colmap(export, mine)
    assert tree(mine) == ["notes.txt"]


def test_a_failed_ply_keeps_the_earlier_file(export, tmp_path, monkeypatch):
    path = tmp_path / "cloud.ply"
    path.write_bytes(b"old")

    def broken(*args, **kwargs):
        Path(args[0]).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ply, "write_ply", broken)
    with pytest.raises(OSError):
        ply.write_points(export, path)
    assert path.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["cloud.ply"]


# ------------------------------------------------------------------ photos
def test_photo_names_have_no_white_space_and_never_collide(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths = [tmp_path / "a" / "IMG 1.jpg", tmp_path / "b" / "img 1.JPG", tmp_path / "c.png"]
    for p in paths:
        Image.new("RGB", (20, 10)).save(p, "JPEG" if p.suffix.lower() == ".jpg" else "PNG")
    cams = [ExportCamera(k, PinholeCamera(20, 10, 20.0, 20.0, 9.5, 4.5, np.eye(4)), str(p))
            for k, p in enumerate(paths)]
    assert [f.name for f in photos.plan_photos(cams)] == ["000_IMG_1.jpg", "001_img_1.JPG",
                                                         "c.png"]


def test_photos_that_changed_or_repeat_are_refused(tmp_path):
    path = tmp_path / "p.jpg"
    Image.new("RGB", (20, 10)).save(path)
    cam = PinholeCamera(20, 10, 20.0, 20.0, 9.5, 4.5, np.eye(4))
    with pytest.raises(Dust3rError, match="A and B both show"):
        photos.plan_photos([ExportCamera(0, cam, str(path), label="A"),
                            ExportCamera(0, cam, str(path), label="B")])
    with pytest.raises(Dust3rError, match="is 20x10 upright but its camera is 40x20"):
        photos.plan_photos([ExportCamera(0, PinholeCamera(40, 20, 20.0, 20.0, 19.5, 9.5,
                                                          np.eye(4)), str(path))])
    with pytest.raises(Dust3rError, match="is missing"):
        photos.plan_photos([ExportCamera(0, cam, str(tmp_path / "gone.jpg"))])
    with pytest.raises(Dust3rError, match="has no photo file"):
        photos.plan_photos([ExportCamera(0, cam, None)])
