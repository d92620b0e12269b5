"""OpenCV <-> Blender camera maths (no bpy; the projection check through Blender itself is in
tests/blender/test_import_cameras.py)."""
import numpy as np
import pytest

from core.cameras import (M_UP, BlenderCamera, PinholeCamera, from_blender, orthonormalize,
                          to_blender, transform_points, world_matrix)


def random_pose(rng) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    pose = np.eye(4)
    pose[:3, :3] = q * np.sign(np.linalg.det(q))
    pose[:3, 3] = rng.normal(size=3)
    return pose


CAMERAS = {
    "landscape": (640, 480, 500.0, 500.0, 319.5, 239.5),
    "portrait": (480, 640, 520.0, 520.0, 239.5, 319.5),
    "off_centre": (1920, 1080, 1400.0, 1400.0, 1010.25, 470.75),
    "portrait_off_centre": (1080, 1920, 1500.0, 1500.0, 500.0, 1000.0),
    "fx_gt_fy": (640, 480, 560.0, 500.0, 300.0, 250.0),
    "fy_gt_fx_portrait": (480, 640, 500.0, 575.0, 250.0, 300.0),
}


@pytest.mark.parametrize("name", sorted(CAMERAS))
@pytest.mark.parametrize("scale", [1.0, 3.7])
def test_blender_settings_round_trip_to_the_same_opencv_camera(name, scale):
    w, h, fx, fy, cx, cy = CAMERAS[name]
    cam = PinholeCamera(w, h, fx, fy, cx, cy, random_pose(np.random.default_rng(1)))
    world = world_matrix(scale)
    back = from_blender(to_blender(cam, world), world)
    assert (back.width, back.height) == (w, h)
    np.testing.assert_allclose([back.fx, back.fy, back.cx, back.cy], [fx, fy, cx, cy], rtol=1e-12)
    np.testing.assert_allclose(back.c2w, cam.c2w, atol=1e-12)


def test_centred_landscape_camera_has_the_full_frame_lens_and_no_shift():
    b = to_blender(PinholeCamera(640, 480, 500.0, 500.0, 319.5, 239.5, np.eye(4)))
    assert b.sensor_fit == "HORIZONTAL" and b.sensor_width == 36.0
    assert b.lens == pytest.approx(500 * 36 / 640)
    assert (b.shift_x, b.shift_y) == (0.0, 0.0)
    assert b.resolution == (640, 480) and b.pixel_aspect == (1.0, 1.0)


def test_portrait_fits_the_long_side_and_shift_is_in_units_of_it():
    b = to_blender(PinholeCamera(480, 640, 500.0, 500.0, 239.5 - 48, 319.5 + 32, np.eye(4)))
    assert b.sensor_fit == "VERTICAL" and b.sensor_height == 36.0
    assert b.lens == pytest.approx(500 * 36 / 640)
    # Principal point left of and below the centre: the frame shifts right and up.
    assert b.shift_x == pytest.approx(48 / 640) and b.shift_y == pytest.approx(32 / 640)


@pytest.mark.parametrize("size", [(640, 480), (480, 640)])
def test_ultra_wide_cameras_keep_blenders_minimum_lens_with_a_larger_sensor(size):
    cam = PinholeCamera(size[0], size[1], 8.0, 8.0, 300.0, 200.0, np.eye(4))
    b = to_blender(cam)
    assert b.lens == pytest.approx(1.0) and max(b.sensor_width, b.sensor_height) > 36
    back = from_blender(b)
    np.testing.assert_allclose([back.fx, back.fy, back.cx, back.cy], [8.0, 8.0, 300.0, 200.0])


def test_non_square_pixels_go_into_the_render_pixel_aspect():
    b = to_blender(PinholeCamera(640, 480, 600.0, 500.0, 319.5, 239.5, np.eye(4)))
    assert b.pixel_aspect == (1.0, pytest.approx(1.2))  # pixel_aspect_y / x = fx / fy
    b = to_blender(PinholeCamera(640, 480, 500.0, 600.0, 319.5, 239.5, np.eye(4)))
    assert b.pixel_aspect == (pytest.approx(1.2), 1.0)


def test_auto_fit_uses_sensor_width_on_the_long_side():
    # The classic add-on bug is lens = fx * 36 / W with AUTO: wrong for portrait photos.
    auto = BlenderCamera(np.eye(4), 50.0, "AUTO", 36.0, 24.0, 0.0, 0.0, (480, 640), (1.0, 1.0))
    cam = from_blender(auto)
    assert cam.fx == pytest.approx(50.0 * 640 / 36) and cam.fy == cam.fx
    landscape = from_blender(BlenderCamera(np.eye(4), 50.0, "AUTO", 36.0, 24.0, 0.1, 0.0,
                                           (640, 480), (1.0, 1.0)))
    assert landscape.fx == pytest.approx(50.0 * 640 / 36)
    assert landscape.cx == pytest.approx(320 - 0.1 * 640 - 0.5)


def test_the_reference_camera_looks_along_plus_y_with_z_up():
    b = to_blender(PinholeCamera(640, 480, 500.0, 500.0, 319.5, 239.5, np.eye(4)))
    forward = b.matrix_world[:3, :3] @ [0.0, 0.0, -1.0]  # Blender cameras look down local -Z
    up = b.matrix_world[:3, :3] @ [0.0, 1.0, 0.0]
    np.testing.assert_allclose(forward, [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(up, [0, 0, 1], atol=1e-12)
    # A point below the camera in the photo (OpenCV +y) ends up below it in Blender (-Z).
    assert transform_points(M_UP, np.array([[0.0, 1.0, 5.0]]))[0, 2] == pytest.approx(-1.0)


def test_scaled_world_keeps_the_camera_unscaled_and_scales_its_position():
    pose = random_pose(np.random.default_rng(2))
    b = to_blender(PinholeCamera(64, 48, 50.0, 50.0, 31.5, 23.5, pose), world_matrix(2.5))
    np.testing.assert_allclose(b.matrix_world[:3, :3].T @ b.matrix_world[:3, :3], np.eye(3),
                               atol=1e-12)
    np.testing.assert_allclose(b.matrix_world[:3, 3], 2.5 * (M_UP[:3, :3] @ pose[:3, 3]))


def test_projection_is_invariant_to_the_world_transform():
    rng = np.random.default_rng(3)
    cam = PinholeCamera(640, 480, 500.0, 510.0, 300.0, 250.0, random_pose(rng))
    pts = transform_points(cam.c2w, rng.uniform([-2, -2, 2], [2, 2, 6], size=(50, 3)))
    world = world_matrix(0.3)
    moved = from_blender(to_blender(cam, world), np.eye(4))  # the camera in the Blender world
    np.testing.assert_allclose(moved.project(transform_points(world, pts))[:, :2],
                               cam.project(pts)[:, :2], atol=1e-9)


def test_resized_camera_maps_pixel_edges_to_pixel_edges():
    cam = PinholeCamera(640, 480, 500.0, 500.0, 319.5, 239.5, np.eye(4)).resized(1280, 960)
    assert (cam.fx, cam.cx, cam.cy) == (1000.0, 639.5, 479.5)


def test_orthonormalize_removes_scale_and_shear_but_keeps_rotation():
    rot = random_pose(np.random.default_rng(4))[:3, :3]
    noisy = rot @ np.diag([1.01, 0.99, 1.0]) + 1e-4
    r = orthonormalize(noisy)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(r, rot, atol=2e-2)
