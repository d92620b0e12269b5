"""Photos in, network images out, and the bookkeeping to map cameras back onto the photos.

Coordinates follow OpenCV: pixel (u, v) = (column, row), pixel centres at integers, so the
top-left pixel's centre is (0, 0) and its outer corner (-0.5, -0.5).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps

from .errors import ImageError

PathLike = Union[str, "os.PathLike[str]"]


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


def open_upright(path: str) -> tuple[Image.Image, int]:
    """The photo as RGB with its EXIF orientation applied, and the orientation tag as stored."""
    try:
        with Image.open(path) as img:
            orientation = img.getexif().get(_ORIENTATION_TAG, 1)
            upright = ImageOps.exif_transpose(img).convert("RGB")
    except Image.DecompressionBombError as exc:
        raise ImageError(f"Cannot load {path}: {exc}") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"Cannot read {path} as an image ({exc})") from exc
    try:
        orientation = int(orientation)
    except (TypeError, ValueError):
        orientation = 1  # a malformed tag, which exif_transpose ignores as well
    return upright, orientation


def _resolve_paths(paths: PathLike | Sequence[PathLike]) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        path = os.fspath(paths)
        if os.path.isdir(path):
            files = list_images(path)
            if not files:
                raise ImageError(f"No image files in the folder {path} (looked for "
                                 f"{', '.join(sorted(image_extensions()))})")
            return files
        paths = [path]
    files = [os.fspath(p) for p in paths]
    if not files:
        raise ImageError("No images given")
    for path in files:
        if not os.path.exists(path):
            raise ImageError(f"Image not found: {path}")
        if os.path.isdir(path):
            raise ImageError(f"{path} is a folder, not an image file")
    return files


def load_images(paths: PathLike | Sequence[PathLike], size: int = 512, *, square_ok: bool = False,
                patch_size: int = 16) -> list[dict]:
    """Load photos exactly as the official DUSt3R `load_images`, as network view dicts.

    `paths` is a folder (its image files in sorted name order) or a list of image files.
    Each view: `img` float32 [1,3,H,W] in [-1, 1], `true_shape` int32 [[H, W]] (numpy, as
    the official loader), `idx`, `instance` = str(idx), and `photo` (a `Photo`).
    Raises `ImageError` naming the file for a missing, unreadable, tiny or too thin photo, and
    when there are no photos at all.
    """
    views = []
    for idx, path in enumerate(_resolve_paths(paths)):
        img, orientation = open_upright(path)
        if min(img.size) < patch_size:  # upscaling a thumbnail or an icon invents the image
            raise ImageError(f"{path} is too small: {img.size[0]}x{img.size[1]} pixels, but a "
                             f"photo needs at least {patch_size} pixels each way")
        resized, box = network_geometry(img.size, size, square_ok=square_ok, patch_size=patch_size)
        width, height = box[2] - box[0], box[3] - box[1]
        if width < patch_size or height < patch_size:
            raise ImageError(
                f"{path} is too narrow: its {img.size[0]}x{img.size[1]} pixels become "
                f"{width}x{height} for the network, which needs at least one "
                f"{patch_size}x{patch_size} patch each way (the short side must be at least "
                f"{patch_size}/{size} of the long side)")
        resample = Image.Resampling.LANCZOS if max(img.size) > max(resized) else Image.Resampling.BICUBIC
        net = img.resize(resized, resample).crop(box)
        pixels = torch.from_numpy(np.asarray(net).copy()).permute(2, 0, 1)
        views.append(dict(
            img=pixels.float().div(255).sub(0.5).div(0.5)[None],
            true_shape=np.int32([[height, width]]),
            idx=idx,
            instance=str(idx),
            photo=Photo(path, img.size, orientation, resized, box),
        ))
    return views
