"""Scene: photo intrinsics and the point cloud that goes to Blender."""
import numpy as np
import pytest

from core.images import Photo
from core.scene import Scene


def _scene(sizes, photos=()):
    rng = np.random.default_rng(1)
    n = len(sizes)
    maps = lambda *tail: [rng.uniform(0.5, 2.0, (h, w) + tail).astype(np.float32) for w, h in sizes]
    conf = [1 + 4 * rng.random((h, w), dtype=np.float32) for w, h in sizes]
    return Scene(
        c2w=np.tile(np.eye(4, dtype=np.float32), (n, 1, 1)),
        focals=np.full(n, 300.0, np.float32),
        pp=np.array([[w / 2, h / 2] for w, h in sizes], np.float32),
        depthmaps=maps(), pts3d=maps(3), confidence=conf,
        masks=[c > 3 for c in conf], colors=maps(3), photos=photos)


def test_point_cloud_keeps_masked_pixels_with_their_image_index_and_colour():
    scene = _scene([(8, 6), (6, 8)])  # landscape and portrait together
    cloud = scene.point_cloud()
    counts = [int(m.sum()) for m in scene.masks]
    assert len(cloud) == sum(counts)
    np.testing.assert_array_equal(np.bincount(cloud.image_index), counts)
    np.testing.assert_array_equal(cloud.xyz[: counts[0]], scene.pts3d[0][scene.masks[0]])
    np.testing.assert_array_equal(cloud.rgb[counts[0]:], scene.colors[1][scene.masks[1]])
    assert cloud.xyz.dtype == np.float32 and cloud.image_index.dtype == np.int32


def test_point_cloud_min_conf_filters_further():
    scene = _scene([(8, 6)])
    assert len(scene.point_cloud(min_conf=4.0)) == int((scene.confidence[0] > 4.0).sum())


def test_photo_intrinsics_undo_resize_and_crop():
    photo = Photo("a.jpg", (1024, 768), 1, (512, 384), (0, 0, 512, 384))
    scene = _scene([(512, 384)], photos=[photo])
    assert scene.photo_focals[0] == pytest.approx(600.0)
    # DUSt3R's pp (W/2, H/2) sits half a pixel right/below the image centre: (256 + 0.5) * 2 - 0.5
    np.testing.assert_allclose(scene.photo_pp[0], [512.5, 384.5])
    np.testing.assert_array_equal(scene.photo_sizes[0], [1024, 768])


def test_without_photos_the_network_frame_is_the_photo_frame():
    scene = _scene([(8, 6)])
    assert scene.photo_focals[0] == pytest.approx(300.0)
    np.testing.assert_array_equal(scene.photo_sizes[0], [8, 6])
