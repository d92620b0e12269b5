"""The rendered demo scene's ground truth is right: depth, intrinsics and poses agree with the photos.

Points unprojected from one photo's depth with its intrinsics and pose must land, in every
other photo, on pixels that show the same depth and the same colour. Any convention slip
(Blender vs OpenCV axes, pixel centres, the EXIF rotation, ray length vs z-depth) breaks that.
"""
import numpy as np
import pytest
from PIL import Image, ImageOps

from demo.render import render_scene
from demo.truth import load_ground_truth, project, sample_depth

pytestmark = pytest.mark.slow  # a few Cycles renders


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    render_scene(folder, n_views=3, width=200, height=150, samples=2, seed=1)
    return load_ground_truth(folder)


def upright(truth, n):
    return np.asarray(ImageOps.exif_transpose(Image.open(truth.photo_paths[n])).convert("RGB"),
                      np.float64)


def test_photos_depth_and_exif(truth):
    assert [(c.width, c.height, c.exif_orientation) for c in truth.cameras] == \
        [(200, 150, 1), (150, 200, 1), (200, 150, 6)]
    stored = Image.open(truth.photo_paths[2])
    assert stored.size == (150, 200) and stored.getexif()[0x0112] == 6  # stored turned
    for n, cam in enumerate(truth.cameras):
        assert upright(truth, n).shape == (cam.height, cam.width, 3)
        depth = truth.depth(n)
        assert depth.shape == (cam.height, cam.width) and depth.dtype == np.float32
        np.testing.assert_allclose(cam.c2w[:3, :3] @ cam.c2w[:3, :3].T, np.eye(3), atol=1e-6)
        assert (cam.cx, cam.cy) == ((cam.width - 1) / 2, (cam.height - 1) / 2)
    assert len({round(c.fx / c.width, 3) for c in truth.cameras}) == 3  # varied lenses


def test_floor_pixels_unproject_onto_the_floor(truth):
    for n in range(len(truth.cameras)):
        world, _ = truth.points(n)
        on_floor = np.abs(world[:, 2]) < 1e-3
        assert on_floor.mean() > 0.2  # the floor is z = 0 exactly
        assert world[:, 2].min() > -1e-3  # nothing below it


@pytest.mark.parametrize("a, b", [(0, 1), (1, 2), (2, 0), (2, 1)])
def test_points_of_one_photo_land_on_the_same_surface_in_another(truth, a, b):
    world, uv_a = truth.points(a)
    cam = truth.cameras[b]
    uv, z = project(cam, world)
    inside = (z > 0) & (uv >= 0).all(1) & (uv[:, 0] < cam.width - 1) & (uv[:, 1] < cam.height - 1)
    # Co-visible points (the rest is hidden behind objects, or behind camera b) have exactly
    # the depth photo b shows there; a wrong convention (ray length, axes) leaves ~1 % of them.
    seen = np.abs(sample_depth(truth.depth(b), uv[inside]) / z[inside] - 1) < 0.003
    assert inside.mean() > 0.3 and seen.mean() > 0.1
    u_a, v_a = uv_a[inside][seen].astype(int).T
    u_b, v_b = np.rint(uv[inside][seen]).astype(int).T
    colour_a, colour_b = upright(truth, a)[v_a, u_a], upright(truth, b)[v_b, u_b]
    error = np.abs(colour_a - colour_b).mean()
    unrelated = np.abs(colour_a - np.roll(colour_b, len(colour_b) // 2, 0)).mean()
    assert error < 0.5 * unrelated
