"""File > Export of a reconstruction as the user left it: moved and re-lensed cameras, a
deleted camera, deleted points, a moved cloud, a raised Min Confidence. Read back with
pycolmap, plyfile and Blender's own PLY importer, and checked against Blender's own
projection (`world_to_camera_view`), not against our camera maths."""
from __future__ import annotations

import json

import bmesh
import numpy as np
import pytest
from blender_helpers import scene_state
from export_helpers import photo_scene

import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Euler, Matrix, Vector


@pytest.fixture
def pycolmap():
    import pycolmap  # a test dependency: never skipped

    return pycolmap


@pytest.fixture
def plyfile():
    import plyfile  # a test dependency: never skipped

    return plyfile


def import_shot(addon, tmp_path, name="Shot"):
    scene = photo_scene(tmp_path, core=addon.core)
    return addon.importer.import_scene(scene, addon.core.settings.ImportOptions(
        collection_name=name, background_images=False))


def edit_like_a_user(addon, imported) -> None:
    """Move and turn one camera, change another's lens and shift, delete the third, move the
    cloud, delete a corner of it and raise its Min Confidence."""
    cams = imported.cameras
    cams[1].matrix_world = Matrix.Translation((0.3, -0.2, 0.5)) \
        @ Euler((0.1, -0.05, 0.2)).to_matrix().to_4x4() @ cams[1].matrix_world
    cams[0].data.lens *= 1.2
    cams[0].data.shift_x += 0.03
    bpy.data.objects.remove(cams[2])
    points = imported.points
    points.location = (0.2, 0.1, -0.3)
    mesh = points.data
    bm = bmesh.new()
    bm.from_mesh(mesh)
    bmesh.ops.delete(bm, geom=[v for v in bm.verts if v.co.x < -0.5], context="VERTS")
    bm.to_mesh(mesh)
    bm.free()
    mesh.update()
    addon.core.schema.set_points_input(points, "Min Confidence", 3.0)
    bpy.context.view_layer.update()  # matrix_world of what was moved


def visible_points(obj) -> tuple[np.ndarray, np.ndarray]:
    """World positions and confidences of the vertices the cloud shows (confidence >= 3)."""
    mesh, n = obj.data, len(obj.data.vertices)
    co, conf = np.empty(n * 3, np.float32), np.empty(n, np.float32)
    mesh.attributes["position"].data.foreach_get("vector", co)
    mesh.attributes["confidence"].data.foreach_get("value", conf)
    m = np.array(obj.matrix_world)
    xyz = co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]
    keep = conf >= 3.0
    return xyz[keep], conf[keep]


def blender_pixels(addon, cam_obj, xyz: np.ndarray) -> np.ndarray:
    """Blender's own projection at the camera's photo resolution (and pixel aspect), in
    COLMAP pixels (the image's top-left corner at 0)."""
    scene = bpy.context.scene
    addon.importer.cameras.activate_camera(scene, cam_obj)
    w, h = scene.render.resolution_x, scene.render.resolution_y
    ndc = np.array([world_to_camera_view(scene, cam_obj, Vector(p)) for p in xyz])
    return np.stack([ndc[:, 0] * w, (1 - ndc[:, 1]) * h], 1)


