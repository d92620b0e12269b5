"""Photos in, network images out, and the bookkeeping to map cameras back onto the photos.

Coordinates follow OpenCV: pixel (u, v) = (column, row), pixel centres at integers, so the
top-left pixel's centre is (0, 0) and its outer corner (-0.5, -0.5).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps

from .errors import ImageError
from .paths import PathLike, special_kind


@dataclass(frozen=True)
class Photo:
    """What loading did to one photo: enough to move intrinsics between photo and network image.

    The photo frame is the photo as a viewer shows it, i.e. after its EXIF orientation is
    applied; `size` is that upright size. The network image is `crop` of the photo resized
    to `resized`.
    """

    path: str
    size: tuple[int, int]  # (W0, H0) of the EXIF-upright photo
    exif_orientation: int  # EXIF Orientation tag as stored in the file (1 = already upright)
    resized: tuple[int, int]  # (W1, H1) after the resize step
    crop: tuple[int, int, int, int]  # (left, top, right, bottom) in the resized image

    @property
    def network_size(self) -> tuple[int, int]:
        """(W, H) of the network image."""
        left, top, right, bottom = self.crop
        return right - left, bottom - top

    @property
    def scale_xy(self) -> np.ndarray:
        """Per-axis resize factors (W1/W0, H1/H0); they differ slightly when a side was rounded."""
        return np.array(self.resized, np.float64) / np.array(self.size, np.float64)

    @property
    def focal_scale(self) -> float:
        """The one factor that maps a square-pixel focal from the photo to the network image.

        Rounding a side during the resize squeezes that axis by under 0.2 %; the photo's
        own pixels are square, so one focal per photo is kept and the geometric mean of the
        two axis factors is the least-biased single scale.
        """
        sx, sy = self.scale_xy
        return float(np.sqrt(sx * sy))

    def pixel_to_network(self, uv_photo: np.ndarray) -> np.ndarray:
        """Map photo pixel coordinates [..., 2] to network-image pixel coordinates."""
        offset = np.array(self.crop[:2], np.float64)
        return (np.asarray(uv_photo, np.float64) + 0.5) * self.scale_xy - 0.5 - offset

    def pixel_to_photo(self, uv_network: np.ndarray) -> np.ndarray:
        """Map network-image pixel coordinates [..., 2] to photo pixel coordinates."""
        offset = np.array(self.crop[:2], np.float64)
        return (np.asarray(uv_network, np.float64) + offset + 0.5) / self.scale_xy - 0.5

    def intrinsics_to_photo(self, focal: float, pp: np.ndarray) -> tuple[float, np.ndarray]:
        """(focal, principal point) of the network image -> the same camera on the photo."""
        return float(focal) / self.focal_scale, self.pixel_to_photo(pp)

    def intrinsics_to_network(self, focal: float, pp: np.ndarray) -> tuple[float, np.ndarray]:
        """(focal, principal point) on the photo -> the same camera on the network image."""
        return float(focal) * self.focal_scale, self.pixel_to_network(pp)


_ORIENTATION_TAG = 0x0112  # EXIF "Orientation"
# Formats Pillow recognises but cannot decode into pixels: skip their files in a folder.
_UNDECODABLE_FORMATS = {"MPEG"}


@functools.cache
def image_extensions() -> frozenset[str]:
    """Lower-case file extensions (".jpg", ...) of the formats Pillow can decode here.

    HEIC/HEIF joins the list only when the optional pillow-heif package is importable.
    """
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        pass
    else:
        register_heif_opener()
    Image.init()
    return frozenset(
        ext for ext, fmt in Image.registered_extensions().items()
        if fmt in Image.OPEN and fmt not in _UNDECODABLE_FORMATS
        and not (isinstance(Image.OPEN[fmt][0], type)
                 and issubclass(Image.OPEN[fmt][0], ImageFile.StubImageFile))
    )


def list_images(folder: PathLike) -> list[str]:
    """The image files of a folder in sorted name order, as the official loader lists them.

    Hidden files (a leading dot, e.g. macOS "._IMG_0001.jpg" resource forks) are skipped.
    """
    folder = os.fspath(folder)
    extensions = image_extensions()
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder))
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in extensions
            and os.path.isfile(os.path.join(folder, name))]


def network_geometry(size: tuple[int, int], target: int = 512, *, square_ok: bool = False,
                     patch_size: int = 16) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """Resized (W1, H1) and the integer crop box the official loader gives an upright W x H photo.

    target 224: the short side goes to ~224, then a centred square crop. Otherwise the long
    side goes to `target`, then a centred crop to multiples of `patch_size`; a square becomes
    4:3 unless `square_ok`. Python `round` (half to even) throughout, as the official code;
    the crop box is rounded the way PIL's crop rounds it.
    """
    w, h = size
    long_side = round(224 * max(w / h, h / w)) if target == 224 else target
    scale = long_side / max(w, h)
    w1, h1 = int(round(w * scale)), int(round(h * scale))
    cx, cy = w1 // 2, h1 // 2
    if target == 224:
        half_w = half_h = min(cx, cy)
    else:
        half_w = ((2 * cx) // patch_size) * patch_size / 2
        half_h = ((2 * cy) // patch_size) * patch_size / 2
        if not square_ok and w1 == h1:
            half_h = 3 * half_w / 4
    box = tuple(int(round(v)) for v in (cx - half_w, cy - half_h, cx + half_w, cy + half_h))
    return (w1, h1), box


# EXIF orientations whose transposition swaps width and height; compared with the raw tag
# value the way ImageOps.exif_transpose looks it up.
_SWAPS_AXES = frozenset({5, 6, 7, 8})


@contextlib.contextmanager
def _reading(path: str) -> Iterator[Image.Image]:
    """`Image.open(path)`, refusing anything but a regular file before opening it, with
    Pillow's errors (also those raised in the block) as an ImageError naming the file."""
    kind = special_kind(path)
    if kind:
        raise ImageError(f"{path} is {kind}, not an image file")
    try:
        with Image.open(path) as img:
            yield img
    except Image.DecompressionBombError as exc:
        raise ImageError(f"Cannot load {path}: {exc}") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"Cannot read {path} as an image ({exc})") from exc


