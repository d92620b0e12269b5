"""Masks (core.masks): where they come from, how they are read, how they land on the network
image, and every refusal. The alignment's own handling of masks is in test_align_*; the
pipeline's use of them in test_pipeline_masks.py."""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import Dust3rError, ImageError
from core.images import Photo, load_images, plan_images
from core.masks import MaskFolder, mask_files, network_mask, network_masks, photo_mask, read_upright_mask
from core.settings import JobParams, MaskOptions

# How pixels are stored for an EXIF orientation: the transpose that undoes the viewer's.
STORED = {1: None, 3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
          8: Image.Transpose.ROTATE_270}


def save(pixels: np.ndarray, path: Path, orientation: int = 1, **kwargs) -> str:
    """Save upright `pixels` so that a viewer applying `orientation` shows them."""
    img = Image.fromarray(pixels)
    exif = Image.Exif()
    if orientation != 1:
        img = img.transpose(STORED[orientation])
        exif[0x0112] = orientation
    img.save(path, exif=exif.tobytes(), **kwargs)
    return str(path)


def photo_file(path: Path, size=(96, 72), orientation: int = 1, alpha=None) -> str:
    """A textured photo of upright `size`; `alpha` [H0, W0] uint8 makes it RGBA."""
    w, h = size
    rng = np.random.default_rng(zlib.crc32(str(path).encode()))  # each file its own photo
    pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if alpha is not None:
        pixels = np.dstack([pixels, alpha])
    return save(pixels, path, orientation)


def blocks(size, block=8, phase=0) -> np.ndarray:
    """A checkerboard keep-mask [H, W] of `block`-pixel squares."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    return ((x // block + y // block + phase) % 2 == 0)


def grey(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, 255, 0).astype(np.uint8)


def folder_of(tmp_path, name="masks") -> Path:
    (tmp_path / name).mkdir(exist_ok=True)
    return tmp_path / name


# ------------------------------------------------------------------ options and lookup

def test_the_default_is_no_masks_and_bad_combinations_are_refused():
    assert JobParams().masks == MaskOptions() and MaskOptions().source == "none"
    assert MaskOptions(folder="m").source == "folder" and MaskOptions(alpha=True).source == "alpha"
    for options, message in [(dict(folder="m", alpha=True), "not both"),
                             (dict(invert=True), "Invert masks needs masks"),
                             (dict(folder=3), "folder must be a path")]:
        with pytest.raises(Dust3rError, match=message):  # when they are made
            MaskOptions(**options)
    with pytest.raises(Dust3rError, match="masks must be MaskOptions"):
        JobParams(photos=["a.jpg"], masks="masks/")


def test_a_mask_is_found_by_the_photo_stem_or_its_colmap_name_in_any_case(tmp_path):
    masks = folder_of(tmp_path)
    for name in ("IMG_1.png", "img_2.TIF", "IMG_3.jpg.png", ".IMG_4.png", "IMG_4.txt"):
        (masks / name).write_bytes(b"")  # listed, not opened
    folder = MaskFolder.read(str(masks))
    assert folder.for_photo("/photos/IMG_1.jpg") == str(masks / "IMG_1.png")
    assert folder.for_photo("/photos/IMG_2.JPG") == str(masks / "img_2.TIF")
    assert folder.for_photo("/photos/IMG_3.jpg") == str(masks / "IMG_3.jpg.png")  # COLMAP
    assert folder.for_photo("/photos/IMG_4.jpg") is None  # hidden and non-image files
    # The lookup an image sequence reuses: a frame by its number's spellings.
    (masks / "0042.png").write_bytes(b"")
    assert MaskFolder.read(str(masks)).find("00042", "0042", "42") == str(masks / "0042.png")


def test_two_masks_of_one_name_are_refused_naming_both(tmp_path):
    masks = folder_of(tmp_path)
    (masks / "a.png").write_bytes(b"")
    (masks / "A.jpg").write_bytes(b"")
    with pytest.raises(Dust3rError, match=r"named a: A.jpg and a.png; keep one"):
        MaskFolder.read(str(masks)).for_photo("x/a.jpg")


@pytest.mark.parametrize("make, message", [
    (lambda t: t / "nowhere", "The mask folder .*nowhere does not exist"),
    (lambda t: (t / "file.png").write_bytes(b"") or t / "file.png", "is not a folder"),
    (lambda t: folder_of(t, "empty"), "empty holds no image files"),
])
def test_a_mask_folder_that_is_missing_or_empty_is_refused(tmp_path, make, message):
    photos = [photo_file(folder_of(tmp_path, "photos") / "a.jpg")]
    with pytest.raises(Dust3rError, match=message):
        mask_files(photos, MaskOptions(folder=str(make(tmp_path))))


def test_a_mask_folder_must_fit_a_photo_and_be_a_folder_of_its_own(tmp_path):
    photos_dir = folder_of(tmp_path, "photos")
    photos = [photo_file(photos_dir / f"p{i}.jpg") for i in range(3)]
    masks = folder_of(tmp_path)
    Image.new("L", (96, 72), 255).save(masks / "other.png")
    with pytest.raises(Dust3rError, match=r"No mask in .*masks fits any photo: .* p0.png for "
                                          r"p0.jpg"):
        mask_files(photos, MaskOptions(folder=str(masks)))
    Image.new("L", (96, 72), 255).save(photos_dir / "p0_mask.png")
    with pytest.raises(Dust3rError, match="is the folder of the photo .*p0.jpg: keep the masks"):
        mask_files(photos, MaskOptions(folder=str(photos_dir)))
    Image.new("L", (96, 72), 255).save(masks / "p1.png")
    assert mask_files(photos, MaskOptions(folder=str(masks))) == [None, str(masks / "p1.png"),
                                                                   None]


def test_alpha_masks_come_from_the_photos_that_have_an_alpha_channel(tmp_path):
    opaque = np.full((72, 96), 255, np.uint8)
    photos = [photo_file(tmp_path / "a.png", alpha=opaque), photo_file(tmp_path / "b.jpg"),
              photo_file(tmp_path / "c.png")]
    assert mask_files(photos, MaskOptions(alpha=True)) == [photos[0], None, None]
    with pytest.raises(Dust3rError, match="none of the 2 photos has an alpha channel"):
        mask_files(photos[1:], MaskOptions(alpha=True))


# ------------------------------------------------------------------ reading one mask

def read(path, photo, **options):
    """The upright mask at `path` for `photo` (a Photo, or a photo file)."""
    photo = photo if isinstance(photo, Photo) else plan_images([photo])[0]
    return read_upright_mask(str(path), photo, MaskOptions(folder="m", **options))


def tiny(size) -> Photo:
    """A photo of `size` that the loader would refuse as too small: masks alone don't care."""
    return Photo("tiny.jpg", size, 1, size, (0, 0, *size))


