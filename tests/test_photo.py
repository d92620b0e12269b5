"""The Photo bookkeeping maps pixels and intrinsics between a photo and its network image."""
import numpy as np
import pytest

from core.images import Photo

# 6000x4000 (3:2): long side to 512, the short side rounds 341.33 -> 341, then the crop keeps
# the central 336 rows (multiple of 16): box (0, 2, 512, 338).
DSLR = Photo("dslr.jpg", (6000, 4000), 1, (512, 341), (0, 2, 512, 338))
PHONE = Photo("phone.jpg", (3024, 4032), 6, (384, 512), (0, 0, 384, 512))


def test_network_size_is_the_crop():
    assert DSLR.network_size == (512, 336)
    assert PHONE.network_size == (384, 512)


@pytest.mark.parametrize("photo", [DSLR, PHONE])
def test_pixel_mapping_round_trips(photo):
    uv = np.random.default_rng(0).uniform(-0.5, 4000, size=(100, 2))
    np.testing.assert_allclose(photo.pixel_to_photo(photo.pixel_to_network(uv)), uv, atol=1e-9)


def test_outer_corners_follow_the_resize_and_crop():
    # The network image's outer top-left corner is the crop's corner in the resized image.
    corner = DSLR.pixel_to_photo(np.array([-0.5, -0.5]))
    np.testing.assert_allclose(corner, [-0.5, 2 / (341 / 4000) - 0.5])
    np.testing.assert_allclose(DSLR.pixel_to_photo(np.array([511.5, 335.5])),
                               [5999.5, 338 / (341 / 4000) - 0.5])


def test_centred_principal_point_and_focal_map_to_the_photo():
    f0, pp0 = PHONE.intrinsics_to_photo(400.0, np.array([191.5, 255.5]))
    assert f0 == pytest.approx(400.0 * 3024 / 384)
    np.testing.assert_allclose(pp0, [1511.5, 2015.5])
    f, pp = PHONE.intrinsics_to_network(f0, pp0)
    assert f == pytest.approx(400.0)
    np.testing.assert_allclose(pp, [191.5, 255.5])


def test_focal_scale_is_the_geometric_mean_of_the_axis_factors():
    assert DSLR.focal_scale == pytest.approx(np.sqrt(512 / 6000 * 341 / 4000))
