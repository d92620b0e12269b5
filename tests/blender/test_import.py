"""Scene -> Blender: cameras that reproduce the photos, colours, attributes, all-or-nothing."""
from __future__ import annotations

import numpy as np
import pytest
from blender_helpers import scene_state, synthetic_scene, write_photo
from test_cameras import random_pose

import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector


# (stored photo size, EXIF orientation, network principal point offset from the centre)
CAMERA_CASES = {
    "landscape": ((640, 480), 1, (0.0, 0.0)),
    "portrait": ((480, 640), 1, (0.0, 0.0)),
    "off_centre": ((800, 600), 1, (23.7, -15.2)),
    "exif_rotated": ((640, 480), 6, (-9.1, 12.4)),
}


@pytest.mark.parametrize("case", sorted(CAMERA_CASES))
def test_imported_camera_projects_like_the_photo_camera(addon, tmp_path, case):
    size, orientation, offset = CAMERA_CASES[case]
    path = write_photo(tmp_path / f"{case}.jpg", size, orientation)
    photo = addon.core.images.load_images([str(path)])[0]["photo"]
    w, h = photo.network_size
    focal, pp = 0.9 * w, np.array([(w - 1) / 2 + offset[0], (h - 1) / 2 + offset[1]])
    c2w = random_pose(np.random.default_rng(7))
    scene = synthetic_scene(addon.core, [photo], c2w[None], [focal], [pp])
    result = addon.importer.import_scene(scene)
    cam_obj = result.cameras[0]

    # The OpenCV camera on the original, upright photo.
    f0, pp0 = photo.intrinsics_to_photo(focal, pp)
    W, H = photo.size
    if orientation == 6:
        assert (W, H) == (size[1], size[0])
    cv = addon.core.cameras.PinholeCamera(W, H, f0, f0, pp0[0], pp0[1], c2w)
    rng = np.random.default_rng(1)
    cam_pts = rng.uniform([-1.5, -1.5, 1.0], [1.5, 1.5, 6.0], size=(200, 3))  # in and out of frame
    pts = cam_pts @ c2w[:3, :3].T + c2w[:3, 3]
    expected = cv.project(pts)

    assert bpy.context.scene.camera == cam_obj  # set_active_camera: the photo's resolution
    render = bpy.context.scene.render
    assert (render.resolution_x, render.resolution_y, render.resolution_percentage) == (W, H, 100)
    world = addon.core.cameras.world_matrix(result.scale)
    blender_pts = addon.core.cameras.transform_points(world, pts)
    got = np.array([world_to_camera_view(bpy.context.scene, cam_obj, Vector(p))
                    for p in blender_pts])
    uv = np.stack([got[:, 0] * W - 0.5, (1 - got[:, 1]) * H - 0.5], 1)
    np.testing.assert_allclose(uv, expected[:, :2], atol=0.01)
    np.testing.assert_allclose(got[:, 2], expected[:, 2] * result.scale, rtol=1e-5)

    assert {k: cam_obj["dust3r_" + k] for k in ("width", "height")} == dict(width=W, height=H)
    assert cam_obj["dust3r_fx"] == pytest.approx(f0)
    assert cam_obj["dust3r_cx"] == pytest.approx(pp0[0])
    assert cam_obj["dust3r_source"] == str(path)
    assert cam_obj["dust3r_exif_orientation"] == orientation
    # The background is the upright photo (Blender ignores EXIF orientation when loading).
    background = cam_obj.data.background_images[0].image
    assert tuple(background.size) == (W, H)


def test_background_of_a_rotated_photo_shows_the_upright_pixels(addon, tmp_path):
    from PIL import Image, ImageOps

    path = write_photo(tmp_path / "rot.jpg", (64, 48), orientation=8, seed=3)
    photo = addon.core.images.load_images([str(path)])[0]["photo"]
    scene = synthetic_scene(addon.core, [photo], np.eye(4)[None], [40.0], [(15.5, 31.5)])
    image = addon.importer.import_scene(scene).images[0]
    w, h = image.size
    pixels = np.empty(w * h * 4, np.float32)
    image.pixels.foreach_get(pixels)
    got = np.round(pixels.reshape(h, w, 4)[::-1, :, :3] * 255)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"), np.float64)
    assert got.shape == expected.shape == (64, 48, 3)
    # Re-encoded upright as a JPEG: within a second compression's error of the photo (its
    # blue channel is pure noise, JPEG's worst case), and far from any other orientation.
    assert np.abs(got - expected).mean() < 4.0
    assert np.abs(got - expected[::-1, ::-1]).mean() > 20.0
    # The .blend keeps the JPEG's bytes (about the photo file's size), not raw pixels; an
    # unpack writes an upright copy beside the .blend, never over the original photo.
    assert image.packed_file is not None and image.packed_file.size < 2 * path.stat().st_size
    assert image.filepath_raw == "//rot_upright.jpg"


