"""load_images reproduces the official loader: sizes, crops, filters, tensors, EXIF, errors."""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from core.errors import ImageError
from core.images import (Photo, image_extensions, list_images, load_images, open_upright,
                         plan_images)


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
    for seed, name in enumerate(("b.png", "A.JPG", "c.jpeg", "._c.jpeg", ".hidden.png")):
        Image.fromarray(random_rgb(np.random.default_rng(7 + seed), 32, 32)).save(
            tmp_path / name, format="PNG" if "png" in name else "JPEG")
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


# ------------------------------------------------------------------------------ bit depths
# Fixtures at the network size (512x384): no resampling, so each pixel shows the conversion.

def write_png16(path, samples):
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA by the channel count), written by hand:
    Pillow cannot write 16-bit colour."""
    h, w = samples.shape[:2]
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    rows = samples.astype(">u2").reshape(h, -1)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)  # filter type 0 per row

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_tiff(path, samples, bits=None, sample_format=1):
    """An uncompressed little-endian TIFF, written by hand for what Pillow does not write
    (12-bit, unsigned 32-bit, 16-bit RGB). `samples` holds the stored values; 12-bit ones
    are packed two to three bytes."""
    h, w = samples.shape[:2]
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    bits = bits or samples.dtype.itemsize * 8
    if bits == 12:
        pairs = samples.astype(np.uint16).reshape(-1, 2)
        data = np.stack([pairs[:, 0] >> 4, (pairs[:, 0] & 15) << 4 | pairs[:, 1] >> 8,
                         pairs[:, 1] & 255], 1).astype(np.uint8).tobytes()
    else:
        data = samples.astype(samples.dtype.newbyteorder("<")).tobytes()
    per_sample = struct.pack(f"<{channels}H", *[bits] * channels)  # BitsPerSample values
    formats = struct.pack(f"<{channels}H", *[sample_format] * channels)
    extra = per_sample + formats
    data_at, extra_at = 8, 8 + len(data)

    def short_or_offset(values_at):  # one SHORT inline, several at an offset
        return struct.pack("<HH", bits, 0) if channels == 1 else struct.pack("<I", values_at)

    tags = [(256, 4, 1, struct.pack("<I", w)), (257, 4, 1, struct.pack("<I", h)),
            (258, 3, channels, short_or_offset(extra_at)), (259, 3, 1, struct.pack("<HH", 1, 0)),
            (262, 3, 1, struct.pack("<HH", 2 if channels == 3 else 1, 0)),
            (273, 4, 1, struct.pack("<I", data_at)), (277, 3, 1, struct.pack("<HH", channels, 0)),
            (278, 4, 1, struct.pack("<I", h)), (279, 4, 1, struct.pack("<I", len(data))),
            (339, 3, channels, struct.pack("<HH", sample_format, 0) if channels == 1
             else struct.pack("<I", extra_at + len(per_sample)))]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHI", tag, kind, count) + value for tag, kind, count, value in tags)
    path.write_bytes(b"II*\0" + struct.pack("<I", extra_at + len(extra)) + data + extra
                     + ifd + b"\0\0\0\0")


def gradient(top, dtype=np.float64):
    """A 512x384 ramp over 0..top: every column a value, each row a little brighter."""
    ramp = np.linspace(0, 1, 512)[None, :] * np.linspace(0.25, 1, 384)[:, None]
    return np.round(ramp * top).astype(dtype)


def grey_of(view):
    pixels = to_uint8(view).astype(int)
    assert np.array_equal(pixels[..., 0], pixels[..., 1])
    assert np.array_equal(pixels[..., 0], pixels[..., 2])
    return pixels[..., 0]


@pytest.mark.parametrize("name, mode, top", [
    ("png16.png", "I;16", 65535), ("tiff16.tif", "I;16", 65535),
    ("tiff16be.tif", "I;16B", 65535), ("tiff12.tif", "I;16", 4095),
    ("pgm16.pgm", "I", 65535), ("pgm12.pgm", "I", 4095),
    ("signed16.tif", "I", 65535), ("int32.tif", "I", 2**32 - 1),
    ("uint32.tif", "I", 2**32 - 1)])
def test_deep_grey_is_scaled_by_the_bit_depth_the_file_declares(tmp_path, name, mode, top):
    values = gradient(top)
    path = tmp_path / name
    if name == "png16.png":
        write_png16(path, values.astype(np.uint16))
    elif name == "tiff16.tif":
        Image.fromarray(values.astype(np.uint16)).save(path)
    elif name == "tiff16be.tif":
        Image.frombytes("I;16B", (512, 384), values.astype(">u2").tobytes()).save(path)
    elif name == "tiff12.tif":
        write_tiff(path, values.astype(np.uint16), bits=12)
    elif name.startswith("pgm"):
        path.write_bytes(f"P5 512 384 {top}\n".encode() + values.astype(">u2").tobytes())
    elif name == "signed16.tif":  # the signed range, from its minimum
        write_tiff(path, (values - 32768).astype(np.int16), sample_format=2)
    elif name == "int32.tif":
        Image.fromarray((values - 2**31).astype(np.int32)).save(path)  # Pillow: signed 32
    else:
        write_tiff(path, values.astype(np.uint32))
    with Image.open(path) as img:
        assert img.mode == mode  # the Pillow mode this case covers
    eight_bit = np.round(values * 255 / top)
    assert np.abs(grey_of(load_images([path])[0]) - eight_bit).max() <= 1


def test_sixteen_bit_grey_matches_its_eight_bit_version(tmp_path):
    eight = gradient(255, np.uint8)
    Image.fromarray(eight).save(tmp_path / "eight.png")
    write_png16(tmp_path / "sixteen.png", eight.astype(np.uint16) * 257)
    ours = [to_uint8(v) for v in load_images([tmp_path / "eight.png", tmp_path / "sixteen.png"])]
    np.testing.assert_array_equal(ours[0], ours[1])
    np.testing.assert_array_equal(ours[0][..., 0], eight)


@pytest.mark.parametrize("writer, alpha", [("png", False), ("png", True), ("tiff", False)])
def test_sixteen_bit_colour_is_within_one_level_of_its_eight_bit_version(tmp_path, writer, alpha):
    values = np.dstack([gradient(65535), gradient(65535)[::-1], gradient(65535)[:, ::-1]]
                       + [np.full((384, 512), 1000)] * alpha)
    path = tmp_path / f"colour.{writer}"
    (write_png16 if writer == "png" else write_tiff)(path, values.astype(np.uint16))
    eight_bit = np.round(values[..., :3] * 255 / 65535)
    assert np.abs(to_uint8(load_images([path])[0]) - eight_bit).max() <= 1


def test_float_pixels_are_display_values_clipped_to_0_1(tmp_path):
    values = gradient(1.0).astype(np.float32) * 1.5 - 0.25  # -0.25 .. 1.25
    values[0, :8] = np.nan
    Image.fromarray(values).save(tmp_path / "float.tif")
    with Image.open(tmp_path / "float.tif") as img:
        assert img.mode == "F"
    expected = np.round(np.clip(np.nan_to_num(values) * 255, 0, 255))
    grey = grey_of(load_images([tmp_path / "float.tif"])[0])
    assert np.abs(grey - expected).max() <= 1
    assert (grey[0, :8] == 0).all() and grey.max() == 255 and grey.min() == 0


def pillow_rgb(path):
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


@pytest.mark.parametrize("mode, name", [
    ("1", "bilevel.png"), ("P", "palette.png"), ("LA", "grey_alpha.png"),
    ("PA", "palette_alpha.tif"), ("RGBA", "alpha.png"), ("CMYK", "print.jpg"),
    ("CMYK", "print.tif"), ("YCbCr", "video.tif"), ("LAB", "lab.tif")])
def test_eight_bit_modes_become_rgb_as_pillow_converts_them(tmp_path, mode, name):
    rng = np.random.default_rng(15)
    rgb = Image.fromarray(random_rgb(rng, 512, 384))
    alpha = Image.fromarray(random_rgb(rng, 512, 384)[..., 0])
    if mode in ("LA", "RGBA"):
        img = rgb.convert(mode[:-1])
        img.putalpha(alpha)
    elif mode == "PA":
        img = rgb.convert("P").convert("PA")
    else:
        img = rgb.convert(mode)  # P: saved with a transparent palette entry
    img.save(tmp_path / name, **({"transparency": 3} if mode == "P" else {}))
    with Image.open(tmp_path / name) as stored:
        assert stored.mode == mode
    np.testing.assert_array_equal(to_uint8(load_images([tmp_path / name])[0]),
                                  pillow_rgb(tmp_path / name))


def test_integer_pixels_of_unknown_depth_are_refused(tmp_path):
    """A FITS file of 32-bit integers (written by hand): the format has no bit depth for them."""
    cards = ["SIMPLE  =                    T", "BITPIX  =                   32",
             "NAXIS   =                    2", "NAXIS1  =                  512",
             "NAXIS2  =                  384", "END"]
    header = "".join(card.ljust(80) for card in cards).ljust(2880).encode()
    data = np.full((384, 512), 70000, ">i4").tobytes()
    (tmp_path / "deep.fits").write_bytes(header + data + bytes(-len(data) % 2880))
    with Image.open(tmp_path / "deep.fits") as img:
        assert img.mode == "I"
    with pytest.raises(ImageError, match=r"deep.fits has 32-bit integer pixels in a FITS file"):
        load_images([tmp_path / "deep.fits"])


# ------------------------------------------------------------------------- paths and files

@pytest.fixture
def no_hang():
    """Fail with TimeoutError instead of blocking forever (opening a FIFO waits for a writer)."""
    def alarm(signum, frame):
        raise TimeoutError("blocked on a file")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, 5)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_called_like_a_photo_is_refused_without_opening_it(tmp_path, no_hang):
    Image.fromarray(random_rgb(np.random.default_rng(16), 32, 24)).save(tmp_path / "a.png")
    os.mkfifo(tmp_path / "x.jpg")
    for paths in ([tmp_path / "a.png", tmp_path / "x.jpg"], tmp_path / "x.jpg"):
        with pytest.raises(ImageError, match=r"x.jpg is a named pipe \(FIFO\), not an image file"):
            load_images(paths)
    with pytest.raises(ImageError, match="named pipe"):
        open_upright(tmp_path / "x.jpg")
    assert list_images(tmp_path) == [str(tmp_path / "a.png")]  # a folder lists regular files


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="Unix sockets")
def test_a_socket_called_like_a_photo_is_refused(tmp_path, no_hang):
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s.png"))
        with pytest.raises(ImageError, match="s.png is a socket, not an image file"):
            load_images([tmp_path / "s.png"])


@pytest.mark.parametrize("spelling", ["same", "relative", "symlink", "hardlink", "dotted"])
def test_the_same_photo_twice_is_named(tmp_path, monkeypatch, spelling):
    photo = tmp_path / "a.png"
    Image.fromarray(random_rgb(np.random.default_rng(17), 32, 24)).save(photo)
    Image.fromarray(random_rgb(np.random.default_rng(18), 32, 24)).save(tmp_path / "b.png")
    monkeypatch.chdir(tmp_path)
    other = {"same": str(photo), "relative": "a.png", "dotted": f"{tmp_path}/./sub/../a.png",
             "symlink": str(tmp_path / "link.png"),
             "hardlink": str(tmp_path / "hard.png")}[spelling]
    (tmp_path / "sub").mkdir()
    if spelling == "symlink":
        os.symlink(photo, other)
    elif spelling == "hardlink":
        os.link(photo, other)
    assert os.path.samefile(photo, other)
    with pytest.raises(ImageError, match=rf"{re.escape(other)} is the same file as "
                                         rf"{re.escape(str(photo))}: each photo .* only once"):
        load_images([photo, tmp_path / "b.png", other])


def test_a_copy_of_a_photo_under_another_name_is_refused(tmp_path, monkeypatch):
    """The same bytes twice (a copied file) are refused like the same file twice; only files
    of equal size are read to tell."""
    photos = []
    for n in range(3):  # sizes apart, so files apart in size
        photos.append(tmp_path / f"p{n}.png")
        Image.fromarray(random_rgb(np.random.default_rng(30 + n), 32 + 8 * n, 24 + 6 * n)
                        ).save(photos[n])
    shutil.copyfile(photos[1], tmp_path / "p1 again.png")
    with pytest.raises(ImageError, match=r"/p1.png is a copy of .*/p1 again.png \(the same "
                                         r"bytes\): each photo may be given only once"):
        load_images(tmp_path)
    # Files of other sizes are not read at all; equal sizes with other bytes pass.
    (tmp_path / "p1 again.png").unlink()
    same_size = tmp_path / "same size.png"
    data = bytearray(photos[2].read_bytes())
    data[-13] ^= 1  # inside the IEND chunk's CRC: the pixels stay readable
    same_size.write_bytes(bytes(data))
    hashed = []
    digest = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda f, *a: hashed.append(
        os.path.basename(f.name)) or digest(f, *a))
    assert len(plan_images(tmp_path)) == 4
    assert sorted(hashed) == ["p2.png", "same size.png"]


def test_a_folder_with_a_link_to_one_of_its_photos_is_refused(tmp_path):
    Image.fromarray(random_rgb(np.random.default_rng(19), 32, 24)).save(tmp_path / "a.png")
    os.symlink(tmp_path / "a.png", tmp_path / "b.png")
    with pytest.raises(ImageError, match="b.png is the same file as .*a.png"):
        load_images(tmp_path)


def test_every_photo_is_checked_before_any_is_decoded(tmp_path, monkeypatch):
    Image.fromarray(random_rgb(np.random.default_rng(20), 64, 48)).save(tmp_path / "a.png")
    Image.fromarray(random_rgb(np.random.default_rng(21), 8, 8)).save(tmp_path / "b.png")
    (tmp_path / "c.png").write_bytes(b"not a png")

    def decoded(img, *args):
        raise AssertionError(f"{img.filename} was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decoded)
    with pytest.raises(ImageError, match="b.png is too small"):
        load_images([tmp_path / "a.png", tmp_path / "b.png"])
    with pytest.raises(ImageError, match="Cannot read .*c.png"):
        load_images([tmp_path / "a.png", tmp_path / "c.png"])
    (tmp_path / "d.png").mkdir()
    with pytest.raises(ImageError, match="d.png is a folder"):
        load_images([tmp_path / "a.png", tmp_path / "d.png"])
    with pytest.raises(ImageError, match="b.png is too small"):
        plan_images([tmp_path / "a.png", tmp_path / "b.png"])


def test_plan_images_tells_what_load_images_does(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(random_rgb(np.random.default_rng(23), 640, 480)).save(tmp_path / "a.jpg",
                                                                          exif=exif)
    Image.fromarray(random_rgb(np.random.default_rng(24), 300, 200)).save(tmp_path / "b.png")
    for size in (512, 224):
        assert plan_images(tmp_path, size) == [v["photo"] for v in load_images(tmp_path, size)]


def test_an_exif_rotated_photo_that_is_too_thin_upright_is_refused(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 2000x64 landscape, shown 64x2000 portrait: 16x512 for the network
    Image.fromarray(random_rgb(np.random.default_rng(22), 2000, 60)).save(
        tmp_path / "strip.jpg", exif=exif)
    with pytest.raises(ImageError, match=r"strip.jpg is too narrow: its 60x2000 pixels"):
        load_images([tmp_path / "strip.jpg"])


# -------------------------------------------------------------------------------- memory

PEAK_SCRIPT = """
import sys
from pathlib import Path
from core.images import load_images
def peak():
    return int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) * 1024
before = peak()
load_images(sys.argv[1:])
print(peak() - before)
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux VmHWM")
@pytest.mark.parametrize("orientation, copies", [(1, 1.5), (6, 2.5)])
def test_a_large_photo_is_decoded_once_and_transposed_once(tmp_path, orientation, copies):
    """Peak memory of loading two 24 MP photos, in decoded copies of one (Pillow keeps RGB at
    4 bytes a pixel): the decoded photo, plus its transposition when EXIF rotates it; no
    conversion copy of an RGB photo, and the first photo is freed before the second."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    ramp = gradient(255, np.uint8)
    pixels = np.dstack([np.tile(ramp, (12, 12))[:4000, :6000]] * 3)
    for quality, name in ((90, "a.jpg"), (91, "b.jpg")):  # two photos, not one twice
        Image.fromarray(pixels).save(tmp_path / name, exif=exif, quality=quality)
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(tmp_path / "a.jpg"),
                          str(tmp_path / "b.jpg")], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert int(out.stdout) / (6000 * 4000 * 4) < copies
