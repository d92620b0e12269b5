"""Plates: image sequences and movie files -> frames with their frame numbers (no bpy).

A plate is what a camera match starts from, given as one string:
* a folder of numbered frames (`plate.1001.png`, `plate.1002.png`, ...: one sequence, the
  number is the last run of digits in the file name, files without a number are ignored);
* a pattern: `plate.####.png` (the `#`s give the padding: `####` matches 0042 and 10000,
  not 042; `#` alone unpadded numbers) or `plate.%04d.png` / `plate.%d.png` (printf style, as
  FFmpeg writes it);
* one numbered frame file (`plate.1001.png`): its whole sequence, i.e. the files of its
  folder with the same name before and after the number (any padding, as in a folder);
* a movie file (mp4, mov, mkv, avi, ... whatever FFmpeg opens), through PyAV.

Frame numbers are the plate's own: file `plate.1001.exr` is frame 1001, and a movie's first
frame is frame 1, as Blender's Movie Clip shows the file (`frame_start` 1, `frame_offset` 0);
a movie frame's number comes from its timestamp (pts * time_base), so a decoder that drops or
repeats frames cannot shift the numbering. Frames missing from a sequence are never
renumbered around: `frame_range` names those the solve would need. Frames are read as Blender shows them: JPEG, PNG,
TIFF through Pillow with the bit depths of `core.images` but without EXIF orientation (Blender
ignores it for images and image sequences); OpenEXR through PyAV (FFmpeg's decoder), its
scene-linear values shown as Blender's "Standard" view transform shows them (the sRGB
transfer function, clipped to 0..1); a movie with its rotation metadata applied (phone video,
as Blender 4.5 and newer show it; Blender 4.2 shows the stored frame). Alpha is ignored.

PyAV (`av`) is imported only when a movie or EXR frame is read; without it those raise a
`Dust3rError` that says how to install it. No torch or PIL at import (the panel imports
`SequenceOptions` before the dependencies exist).
"""
from __future__ import annotations

import bisect
import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

import numpy as np

from .checks import check, real, whole
from .errors import Dust3rError, ImageError, raise_if_cancelled
from .progress import Cancel, Progress

if TYPE_CHECKING:
    from .images import Photo

EXR = ".exr"
AV_MISSING = ("PyAV (the Python package 'av') is needed to read movie files and OpenEXR "
              "frames: install it with Preferences > Add-ons > DUSt3R > Install Dependencies, "
              "or `pip install av` into the Python that runs the pipeline")
FRAMES_IN_A_MESSAGE = 8  # frame ranges a message lists before "and N more"


@dataclass(frozen=True)
class MovieStream:
    """How a movie's timestamps map to frame numbers: frame n is shown from
    start + (n - 1) / rate seconds."""

    start: Fraction  # the first frame's time in seconds
    rate: Fraction  # frames per second (the stream's average rate)
    rotation: int  # degrees counter-clockwise that make the stored frame upright

    def number(self, seconds: Fraction) -> int:
        return 1 + round((seconds - self.start) * self.rate)

    def time(self, frame: int) -> Fraction:
        return self.start + (frame - 1) / self.rate


@dataclass(frozen=True)
class Plate:
    """An image sequence or a movie, checked from its headers: frame numbers and size."""

    source: str  # as given: folder, pattern or movie file
    kind: str  # "images" or "movie"
    frames: tuple[int, ...]  # frame numbers present, ascending (gaps: `frame_range` names them)
    size: tuple[int, int]  # (W, H) of every frame
    fps: Optional[float]  # a movie's rate; None for image sequences
    files: tuple[str, ...] = field(default=(), repr=False)  # images: one per frame
    movie: Optional[MovieStream] = field(default=None, repr=False)  # movies: timing

    def path_of(self, frame: int) -> str:
        """The file of `frame` (a movie's frames are all in the movie file)."""
        index = self._index(frame)
        return self.source_path if self.kind == "movie" else self.files[index]

    @property
    def source_path(self) -> str:
        """`source` as an absolute path (a movie: its file)."""
        return os.path.abspath(os.path.expanduser(self.source))

    def _index(self, frame: int) -> int:
        i = bisect.bisect_left(self.frames, frame)
        if i == len(self.frames) or self.frames[i] != frame:
            raise Dust3rError(f"Frame {frame} is not in the plate {self.source} (frames "
                              f"{compact(self.frames)})")
        return i


