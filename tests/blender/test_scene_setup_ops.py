"""Scene set-up in Blender: Set Floor, Set Origin and Set Scale move a whole imported
reconstruction (points, cameras, depth meshes) together through its parent; every camera
still sees the points at the same pixels; errors change nothing; undo; the sub-panel."""
from __future__ import annotations

import numpy as np
import pytest
from blender_helpers import synthetic_scene
from test_cameras import random_pose
from test_operators import draw_texts, no_disk  # noqa: F401 (a fixture)

import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Matrix, Vector


def floor_and_wall(addon, depth_meshes=False):
    """Cameras 0 and 1 look the same way at a plane 2 units ahead (the floor: 2/3 of the
    points); camera 2 looks at a wall across it. Tilted and off-centre, so nothing is
    already level."""
    core = addon.core
    photos = [core.images.Photo(f"/gone/{k}.jpg", (32, 24), 1, (32, 24), (0, 0, 32, 24))
              for k in range(3)]
    rng = np.random.default_rng(5)
    tilt = random_pose(rng)
    c2w = np.stack([tilt.copy() for _ in range(3)])
    c2w[1, :3, 3] += tilt[:3, 0] * 1.5  # beside camera 0, same view direction
    c2w[2] = random_pose(rng)
    scene = synthetic_scene(core, photos, c2w, [30.0] * 3, [(15.5, 11.5)] * 3)
    options = core.settings.ImportOptions(collection_name="Shot", background_images=False,
                                          depth_meshes=depth_meshes, depth_stride=4)
    return addon.importer.import_scene(scene, options)


def world_points(obj, index=None) -> np.ndarray:
    mesh = obj.data
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3).astype(np.float64)
    if index is not None:
        image = np.empty(len(mesh.vertices), np.int32)
        mesh.attributes["image_index"].data.foreach_get("value", image)
        co = co[image == index]
    m = np.array(obj.matrix_world)
    return co @ m[:3, :3].T + m[:3, 3]


def views(result) -> np.ndarray:
    """Every camera's view (x, y in the frame, depth) of a sample of the points [C, M, 3]."""
    sample = world_points(result.points)[::7]
    scene = bpy.context.scene
    return np.array([[tuple(world_to_camera_view(scene, cam, Vector(p))) for p in sample]
                     for cam in result.cameras])


def select(obj, mask) -> None:
    """Select the vertices `mask` of `obj` and enter Edit Mode on it."""
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    obj.data.vertices.foreach_set("select", np.asarray(mask, bool))
    bpy.ops.object.mode_set(mode="EDIT")


def image_index(obj) -> np.ndarray:
    index = np.empty(len(obj.data.vertices), np.int32)
    obj.data.attributes["image_index"].data.foreach_get("value", index)
    return index


def cameras_at(result) -> np.ndarray:
    return np.array([np.array(c.matrix_world) for c in result.cameras])


def snapshot(result) -> dict:
    return dict(views=views(result), points=world_points(result.points),
                cameras=cameras_at(result), origin=np.array(result.origin.matrix_world))


def moved_together(result, before: dict, factor: float = 1.0) -> None:
    """Points and cameras moved by the parent's move, a similarity of scale `factor`; every
    camera sees the points where it saw them, at `factor` times the depth."""
    similarity = np.array(result.origin.matrix_world) @ np.linalg.inv(before["origin"])
    rot = similarity[:3, :3] / factor
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-6)  # float32 matrices
    tolerance = 1e-4 * max(1.0, factor)
    np.testing.assert_allclose(world_points(result.points),
                               before["points"] @ similarity[:3, :3].T + similarity[:3, 3],
                               atol=tolerance)
    np.testing.assert_allclose(cameras_at(result), similarity @ before["cameras"],
                               atol=tolerance)
    got = views(result)
    ahead = before["views"][..., 2] > 0.5  # in front: pixels of points near the lens plane blow up
    assert ahead.sum() > 0.4 * ahead.size
    np.testing.assert_allclose(got[ahead, :2], before["views"][ahead, :2], atol=1e-5)
    np.testing.assert_allclose(got[..., 2], before["views"][..., 2] * factor, rtol=1e-5,
                               atol=1e-5)