def _deep_scale(img: Image.Image, path: str) -> Optional[tuple[float, float]]:
    """(offset, scale) that map the samples of a 16-bit, integer or float image to 0..255 as
    (v + offset) * scale; None for the 8-bit modes that Pillow converts to RGB itself.

    Integers scale by the bit depth the file declares (a TIFF's BitsPerSample: 4095 is white
    in a 12-bit TIFF; Pillow widens PGM samples to 16 bits), signed ones from their minimum.
    """
    if img.mode == "F":
        return 0.0, 255.0  # display values: 0..1 is black..white
    if img.mode != "I" and not img.mode.startswith("I;16"):
        return None
    if img.format == "TIFF":
        bits, sample_format = (_first(img.tag_v2.get(tag, default))
                               for tag, default in ((258, 32), (339, 1)))
        signed = sample_format == 2
    elif img.mode != "I" or img.format == "PPM":
        bits, signed = 16, False
    else:
        raise ImageError(f"{path} has 32-bit integer pixels in a {img.format} file, which does "
                         "not say their bit depth; save it as an 8- or 16-bit PNG or TIFF")
    return (2.0 ** (bits - 1) if signed else 0.0), 255 / (2.0 ** bits - 1)


def _first(value: object) -> int:
    """A TIFF tag's value: one number per sample (a tuple), or one number."""
    return int(value[0] if isinstance(value, tuple) else value)


def _to_rgb(img: Image.Image, path: str) -> Image.Image:
    """The image as 8-bit RGB: deep samples scaled by `_deep_scale`, other modes as Pillow
    converts them; an RGB image itself (no copy)."""
    scaling = _deep_scale(img, path)
    if scaling is not None:
        offset, scale = scaling
        values = np.asarray(img)
        if values.dtype == np.int32 and not offset:
            values = values.view(np.uint32)  # Pillow keeps unsigned 32-bit samples in int32
        levels = values.astype(np.float32)
        levels += offset
        levels *= scale
        np.nan_to_num(levels, copy=False)  # NaN is black, infinities are clipped below
        img = Image.fromarray(np.rint(levels.clip(0, 255, out=levels)).astype(np.uint8))
    return img if img.mode == "RGB" else img.convert("RGB")