def test_a_large_rotated_photo_packs_as_a_jpeg_of_its_own_size(addon, tmp_path):
    from PIL import Image

    path = tmp_path / "big.jpg"
    rng = np.random.default_rng(0)
    smooth = rng.integers(0, 255, (30, 40, 3), np.uint8)
    photo_pixels = Image.fromarray(smooth).resize((4000, 3000), Image.Resampling.BICUBIC)
    exif = photo_pixels.getexif()
    exif[0x0112] = 6
    photo_pixels.save(path, quality=90, exif=exif)  # a 12 MP photo, stored rotated
    photo = addon.core.images.load_images([str(path)])[0]["photo"]
    scene = synthetic_scene(addon.core, [photo], np.eye(4)[None], [400.0], [(191.5, 255.5)])
    image = addon.importer.import_scene(
        scene, addon.core.settings.ImportOptions(points=False)).images[0]  # the photo only
    assert tuple(image.size) == (3000, 4000)
    assert image.packed_file.size < 2 * path.stat().st_size  # not 48 MB of raw pixels
    blend = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    assert blend.stat().st_size < 2 * path.stat().st_size + 5_000_000


def test_reference_camera_looks_along_y_and_the_world_is_z_up(addon):
    photo = addon.core.images.Photo("a.jpg", (64, 48), 1, (64, 48), (0, 0, 64, 48))
    scene = synthetic_scene(addon.core, [photo], np.eye(4)[None], [50.0], [(31.5, 23.5)],
                            depth=0.2)
    result = addon.importer.import_scene(scene)
    cam = result.cameras[0]
    forward = cam.matrix_world.to_3x3() @ Vector((0, 0, -1))
    assert np.allclose(forward, (0, 1, 0), atol=1e-6)
    # Auto scale: the median depth (0.2 units) becomes 3 m; the cloud sits ahead along +Y.
    assert result.scale == pytest.approx(15.0)
    co = np.empty(len(result.points.data.vertices) * 3, np.float32)
    result.points.data.attributes["position"].data.foreach_get("vector", co)
    assert np.allclose(co.reshape(-1, 3)[:, 1], 3.0, atol=1e-5)
    near, far = cam.data.clip_start, cam.data.clip_end
    assert near < 3.0 < far and far < 100


def test_points_carry_colour_confidence_and_image_index(addon):
    photos = [addon.core.images.Photo(f"{i}.jpg", (32, 24), 1, (32, 24), (0, 0, 32, 24))
              for i in range(2)]
    c2w = np.stack([np.eye(4), random_pose(np.random.default_rng(3))])
    srgb = [(200 / 255, 30 / 255, 90 / 255), (0.0, 1.0, 0.25)]
    scene = synthetic_scene(addon.core, photos, c2w, [30.0, 30.0],
                            [(15.5, 11.5), (15.5, 11.5)], colors=srgb)
    scene.masks[1][:, :8] = False  # masked pixels stay out of the cloud
    result = addon.importer.import_scene(scene, addon.core.settings.ImportOptions(
        collection_name="Recon"))
    mesh = result.points.data
    n = 32 * 24 + 32 * 24 - 8 * 24
    assert len(mesh.vertices) == n and result.collection.name == "Recon"
    assert {o.name for o in result.collection.objects} == {
        "Recon points", "000 0", "001 1", "Recon origin"}
    # One parent for everything, at the origin: what the scene set-up tools move.
    assert result.origin.type == "EMPTY" and result.origin.parent is None
    for obj in (result.points, *result.cameras):
        assert obj.parent == result.origin
        np.testing.assert_array_equal(np.array(obj.matrix_parent_inverse), np.eye(4))

    index = np.empty(n, np.int32)
    mesh.attributes["image_index"].data.foreach_get("value", index)
    np.testing.assert_array_equal(np.bincount(index), [32 * 24, 24 * 24])
    conf = np.empty(n, np.float32)
    mesh.attributes["confidence"].data.foreach_get("value", conf)
    np.testing.assert_allclose(conf, scene.point_cloud().confidence)
    # The sRGB colour comes back from the attribute (Blender's own sRGB transform agrees with
    # the IEC formula to 3e-5, 1/100 of an 8-bit step); the stored value is linear.
    rgba = np.empty(n * 4, np.float32)
    mesh.attributes["Color"].data.foreach_get("color_srgb", rgba)
    rgba = rgba.reshape(n, 4)
    np.testing.assert_allclose(rgba[index == 0, :3], np.broadcast_to(srgb[0], (32 * 24, 3)),
                               atol=1e-4)
    np.testing.assert_allclose(rgba[index == 1, :3], np.broadcast_to(srgb[1], (24 * 24, 3)),
                               atol=1e-4)
    mesh.attributes["Color"].data.foreach_get("color", rgba.ravel())
    assert rgba[0, 0] == pytest.approx(((200 / 255 + 0.055) / 1.055) ** 2.4, abs=1e-4)