def compact(numbers: Sequence[int], limit: int = FRAMES_IN_A_MESSAGE) -> str:
    """Ascending frame numbers as ranges: "1004-1006, 1010" (and "and N more" past `limit`)."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    text = [f"{a}-{b}" if b > a else f"{a}" for a, b in runs[:limit]]
    more = f" and {len(runs) - limit} more" if len(runs) > limit else ""
    return ", ".join(text) + more


# ---------------------------------------------------------------------------------------
# Finding the plate

_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")  # the last run of digits of a name
_PATTERN = re.compile(r"#+|%(0?\d*)d")


@dataclass(frozen=True)
class _Name:
    """A numbered file name split around its frame number."""

    prefix: str
    digits: str
    suffix: str  # extension included

    @property
    def number(self) -> int:
        return int(self.digits)

    @property
    def pattern(self) -> str:
        """The name with its number as `#`s: `plate.####.png` (`#` alone when unpadded)."""
        padded = len(self.digits) > 1 and self.digits.startswith("0")
        return f"{self.prefix}{'#' * (len(self.digits) if padded else 1)}{self.suffix}"


def numbered(name: str) -> Optional[_Name]:
    """The file name `name` split at the last run of digits before its extension (the 2 of
    `.jp2` is not a frame number), None when it has none."""
    stem, extension = os.path.splitext(name)
    match = _NUMBERED.match(stem)
    if match is None:
        return None
    prefix, digits, rest = match.groups()
    return _Name(prefix, digits, rest + extension)


def frame_extensions() -> frozenset[str]:
    """The extensions of the frame files a sequence may hold (Pillow's and OpenEXR)."""
    from .images import image_extensions

    return image_extensions() | {EXR}


def _is_frame_file(name: str, extensions: frozenset[str]) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in extensions


def open_plate(source: str) -> Plate:
    """The plate at `source` (a folder, pattern, numbered frame or movie file), checked from
    the file headers (a movie: its container and first frame): `Dust3rError` for a missing
    source, a folder without one clear sequence, two files of one frame number, unreadable
    frames, frames of different sizes (the first odd one named), a movie PyAV cannot
    open or decode, and PyAV missing where it is needed."""
    if not isinstance(source, (str, os.PathLike)) or not os.fspath(source):
        raise Dust3rError(f"A plate is a folder, a frame pattern or a movie file, not {source!r}")
    source = os.fspath(source)
    path = os.path.abspath(os.path.expanduser(source))
    if os.path.isdir(path):
        files = _sequence_in_folder(path)
    elif _PATTERN.search(os.path.basename(path)) and not os.path.exists(path):
        files = _sequence_of_pattern(path)
    elif not os.path.exists(path):
        raise Dust3rError(f"The plate {source} does not exist")
    elif os.path.splitext(path)[1].lower() in frame_extensions():
        files = _sequence_of_file(path)
    else:
        return _open_movie(source, path)
    frames = tuple(sorted(files))
    ordered = tuple(files[n] for n in frames)
    return Plate(source, "images", frames, _common_size(ordered, frames), None, ordered)


def _sequence_in_folder(folder: str) -> dict[int, str]:
    extensions = frame_extensions()
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise Dust3rError(f"Cannot list the plate folder {folder}: {exc.strerror}") from exc
    groups: dict[tuple[str, str], list[_Name]] = {}
    for name in names:
        split = numbered(name) if _is_frame_file(name, extensions) else None
        if split is not None and os.path.isfile(os.path.join(folder, name)):
            groups.setdefault((split.prefix, split.suffix.lower()), []).append(split)
    if not groups:
        raise Dust3rError(f"No numbered frames in the plate folder {folder} (frame files are "
                          f"named like plate.1001.png; looked for "
                          f"{', '.join(sorted(extensions))})")
    if len(groups) > 1:
        listed = ", ".join(f"{g[0].pattern} ({len(g)} frames)" for g in groups.values())
        raise Dust3rError(f"The plate folder {folder} holds several sequences: {listed}. Give "
                          "one as a pattern (e.g. " + next(iter(groups.values()))[0].pattern
                          + ") or move the others out")
    return _by_number(folder, next(iter(groups.values())))


def _by_number(folder: str, names: list[_Name]) -> dict[int, str]:
    """Frame number -> file; `Dust3rError` when two files carry one number (0042 and 42)."""
    files: dict[int, str] = {}
    for name in names:
        path = os.path.join(folder, name.prefix + name.digits + name.suffix)
        if name.number in files:
            raise Dust3rError(f"Two files of the plate are frame {name.number}: "
                              f"{os.path.basename(files[name.number])} and "
                              f"{os.path.basename(path)}; keep one")
        files[name.number] = path
    return files


def _sequence_of_pattern(pattern: str) -> dict[int, str]:
    """The files matching `plate.####.png` / `plate.%04d.png` (one number marker only)."""
    folder, name = os.path.split(pattern)
    if len(_PATTERN.findall(name)) != 1 or "%" in _PATTERN.sub("", name):
        raise Dust3rError(f"The plate pattern {pattern} must mark the frame number once, as "
                          "#### or %04d (e.g. plate.####.png)")
    match = _PATTERN.search(name)
    marker = match.group(0)
    width = len(marker) if marker.startswith("#") else int(match.group(1) or 0)
    head, tail = name[:match.start()], name[match.end():]
    regex = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail) + r"$")
    if not os.path.isdir(folder or "."):
        raise Dust3rError(f"The folder of the plate pattern {pattern} does not exist")
    names = []
    for entry in sorted(os.listdir(folder or ".")):
        found = regex.match(entry)
        # the padding as written: "0042" for ####, and no padding beyond it ("00042" is not ####)
        if found and f"{int(found.group(1)):0{width}d}" == found.group(1) \
                and os.path.isfile(os.path.join(folder, entry)):
            names.append(_Name(head, found.group(1), tail))
    if not names:
        raise Dust3rError(f"No frames match the plate pattern {pattern}")
    return _by_number(folder, names)