@pytest.mark.parametrize("model_format", ["BINARY", "TEXT"])
def test_colmap_export_is_the_scene_as_the_user_left_it(addon, tmp_path, pycolmap, model_format):
    imported = import_shot(addon, tmp_path)
    edit_like_a_user(addon, imported)
    out = tmp_path / "export" / "shot_colmap"
    assert bpy.ops.dust3r.export_colmap(filepath=str(out), model_format=model_format,
                                        max_points=0) == {"FINISHED"}
    rec = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    cams = {o["dust3r_image_index"]: o for o in bpy.data.collections["Shot"].objects
            if o.type == "CAMERA"}
    assert sorted(cams) == [0, 1, 3]  # the deleted camera is not exported
    assert [rec.images[i].name for i in sorted(rec.images)] == [
        "wall_left.jpg", "door.png", "grey.png"]
    xyz, _ = visible_points(imported.points)
    assert rec.num_points3D() == len(xyz)
    got = np.array([rec.points3D[i].xyz for i in sorted(rec.points3D)])
    np.testing.assert_allclose(got, xyz, atol=1e-5)  # moved, deleted and filtered as shown
    for image_id, index in zip(sorted(rec.images), sorted(cams)):
        image, cam_obj = rec.images[image_id], cams[index]
        camera = rec.cameras[image.camera_id]
        assert (camera.width, camera.height) == (cam_obj["dust3r_width"],
                                                 cam_obj["dust3r_height"])
        sample = got[:: max(1, len(got) // 300)]
        ours = np.array([image.project_point(p) for p in sample])
        np.testing.assert_allclose(ours, blender_pixels(addon, cam_obj, sample), atol=0.01)
        assert np.linalg.norm(image.projection_center() - np.array(
            cam_obj.matrix_world.translation)) < 1e-5


def test_nerfstudio_poses_are_the_blender_cameras(addon, tmp_path):
    imported = import_shot(addon, tmp_path)
    edit_like_a_user(addon, imported)
    out = tmp_path / "ns"
    assert bpy.ops.dust3r.export_nerfstudio(filepath=str(out)) == {"FINISHED"}
    meta = json.loads((out / "transforms.json").read_text())
    cams = sorted((o for o in bpy.data.collections["Shot"].objects if o.type == "CAMERA"),
                  key=lambda o: o["dust3r_image_index"])
    assert len(meta["frames"]) == len(cams) == 3
    xyz, _ = visible_points(imported.points)
    for frame, cam_obj in zip(meta["frames"], cams):
        np.testing.assert_allclose(frame["transform_matrix"], np.array(cam_obj.matrix_world),
                                   atol=1e-6)  # OpenGL axes: a Blender camera's matrix
        t = np.array(frame["transform_matrix"])
        cam = (xyz[::50] - t[:3, 3]) @ t[:3, :3]
        uv = np.stack([frame["cx"] + frame["fl_x"] * cam[:, 0] / -cam[:, 2],
                       frame["cy"] - frame["fl_y"] * cam[:, 1] / -cam[:, 2]], 1)
        np.testing.assert_allclose(uv, blender_pixels(addon, cam_obj, xyz[::50]), atol=0.01)


def test_ply_round_trips_through_blenders_importer_and_plyfile(addon, tmp_path, plyfile):
    imported = import_shot(addon, tmp_path)
    edit_like_a_user(addon, imported)
    xyz, conf = visible_points(imported.points)
    path = tmp_path / "cloud.ply"
    assert bpy.ops.dust3r.export_ply(filepath=str(path)) == {"FINISHED"}

    vertex = plyfile.PlyData.read(str(path))["vertex"]
    np.testing.assert_allclose(np.stack([vertex["x"], vertex["y"], vertex["z"]], 1), xyz,
                               atol=1e-5)
    np.testing.assert_array_equal(vertex["confidence"], conf)
    mesh = imported.points.data
    srgb = np.empty(len(mesh.vertices) * 4, np.float32)
    mesh.attributes["Color"].data.foreach_get("color_srgb", srgb)
    n_conf = np.empty(len(mesh.vertices), np.float32)
    mesh.attributes["confidence"].data.foreach_get("value", n_conf)
    srgb8 = np.rint(srgb.reshape(-1, 4)[n_conf >= 3.0, :3] * 255)
    colours = np.stack([vertex["red"], vertex["green"], vertex["blue"]], 1)
    np.testing.assert_array_equal(colours, srgb8)

    before = set(bpy.data.objects)
    bpy.ops.wm.ply_import(filepath=str(path))
    (obj,) = set(bpy.data.objects) - before
    assert len(obj.data.vertices) == len(xyz)
    co = np.empty(len(xyz) * 3, np.float32)
    obj.data.attributes["position"].data.foreach_get("vector", co)
    np.testing.assert_allclose(co.reshape(-1, 3), xyz, atol=1e-5)
    (colour,) = obj.data.color_attributes  # Blender reads red green blue as sRGB bytes
    got = np.empty(len(xyz) * 4, np.float32)
    colour.data.foreach_get("color_srgb", got)
    np.testing.assert_allclose(got.reshape(-1, 4)[:, :3] * 255, colours, atol=0.51)
    confidence = np.empty(len(xyz), np.float32)  # other vertex properties become attributes
    obj.data.attributes["confidence"].data.foreach_get("value", confidence)
    np.testing.assert_array_equal(confidence, conf)


def test_export_errors_are_reported_and_nothing_is_written(addon, tmp_path):
    assert not bpy.ops.dust3r.export_colmap.poll()  # no reconstruction in the scene
    import_shot(addon, tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(RuntimeError, match="not a DUSt3R export"):
        bpy.ops.dust3r.export_colmap(filepath=str(mine))
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    (tmp_path / "door.png").unlink()
    state = scene_state()
    with pytest.raises(RuntimeError, match="door.png, is missing"):
        bpy.ops.dust3r.export_nerfstudio(filepath=str(tmp_path / "ns"))
    assert not (tmp_path / "ns").exists() and scene_state() == state
    (tmp_path / "second").mkdir()
    import_shot(addon, tmp_path / "second", name="Other")
    bpy.context.view_layer.objects.active = None
    with pytest.raises(RuntimeError, match="holds 2 DUSt3R reconstructions"):
        bpy.ops.dust3r.export_ply(filepath=str(tmp_path / "c.ply"))
    bpy.ops.dust3r.export_ply(filepath=str(tmp_path / "c.ply"), collection="Other")
    assert (tmp_path / "c.ply").is_file()


def test_file_export_lists_the_three_exporters(addon):
    assert addon.operators.export.menu in bpy.types.TOPBAR_MT_file_export._dyn_ui_initialize()


def test_file_export_writes_the_masks_the_run_used(addon, tmp_path):
    """The import keeps the run's mask options on its cameras; File > Export writes each
    photo's mask (inverted as the run inverted it) and names it in transforms.json."""
    from PIL import Image

    scene = photo_scene(tmp_path, core=addon.core)
    (tmp_path / "masks").mkdir()
    keep = np.zeros((80, 60), np.uint8)
    keep[:, :30] = 255
    Image.fromarray(keep).save(tmp_path / "masks" / "door.png")
    masks = addon.core.settings.MaskOptions(folder=str(tmp_path / "masks"), invert=True)
    addon.importer.import_scene(scene, addon.core.settings.ImportOptions(
        collection_name="Masked", background_images=False), masks=masks)
    out = tmp_path / "ns"
    assert bpy.ops.dust3r.export_nerfstudio(filepath=str(out),
                                           collection="Masked") == {"FINISHED"}
    frames = json.loads((out / "transforms.json").read_text())["frames"]
    assert [f["mask_path"] for f in frames] == [
        "masks/wall_left.jpg.png", "masks/door.png.png", "masks/phone.jpg.png",
        "masks/grey.png.png"]
    with Image.open(out / "masks" / "door.png.png") as img:
        np.testing.assert_array_equal(np.asarray(img), 255 - keep)  # inverted, as the run
    with Image.open(out / "masks" / "phone.jpg.png") as img:  # no mask: all kept
        assert np.asarray(img).min() == 255
