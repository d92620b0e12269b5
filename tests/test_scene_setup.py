"""Scene set-up maths: floor planes (least squares and RANSAC), the transform that makes a
plane the floor Z = 0, origin and scale; and a camera under a moved, scaled parent."""
import numpy as np
import pytest

from core.cameras import BlenderCamera, PinholeCamera, from_blender, to_blender, world_matrix
from core.errors import Dust3rError
from core.scene_setup import (Plane, centre, dominant_plane, fit_plane, floor_transform,
                              origin_transform, rotation_between, scale_between,
                              scale_from_height, scale_transform)
from test_cameras import random_pose


def apply(matrix, points):
    return np.asarray(points) @ matrix[:3, :3].T + matrix[:3, 3]


def tilted_floor(rng, n=3000, noise=0.002, outliers=0.3):
    """Points on a tilted plane (with noise) plus a box of outliers; the true plane."""
    normal = np.array([0.3, -0.5, 0.8])
    normal /= np.linalg.norm(normal)
    u = np.cross(normal, [1.0, 0, 0])
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    origin = np.array([1.0, 2.0, -0.5])
    ab = rng.uniform(-2, 2, (n, 2))
    floor = origin + ab[:, :1] * u + ab[:, 1:] * v + rng.normal(0, noise, (n, 1)) * normal
    junk = rng.uniform(-2, 2, (int(n * outliers), 3)) + origin + 1.0 * normal
    return np.concatenate([floor, junk]), Plane(origin, normal)


def test_least_squares_plane_of_noisy_points():
    rng = np.random.default_rng(0)
    points, truth = tilted_floor(rng, outliers=0.0)
    plane = fit_plane(points)
    assert abs(plane.normal @ truth.normal) == pytest.approx(1.0, abs=1e-5)
    assert np.abs(truth.distance(plane.point[None])).max() < 1e-3


def test_ransac_finds_the_plane_among_outliers_and_is_seeded():
    rng = np.random.default_rng(1)
    points, truth = tilted_floor(rng)
    rng.shuffle(points)
    plane, inliers = dominant_plane(points)
    assert np.degrees(np.arccos(min(1.0, abs(plane.normal @ truth.normal)))) < 0.1
    assert np.abs(truth.distance(plane.point[None])).max() < 1e-3
    on_floor = np.abs(truth.distance(points)) < 0.01
    assert (inliers == on_floor).mean() > 0.99
    # A least-squares fit of everything is pulled off by the outliers: RANSAC is needed.
    assert np.degrees(np.arccos(abs(fit_plane(points).normal @ truth.normal))) > 1.0
    again, _ = dominant_plane(points)
    np.testing.assert_array_equal(again.normal, plane.normal)


@pytest.mark.parametrize("cameras_side", [1.0, -1.0])
def test_floor_transform_maps_the_plane_to_z0_with_the_cameras_above(cameras_side):
    rng = np.random.default_rng(2)
    points, truth = tilted_floor(rng, noise=0.0, outliers=0.0)
    cameras = points[:5] + cameras_side * 1.5 * truth.normal
    cameras[0] -= cameras_side * 10 * truth.normal  # one camera below: the median decides
    plane = fit_plane(points)
    matrix = floor_transform(plane, cameras)
    np.testing.assert_allclose(apply(matrix, points)[:, 2], 0.0, atol=1e-9)
    assert (apply(matrix, cameras[1:])[:, 2] > 1.4).all()
    rot = matrix[:3, :3]
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    # The floor's point keeps its X and Y: the smallest move that levels it.
    np.testing.assert_allclose(apply(matrix, plane.point[None])[0],
                               [*plane.point[:2], 0.0], atol=1e-9)


def test_a_floor_without_cameras_keeps_up_nearer_plus_z():
    plane = Plane(np.zeros(3), np.array([0.0, 0.6, -0.8]))
    matrix = floor_transform(plane, np.zeros((0, 3)))
    np.testing.assert_allclose(matrix[:3, :3] @ [0, -0.6, 0.8], [0, 0, 1], atol=1e-12)