def _sequence_of_file(path: str) -> dict[int, str]:
    """A numbered frame given alone stands for its sequence: the frame files of its folder
    with the same name before and after the number (any padding, as in a folder)."""
    folder, name = os.path.split(path)
    split = numbered(name)
    if split is None:
        raise Dust3rError(f"{path} is a single image without a frame number: a plate is a "
                          "folder of numbered frames, a pattern such as plate.####.png, or a "
                          "movie file")
    names = [other for entry in sorted(os.listdir(folder))
             if (other := numbered(entry)) is not None
             and (other.prefix, other.suffix) == (split.prefix, split.suffix)
             and os.path.isfile(os.path.join(folder, entry))]
    return _by_number(folder, names)


def _common_size(files: tuple[str, ...], frames: tuple[int, ...]) -> tuple[int, int]:
    """Every frame's (W, H) from its header; `Dust3rError` naming the first odd frame."""
    size = None
    for path, frame in zip(files, frames):
        this = _header_size(path)
        if size is None:
            size, first = this, path
        elif this != size:
            raise ImageError(f"Frame {frame} ({path}) is {this[0]}x{this[1]} but the plate's "
                             f"frames are {size[0]}x{size[1]} (from {os.path.basename(first)}): "
                             "every frame of a plate must have one size")
    return size


def _header_size(path: str) -> tuple[int, int]:
    """A frame file's stored (W, H) from its header (no EXIF orientation: as Blender)."""
    if path.lower().endswith(EXR):
        with _open_av(path) as container:
            context = container.streams.video[0].codec_context
            return context.width, context.height
    from .images import _deep_scale, _reading

    with _reading(path) as img:
        _deep_scale(img, path)  # refuses integer pixels of unknown depth
        return img.size


# ---------------------------------------------------------------------------------------
# PyAV: movies and EXR