def _orientation(tag: object) -> int:
    """The EXIF orientation tag as an int; 1 for a malformed one."""
    try:
        return int(tag)
    except (TypeError, ValueError):
        return 1  # a malformed tag, which exif_transpose ignores as well


def open_upright(path: PathLike) -> tuple[Image.Image, int]:
    """The photo as 8-bit RGB with its EXIF orientation applied, and the orientation tag as
    stored (1 when absent or malformed).

    8-bit photos become RGB as the official loader converts them (alpha dropped, palettes
    looked up, CMYK, YCbCr and LAB converted by Pillow). Deeper samples become 8-bit by the
    bit depth the file declares: 16-bit grey and integer images scale their full range to
    0..255 (a 12-bit TIFF by 4095), 16-bit RGB keeps Pillow's high byte, and float images
    take 0..1 as display values (no tone mapping: HDR values above 1 clip to white, negative
    ones and NaN are black). Raises ImageError naming the file when it is not a regular file
    or not a readable image.
    """
    path = os.fspath(path)
    with _reading(path) as img:
        tag = img.getexif().get(_ORIENTATION_TAG, 1)  # as exif_transpose reads it
        ImageOps.exif_transpose(img, in_place=True)  # no copy of an upright photo
        upright = _to_rgb(img, path)
    return upright, _orientation(tag)


def _resolve_paths(paths: PathLike | Sequence[PathLike]) -> list[str]:
    """The photo files of `paths`, each an existing regular file, none given twice."""
    if isinstance(paths, (str, os.PathLike)):
        path = os.fspath(paths)
        if os.path.isdir(path):
            files = list_images(path)
            if not files:
                raise ImageError(f"No image files in the folder {path} (looked for "
                                 f"{', '.join(sorted(image_extensions()))})")
            paths = files
        else:
            paths = [path]
    files = [os.fspath(p) for p in paths]
    if not files:
        raise ImageError("No images given")
    seen: dict[tuple[int, int], str] = {}
    sizes: dict[int, list[str]] = {}
    for path in files:
        if not os.path.exists(path):
            raise ImageError(f"Image not found: {path}")
        kind = special_kind(path)
        if kind:
            raise ImageError(f"{path} is {kind}, not an image file")
        stat = os.stat(path)  # the file itself: another spelling or a link finds the same one
        key = (stat.st_dev, stat.st_ino)
        if key in seen:
            raise ImageError(f"{path} is the same file as {seen[key]}: {_ONCE}")
        seen[key] = path
        sizes.setdefault(stat.st_size, []).append(path)
    for same_size in sizes.values():  # copies: only files of equal size are read
        if len(same_size) < 2:
            continue
        by_content: dict[bytes, str] = {}
        for path in same_size:
            digest = _digest(path)
            if digest in by_content:
                raise ImageError(f"{path} is a copy of {by_content[digest]} (the same bytes): "
                                 f"{_ONCE}")
            by_content[digest] = path
    return files


_ONCE = "each photo may be given only once (a photo paired with itself tells nothing about depth)"


def _digest(path: str) -> bytes:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "blake2b").digest()


def _photo(path: str, upright: tuple[int, int], orientation: int, size: int, square_ok: bool,
           patch_size: int) -> Photo:
    """What loading does to a photo of `upright` size; ImageError if it is tiny or too thin."""
    if min(upright) < patch_size:  # upscaling a thumbnail or an icon invents the image
        raise ImageError(f"{path} is too small: {upright[0]}x{upright[1]} pixels, but a "
                         f"photo needs at least {patch_size} pixels each way")
    resized, box = network_geometry(upright, size, square_ok=square_ok, patch_size=patch_size)
    width, height = box[2] - box[0], box[3] - box[1]
    if width < patch_size or height < patch_size:
        raise ImageError(
            f"{path} is too narrow: its {upright[0]}x{upright[1]} pixels become "
            f"{width}x{height} for the network, which needs at least one "
            f"{patch_size}x{patch_size} patch each way (the short side must be at least "
            f"{patch_size}/{size} of the long side)")
    return Photo(path, upright, orientation, resized, box)


