"""A small solved shot (`core.track.Track` with a keyframe scene) and the plates it is solved
from (`core.frames.Plate`), built directly, for the import tests. The `core` argument is the
core package to build with (the add-on's own in the Blender tests)."""
from __future__ import annotations

import importlib

import numpy as np


def image_plate(core, pattern: str, frames, size: tuple[int, int]):
    """A `core.frames.Plate` of the image sequence `pattern` (`####` = the frame number) with
    `frames` and `size`, made without reading its files (they need not exist)."""
    frames = tuple(frames)
    files = tuple(pattern.replace("####", f"{f:04d}") for f in frames)
    return _module(core, "frames").Plate(pattern, "images", frames, size, None, files)


def movie_plate(core, path: str, n_frames: int, size: tuple[int, int], fps: float):
    """A `core.frames.Plate` of the movie `path` with frames 1..`n_frames`."""
    return _module(core, "frames").Plate(path, "movie", tuple(range(1, n_frames + 1)), size, fps)


def _module(core, name: str):
    """`core.<name>` of the given core package (the add-on's own in the Blender tests)."""
    return importlib.import_module(f"{core.__name__}.{name}")


def dolly_poses(n: int, rng: np.random.Generator, length: float = 1.0) -> np.ndarray:
    """[n, 4, 4] OpenCV cameras on a dolly along x with a pan and some tilt, looking along +Z
    at a wall; small random jitter so no two frames share a rotation axis."""
    t = np.linspace(0.0, 1.0, n)
    yaw = np.radians(-10 + 20 * t) + rng.normal(0, 0.01, n)
    pitch = np.radians(5 * np.sin(3 * t)) + rng.normal(0, 0.01, n)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.zeros((n, 3, 3))
    ry[:, 0, 0], ry[:, 0, 2], ry[:, 1, 1], ry[:, 2, 0], ry[:, 2, 2] = cy, sy, 1, -sy, cy
    rx = np.zeros((n, 3, 3))
    rx[:, 0, 0], rx[:, 1, 1], rx[:, 1, 2], rx[:, 2, 1], rx[:, 2, 2] = 1, cp, -sp, sp, cp
    c2w[:, :3, :3] = ry @ rx
    c2w[:, :3, 3] = np.stack([length * (t - 0.5), 0.1 * t, 0.2 * t], -1)
    return c2w


def keyframe_scene(core, c2w: np.ndarray, focal: float, size: tuple[int, int],
                   depth: float = 2.0):
    """A `core.scene.Scene` of the keyframe cameras, each seeing a flat wall at `depth`."""
    w, h = size
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    d = np.full((h, w), depth)
    cam = np.stack([(u - (w - 1) / 2) / focal * d, (v - (h - 1) / 2) / focal * d, d], -1)
    pts = np.stack([cam @ pose[:3, :3].T + pose[:3, 3] for pose in c2w])
    n = len(c2w)
    return _module(core, "scene").Scene(
        np.asarray(c2w, np.float32), np.full(n, focal, np.float32),
        np.tile([(w - 1) / 2, (h - 1) / 2], (n, 1)).astype(np.float32),
        np.full((n, h, w), depth, np.float32), pts.astype(np.float32),
        np.full((n, h, w), 5.0, np.float32), np.ones((n, h, w), bool),
        np.full((n, h, w, 3), 0.5, np.float32))


def solved_shot(core, frames=tuple(range(1001, 1011)), keyframe_every: int = 3,
                size: tuple[int, int] = (64, 36), focal: float = 60.0, zoom: bool = False,
                pp_offset: tuple[float, float] = (1.3, -0.7), seed: int = 0,
                depth: float = 2.0):
    """A solved track of `frames` (the keyframes every `keyframe_every`-th frame and the last)
    with one focal and principal point, or with `zoom` a focal and point per frame."""
    rng = np.random.default_rng(seed)
    n = len(frames)
    c2w = dolly_poses(n, rng)
    focals = np.full(n, focal) * (np.linspace(1.0, 1.4, n) if zoom else 1.0)
    w, h = size
    pp = np.tile([(w - 1) / 2 + pp_offset[0], (h - 1) / 2 + pp_offset[1]], (n, 1))
    if zoom:
        pp = pp + rng.normal(0, 0.5, (n, 2))
    keys = sorted({*range(0, n, keyframe_every), n - 1})
    scene = keyframe_scene(core, c2w[keys], focal, size, depth)
    return _module(core, "track").Track(tuple(frames), tuple(frames[k] for k in keys), c2w,
                                        focals, pp, size, np.linspace(1.0, 3.0, n), scene)