@pytest.mark.parametrize("a", [[0, 0, 1.0], [0, 0, -1.0], [1.0, 0, 0], [0.6, 0, 0.8]])
def test_rotation_between_turns_a_onto_z(a):
    rot = rotation_between(np.array(a), np.array([0.0, 0, 1]))
    np.testing.assert_allclose(rot @ a, [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)


def test_too_few_collinear_or_coincident_points_make_no_floor():
    with pytest.raises(Dust3rError, match="at least 3 points, got 2"):
        fit_plane(np.zeros((2, 3)))
    with pytest.raises(Dust3rError, match="one line"):
        fit_plane(np.outer(np.arange(5.0), [1, 2, 3]))
    with pytest.raises(Dust3rError, match="one spot"):
        dominant_plane(np.ones((50, 3)))
    with pytest.raises(Dust3rError, match="at least 3 points, got 0"):
        dominant_plane(np.full((4, 3), np.nan))


def test_origin_and_scale():
    point = np.array([1.5, -2.0, 0.25])
    np.testing.assert_allclose(apply(origin_transform(point), point[None]), 0.0, atol=1e-15)
    assert centre([[0, 0, 0], [2, 4, 6.0]]).tolist() == [1, 2, 3]
    a, b = np.array([1.0, 1, 0]), np.array([1.0, 4, 4])
    factor = scale_between(a, b, 2.0)
    s = scale_transform(factor)
    assert np.linalg.norm(apply(s, a[None]) - apply(s, b[None])) == pytest.approx(2.0)
    assert apply(s, np.array([[3.0, 4, 0]]))[0, 2] == 0.0  # the floor stays Z = 0
    assert scale_from_height(0.5, 1.7) == pytest.approx(3.4)


def test_bad_scales_are_refused():
    with pytest.raises(Dust3rError, match="same place"):
        scale_between(np.ones(3), np.ones(3), 1.0)
    for distance in (0.0, -1.0, np.nan):
        with pytest.raises(Dust3rError, match="distance must be positive"):
            scale_between(np.zeros(3), np.ones(3), distance)
    with pytest.raises(Dust3rError, match="not above the floor"):
        scale_from_height(-0.2, 1.7)
    with pytest.raises(Dust3rError, match="height must be positive"):
        scale_from_height(1.0, 0.0)
    with pytest.raises(Dust3rError, match="positive"):
        scale_transform(0.0)


def test_a_camera_under_a_moved_rotated_scaled_parent_is_the_same_opencv_camera():
    # The import's camera, then a parent similarity on top of it (as Set Floor / Origin /
    # Scale leave it): OpenCV from matrix_world = parent @ local must be the camera moved
    # by the same similarity, the rotation orthonormal and the position scaled.
    rng = np.random.default_rng(4)
    cam = PinholeCamera(640, 480, 500.0, 500.0, 310.0, 250.0, random_pose(rng))
    local = to_blender(cam, world_matrix(2.0))
    parent = np.eye(4)
    parent[:3, :3] = 3.5 * random_pose(rng)[:3, :3]
    parent[:3, 3] = [4.0, -1.0, 2.5]
    moved = BlenderCamera(parent @ local.matrix_world, local.lens, local.sensor_fit,
                          local.sensor_width, local.sensor_height, local.shift_x,
                          local.shift_y, local.resolution, local.pixel_aspect)
    got = from_blender(moved, np.eye(4))
    expected = parent @ world_matrix(2.0) @ cam.c2w
    expected[:3, :3] /= 7.0  # the parent's 3.5 and the import's 2.0
    np.testing.assert_allclose(got.c2w, expected, atol=1e-12)
    assert [got.fx, got.fy, got.cx, got.cy] == pytest.approx([500.0, 500.0, 310.0, 250.0])
    # It sees the moved world as the original saw the original.
    points = apply(cam.c2w, rng.uniform([-1, -1, 2], [1, 1, 5], (50, 3)))
    moved_points = apply(parent @ world_matrix(2.0), points)
    np.testing.assert_allclose(got.project(moved_points)[:, :2], cam.project(points)[:, :2],
                               atol=1e-9)