def import_av():
    """The `av` module, or `Dust3rError` saying how to install it."""
    try:
        import av
    except ImportError as exc:
        raise Dust3rError(AV_MISSING) from exc
    return av


def _open_av(path: str):
    """`av.open(path)` with FFmpeg's errors as a `Dust3rError` naming the file."""
    av = import_av()
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise Dust3rError(f"Cannot open {path} as a movie or image ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise Dust3rError(f"{path} holds no video stream")
    return container


def _open_movie(source: str, path: str) -> Plate:
    av = import_av()
    with _open_av(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not rate:
            raise Dust3rError(f"The movie {path} does not say its frame rate")
        start = stream.start_time or 0
        try:  # no count in the container (mkv): its packets, demuxed without decoding
            count = stream.frames or sum(1 for p in container.demux(stream) if p.size)
            container.seek(start, stream=stream, backward=True)
        except av.FFmpegError as exc:
            raise Dust3rError(f"Cannot read the movie {path} ({exc})") from exc
        first = next(_decoded(container, stream, path), None)
        if count < 1 or first is None:
            raise Dust3rError(f"The movie {path} holds no decodable frame")
        rotation = int(round((first.rotation or 0) / 90)) * 90 % 360
        w, h = first.width, first.height
    movie = MovieStream(Fraction(start) * stream.time_base, Fraction(rate), rotation)
    size = (h, w) if rotation in (90, 270) else (w, h)
    return Plate(source, "movie", tuple(range(1, count + 1)), size, float(rate), movie=movie)


def _decoded(container, stream, path: str):
    """`container.decode(stream)` with FFmpeg's errors as a `Dust3rError` naming the file."""
    av = import_av()
    try:
        yield from container.decode(stream)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise Dust3rError(f"Cannot decode the movie {path} ({exc})") from exc


def _movie_frames(plate: Plate, wanted: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    """(frame, uint8 [H, W, 3]) for each wanted frame (ascending), decoding only what they
    need: a seek to the keyframe before a frame when a keyframe lies between the last decoded
    frame and it (or it lies behind), else decoding on. A frame is the one shown at its time:
    the last decoded frame whose timestamp is not later."""
    path, movie = plate.source_path, plate.movie
    with _open_av(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: the order of frames is kept
        keyframes = _keyframe_times(stream)
        decoded, held = None, None  # the decoder since the last seek; its newest frame
        for want in wanted:
            if held is None or want < held[0] or _keyframe_between(keyframes, movie, held[0],
                                                                   want):
                decoded = _seek(container, stream, plate, want)
                held = next(decoded, None)
            shown = None
            while held is not None and held[0] < want:
                shown, held = held, next(decoded, None)
            if held is not None and held[0] == want:
                shown = held
            elif held is None:  # the stream ended before the frame
                last = f"after frame {shown[0]}" if shown else "before it"
                raise Dust3rError(f"Cannot decode frame {want} of the movie {path}: the "
                                  f"stream ends {last}")
            if shown is None:
                raise Dust3rError(f"Cannot decode frame {want} of the movie {path}: no frame "
                                  "is shown at its time")
            yield want, _upright_rgb(shown[1], movie.rotation)


def _numbered_frames(decoded, stream, plate: Plate) -> Iterator[tuple[int, object]]:
    for frame in decoded:
        if frame.pts is None:
            raise Dust3rError(f"The movie {plate.source_path} has frames without timestamps")
        yield plate.movie.number(Fraction(frame.pts) * stream.time_base), frame


def _seek(container, stream, plate: Plate, want: int) -> Iterator[tuple[int, object]]:
    """Decoded (number, frame) from the keyframe before `want` on; aims further back when a
    container's seek lands after the frame (some index by decode time)."""
    back = 0
    while True:
        target = max(want - back, plate.frames[0])
        pts = int(math.floor(plate.movie.time(target) / stream.time_base))
        try:
            container.seek(pts, stream=stream, backward=True, any_frame=False)
        except import_av().FFmpegError as exc:
            raise Dust3rError(f"Cannot seek to frame {want} of the movie {plate.source_path} "
                              f"({exc})") from exc
        frames = _numbered_frames(_decoded(container, stream, plate.source_path), stream,
                                  plate)
        first = next(frames, None)
        if first is None or first[0] <= want or target == plate.frames[0]:
            return _chain(first, frames)
        back = max(2 * back, int(plate.movie.rate) + 1)


def _chain(first, rest):
    if first is not None:
        yield first
    yield from rest


def _keyframe_times(stream) -> Optional[np.ndarray]:
    """The keyframes' times in seconds from the container's index (mp4, mov, avi have one),
    None when it lists fewer than two."""
    entries = stream.index_entries
    times = [e.timestamp for e in entries if e.is_keyframe] if entries is not None else []
    if len(times) < 2:
        return None
    return np.array(times, np.float64) * float(stream.time_base)


def _keyframe_between(keyframes: Optional[np.ndarray], movie: MovieStream, last: int,
                      want: int) -> bool:
    """Whether seeking beats decoding on from frame `last` to `want`: a keyframe lies after
    `last` and not after `want` (without an index: more than a second apart)."""
    if keyframes is None:
        return want - last > float(movie.rate)
    t0, t1 = float(movie.time(last)), float(movie.time(want))
    half = 0.5 / float(movie.rate)  # index times and frame times may differ by rounding
    return bool(np.any((keyframes > t0 + half) & (keyframes <= t1 + half)))


def _upright_rgb(frame, rotation: int) -> np.ndarray:
    """A decoded video frame as uint8 [H, W, 3], turned upright by its rotation."""
    rgb = frame.to_ndarray(format="rgb24")
    return np.ascontiguousarray(np.rot90(rgb, rotation // 90)) if rotation else rgb


def _exr_pixels(path: str) -> np.ndarray:
    """An OpenEXR file's values as float32 [H, W, C] (C: 1 grey, 2 grey + alpha, 3 RGB or
    4 RGBA), decoded by FFmpeg without any transfer function (scene-linear as stored)."""
    with _open_av(path) as container:
        frame = next(_decoded(container, container.streams.video[0], path), None)
        if frame is None:
            raise Dust3rError(f"Cannot read the OpenEXR file {path}: no image in it")
        try:
            values = frame.to_ndarray()
        except (ValueError, TypeError) as exc:
            raise Dust3rError(f"Cannot read the OpenEXR file {path}: its pixel format "
                              f"{frame.format.name} is not supported ({exc})") from exc
    values = values.astype(np.float32, copy=False)
    return values[..., None] if values.ndim == 2 else values


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Scene-linear values as display sRGB in 0..1, as Blender's "Standard" view shows them:
    the sRGB transfer function on values clipped to 0..1 (NaN is black)."""
    v = np.nan_to_num(np.asarray(linear, np.float32), nan=0.0).clip(0.0, 1.0)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055)


def _exr_rgb(path: str) -> np.ndarray:
    values = _exr_pixels(path)
    colour = values[..., :3] if values.shape[-1] >= 3 else np.repeat(values[..., :1], 3, -1)
    return np.rint(linear_to_srgb(colour) * 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------
# Reading frames

def frame_range(plate: Plate, options: SequenceOptions) -> list[int]:
    """The frames to solve: `options.frame_start`..`frame_end` (default: the plate's first and
    last) every `frame_step`; `Dust3rError` with the plate's range for a range outside the
    plate, fewer than two frames, or a step below 1, and naming the frames the range needs
    that the plate misses (compactly: "1004-1006, 1010")."""
    first, last = plate.frames[0], plate.frames[-1]
    start = first if options.frame_start is None else options.frame_start
    end = last if options.frame_end is None else options.frame_end
    step = options.frame_step
    what = f"the plate {plate.source} has frames {first}-{last}"
    if not whole(step, 1):
        raise Dust3rError(f"The frame step must be a whole number, 1 or more, not {step!r}")
    if start < first or end > last or end < start:
        raise Dust3rError(f"The frame range {start}-{end} is not inside the plate: {what}")
    frames = list(range(start, end + 1, step))
    missing = sorted(set(frames) - set(plate.frames))
    if missing:
        raise Dust3rError(f"The plate {plate.source} misses frames {compact(missing)} of the "
                          f"range {start}-{end}: frame numbers come from the file names, so "
                          "they are never renumbered; render or copy the missing frames, or "
                          "solve a range without them")
    if len(frames) < 2:
        raise Dust3rError(f"The frame range {start}-{end} with step {step} gives "
                          f"{len(frames)} frame, but a camera track needs at least two: {what}")
    return frames


def read_frame(plate: Plate, frame: int) -> np.ndarray:
    """Frame `frame` of the plate as display sRGB, uint8 [H, W, 3]."""
    plate._index(frame)
    return next(_frame_pixels(plate, [frame]))[1]


def _frame_pixels(plate: Plate, frames: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    """(frame, uint8 [H, W, 3]) in the order of `frames`, one full-size frame at a time."""
    if plate.kind == "movie":
        order = sorted(set(frames))
        if order == list(frames):
            yield from _movie_frames(plate, order)
        else:  # out of order or repeated: decode each needed frame once, hand out in order
            for frame in frames:
                yield from _movie_frames(plate, [frame])
        return
    for frame in frames:
        path = plate.path_of(frame)
        rgb = _exr_rgb(path) if path.lower().endswith(EXR) else _pillow_rgb(path)
        if rgb.shape[1::-1] != plate.size:
            raise ImageError(f"Frame {frame} ({path}) is {rgb.shape[1]}x{rgb.shape[0]} but "
                             f"the plate's frames are {plate.size[0]}x{plate.size[1]}")
        yield frame, rgb


def _pillow_rgb(path: str) -> np.ndarray:
    from .images import _reading, _to_rgb

    with _reading(path) as img:
        return np.asarray(_to_rgb(img, path))


def frame_photo(plate: Plate, frame: int, size: int) -> "Photo":
    """What loading does to `frame` at network `size` (the plate frame is the photo frame):
    `ImageError` when the plate is too small or too thin for the network."""
    from .images import _photo

    return _photo(plate.path_of(frame), plate.size, 1, size, False, 16)


def load_frames(plate: Plate, frames: Sequence[int], size: int, *,
                progress: Optional[Progress] = None, cancel: Optional[Cancel] = None
                ) -> list[dict]:
    """The network views of `frames`, as `core.images.load_images` makes them (img,
    true_shape, idx, instance, photo) plus "frame": the frame number. One full-size frame is
    decoded at a time; `progress(done, total)` after each, `cancel()` checked between them."""
    from PIL import Image

    from .images import network_view

    photos = [frame_photo(plate, frame, size) for frame in frames]  # refuses before decoding
    views = []
    for idx, ((frame, rgb), photo) in enumerate(zip(_frame_pixels(plate, frames), photos)):
        raise_if_cancelled(cancel)
        view = network_view(Image.fromarray(rgb), photo, idx)
        del rgb  # freed before the next frame is decoded
        view["frame"] = frame
        views.append(view)
        if progress is not None:
            progress(idx + 1, len(frames))
    return views


def read_alpha(plate: Plate, frame: int) -> Optional[np.ndarray]:
    """The frame's alpha as 8-bit levels, uint8 [H, W] (an EXR's linear alpha scaled from
    0..1), None when its file has none. Image sequences only: `Dust3rError` for a movie."""
    if plate.kind == "movie":
        raise Dust3rError(f"Alpha masks are read from image sequences, not from the movie "
                          f"{plate.source}: use a mask folder (one mask per frame number)")
    path = plate.path_of(frame)
    if path.lower().endswith(EXR):
        values = _exr_pixels(path)
        if values.shape[-1] not in (2, 4):
            return None
        alpha = np.nan_to_num(values[..., -1], nan=0.0).clip(0, 1)
        return np.rint(alpha * 255).astype(np.uint8)
    from .images import _reading

    with _reading(path) as img:
        if not img.has_transparency_data:
            return None
        alpha = img.getchannel("A") if "A" in img.getbands() else \
            img.convert("RGBA").getchannel("A")
        return np.asarray(alpha)
