"""Depth meshes in Blender: one textured grid mesh per photo that, seen through the photo's
camera, reproduces the photo; built from the plan alone, all-or-nothing with the import."""
from __future__ import annotations

import numpy as np
import pytest
from blender_helpers import scene_state, write_photo
from test_cameras import random_pose

import bpy
from demo.compat import render_still, set_file_format


def unproject(depth: np.ndarray, focal: float, pp, c2w: np.ndarray) -> np.ndarray:
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    cam = np.stack([(u - pp[0]) / focal * depth, (v - pp[1]) / focal * depth, depth], -1)
    return cam @ c2w[:3, :3].T + c2w[:3, 3]


def stepped_scene(core, photos, c2w, focal_ratio=0.9, low_confidence=()):
    """A Scene seeing, from each camera, a slanted wall (depth 2.5 to 3.5 from left to right)
    with a box at depth 1.5 in front of its middle third, and confidence 1 (under any
    threshold) in the `low_confidence` boxes (slices of the network image)."""
    depths, pts, confs, pps, focals = [], [], [], [], []
    for n, photo in enumerate(photos):
        w, h = photo.network_size
        u = np.arange(w)[None, :].repeat(h, 0)
        depth = 2.5 + u / w
        depth[:, w // 3: 2 * w // 3] = 1.5
        focal, pp = focal_ratio * max(w, h), ((w - 1) / 2, (h - 1) / 2)
        conf = np.full((h, w), 5.0, np.float32)
        for box in low_confidence:
            conf[box] = 1.0
        depths.append(depth.astype(np.float32))
        pts.append(unproject(depth, focal, pp, c2w[n]).astype(np.float32))
        confs.append(conf)
        pps.append(pp)
        focals.append(focal)
    return core.scene.Scene(np.asarray(c2w, np.float32), np.asarray(focals, np.float32),
                            np.asarray(pps, np.float32), depths, pts, confs,
                            [c > 3.0 for c in confs],
                            [np.full(d.shape + (3,), 0.5, np.float32) for d in depths],
                            photos=list(photos))


def photos_of(core, tmp_path, sizes, orientation=1):
    paths = [str(write_photo(tmp_path / f"shot{k}.jpg", size, orientation, seed=k))
             for k, size in enumerate(sizes)]
    return [view["photo"] for view in core.images.load_images(paths, size=64)]


def read(collection, name: str, n: int, width: int, dtype=np.float32) -> np.ndarray:
    out = np.empty(n * width, dtype)
    collection.foreach_get(name, out)
    return out.reshape(n, width) if width > 1 else out


def test_each_photo_gets_a_mesh_named_after_its_camera_with_the_plans_data(addon, tmp_path):
    core = addon.core
    photos = photos_of(core, tmp_path, [(96, 72), (72, 96)])  # landscape and portrait
    c2w = np.stack([random_pose(np.random.default_rng(k)) for k in range(2)])
    scene = stepped_scene(core, photos, c2w)
    options = core.settings.ImportOptions(depth_meshes=True, depth_stride=2,
                                          collection_name="Shot")
    result = addon.importer.import_scene(scene, options)
    plans = result.plan.depth_meshes
    assert [o.name for o in result.depth_meshes] == [c.name + " depth" for c in result.cameras]
    assert "2 cameras, 2 depth meshes in 'Shot'" in result.summary()

    for obj, plan, cam in zip(result.depth_meshes, plans, result.cameras):
        assert obj.users_collection == (result.collection,) and obj.parent == result.origin
        np.testing.assert_allclose(np.array(obj.matrix_world), np.eye(4))  # world vertices
        mesh = obj.data
        assert not mesh.validate(verbose=False)  # nothing for Blender to fix
        assert len(mesh.vertices) == len(plan.vertices) and len(mesh.polygons) == len(plan.faces)
        np.testing.assert_array_equal(read(mesh.vertices, "co", len(mesh.vertices), 3),
                                      plan.vertices)
        corners = read(mesh.loops, "vertex_index", len(mesh.loops), 1, np.int32)
        np.testing.assert_array_equal(corners, plan.faces.ravel())
        assert set(read(mesh.polygons, "loop_total", len(mesh.polygons), 1, np.int32)) == {4}
        # UVs live on face corners: each corner gets its vertex's photo position.
        uv = read(mesh.uv_layers["UVMap"].data, "uv", len(mesh.loops), 2)
        np.testing.assert_allclose(uv, plan.uv[plan.faces.ravel()])
        conf = read(mesh.attributes["confidence"].data, "value", len(mesh.vertices), 1)
        np.testing.assert_array_equal(conf, plan.confidence)
        # Solid shading (colour type Attribute) shows the network image's colours.
        assert mesh.color_attributes.active_color_name == "Color"
        rgba = read(mesh.attributes["Color"].data, "color_srgb", len(mesh.vertices), 4)
        np.testing.assert_allclose(rgba[:, :3], plan.rgb, atol=1 / 255)
        # Normals face the camera that took the photo.
        normals = read(mesh.polygons, "normal", len(mesh.polygons), 3)
        centres = read(mesh.polygons, "center", len(mesh.polygons), 3)
        to_camera = np.array(cam.matrix_world.translation) - centres
        assert ((normals * to_camera).sum(1) > 0).all()
        assert obj["dust3r_image_index"] == plan.image_index and obj["dust3r_depth_stride"] == 2

        # Unlit photo: the camera's background image through the UV map into an Emission.
        material = mesh.materials[0]
        nodes = material.node_tree.nodes
        texture = next(n for n in nodes if n.type == "TEX_IMAGE")
        assert texture.image == cam.data.background_images[0].image
        assert texture.inputs["Vector"].links[0].from_node.uv_map == "UVMap"
        emission = texture.outputs["Color"].links[0].to_node
        assert emission.type == "EMISSION" and emission.inputs["Strength"].default_value == 1.0
        assert emission.outputs[0].links[0].to_node.type == "OUTPUT_MATERIAL"
    assert len(bpy.data.images) == len(result.images) == 2  # each photo loaded once


def test_without_backgrounds_or_cameras_each_photo_is_still_loaded_once(addon, tmp_path):
    core = addon.core
    photos = photos_of(core, tmp_path, [(96, 72)] * 3, orientation=6)  # packed upright copies
    c2w = np.stack([random_pose(np.random.default_rng(k)) for k in range(3)])
    scene = stepped_scene(core, photos, c2w)
    result = addon.importer.import_scene(scene, core.settings.ImportOptions(
        depth_meshes=True, cameras=False, points=False))
    assert result.cameras == () and result.points is None and len(result.depth_meshes) == 3
    assert len(bpy.data.images) == len(result.images) == 3
    for obj, photo in zip(result.depth_meshes, photos):
        image = next(n for n in obj.data.materials[0].node_tree.nodes
                     if n.type == "TEX_IMAGE").image
        assert tuple(image.size) == photo.size and image.packed_file is not None


def test_a_photo_that_is_gone_shows_the_network_colours(addon, tmp_path):
    core = addon.core
    photos = photos_of(core, tmp_path, [(96, 72)])
    scene = stepped_scene(core, photos, np.eye(4)[None])
    (tmp_path / "shot0.jpg").unlink()
    result = addon.importer.import_scene(scene, core.settings.ImportOptions(depth_meshes=True))
    mesh = result.depth_meshes[0].data
    assert any("is gone" in w for w in result.warnings) and len(bpy.data.images) == 0
    rgba = read(mesh.attributes["Color"].data, "color_srgb", len(mesh.vertices), 4)
    np.testing.assert_allclose(rgba[:, :3], result.plan.depth_meshes[0].rgb, atol=1 / 255)
    attribute = next(n for n in mesh.materials[0].node_tree.nodes if n.type == "ATTRIBUTE")
    assert attribute.attribute_name == "Color"


def test_a_failing_depth_mesh_leaves_nothing_behind(addon, tmp_path, monkeypatch):
    core = addon.core
    photos = photos_of(core, tmp_path, [(96, 72)] * 3)
    c2w = np.stack([random_pose(np.random.default_rng(k)) for k in range(3)])
    scene = stepped_scene(core, photos, c2w)
    bpy.ops.object.camera_add()
    before = scene_state()
    builder = addon.importer.depth_meshes
    original, calls = builder.depth_mesh_object, []

    def fail_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("out of memory")
        return original(*args, **kwargs)

    monkeypatch.setattr(builder, "depth_mesh_object", fail_on_third)
    with pytest.raises(MemoryError):
        addon.importer.import_scene(scene, core.settings.ImportOptions(depth_meshes=True))
    assert scene_state() == before


def test_a_photo_without_a_confident_pixel_gets_an_empty_mesh(addon, tmp_path):
    core = addon.core
    photos = photos_of(core, tmp_path, [(96, 72)] * 2)
    w, h = photos[0].network_size
    scene = stepped_scene(core, photos, np.stack([np.eye(4)] * 2),
                          low_confidence=[np.s_[:, :w // 3], np.s_[:, w // 3:]])
    scene.masks[1][:] = True  # photo 1 keeps its points, yet its depth mesh needs confidence
    result = addon.importer.import_scene(scene, core.settings.ImportOptions(
        depth_meshes=True, confidence_threshold=3.0))
    empty = result.depth_meshes[1].data
    assert len(result.depth_meshes[0].data.vertices) == 0  # masked everywhere
    assert len(empty.vertices) == len(empty.polygons) == 0 and "UVMap" in empty.uv_layers


def test_the_panel_and_the_cli_carry_the_depth_mesh_settings(addon):
    from test_operators import FakeLayout

    defaults = addon.core.settings.ImportOptions()
    s = bpy.context.scene.dust3r
    assert (s.depth_meshes, s.depth_stride) == (defaults.depth_meshes, defaults.depth_stride)
    cli = __import__(addon.__name__ + ".cli", fromlist=["parser"])
    args = cli.parser(addon).parse_args(["a.jpg", "-o", "x.blend"])
    assert (args.depth_meshes, args.depth_stride) == (defaults.depth_meshes,
                                                      defaults.depth_stride)
    args = cli.parser(addon).parse_args(["a.jpg", "-o", "x.blend", "--depth-meshes",
                                         "--depth-stride", "5"])
    assert (args.depth_meshes, args.depth_stride) == (True, 5)

    s.depth_meshes, s.depth_stride = True, 3
    model = addon.tool.settings.ModelChoice("model.pth", "", "cpu", "fp32", False)
    options = addon.tool.settings.job_params(s, "/photos", model).import_options
    assert (options.depth_meshes, options.depth_stride) == (True, 3)

    log = []
    addon.panels.sidebar.DUST3R_PT_reconstruct.draw(
        type("Panel", (), {"layout": FakeLayout(log)})(), bpy.context)
    drawn = [args[1] for name, args, _ in log if name == "prop" and args[0] == s]
    assert "depth_meshes" in drawn and "depth_stride" in drawn


# ------------------------------------------------------------------ seen through its camera

RENDER_SCALE = 2  # the render is the photo downscaled 2x (320 x 240)


def smooth_photo(width: int, height: int) -> np.ndarray:
    """An upright 8-bit test photo: colour gradients, waves and the sharp edges of a checker
    of 32-pixel squares (misplaced UVs show there)."""
    v, u = np.mgrid[0:height, 0:width] / 32.0
    checker = ((np.floor(u) + np.floor(v)) % 2)
    r = 0.15 + 0.5 * u / u.max() + 0.3 * checker
    g = 0.5 + 0.35 * np.sin(0.9 * u) * np.cos(0.7 * v)
    b = 0.2 + 0.6 * v / v.max() * (1 - 0.5 * checker)
    return np.round(255 * np.clip(np.stack([r, g, b], -1), 0, 1)).astype(np.uint8)


def downscaled(srgb8: np.ndarray, factor: int) -> np.ndarray:
    """Box downscale in linear light (as the render integrates), back to 8-bit sRGB levels."""
    c = srgb8 / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    h, w = linear.shape[0] // factor, linear.shape[1] // factor
    mean = linear[:h * factor, :w * factor].reshape(h, factor, w, factor, 3).mean((1, 3))
    return 255.0 * np.where(mean <= 0.0031308, 12.92 * mean, 1.055 * mean ** (1 / 2.4) - 0.055)


def registration(image: np.ndarray, reference: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The (x, y) shift in pixels that best maps `reference` onto `image` over `where` (least
    squares on the reference's gradients: image(p) ~ reference(p - shift))."""
    gy, gx = np.gradient(reference, axis=(0, 1))
    a = np.stack([gx[where].ravel(), gy[where].ravel()], -1)
    b = (reference - image)[where].ravel()
    return np.linalg.lstsq(a, b, rcond=None)[0]


def render_through(camera, path) -> np.ndarray:
    """Cycles render (CPU) through `camera` at 1/RENDER_SCALE of its photo, RGBA 8-bit; each
    pixel is the box-filtered mean of its area, as a box downscale of the photo."""
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 256
    scene.cycles.use_denoising = False
    scene.cycles.pixel_filter_type = "BOX"
    scene.cycles.filter_width = 1.0
    scene.render.film_transparent = True  # alpha 0 where no face is
    scene.render.dither_intensity = 0.0  # no noise added to the 8-bit output
    scene.view_settings.view_transform = "Standard"  # the photo is sRGB
    scene.view_settings.look = "None"
    scene.view_settings.exposure, scene.view_settings.gamma = 0.0, 1.0
    scene.render.resolution_percentage = 100 // RENDER_SCALE
    set_file_format(scene.render.image_settings, "PNG", color_mode="RGBA", color_depth="8")
    scene.render.filepath = str(path)
    render_still()
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGBA"), np.float64)


# upright photo size, EXIF orientation: a phone photo stored rotated (its upright copy is
# packed as a JPEG), and a portrait whose network image is a crop (512 x 366 cropped to 352).
RENDER_CASES = {"rotated": ((640, 480), 6), "portrait_cropped": ((500, 700), 1)}


@pytest.mark.parametrize("stride", [1, 3])
@pytest.mark.parametrize("case", sorted(RENDER_CASES))
def test_seen_through_its_camera_the_mesh_reproduces_the_photo(addon, tmp_path, case, stride):
    from PIL import Image

    core = addon.core
    (width, height), orientation = RENDER_CASES[case]
    upright = Image.fromarray(smooth_photo(width, height))
    path = tmp_path / f"{case}.jpg"
    exif = upright.getexif()
    stored = upright
    if orientation == 6:  # stored rotated, shown upright
        exif[0x0112] = 6
        stored = upright.transpose(Image.Transpose.ROTATE_90)
    stored.save(path, quality=95, subsampling=0, exif=exif)
    photo = core.images.load_images([str(path)])[0]["photo"]
    assert photo.size == (width, height) and photo.exif_orientation == orientation
    low = (slice(250, 300), slice(40, 120))  # network pixels under the confidence threshold
    scene = stepped_scene(core, [photo], random_pose(np.random.default_rng(5))[None],
                          low_confidence=[low])
    result = addon.importer.import_scene(scene, core.settings.ImportOptions(
        depth_meshes=True, depth_stride=stride, points=False))
    assert bpy.context.scene.camera == result.cameras[0]  # at the photo's resolution

    rendered = render_through(result.cameras[0], tmp_path / "render.png")
    w, h = width // RENDER_SCALE, height // RENDER_SCALE
    expected = downscaled(np.asarray(core.images.open_upright(path)[0]), RENDER_SCALE)
    assert rendered.shape == (h, w, 4)

    # Compare where a face covers the pixel and its neighbours (not at dropped faces' edges,
    # nor the frame's outermost pixels, half of which lie outside the outermost vertices).
    covered = rendered[..., 3] == 255
    inner = covered.copy()
    for dv, du in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)):
        inner &= np.roll(covered, (dv, du), (0, 1))
    inner[[0, -1], :] = inner[:, [0, -1]] = False
    error = np.abs(rendered[..., :3] - expected)[inner].mean()
    shift = registration(rendered[..., :3], expected, inner) * RENDER_SCALE
    print(f"\n{case}, stride {stride}: mean absolute error {error:.2f} levels over "
          f"{inner.mean():.0%} of the frame; shift ({shift[0]:+.3f}, {shift[1]:+.3f}) photo px")
    assert error < 1.5  # measured 0.9 (bilinear texture filtering at the checker's edges,
    # and the upright copy's JPEG re-encoding)
    assert np.abs(shift).max() < 0.05  # measured 0.001; UVs a quarter pixel off: 0.25

    # The faces dropped at the box's edges and on the low-confidence pixels are not there.
    def render_pixel(u, v):  # a network pixel -> the render pixel that shows it
        x, y = photo.pixel_to_photo(np.array([u, v], np.float64))
        return int((y + 0.5) / RENDER_SCALE), int((x + 0.5) / RENDER_SCALE)

    nw, nh = photo.network_size
    assert rendered[render_pixel(80, 275) + (3,)] == 0  # inside the low-confidence box
    for u in (nw // 3, 2 * nw // 3):  # the box's left and right edges
        assert rendered[render_pixel(u, nh // 2) + (3,)] < 255
    assert inner.mean() > 0.7


@pytest.mark.slow
def test_the_cli_s_depth_meshes_of_a_rendered_room_reproduce_its_photos(addon, tmp_path,
                                                                       monkeypatch):
    """The whole chain on the demo's rendered room (a landscape, a portrait and an
    EXIF-rotated photo), with the ground-truth predictor in the network's place: cli.py
    --depth-meshes, then each mesh alone rendered through its photo's camera."""
    import importlib

    from demo.render import render_scene
    from demo.truth import load_ground_truth

    render_scene(tmp_path / "photos", n_views=3, width=320, height=240, samples=1)
    truth = load_ground_truth(tmp_path / "photos")
    cli = importlib.import_module(addon.__name__ + ".cli")
    oracle = importlib.import_module(addon.__name__ + ".demo.oracle")
    reconstruct = addon.importer.reconstruct
    monkeypatch.setattr(addon.importer, "reconstruct", lambda params, **kwargs: reconstruct(
        params, predictor=oracle.GroundTruthPredictor(truth), **kwargs))
    out = tmp_path / "room.blend"
    assert cli.main([str(tmp_path / "photos"), "-o", str(out), "--depth-meshes", "--niter",
                     "30", "--no-points"]) == 0

    bpy.ops.wm.open_mainfile(filepath=str(out))
    cameras = sorted((o for o in bpy.data.objects if o.type == "CAMERA"), key=lambda o: o.name)
    meshes = {o.name: o for o in bpy.data.objects if o.type == "MESH"}
    assert len(cameras) == 3 and set(meshes) == {c.name + " depth" for c in cameras}
    errors = []
    for camera in cameras:
        for name, obj in meshes.items():
            obj.hide_render = name != camera.name + " depth"
        addon.importer.cameras.activate_camera(bpy.context.scene, camera)
        rendered = render_through(camera, tmp_path / f"{camera.name}.png")
        photo = np.asarray(addon.core.images.open_upright(camera["dust3r_source"])[0])
        expected = downscaled(photo, RENDER_SCALE)
        assert rendered.shape[:2] == expected.shape[:2]
        covered = rendered[..., 3] == 255
        inner = covered.copy()
        for dv, du in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            inner &= np.roll(covered, (dv, du), (0, 1))
        inner[[0, -1], :] = inner[:, [0, -1]] = False
        errors.append(np.abs(rendered[..., :3] - expected)[inner].mean())
        shift = registration(rendered[..., :3], expected, inner) * RENDER_SCALE
        # The pixels that see the room (not the open sky above its walls).
        h, w = expected.shape[:2]
        room = np.isfinite(truth.depth(truth.index_of(camera["dust3r_source"])))
        room = room[:h * RENDER_SCALE, :w * RENDER_SCALE].reshape(
            h, RENDER_SCALE, w, RENDER_SCALE).all((1, 3))
        coverage = (covered & room).sum() / room.sum()
        print(f"\n{camera.name} ({photo.shape[1]}x{photo.shape[0]}): mean absolute error "
              f"{errors[-1]:.2f} levels over {inner.mean():.0%} of the frame; shift "
              f"({shift[0]:+.3f}, {shift[1]:+.3f}) photo px; the mesh covers {coverage:.1%} "
              "of the room")
        assert not (covered & ~room).any()  # nothing where the photo sees the sky
        assert coverage > 0.9  # the rest are faces dropped along occlusion edges
        assert np.abs(shift).max() < 0.1
    assert max(errors) < 3.0
