"""Masks: which pixels of each photo take part in a run (True = keep, False = ignore).

Ignored pixels (moving people, a turntable, the sky, a green screen) get no weight in the
alignment's loss, initialisation and focal estimate, and never reach the point cloud: the
pipeline hands `network_masks` to `core.align.global_align(masks=...)`, as the official
code's `bg_mask`.

Where a run's masks come from (`MaskOptions`, one source per run):
* a mask folder: one image per photo, named after the photo's file stem (`IMG_0001.png` for
  `IMG_0001.jpg`; the COLMAP spelling `IMG_0001.jpg.png` works too; letter case is ignored),
  in any format Pillow reads. Its brightness decides: white keeps the pixel, black ignores it,
  grey keeps it when brighter than 50 % (128 of 255 and up; colour masks by their luminance,
  their own alpha channel ignored). Photos without a mask there run unmasked (a note says
  which); `MaskFolder.find` is the one lookup by name. An image sequence or movie
  (`frame_masks`) matches masks by frame number instead: `mask.1001.png`, `1001.png`, any
  prefix and padding (`MaskFolder.by_frame`);
* the photo's own alpha channel: more than 50 % opaque keeps the pixel. Photos without an
  alpha channel (every JPEG) run unmasked, and a note says which;
* `invert` swaps keep and ignore (a mask of the object to remove, not of what to keep).

A mask is taken as a viewer shows it: its own EXIF orientation applied, never its photo's.
It must then have the upright photo's size, or its aspect at another resolution (a mask
drawn on a downscaled copy), and is mapped onto the photo with nearest neighbour; a mask
saved as the photo is stored (turned, for a photo with EXIF orientation 5 to 8) is refused
with that advice. On the network image every pixel takes the mask value of the photo pixel
under its centre, through exactly the loader's resize and crop (`core.images.Photo`).

No PIL or torch at import: the panel imports `MaskOptions` before the dependencies exist.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from .errors import Dust3rError, ImageError

if TYPE_CHECKING:
    from .frames import Plate
    from .images import Photo

KEEP_LEVEL = 128  # 8-bit grey (or alpha) from which a pixel is kept: brighter than 50 %
NAMES_IN_A_NOTE = 5  # photo names a note lists before "and N more"


@dataclass(frozen=True)
class MaskFolder:
    """The image files of a mask folder, by name without extension (case-folded)."""

    path: str
    files: dict[str, tuple[str, ...]]  # case-folded stem -> the files of that stem

    @classmethod
    def read(cls, folder: str) -> "MaskFolder":
        """List `folder` once; `Dust3rError` when it is missing, not a folder or holds no
        image files."""
        from .images import image_extensions, list_images

        path = os.path.abspath(os.path.expanduser(folder))
        if not os.path.exists(path):
            raise Dust3rError(f"The mask folder {path} does not exist")
        if not os.path.isdir(path):
            raise Dust3rError(f"The mask folder {path} is not a folder")
        try:
            masks = list_images(path)
        except OSError as exc:
            raise Dust3rError(f"Cannot list the mask folder {path}: {exc.strerror}") from exc
        if not masks:
            raise Dust3rError(f"The mask folder {path} holds no image files (looked for "
                              f"{', '.join(sorted(image_extensions()))})")
        files: dict[str, tuple[str, ...]] = {}
        for mask in masks:
            stem = os.path.splitext(os.path.basename(mask))[0].casefold()
            files[stem] = files.get(stem, ()) + (mask,)
        return cls(path, files)

    def find(self, *names: str) -> Optional[str]:
        """The mask file named `names[0]`, else `names[1]`, ... (name without extension,
        letter case ignored); None when there is none. A photo looks up its stem and its
        file name (`for_photo`). `Dust3rError` when two files of one name could be meant."""
        for name in names:
            found = self.files.get(name.casefold(), ())
            if len(found) > 1:
                listed = " and ".join(os.path.basename(f) for f in found)
                raise Dust3rError(f"Two masks in {self.path} are named {name}: {listed}; "
                                  "keep one")
            if found:
                return found[0]
        return None

    def by_frame(self) -> dict[int, tuple[str, ...]]:
        """The mask files by the frame number their name ends in (`mask.1001.png`,
        `1001.png`, `0042.png` for frame 42: any prefix, any padding), for image sequences."""
        from .frames import numbered

        frames: dict[int, tuple[str, ...]] = {}
        for path in sorted(f for group in self.files.values() for f in group):
            name = numbered(os.path.basename(path))
            if name is not None:
                frames[name.number] = frames.get(name.number, ()) + (path,)
        return frames

    def for_photo(self, photo_path: str) -> Optional[str]:
        """The mask of the photo at `photo_path`: named after its stem (`IMG_1.png` for
        `IMG_1.jpg`) or, as COLMAP names them, after its whole name (`IMG_1.jpg.png`)."""
        name = os.path.basename(photo_path)
        return self.find(os.path.splitext(name)[0], name)


def mask_files(photo_paths: Sequence[str], options: MaskOptions) -> list[Optional[str]]:
    """The file each photo's mask is read from (the mask, or for alpha masks the photo
    itself), None for a photo that runs unmasked. From directory listings and file headers
    only. `Dust3rError` for a mask folder that is missing, empty, one of the photos' own
    folders, or that fits no photo at all, and for alpha masks when no photo has an alpha
    channel."""
    if options.source == "none":
        return [None] * len(photo_paths)
    if options.alpha:
        files = [path if _has_alpha(path) else None for path in photo_paths]
        if not any(files):
            raise Dust3rError(f"Alpha masks: none of the {len(photo_paths)} photos has an "
                              "alpha channel (JPEG photos never do): save them as PNG, TIFF "
                              "or WebP with transparency, or use a mask folder")
        return files
    folder = MaskFolder.read(options.folder)
    for path in photo_paths:
        if os.path.samefile(os.path.dirname(os.path.abspath(path)), folder.path):
            raise Dust3rError(f"The mask folder {folder.path} is the folder of the photo "
                              f"{path}: keep the masks in a folder of their own")
    files = [folder.for_photo(path) for path in photo_paths]
    if not any(files):
        names = ", ".join(os.path.basename(p) for p in photo_paths[:3])
        raise Dust3rError(f"No mask in {folder.path} fits any photo: a mask is named after "
                          f"its photo's file stem (e.g. {_stem(photo_paths[0])}.png for "
                          f"{os.path.basename(photo_paths[0])}; photos: {names}"
                          f"{', ...' if len(photo_paths) > 3 else ''})")
    return files


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _has_alpha(path: str) -> bool:
    """Whether the photo holds transparency (an alpha channel or a transparent colour),
    from its header."""
    from .images import _reading

    with _reading(path) as img:
        return img.has_transparency_data


def unmasked_note(photo_paths: Sequence[str], files: Sequence[Optional[str]],
                  options: MaskOptions) -> Optional[str]:
    """The note a run gives when masks are on but some photos have none, naming them."""
    missing = [os.path.basename(p) for p, f in zip(photo_paths, files) if f is None]
    if options.source == "none" or not missing:
        return None
    shown = ", ".join(missing[:NAMES_IN_A_NOTE])
    if len(missing) > NAMES_IN_A_NOTE:
        shown += f" and {len(missing) - NAMES_IN_A_NOTE} more"
    why = "no alpha channel" if options.alpha else f"no mask in {options.folder}"
    return f"{len(missing)} of {len(photo_paths)} photos have {why} and run unmasked: {shown}"


def read_upright_mask(path: str, photo: "Photo", options: MaskOptions) -> np.ndarray:
    """The keep-mask of `photo` read from `path` (a mask file, or with `options.alpha` the
    photo's alpha channel) at the photo's EXIF-upright resolution: bool [H0, W0], True =
    keep, `options.invert` applied. `ImageError` naming the file when it cannot be read
    or does not fit the photo."""
    from PIL import ImageOps

    from .images import _reading

    w0, h0 = photo.size
    with _reading(path) as img:
        if options.alpha:  # the photo itself: its EXIF orientation, as the loader applies it
            ImageOps.exif_transpose(img, in_place=True)
            bands = img.getbands()
            levels = img.getchannel("A") if "A" in bands else img.convert("RGBA").getchannel("A")
            keep = np.asarray(levels) >= KEEP_LEVEL
        else:
            stored = img.size
            ImageOps.exif_transpose(img, in_place=True)  # the mask's own orientation
            _check_fit(path, img.size, stored, photo)
            keep = _grey(img, path) >= KEEP_LEVEL
    if keep.shape != (h0, w0):  # another resolution of the same aspect: nearest neighbour
        rows = _nearest(np.arange(h0), h0, keep.shape[0])
        cols = _nearest(np.arange(w0), w0, keep.shape[1])
        keep = keep[np.ix_(rows, cols)]
    return ~keep if options.invert else keep


def _check_fit(path: str, size: tuple[int, int], stored: tuple[int, int], photo: "Photo"):
    """`ImageError` unless a mask of upright `size` has its photo's aspect (one mask pixel
    of rounding allowed)."""
    (w, h), (w0, h0) = size, photo.size
    if abs(w * h0 - h * w0) <= max(w0, h0):
        return
    hint = ""
    if photo.exif_orientation in (5, 6, 7, 8) and abs(w * w0 - h * h0) <= max(w0, h0):
        hint = (f": it is turned as the photo is stored; the photo is shown turned (EXIF "
                f"orientation {photo.exif_orientation}), so save the mask upright, as a "
                "viewer shows the photo")
    elif stored != size:
        hint = " (after the mask's own EXIF orientation)"
    raise ImageError(f"The mask {path} is {w}x{h} but its photo {photo.path} is {w0}x{h0} "
                     f"upright: a mask needs its photo's size or aspect{hint}")


def _grey(img, path: str) -> np.ndarray:
    """The mask image's brightness, uint8 [H, W]: 16-bit, integer and float masks scaled
    by their bit depth as photos are (`core.images.open_upright`), colour by luminance."""
    from .images import _deep_scale, _to_rgb

    if _deep_scale(img, path) is not None:
        img = _to_rgb(img, path)
    return np.asarray(img if img.mode == "L" else img.convert("L"))


def _nearest(index: np.ndarray, size: int, source_size: int) -> np.ndarray:
    """The source pixel under the centre of each pixel `index` of an axis of `size` pixels
    spanning the same extent as `source_size` source pixels."""
    return np.clip(np.floor((index + 0.5) * (source_size / size)).astype(np.int64), 0,
                   source_size - 1)


def network_mask(upright: np.ndarray, photo: "Photo") -> np.ndarray:
    """An upright photo-resolution mask [H0, W0] on the network image [H, W]: every network
    pixel takes the value of the photo pixel under its centre (the loader's resize and crop,
    nearest neighbour)."""
    w, h = photo.network_size
    u = photo.pixel_to_photo(np.stack([np.arange(w), np.zeros(w)], -1))[:, 0]
    v = photo.pixel_to_photo(np.stack([np.zeros(h), np.arange(h)], -1))[:, 1]
    h0, w0 = upright.shape
    rows = np.clip(np.floor(v + 0.5).astype(np.int64), 0, h0 - 1)
    cols = np.clip(np.floor(u + 0.5).astype(np.int64), 0, w0 - 1)
    return np.ascontiguousarray(upright[np.ix_(rows, cols)])


def photo_mask(photo: "Photo | str", options: MaskOptions) -> Optional[np.ndarray]:
    """The keep-mask of one photo at its EXIF-upright resolution, for exporters (e.g.
    nerfstudio's `mask_path` images): bool [H0, W0] (`photo.size` is (W0, H0)), True = keep,
    or None when masks are off or this photo has none (it ran unmasked). `photo` is a
    `core.images.Photo` (`Scene.photo(n)`) or a photo's path. Raises `Dust3rError` as a run
    does (`network_masks`); the run already checked them, so after a run it only fails if a
    file changed since."""
    if options.source == "none":
        return None
    if isinstance(photo, (str, os.PathLike)):
        from .images import plan_images

        photo = plan_images([os.fspath(photo)])[0]
    if options.alpha:
        return read_upright_mask(photo.path, photo, options) if _has_alpha(photo.path) else None
    path = MaskFolder.read(options.folder).for_photo(photo.path)
    return None if path is None else read_upright_mask(path, photo, options)


def network_masks(photos: Sequence["Photo"], options: MaskOptions
                  ) -> tuple[list[Optional[np.ndarray]], list[str]]:
    """Every photo's mask on its network image (bool [H, W], True = keep; None = unmasked),
    as `global_align(masks=...)` takes them, and the notes to show (photos without a mask).
    Reads one full-size mask at a time. `Dust3rError` naming the file for a mask folder that
    is missing, empty or fits no photo, an unreadable mask, one that does not fit its photo,
    and one that leaves its photo no pixel on the network image."""
    paths = [photo.path for photo in photos]
    files = mask_files(paths, options)
    masks: list[Optional[np.ndarray]] = []
    for photo, path in zip(photos, files):
        mask = None if path is None else network_mask(read_upright_mask(path, photo, options),
                                                      photo)
        if mask is not None and not mask.any():
            raise ImageError(_empty(path, photo, options))
        masks.append(mask)
    note = unmasked_note(paths, files, options)
    return masks, [note] if note else []


def _empty(path: str, photo: "Photo", options: MaskOptions) -> str:
    what = f"The alpha channel of {path}" if options.alpha else f"The mask {path}"
    inverted = " (inverted)" if options.invert else ""
    return (f"{what}{inverted} leaves no pixel of {os.path.basename(photo.path)} to "
            "reconstruct (in the part of the photo the network sees: the centre crop "
            f"{photo.network_size[0]}x{photo.network_size[1]} of it resized to "
            f"{photo.resized[0]}x{photo.resized[1]})")


def frame_masks(plate: "Plate", frames: Sequence[int], views: Sequence[dict],
                options: MaskOptions) -> tuple[list[Optional[np.ndarray]], list[str]]:
    """The masks of a plate's frames on their network images, as `network_masks` gives them
    for photos: from a mask folder matched by frame number (`MaskFolder.for_frame`), or from
    each frame's alpha channel (image sequences), with the same checks and notes. `views` are
    `core.frames.load_frames`' (their "photo" and "frame"); one full-size mask at a time."""
    if options.source == "none":
        return [None] * len(views), []
    from .frames import compact, read_alpha

    folder, by_frame = None, {}
    if options.folder:
        folder = MaskFolder.read(options.folder)
        if plate.kind == "images" and os.path.samefile(
                os.path.dirname(os.path.abspath(plate.files[0])), folder.path):
            raise Dust3rError(f"The mask folder {folder.path} is the plate's folder: keep the "
                              "masks in a folder of their own")
        by_frame = folder.by_frame()
    masks: list[Optional[np.ndarray]] = []
    unmasked = []
    for view in views:
        frame, photo = view["frame"], view["photo"]
        if folder is None:
            levels = read_alpha(plate, frame)
            upright = None if levels is None else levels >= KEEP_LEVEL
            if upright is not None and options.invert:
                upright = ~upright
            source = photo.path
        else:
            found = by_frame.get(frame, ())
            if len(found) > 1:
                listed = " and ".join(os.path.basename(f) for f in found)
                raise Dust3rError(f"Two masks in {folder.path} are for frame {frame}: "
                                  f"{listed}; keep one")
            source = found[0] if found else None
            upright = None if source is None else read_upright_mask(source, photo, options)
        if upright is None:
            unmasked.append(frame)
            masks.append(None)
            continue
        mask = network_mask(upright, photo)
        if not mask.any():
            raise ImageError(_empty(source, photo, options) + f" (frame {frame})")
        masks.append(mask)
    if folder is not None and len(unmasked) == len(views):
        raise Dust3rError(f"No mask in {folder.path} fits any of the frames "
                          f"{compact(list(frames))}: a frame's mask is named after its number "
                          f"(e.g. mask.{frames[0]}.png or {frames[0]}.png)")
    if len(unmasked) == len(views):
        raise Dust3rError(f"Alpha masks: none of the {len(views)} frames of {plate.source} has "
                          "an alpha channel: save them as PNG, TIFF or EXR with alpha, or use "
                          "a mask folder")
    what = "alpha channel" if folder is None else f"mask in {folder.path}"
    notes = [f"{len(unmasked)} of {len(views)} frames have no {what} and run unmasked: "
             f"{compact(unmasked)}"] if unmasked else []
    return masks, notes