def test_set_floor_levels_the_dominant_plane_with_the_cameras_above(addon):
    result = floor_and_wall(addon, depth_meshes=True)
    before = snapshot(result)
    bpy.context.view_layer.objects.active = result.cameras[2]
    assert bpy.ops.dust3r.set_floor() == {"FINISHED"}
    floor = np.concatenate([world_points(result.points, 0), world_points(result.points, 1)])
    np.testing.assert_allclose(floor[:, 2], 0.0, atol=1e-4)
    assert (cameras_at(result)[:2, 2, 3] > 1.0).all()  # 2 units (x the import's scale) above
    moved_together(result, before)
    # The depth meshes hang from the same parent: camera 0's mesh lies on the floor.
    np.testing.assert_allclose(world_points(result.depth_meshes[0])[:, 2], 0.0, atol=1e-4)


def test_set_floor_fits_the_points_selected_in_edit_mode(addon):
    result = floor_and_wall(addon)
    before = snapshot(result)
    select(result.points, image_index(result.points) == 2)  # the wall
    assert bpy.ops.dust3r.set_floor() == {"FINISHED"}
    assert bpy.context.mode == "OBJECT"  # left Edit Mode, so that undo takes the move back
    np.testing.assert_allclose(world_points(result.points, 2)[:, 2], 0.0, atol=1e-4)
    assert np.median(cameras_at(result)[:, 2, 3]) > 0
    moved_together(result, before)


