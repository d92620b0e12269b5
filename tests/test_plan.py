"""What an import makes, decided without Blender: scale, points, radius, cameras, clipping."""
import numpy as np
import pytest

from core.cameras import M_UP, PinholeCamera, to_blender, transform_points
from core.images import Photo
from core.settings import ImportOptions, MaskOptions
from core.plan import AUTO_MEDIAN_DEPTH, plan_import
from core.scene import Scene


def flat_scene(depth=2.0, n=2, photos=None, size=(32, 24), focal=30.0):
    """n cameras along x, each seeing a wall at `depth` (network frame = photo frame)."""
    w, h = size
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, 0, 3] = np.arange(n) * 0.5
    pts, depths = [], []
    for k in range(n):
        d = np.full((h, w), depth)
        cam = np.stack([(u - (w - 1) / 2) / focal * d, (v - (h - 1) / 2) / focal * d, d], -1)
        pts.append(cam + c2w[k, :3, 3])
        depths.append(d)
    conf = np.tile(np.linspace(1, 10, w * h).reshape(h, w), (n, 1, 1)).astype(np.float32)
    photos = photos or [Photo(f"/photos/shot_{k}.jpg", size, 1, size, (0, 0, w, h))
                        for k in range(n)]
    return Scene(c2w.astype(np.float32), np.full(n, focal, np.float32),
                 np.tile([(w - 1) / 2, (h - 1) / 2], (n, 1)).astype(np.float32),
                 np.stack(depths).astype(np.float32), np.stack(pts).astype(np.float32), conf,
                 np.ones((n, h, w), bool), np.full((n, h, w, 3), 0.25, np.float32),
                 photos=photos)


def test_auto_scale_puts_the_median_depth_at_three_metres_z_up():
    scene = flat_scene(depth=0.5)
    plan = plan_import(scene, ImportOptions())
    assert plan.scale == pytest.approx(AUTO_MEDIAN_DEPTH / 0.5)
    np.testing.assert_allclose(plan.world, np.diag([6.0, 6, 6, 1]) @ M_UP)
    # The cloud sits 3 m ahead of the first camera, which looks along +Y.
    np.testing.assert_allclose(plan.points.xyz[:, 1], 3.0, atol=1e-5)
    forward = plan.cameras[0].blender.matrix_world[:3, :3] @ [0, 0, -1]
    np.testing.assert_allclose(forward, [0, 1, 0], atol=1e-9)


def test_a_given_scale_is_kept_and_the_radius_is_a_pixel_footprint():
    plan = plan_import(flat_scene(depth=2.0, focal=40.0), ImportOptions(scale=1.0))
    assert plan.scale == 1.0
    assert plan.points.radius == pytest.approx(0.75 * 2.0 / 40.0)  # 0.75 px at the depth
    plan = plan_import(flat_scene(), ImportOptions(point_radius=0.02, confidence_threshold=4.0))
    assert plan.points.radius == 0.02 and plan.points.min_confidence == 4.0


def test_points_carry_the_cloud_and_max_points_keeps_a_seeded_subset():
    scene = flat_scene()
    cloud = scene.point_cloud()
    plan = plan_import(scene, ImportOptions(scale=2.0))
    np.testing.assert_allclose(plan.points.xyz, transform_points(plan.world, cloud.xyz))
    np.testing.assert_array_equal(plan.points.image_index, cloud.image_index)
    # Each point's view direction: the unit vector to the centre of the camera that saw it.
    centres = np.array([c.blender.matrix_world[:3, 3] for c in plan.cameras])
    towards = centres[cloud.image_index] - plan.points.xyz
    np.testing.assert_allclose(plan.points.view_direction,
                               towards / np.linalg.norm(towards, axis=1, keepdims=True),
                               atol=1e-6)
    small = plan_import(scene, ImportOptions(max_points=100))
    again = plan_import(scene, ImportOptions(max_points=100))
    assert len(small.points.xyz) == 100
    np.testing.assert_array_equal(small.points.xyz, again.points.xyz)
    assert plan_import(scene, ImportOptions(points=False)).points is None


def test_cameras_reproduce_the_photo_cameras_with_their_properties(tmp_path):
    photo_file = tmp_path / "wall.jpg"
    photo_file.write_bytes(b"")
    photo = Photo(str(photo_file), (64, 48), 6, (32, 24), (0, 0, 32, 24))  # 2x the network
    scene = flat_scene(n=1, photos=[photo])
    plan = plan_import(scene, ImportOptions(collection_name="Shot"))
    cam = plan.cameras[0]
    assert plan.collection_name == "Shot" and cam.name == "000 wall" and cam.background
    f0, pp0 = photo.intrinsics_to_photo(30.0, scene.pp[0])
    assert cam.camera == PinholeCamera(64, 48, f0, f0, pp0[0], pp0[1], cam.camera.c2w)
    expected = to_blender(cam.camera, plan.world)
    assert cam.blender.lens == expected.lens and cam.blender.shift_x == expected.shift_x
    props = cam.properties
    assert props["dust3r_width"] == 64 and props["dust3r_fx"] == f0
    assert props["dust3r_source"] == str(photo_file)
    assert props["dust3r_exif_orientation"] == 6
    near, far = cam.clip
    assert near < 2.0 * plan.scale < far  # the wall is inside the clipping range
    assert plan.active_camera == 0


def test_a_photo_that_is_gone_gets_no_background_and_a_warning():
    plan = plan_import(flat_scene(n=2), ImportOptions())  # /photos/... does not exist
    assert not any(c.background for c in plan.cameras)
    assert len(plan.warnings) == 2 and "is gone" in plan.warnings[0]
    plan = plan_import(flat_scene(n=2), ImportOptions(background_images=False,
                                                      set_active_camera=False))
    assert plan.warnings == () and plan.active_camera is None
    assert plan.collection_name == "DUSt3R photos"  # the first photo's folder
    assert plan_import(flat_scene(), ImportOptions(cameras=False)).cameras == ()


def test_cameras_keep_the_runs_masks_for_exports():
    masks = MaskOptions(folder="/shots/masks", invert=True)
    props = plan_import(flat_scene(n=2), ImportOptions(), masks).cameras[1].properties
    assert (props["dust3r_mask_folder"], props["dust3r_mask_alpha"],
            props["dust3r_mask_invert"]) == ("/shots/masks", False, True)
    plain = plan_import(flat_scene(n=2), ImportOptions()).cameras[1].properties
    assert not any(key.startswith("dust3r_mask") for key in plain)


def test_every_import_has_one_origin_named_after_its_collection():
    plan = plan_import(flat_scene(depth=0.5), ImportOptions(collection_name="Shot"))
    assert plan.origin.name == "Shot origin"
    assert plan.origin.display_size == pytest.approx(0.5 * AUTO_MEDIAN_DEPTH)  # half a depth
    assert plan.origin.properties == {"dust3r_origin": True}