def _plan(path: str, size: int, square_ok: bool, patch_size: int) -> Photo:
    """The `Photo` of the file at `path` from its header alone (no pixels decoded)."""
    with _reading(path) as img:
        # The EXIF the header holds: PngImageFile.getexif decodes every pixel to look for
        # an EXIF chunk after them.
        tag = Image.Image.getexif(img).get(_ORIENTATION_TAG, 1)
        _deep_scale(img, path)  # refuses integer pixels of unknown depth
        w, h = img.size
    upright = (h, w) if tag in _SWAPS_AXES else (w, h)
    return _photo(path, upright, _orientation(tag), size, square_ok, patch_size)


def plan_images(paths: PathLike | Sequence[PathLike], size: int = 512, *,
                square_ok: bool = False, patch_size: int = 16) -> list[Photo]:
    """What `load_images` will do with each photo, read from the file headers alone (a few
    milliseconds a photo, no pixels decoded): the same ImageError for every path and photo
    that `load_images` refuses, except pixel data that turns out corrupt when decoded. (A PNG
    whose EXIF orientation follows its pixels is only seen rotated once decoded.)"""
    return [_plan(path, size, square_ok, patch_size) for path in _resolve_paths(paths)]


def enlarged_note(photos: Sequence[Photo], what: str = "photos") -> Optional[str]:
    """What a user would not guess from the result: which photos are smaller than the
    network's input, so that the loader enlarges them (the detail in between is invented
    by the resampling, not seen); None when no photo is."""
    small = [p for p in photos if p.resized[0] > p.size[0]]
    if not small:
        return None
    factor = max(p.resized[0] / p.size[0] for p in small)
    names = ", ".join(f"{os.path.basename(p.path)} ({p.size[0]}x{p.size[1]})"
                      for p in small[:3]) + (", ..." if len(small) > 3 else "")
    return (f"{len(small)} of {len(photos)} {what} are smaller than the network's input and "
            f"were enlarged up to {factor:.1f}x: {names}; the detail in between is "
            "interpolated, not seen")


def network_view(img: Image.Image, photo: Photo, idx: int) -> dict:
    """The network view of the 8-bit RGB image `img` (the photo frame of `photo`): resized
    and cropped as `photo` says, as `load_images` returns each view (image sequences share it)."""
    resample = (Image.Resampling.LANCZOS if max(img.size) > max(photo.resized)
                else Image.Resampling.BICUBIC)
    net = img.resize(photo.resized, resample).crop(photo.crop)
    pixels = torch.from_numpy(np.array(net)).permute(2, 0, 1)
    width, height = photo.network_size
    return dict(
        img=pixels.float().div(255).sub(0.5).div(0.5)[None],
        true_shape=np.int32([[height, width]]),
        idx=idx,
        instance=str(idx),
        photo=photo,
    )


def load_images(paths: PathLike | Sequence[PathLike], size: int = 512, *, square_ok: bool = False,
                patch_size: int = 16) -> list[dict]:
    """Load photos exactly as the official DUSt3R `load_images`, as network view dicts.

    `paths` is a folder (its image files in sorted name order) or a list of image files.
    Each view: `img` float32 [1,3,H,W] in [-1, 1], `true_shape` int32 [[H, W]] (numpy, as
    the official loader), `idx`, `instance` = str(idx), and `photo` (a `Photo`). Pixels in
    other bit depths than 8 become 8-bit as `open_upright` says.
    Raises `ImageError` naming the file for a missing path, one that is not a regular file,
    the same file given twice, an unreadable, tiny or too thin photo, and when there are no
    photos at all; all but a photo whose pixel data is corrupt are found before any photo is
    decoded (`plan_images` finds them without loading).
    """
    files = [photo.path for photo in plan_images(paths, size, square_ok=square_ok,
                                                 patch_size=patch_size)]
    return [_load_view(path, idx, size, square_ok, patch_size) for idx, path in enumerate(files)]


def _load_view(path: str, idx: int, size: int, square_ok: bool, patch_size: int) -> dict:
    """The network view of the photo at `path`; the full-size photo is freed on return,
    before the next one is decoded."""
    img, orientation = open_upright(path)
    return network_view(img, _photo(path, img.size, orientation, size, square_ok, patch_size),
                        idx)
