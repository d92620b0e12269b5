"""The photos and masks of an export, as the trainers read them.

COLMAP, 3D Gaussian Splatting, gsplat and nerfstudio read pixels as stored and ignore EXIF
orientation, and some read only 8-bit RGB(A): an upright 8-bit RGB JPEG, or an upright 8-bit
RGB/RGBA PNG, is copied byte for byte; anything else (an EXIF-rotated photo, another format
or bit depth, grey or CMYK pixels) is re-encoded upright as 8-bit RGB, as the network saw it:
a JPEG as a JPEG (quality 95, no chroma subsampling), anything else as PNG. File names are the
photos' own, with white space replaced (COLMAP's text files split on it) and, where two
photos share a name, the photo index in front.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import Dust3rError, raise_if_cancelled
from ..masks import mask_files, photo_mask
from ..settings import MaskOptions
from ..paths import special_kind
from ..progress import Cancel
from .description import ExportCamera

JPEG_QUALITY = 95


@dataclass(frozen=True)
class PhotoFile:
    """How one camera's photo goes into an export."""

    camera: ExportCamera
    name: str  # the file name in images/
    copy: bool  # the file as it is; else re-encoded upright 8-bit RGB

    @property
    def mask_name(self) -> str:
        """The mask's file name in masks/ (COLMAP's convention: the image name + .png)."""
        return self.name + ".png"


def plan_photos(cameras: Sequence[ExportCamera]) -> list[PhotoFile]:
    """Each camera's photo checked from its header (it exists, is read by Pillow, and has
    the camera's size once upright) with its export name; `Dust3rError` naming the camera."""
    from PIL import Image

    from ..images import _ORIENTATION_TAG, _SWAPS_AXES, _orientation  # as the loader reads it

    seen: dict[str, ExportCamera] = {}
    plans = []
    for cam in cameras:
        if not cam.photo:
            raise Dust3rError(f"{cam.what} has no photo file: this format needs the photos")
        path = Path(cam.photo)
        kind = special_kind(path)
        if kind or not path.is_file():
            raise Dust3rError(f"The photo of {cam.what}, {path}, "
                              f"{'is ' + kind if kind else 'is missing'}")
        key = str(path.resolve())
        if key in seen:
            raise Dust3rError(f"{seen[key].what} and {cam.what} both show {path}: keep one "
                              "camera per photo")
        seen[key] = cam
        try:
            with Image.open(path) as img:
                fmt, mode, (w, h) = img.format, img.mode, img.size
                orientation = _orientation(img.getexif().get(_ORIENTATION_TAG, 1))
        except (OSError, ValueError, SyntaxError) as exc:
            raise Dust3rError(f"Cannot read the photo of {cam.what}, {path} ({exc})") from exc
        if orientation in _SWAPS_AXES:
            w, h = h, w
        if (w, h) != (cam.camera.width, cam.camera.height):
            raise Dust3rError(f"The photo of {cam.what}, {path}, is {w}x{h} upright but its "
                              f"camera is {cam.camera.width}x{cam.camera.height}: the file "
                              "has changed since the reconstruction")
        jpeg = fmt in ("JPEG", "MPO")  # MPO: a phone's JPEG with more pictures after the first
        copy = orientation == 1 and (jpeg and mode == "RGB" or fmt == "PNG" and mode
                                     in ("RGB", "RGBA") and _png_bit_depth(path) == 8)
        suffix = path.suffix if copy else (".jpg" if jpeg else ".png")
        plans.append(PhotoFile(cam, re.sub(r"\s", "_", path.stem) + suffix, copy))
    return _unique_names(plans)


def write_photos(files: Sequence[PhotoFile], folder: Path,
                 cancel: Optional[Cancel] = None) -> None:
    """Copy or re-encode every photo into `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        raise_if_cancelled(cancel)
        target = folder / file.name
        if file.copy:
            shutil.copyfile(file.camera.photo, target)
            continue
        from ..images import open_upright  # the loader's decoding: the pixels the network saw

        image, _ = open_upright(file.camera.photo)
        if target.suffix == ".jpg":
            image.save(target, "JPEG", quality=JPEG_QUALITY, subsampling=0)
        else:
            image.save(target, "PNG")


def has_masks(files: Sequence[PhotoFile], options: MaskOptions) -> bool:
    """Whether the export writes masks: `options` name a source and at least one photo has a
    mask there (from listings and headers, before anything is written; `Dust3rError` for a
    mask folder that has gone or fits no photo)."""
    return options.source != "none" and any(
        mask_files([str(file.camera.photo) for file in files], options))


def write_masks(files: Sequence[PhotoFile], options: MaskOptions, folder: Path,
                cancel: Optional[Cancel] = None) -> None:
    """Each photo's mask (`core.masks.photo_mask`, read one at a time; keep everything where
    a photo has none) as a one-channel 8-bit PNG, 255 = keep, 0 = ignore, named `mask_name`."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        raise_if_cancelled(cancel)
        cam = file.camera.camera
        mask = photo_mask(str(file.camera.photo), options)
        if mask is None:
            mask = np.ones((cam.height, cam.width), bool)
        Image.fromarray(mask.astype(np.uint8) * 255, "L").save(folder / file.mask_name, "PNG")


def _unique_names(plans: list[PhotoFile]) -> list[PhotoFile]:
    """Photos of the same name (case-insensitively: Windows, macOS) get their index in front."""
    folded = [p.name.casefold() for p in plans]
    plans = [PhotoFile(p.camera, f"{p.camera.image_index:03d}_{p.name}", p.copy)
             if folded.count(p.name.casefold()) > 1 else p for p in plans]
    if len({p.name.casefold() for p in plans}) < len(plans):
        raise Dust3rError("Two photos would get the same file name in the export: rename one")
    return plans


def _png_bit_depth(path: Path) -> int:
    """The bit depth in a PNG's header (byte 24: after the signature and IHDR's size)."""
    with open(path, "rb") as f:
        header = f.read(25)
    return header[24] if len(header) == 25 else 0