def test_set_origin_at_the_cursor_and_at_the_selected_points(addon):
    result = floor_and_wall(addon)
    before = snapshot(result)
    cursor = Vector((0.3, -1.2, 2.5))
    bpy.context.scene.cursor.location = cursor
    bpy.context.view_layer.objects.active = result.points
    assert bpy.ops.dust3r.set_origin(source="cursor") == {"FINISHED"}
    moved_together(result, before)
    np.testing.assert_allclose(world_points(result.points),
                               before["points"] - np.array(cursor), atol=1e-5)

    before = snapshot(result)
    mask = np.zeros(len(result.points.data.vertices), bool)
    mask[[3, 40, 100]] = True
    centre = world_points(result.points)[mask].mean(0)
    select(result.points, mask)
    assert bpy.ops.dust3r.set_origin(source="selected") == {"FINISHED"}
    np.testing.assert_allclose(world_points(result.points)[mask].mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(world_points(result.points), before["points"] - centre, atol=1e-5)
    moved_together(result, before)


def test_set_scale_from_two_points_and_from_the_camera_height(addon):
    result = floor_and_wall(addon)
    bpy.context.view_layer.objects.active = result.cameras[0]
    bpy.ops.dust3r.set_floor()
    clip = result.cameras[0].data.clip_end
    before = snapshot(result)
    mask = np.zeros(len(result.points.data.vertices), bool)
    mask[[5, 300]] = True
    a, b = world_points(result.points)[mask]
    select(result.points, mask)
    assert bpy.ops.dust3r.set_scale(source="points", distance=0.75) == {"FINISHED"}
    a2, b2 = world_points(result.points)[mask]
    assert np.linalg.norm(a2 - b2) == pytest.approx(0.75, rel=1e-5)
    factor = 0.75 / np.linalg.norm(a - b)
    moved_together(result, before, factor=factor)
    # Scaling is about the origin: the floor stays at Z = 0; clipping follows the scale.
    np.testing.assert_allclose(world_points(result.points, 0)[:, 2], 0.0, atol=1e-4)
    assert result.cameras[0].data.clip_end == pytest.approx(clip * factor, rel=1e-5)

    before = snapshot(result)
    height = result.cameras[1].matrix_world.translation.z
    bpy.context.view_layer.objects.active = result.cameras[1]
    assert bpy.ops.dust3r.set_scale(source="camera", height=1.7) == {"FINISHED"}
    assert result.cameras[1].matrix_world.translation.z == pytest.approx(1.7, rel=1e-5)
    moved_together(result, before, factor=1.7 / height)


def state(result) -> tuple:
    return (np.array(result.origin.matrix_world).tolist(), bpy.context.mode,
            [c.data.clip_end for c in result.cameras])


@pytest.mark.parametrize("operator, kwargs, mask, message", [
    ("set_floor", {}, [0, 1], "at least 3 selected points, 2 selected"),
    ("set_floor", {}, [0, 1, 2], "one line"),  # three vertices of a pixel row
    ("set_origin", {"source": "selected"}, [], "no point is selected"),
    ("set_scale", {"distance": 1.0}, [0, 1, 2], "exactly 2 selected points, 3 selected"),
    ("set_scale", {"distance": 0.0}, [0, 1], "distance must be positive"),
    ("set_scale", {"distance": -2.0}, [0, 1], "distance must be positive"),
])
def test_bad_requests_are_reported_and_change_nothing(addon, operator, kwargs, mask, message):
    result = floor_and_wall(addon)
    selected = np.zeros(len(result.points.data.vertices), bool)
    selected[mask] = True
    select(result.points, selected)
    before = state(result)
    with pytest.raises(RuntimeError, match=message):  # an ERROR report, from a script
        getattr(bpy.ops.dust3r, operator)(**kwargs)
    assert state(result) == before  # still in Edit Mode, nothing moved


def test_scale_from_a_camera_below_the_floor_and_no_reconstruction_are_refused(addon):
    with pytest.raises(RuntimeError, match="no DUSt3R reconstruction in this scene"):
        bpy.ops.dust3r.set_floor()
    result = floor_and_wall(addon)
    bpy.context.view_layer.objects.active = result.cameras[0]
    bpy.ops.dust3r.set_floor()
    # Turn the whole reconstruction upside down: the cameras are now under the floor.
    flip = np.diag([1.0, -1.0, -1.0, 1.0]) @ np.array(result.origin.matrix_world)
    result.origin.matrix_world = Matrix(flip.tolist())
    bpy.context.view_layer.update()
    before = state(result)
    with pytest.raises(RuntimeError, match="not above the floor"):
        bpy.ops.dust3r.set_scale(source="camera", height=1.7)
    assert state(result) == before


@pytest.mark.parametrize("edit_mode", [False, True])
def test_undo_takes_the_whole_move_back(addon, edit_mode):
    result = floor_and_wall(addon)
    bpy.context.view_layer.objects.active = result.points
    if edit_mode:  # Set Floor leaves Edit Mode: an edit-mesh undo step would not hold the move
        select(result.points, image_index(result.points) == 2)
    bpy.ops.ed.undo_push(message="imported")
    before = world_points(result.points)
    assert bpy.ops.dust3r.set_floor("EXEC_DEFAULT", True) == {"FINISHED"}  # undo=True pushes
    assert not np.allclose(world_points(bpy.data.objects["Shot points"]), before, atol=1e-3)
    bpy.ops.ed.undo()  # undo reloads the data: look the objects up again
    bpy.context.view_layer.update()
    assert bpy.context.mode == ("EDIT_MESH" if edit_mode else "OBJECT")
    if edit_mode:
        bpy.ops.object.mode_set(mode="OBJECT")
    np.testing.assert_allclose(world_points(bpy.data.objects["Shot points"]), before,
                               atol=1e-6)
    origin = bpy.data.objects["Shot origin"]
    np.testing.assert_allclose(np.array(origin.matrix_world), np.eye(4), atol=1e-12)


def test_the_sub_panel_shows_for_an_object_of_a_reconstruction(addon, no_disk):  # noqa: F811
    panel = addon.panels.sidebar.DUST3R_PT_scene_setup
    assert not panel.poll(bpy.context)
    result = floor_and_wall(addon)
    bpy.ops.object.empty_add()  # not part of the reconstruction
    assert not panel.poll(bpy.context)
    bpy.context.view_layer.objects.active = result.cameras[1]
    assert panel.poll(bpy.context)
    texts = draw_texts(panel.draw, {})
    assert "Shot" in texts
    assert {"Origin at Cursor", "Scale: Two Points", "Camera Height"} <= set(texts)
    for op in ("set_floor", "set_origin", "set_scale"):
        cls = getattr(addon.operators.scene_setup, "DUST3R_OT_" + op)
        assert cls.bl_options == {"REGISTER", "UNDO"}


def test_exports_read_a_camera_under_a_rotated_moved_scaled_parent(addon):
    result = floor_and_wall(addon)
    cam = result.cameras[2]
    before = addon.core.cameras.from_blender(
        addon.tool.cameras.blender_camera(cam, bpy.context.scene), np.eye(4))
    parent = np.eye(4)
    parent[:3, :3] = 2.5 * random_pose(np.random.default_rng(9))[:3, :3]
    parent[:3, 3] = (1.0, -3.0, 0.5)
    result.origin.matrix_world = Matrix(parent.tolist())
    bpy.context.view_layer.update()
    got = addon.core.cameras.from_blender(
        addon.tool.cameras.blender_camera(cam, bpy.context.scene), np.eye(4))
    expected = parent @ before.c2w
    expected[:3, :3] /= 2.5  # rotation orthonormal, position moved and scaled
    np.testing.assert_allclose(got.c2w, expected, atol=1e-5)
    assert (got.fx, got.cx, got.cy) == pytest.approx((before.fx, before.cx, before.cy))
    # File > Export's description of the collection agrees (it reads the same matrices).
    exported = addon.tool.export.describe_collection(result.collection, bpy.context.scene)
    np.testing.assert_allclose(exported.cameras[2].camera.c2w, expected, atol=1e-5)
