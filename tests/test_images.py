"""load_images reproduces the official loader: sizes, crops, filters, tensors, EXIF, errors."""
import json
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import ImageError
from core.images import Photo, image_extensions, list_images, load_images


def to_uint8(view):
    """The network image back as uint8 HWC (exact: the tensor is (k/255 - 0.5)/0.5)."""
    return ((view["img"][0] * 0.5 + 0.5) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def random_rgb(rng, w, h):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.slow
def test_every_row_of_the_official_table(official, tmp_path):
    table = json.loads((official / "load_images_table.json").read_text())
    # The official inputs: one random RGB PNG per distinct input size, drawn in table order
    # from numpy's default_rng(0) (integers 0..255 as uint8).
    rng = np.random.default_rng(0)
    files = {}
    for row in table["rows"]:
        size = tuple(row["input_WxH"])
        if size not in files:
            files[size] = tmp_path / f"{size[0]}x{size[1]}.png"
            Image.fromarray(random_rgb(rng, *size)).save(files[size], compress_level=0)
    for row in table["rows"]:
        view, = load_images([files[tuple(row["input_WxH"])]], row["size"],
                            square_ok=row["square_ok"])
        assert list(view["photo"].crop) == row["crop_box"], row
        assert list(view["photo"].network_size) == row["output_WxH"], row
        assert view["true_shape"].tolist() == row["true_shape"], row
        assert view["photo"].size == tuple(row["input_WxH"])
        assert zlib.crc32(to_uint8(view).tobytes()) == row["crc32_cropped_uint8"], row


def test_view_dict_layout_and_exact_normalisation(tmp_path):
    pixels = random_rgb(np.random.default_rng(1), 512, 384)  # already the network size
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels[:, ::-1]).save(tmp_path / "b.png")
    views = load_images([tmp_path / "a.png", str(tmp_path / "b.png")])
    assert [v["idx"] for v in views] == [0, 1]
    assert [v["instance"] for v in views] == ["0", "1"]
    view = views[0]
    assert view["img"].dtype == torch.float32 and view["img"].shape == (1, 3, 384, 512)
    assert view["true_shape"].dtype == np.int32 and view["true_shape"].tolist() == [[384, 512]]
    expected = (torch.from_numpy(pixels).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    assert torch.equal(view["img"][0], expected)
    assert view["photo"] == Photo(str(tmp_path / "a.png"), (512, 384), 1, (512, 384),
                                  (0, 0, 512, 384))


def test_portrait_stays_portrait(tmp_path):
    Image.fromarray(random_rgb(np.random.default_rng(2), 300, 400)).save(tmp_path / "p.png")
    view, = load_images([tmp_path / "p.png"])
    assert view["img"].shape == (1, 3, 512, 384)
    assert view["true_shape"].tolist() == [[512, 384]]
    assert view["photo"].resized == (384, 512) and view["photo"].crop == (0, 0, 384, 512)


def test_224_mode_resizes_the_short_side_and_crops_a_centred_square(tmp_path):
    pixels = random_rgb(np.random.default_rng(3), 640, 480)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    view, = load_images([tmp_path / "a.png"], size=224)
    assert view["photo"].resized == (299, 224)  # 640 * 224/480 = 298.67
    assert view["photo"].crop == (37, 0, 261, 224)
    # Downscaling (640 -> 299), so LANCZOS, as the official filter choice.
    expected = np.asarray(Image.fromarray(pixels).resize((299, 224), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(to_uint8(view), expected[:, 37:261])


def test_small_photos_are_upscaled_with_bicubic(tmp_path):
    pixels = random_rgb(np.random.default_rng(4), 64, 48)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    view, = load_images([tmp_path / "a.png"])
    expected = np.asarray(Image.fromarray(pixels).resize((512, 384), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(to_uint8(view), expected)


@pytest.mark.parametrize("orientation, rot90", [(3, 2), (6, -1), (8, 1)])
def test_exif_orientation_is_applied_and_recorded(tmp_path, orientation, rot90):
    stored = random_rgb(np.random.default_rng(5), 512, 384)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    with Image.open(path) as img:
        decoded = np.asarray(img.convert("RGB"))  # the JPEG's pixels as stored (lossy)
    upright = np.rot90(decoded, rot90)  # 6: the camera was turned; the viewer rotates 90 CW
    view, = load_images([path])
    photo = view["photo"]
    assert photo.exif_orientation == orientation
    assert photo.size == (upright.shape[1], upright.shape[0])
    assert view["true_shape"].tolist() == [list(upright.shape[:2])]
    np.testing.assert_array_equal(to_uint8(view), upright)


def test_other_formats_and_modes_become_rgb(tmp_path):
    rng = np.random.default_rng(6)
    Image.fromarray(random_rgb(rng, 64, 48)[..., 0]).save(tmp_path / "gray.bmp")
    Image.fromarray(np.dstack([random_rgb(rng, 64, 48), np.full((48, 64), 7, np.uint8)])).save(
        tmp_path / "alpha.webp", lossless=True)
    Image.fromarray(random_rgb(rng, 64, 48)).save(tmp_path / "c.tiff")
    views = load_images(tmp_path)
    assert [v["photo"].path for v in views] == [str(tmp_path / n)
                                                for n in ("alpha.webp", "c.tiff", "gray.bmp")]
    assert all(v["img"].shape == (1, 3, 384, 512) for v in views)
    gray = to_uint8(views[2])
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 0], gray[..., 2])


def test_folder_listing_is_sorted_and_keeps_only_image_files(tmp_path):
    pixels = random_rgb(np.random.default_rng(7), 32, 32)
    for name in ("b.png", "A.JPG", "c.jpeg", "._c.jpeg", ".hidden.png"):
        Image.fromarray(pixels).save(tmp_path / name, format="PNG" if "png" in name else "JPEG")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub.png").mkdir()
    expected = [str(tmp_path / n) for n in ("A.JPG", "b.png", "c.jpeg")]
    assert list_images(tmp_path) == expected
    assert [v["photo"].path for v in load_images(str(tmp_path))] == expected
    assert {".jpg", ".jpeg", ".png", ".tif", ".webp"} <= image_extensions()
    assert ".pdf" not in image_extensions() and ".h5" not in image_extensions()


def test_a_single_file_path_is_one_image(tmp_path):
    Image.fromarray(random_rgb(np.random.default_rng(8), 32, 24)).save(tmp_path / "one.png")
    views = load_images(tmp_path / "one.png")
    assert len(views) == 1 and views[0]["photo"].path == str(tmp_path / "one.png")


def test_no_images_is_an_error(tmp_path):
    with pytest.raises(ImageError, match="No images given"):
        load_images([])
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(ImageError, match=f"No image files in the folder {tmp_path}"):
        load_images(tmp_path)


def test_missing_path_is_named(tmp_path):
    with pytest.raises(ImageError, match="not found: .*missing.jpg"):
        load_images([tmp_path / "missing.jpg"])
    with pytest.raises(ImageError, match="not found: .*nowhere"):
        load_images(tmp_path / "nowhere")


@pytest.mark.parametrize("content", [b"", b"this is no image", b"\xff\xd8\xff\xe0" + b"\0" * 64])
def test_unreadable_files_are_named(tmp_path, content):
    Image.fromarray(random_rgb(np.random.default_rng(9), 32, 24)).save(tmp_path / "good.png")
    (tmp_path / "bad.jpg").write_bytes(content)
    with pytest.raises(ImageError, match="Cannot read .*bad.jpg as an image"):
        load_images(tmp_path)


def test_truncated_jpeg_is_named(tmp_path):
    Image.fromarray(random_rgb(np.random.default_rng(10), 256, 192)).save(tmp_path / "t.jpg")
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="Cannot read .*t.jpg"):
        load_images([tmp_path / "t.jpg"])


def test_a_folder_inside_the_list_is_named(tmp_path):
    with pytest.raises(ImageError, match=f"{tmp_path} is a folder"):
        load_images([tmp_path])


@pytest.mark.parametrize("size", [(1, 1), (15, 200), (200, 15)])
def test_tiny_photos_are_rejected_not_upscaled(tmp_path, size):
    Image.fromarray(random_rgb(np.random.default_rng(13), *size)).save(tmp_path / "icon.png")
    with pytest.raises(ImageError, match=rf"icon.png is too small: {size[0]}x{size[1]} pixels.*16"):
        load_images([tmp_path / "icon.png"])


def test_a_photo_of_one_patch_each_way_is_accepted(tmp_path):
    Image.fromarray(random_rgb(np.random.default_rng(14), 16, 16)).save(tmp_path / "a.png")
    assert load_images([tmp_path / "a.png"])[0]["true_shape"].tolist() == [[384, 512]]


def test_too_thin_photos_are_rejected_with_the_minimum(tmp_path):
    # 2000x60 -> 512x15: no 16-pixel row of patches fits.
    Image.fromarray(random_rgb(np.random.default_rng(11), 2000, 60)).save(tmp_path / "strip.png")
    with pytest.raises(ImageError, match=r"strip.png is too narrow.*512x0.*16x16 patch.*16/512"):
        load_images([tmp_path / "strip.png"])
    # 2000x64 -> 512x16 is the thinnest that still works.
    Image.fromarray(random_rgb(np.random.default_rng(12), 2000, 64)).save(tmp_path / "ok.png")
    assert load_images([tmp_path / "ok.png"])[0]["true_shape"].tolist() == [[16, 512]]