def test_white_keeps_black_ignores_and_grey_keeps_above_half(tmp_path):
    photo = tiny((4, 2))
    levels = np.array([[0, 127, 128, 255], [255, 128, 127, 0]], np.uint8)
    Image.fromarray(levels).save(tmp_path / "m.png")
    expected = np.array([[0, 0, 1, 1], [1, 1, 0, 0]], bool)
    np.testing.assert_array_equal(read(tmp_path / "m.png", photo), expected)
    np.testing.assert_array_equal(read(tmp_path / "m.png", photo, invert=True), ~expected)
    # Colour by luminance (pure blue is dark), a bilevel file, 16 bits by their depth.
    rgb = np.zeros((2, 4, 3), np.uint8)
    rgb[..., 2] = 255
    rgb[:, :2] = 255  # white left half, pure blue right half
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read(tmp_path / "rgb.png", photo), [[1, 1, 0, 0]] * 2)
    Image.fromarray(expected).save(tmp_path / "bits.png")
    assert Image.open(tmp_path / "bits.png").mode == "1"
    np.testing.assert_array_equal(read(tmp_path / "bits.png", photo), expected)
    deep = np.array([[0, 32767, 32768, 65535]] * 2, np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    np.testing.assert_array_equal(read(tmp_path / "deep.png", photo), [[0, 0, 1, 1]] * 2)


def test_the_alpha_of_a_mask_file_is_not_what_decides(tmp_path):
    photo = tiny((4, 2))
    rgba = np.zeros((2, 4, 4), np.uint8)
    rgba[:, :2, :3] = 255  # white left half
    rgba[0, :, 3] = 255  # opaque top row only
    Image.fromarray(rgba).save(tmp_path / "m.png")
    np.testing.assert_array_equal(read(tmp_path / "m.png", photo), [[1, 1, 0, 0]] * 2)


def test_a_mask_is_taken_upright_with_its_own_exif_orientation(tmp_path):
    keep = blocks((30, 20), block=5)
    photo = photo_file(tmp_path / "p.jpg", (30, 20), orientation=6)  # stored 20x30
    plain = save(grey(keep), tmp_path / "plain.png")
    turned = save(grey(keep), tmp_path / "turned.png", orientation=8)  # the mask's own tag
    for mask in (plain, turned):
        np.testing.assert_array_equal(read(mask, photo), keep)


def test_a_mask_saved_as_the_photo_is_stored_is_refused_with_advice(tmp_path):
    photo = photo_file(tmp_path / "p.jpg", (30, 20), orientation=6)
    stored = save(grey(blocks((20, 30))), tmp_path / "stored.png")
    with pytest.raises(ImageError, match=r"stored.png is 20x30 but its photo .*p.jpg is 30x20 "
                                         r"upright.*EXIF orientation 6.*save the mask upright"):
        read(stored, photo)


def test_a_mask_at_another_resolution_of_the_same_aspect_is_scaled(tmp_path):
    photo = photo_file(tmp_path / "p.jpg", (40, 30))
    half = blocks((20, 15), block=2)
    Image.fromarray(grey(half)).save(tmp_path / "half.png")
    np.testing.assert_array_equal(read(tmp_path / "half.png", photo),
                                  half.repeat(2, 0).repeat(2, 1))
    # One mask pixel of rounding is the same aspect (4000x3000 drawn at 333x250) ...
    Image.new("L", (13, 10), 255).save(tmp_path / "rounded.png")
    assert read(tmp_path / "rounded.png", photo).shape == (30, 40)
    # ... another aspect is not.
    Image.new("L", (40, 40), 255).save(tmp_path / "square.png")
    with pytest.raises(ImageError, match=r"square.png is 40x40 but its photo .*p.jpg is 40x30 "
                                         r"upright: a mask needs its photo's size or aspect"):
        read(tmp_path / "square.png", photo)


def test_an_unreadable_mask_is_refused_naming_it(tmp_path):
    photo = photo_file(tmp_path / "p.jpg")
    (tmp_path / "m.png").write_text("not an image")
    with pytest.raises(ImageError, match=r"Cannot read .*m.png as an image"):
        read(tmp_path / "m.png", photo)


# ------------------------------------------------------------------ on the network image

def spec_network_mask(keep: np.ndarray, photo) -> np.ndarray:
    """The mask value of the photo pixel under each network pixel's centre, from the
    loader's resize and crop as the Photo records them."""
    (w0, h0), (w1, h1), (left, top, right, bottom) = photo.size, photo.resized, photo.crop
    u = np.arange(left, right)
    v = np.arange(top, bottom)
    x = np.floor((u + 0.5) * w0 / w1).astype(int)  # the photo pixel holding the centre
    y = np.floor((v + 0.5) * h0 / h1).astype(int)
    return keep[np.ix_(y, x)]


@pytest.mark.parametrize("size, orientation, image_size", [
    ((300, 200), 1, 512), ((300, 200), 6, 512), ((200, 300), 8, 512), ((300, 200), 3, 224),
    ((64, 64), 1, 512), ((1000, 420), 1, 512)])
def test_a_mask_lands_on_the_network_image_pixel_for_pixel(tmp_path, size, orientation,
                                                           image_size):
    """A photo whose picture is its own mask (white where kept): the loader's network image
    and the network mask agree wherever the picture is not blurred by resampling, and the
    mask takes exactly the photo pixel under each network pixel's centre."""
    keep = blocks(size, block=10) | blocks(size, block=37, phase=1)
    photo_path = save(np.repeat(grey(keep)[..., None], 3, -1), tmp_path / "p.png", orientation)
    Image.fromarray(grey(keep)).save(tmp_path / "m.png")
    view, = load_images([photo_path], image_size)
    photo = view["photo"]
    assert photo == plan_images([photo_path], image_size)[0]
    mask = network_mask(read(tmp_path / "m.png", photo_path), photo)
    assert mask.shape == tuple(view["true_shape"][0])
    np.testing.assert_array_equal(mask, spec_network_mask(keep, photo))
    image = view["img"][0].mean(0).numpy() > 0  # white where the picture keeps
    w, h = photo.network_size
    interior = np.ones((h, w), bool)  # pixels whose 5x5 neighbourhood has one value
    padded = np.pad(mask, 2, mode="edge")
    for dy in range(5):
        for dx in range(5):
            interior &= padded[dy:dy + h, dx:dx + w] == mask
    assert interior.mean() > 0.3
    np.testing.assert_array_equal(image[interior], mask[interior])


def test_alpha_masks_go_through_the_photos_exif_rotation(tmp_path):
    size = (120, 80)
    keep = blocks(size, block=9)
    path = photo_file(tmp_path / "p.png", size, orientation=6, alpha=grey(keep))
    photo = plan_images([path])[0]
    assert photo.size == size and photo.exif_orientation == 6
    upright = read_upright_mask(path, photo, MaskOptions(alpha=True))
    np.testing.assert_array_equal(upright, keep)
    masks, notes = network_masks([photo], MaskOptions(alpha=True))
    np.testing.assert_array_equal(masks[0], spec_network_mask(keep, photo))
    assert notes == []


# ------------------------------------------------------------------ a run's masks

def test_photos_without_a_mask_run_unmasked_and_are_named_in_a_note(tmp_path):
    photos = [photo_file(folder_of(tmp_path, "photos") / f"IMG_{i}.jpg") for i in range(8)]
    masks = folder_of(tmp_path)
    Image.fromarray(grey(blocks((96, 72)))).save(masks / "IMG_1.png")
    planned = plan_images(photos, 64)
    out, notes = network_masks(planned, MaskOptions(folder=str(masks)))
    assert [m is not None for m in out] == [False, True] + [False] * 6
    assert out[1].shape == (48, 64) and out[1].dtype == bool
    assert notes == [f"7 of 8 photos have no mask in {masks} and run unmasked: IMG_0.jpg, "
                     "IMG_2.jpg, IMG_3.jpg, IMG_4.jpg, IMG_5.jpg and 2 more"]
    opaque = np.full((72, 96), 255, np.uint8)
    photos[1] = photo_file(tmp_path / "IMG_1.png", alpha=opaque)
    _, notes = network_masks(plan_images(photos[:3], 64), MaskOptions(alpha=True))
    assert notes == ["2 of 3 photos have no alpha channel and run unmasked: IMG_0.jpg, "
                     "IMG_2.jpg"]
    assert network_masks(planned, MaskOptions()) == ([None] * 8, [])


def test_a_mask_that_leaves_no_pixel_is_refused_naming_it(tmp_path):
    photos = [photo_file(folder_of(tmp_path, "photos") / "a.jpg", (160, 72))]
    masks = folder_of(tmp_path)
    Image.new("L", (160, 72), 0).save(masks / "a.png")
    with pytest.raises(ImageError, match=r"The mask .*a.png leaves no pixel of a.jpg"):
        network_masks(plan_images(photos), MaskOptions(folder=str(masks)))
    with pytest.raises(ImageError, match=r"The mask .*a.png \(inverted\) leaves no pixel"):
        Image.new("L", (160, 72), 255).save(masks / "a.png")
        network_masks(plan_images(photos), MaskOptions(folder=str(masks), invert=True))
    # Pixels only where the loader's crop cuts (a 2.2:1 photo is cropped to 512x224 of
    # 512x230): nothing left on the network image.
    edge = np.zeros((72, 160), np.uint8)
    edge[0] = 255
    Image.fromarray(edge).save(masks / "a.png")
    photo = plan_images(photos)[0]
    assert photo.crop[1] > 0
    with pytest.raises(ImageError, match=r"leaves no pixel of a.jpg to reconstruct \(in the "
                                         r"part of the photo the network sees"):
        network_masks([photo], MaskOptions(folder=str(masks)))
    rgba = np.zeros((72, 160), np.uint8)
    path = photo_file(tmp_path / "clear.png", (160, 72), alpha=rgba)
    with pytest.raises(ImageError, match=r"The alpha channel of .*clear.png leaves no pixel"):
        network_masks(plan_images([path]), MaskOptions(alpha=True))


def test_photo_mask_gives_exporters_the_mask_at_the_upright_photo_resolution(tmp_path):
    """The interface for writing e.g. nerfstudio mask images: bool [H0, W0], True = keep,
    the same mask the run used (its network image is the run's mask)."""
    photos_dir, masks = folder_of(tmp_path, "photos"), folder_of(tmp_path)
    keep = blocks((120, 80), block=7)
    rotated = photo_file(photos_dir / "r.jpg", (120, 80), orientation=6)
    plain = photo_file(photos_dir / "n.jpg", (120, 80))
    Image.fromarray(grey(keep[::2, ::2])).save(masks / "r.png")  # half resolution
    options = MaskOptions(folder=str(masks), invert=True)
    photos = plan_images([rotated, plain])
    upright = photo_mask(photos[0], options)
    assert upright.shape == (80, 120) and upright.dtype == bool
    np.testing.assert_array_equal(upright, ~keep[::2, ::2].repeat(2, 0).repeat(2, 1))
    np.testing.assert_array_equal(photo_mask(rotated, options), upright)  # a path works too
    assert photo_mask(photos[1], options) is None  # no mask: it ran unmasked
    assert photo_mask(photos[0], MaskOptions()) is None  # masks off
    run_masks, _ = network_masks(photos, options)
    np.testing.assert_array_equal(network_mask(upright, photos[0]), run_masks[0])