def viewport_squares(schema, obj):
    """The evaluated viewport mesh of a point cloud: (square count, their sRGB colours); each
    square faces its point's `view_direction` and is as wide as a point's diameter."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    depsgraph.update()
    mesh = obj.evaluated_get(depsgraph).data
    assert mesh.color_attributes.active_color_name == "Color"  # what Solid shading shows
    n_squares = len(mesh.polygons)
    assert len(mesh.vertices) == 4 * n_squares
    rgba = read_attribute(mesh, "Color", "color_srgb", 4)
    if n_squares:
        normals = np.empty(n_squares * 3, np.float32)
        mesh.polygons.foreach_get("normal", normals)
        corners = np.empty(len(mesh.loops), np.int32)
        mesh.loops.foreach_get("vertex_index", corners)
        facing = read_attribute(mesh, "view_direction", "vector", 3)[corners[::4]]
        assert np.abs((normals.reshape(-1, 3) * facing).sum(1)).min() > 0.9999
        area = np.empty(n_squares, np.float32)
        mesh.polygons.foreach_get("area", area)
        radius = schema.modifier_input(obj, "Radius")
        np.testing.assert_allclose(area, (2 * radius) ** 2, rtol=1e-3)
    return n_squares, rgba[:, :3]


def read_attribute(mesh, name: str, field: str, width: int) -> np.ndarray:
    values = np.empty(len(mesh.attributes[name].data) * width, np.float32)
    mesh.attributes[name].data.foreach_get(field, values)
    return values.reshape(-1, width)


def test_the_viewport_shows_a_coloured_square_per_point_above_a_live_threshold(addon):
    """Solid shading colours meshes, not point clouds: in the viewport every point above the
    confidence threshold is a square of its diameter in its colour (renders show points:
    `test_cycles_renders_the_photo_colour`)."""
    photo = addon.core.images.Photo("a.jpg", (32, 24), 1, (32, 24), (0, 0, 32, 24))
    scene = synthetic_scene(addon.core, [photo], np.eye(4)[None], [30.0], [(15.5, 11.5)],
                            colors=[(0.8, 0.2, 0.1)])
    obj = addon.importer.import_scene(scene).points
    points, schema = addon.importer.points, addon.core.schema
    # Each point's view direction points at the camera that saw it.
    camera = next(o for o in bpy.data.objects if o.type == "CAMERA")
    towards = np.array(camera.matrix_world.translation) - read_attribute(
        obj.data, "position", "vector", 3)
    np.testing.assert_allclose(read_attribute(obj.data, "view_direction", "vector", 3),
                               towards / np.linalg.norm(towards, axis=1, keepdims=True),
                               atol=1e-6)
    n, colours = viewport_squares(schema, obj)
    assert n == 32 * 24
    np.testing.assert_allclose(colours, np.broadcast_to((0.8, 0.2, 0.1), colours.shape),
                               atol=1e-4)
    # Squares stay squares whatever the direction (also along the axis their first side is
    # built across).
    axis = np.array(points.SQUARE_AXES[0])
    for direction in (axis, -axis, np.array(points.SQUARE_AXES[1]), np.array([0.0, 0.0, 1.0])):
        obj.data.attributes["view_direction"].data.foreach_set(
            "vector", np.tile(direction / np.linalg.norm(direction), len(obj.data.vertices)))
        obj.data.update()
        assert viewport_squares(schema, obj)[0] == 32 * 24
    conf = np.asarray(scene.confidence[0]).ravel()
    schema.set_points_input(obj, "Min Confidence", 5.0)
    assert viewport_squares(schema, obj)[0] == int((conf >= 5.0).sum())
    assert 0 < (conf >= 5.0).sum() < conf.size
    # A cloud over "Viewport Points" shows a random share of that size in the viewport.
    schema.set_points_input(obj, "Min Confidence", 0.0)
    schema.set_points_input(obj, "Viewport Points", 200)
    assert 140 < viewport_squares(schema, obj)[0] < 260


def test_cycles_renders_the_photo_colour(addon, tmp_path):
    from PIL import Image

    srgb = (200 / 255, 30 / 255, 90 / 255)
    photo = addon.core.images.Photo("wall.jpg", (64, 48), 1, (64, 48), (0, 0, 64, 48))
    scene = synthetic_scene(addon.core, [photo], np.eye(4)[None], [60.0], [(31.5, 23.5)],
                            colors=[srgb])
    addon.importer.import_scene(scene)  # the wall of points fills the photo's camera
    bl = bpy.context.scene
    bl.render.engine = "CYCLES"
    bl.cycles.device = "CPU"
    bl.cycles.samples = 16
    bl.cycles.use_denoising = False
    bl.view_settings.view_transform = "Standard"
    bl.render.resolution_percentage = 25  # 16x12: every pixel sees the wall
    bl.render.image_settings.file_format = "PNG"
    bl.render.filepath = str(tmp_path / "render.png")
    bpy.ops.render.render(write_still=True)
    pixels = np.asarray(Image.open(tmp_path / "render.png").convert("RGB"), np.float64)
    # The outermost pixels' filter reaches past the wall's edge into the black world.
    inner = pixels[1:-1, 1:-1].reshape(-1, 3)
    np.testing.assert_allclose(inner, np.broadcast_to(np.array(srgb) * 255, inner.shape), atol=1.5)


def test_a_failing_import_leaves_nothing_behind(addon, monkeypatch):
    photos = [addon.core.images.Photo(f"{i}.jpg", (32, 24), 1, (32, 24), (0, 0, 32, 24))
              for i in range(3)]
    scene = synthetic_scene(addon.core, photos, np.stack([random_pose(np.random.default_rng(i)) for i in range(3)]),
                            [30.0] * 3, [(15.5, 11.5)] * 3)
    bpy.ops.object.camera_add()
    before = scene_state()
    calls = []

    def fail_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return original(*args, **kwargs)

    original = addon.importer.cameras.camera_object
    monkeypatch.setattr(addon.importer.cameras, "camera_object", fail_on_third)
    with pytest.raises(RuntimeError, match="disk full"):
        addon.importer.import_scene(scene)
    assert scene_state() == before


def test_an_import_turns_solid_shading_to_the_attribute_colours(addon):
    """Solid shading shows the photo colours after an import: every 3D View at Blender's
    default colour type (Material, grey points) goes to Attribute; another choice stays."""
    views = [space for screen in bpy.data.screens for area in screen.areas
             for space in area.spaces if space.type == "VIEW_3D"]
    before = [v.shading.color_type for v in views]
    assert before.count("MATERIAL") > 1 and set(before) != {"MATERIAL"}  # e.g. Texture Paint
    chosen = before.index("MATERIAL")
    views[chosen].shading.color_type = before[chosen] = "RANDOM"  # the user's choice
    photo = addon.core.images.Photo("a.jpg", (32, 24), 1, (32, 24), (0, 0, 32, 24))
    addon.importer.import_scene(synthetic_scene(addon.core, [photo], np.eye(4)[None], [30.0],
                                                [(15.5, 11.5)]))
    assert [v.shading.color_type for v in views] == [
        "VERTEX" if was == "MATERIAL" else was for was in before]
