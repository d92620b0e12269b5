"""A synthetic shot with exact truth for the camera-track tests and benchmark.

A camera dollies along an arc through a box room with a few balls in it while it pans,
optionally zooming, with an optional shake on one frame. The plate's frames are small noise
PNGs whose size is the network size's long side, so `core.images.load_images` only crops
them; `RoomPredictor` (a `demo.oracle.PointMapPredictor`) ray-casts the room for each view's
frame, so the pairwise predictions are exact (up to each pair's random scale).
OpenCV axes: y is down.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from core.images import load_images
from demo.oracle import PointMapPredictor
from demo.truth import look_at

ROOM = np.array([4.0, 2.0, 6.0])  # half sizes of the room around the origin
BALLS = np.array([[-1.0, 0.8, 2.5, 0.7], [1.2, 1.0, 1.0, 0.5], [0.3, -0.5, 3.5, 0.6]])
FIRST_FRAME = 1001


def rotation(axis: str, degrees: float) -> np.ndarray:
    """4x4 rotation about a camera axis ("x", "y", "z")."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    out = np.eye(4)
    out[i, i] = out[j, j] = c
    out[i, j], out[j, i] = -s, s
    return out


def camera_path(n: int, shake: dict[int, float] | None = None) -> np.ndarray:
    """[n, 4, 4] c2w: a 3-unit dolly along an arc with a 30 degree pan; `shake` {position:
    degrees} turns those frames about their own x and y axes on top (a jolt)."""
    t = np.linspace(0, 1, n)
    poses = []
    for k, tk in enumerate(t):
        centre = np.array([-1.5 + 3 * tk, -0.2 * np.sin(np.pi * tk), -3 + np.sin(np.pi * tk)])
        pan = np.radians(-15 + 30 * tk)
        pose = look_at(centre, centre + [np.sin(pan), 0.1, np.cos(pan)])
        if shake and k in shake:
            pose = pose @ rotation("y", shake[k]) @ rotation("x", shake[k])
        poses.append(pose)
    return np.stack(poses)


def _room_depth(rays: np.ndarray, c2w: np.ndarray) -> np.ndarray:
    """z-depth [H, W] of camera-frame rays (z = 1) inside the room with its balls."""
    d = rays @ c2w[:3, :3].T
    o = c2w[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):  # rays parallel to a wall: never
        t = np.where(d != 0, (np.sign(d) * ROOM - o) / d, np.inf).min(-1)  # the nearest wall
    a = (d ** 2).sum(-1)
    for *centre, radius in BALLS:
        oc = o - np.array(centre)
        half_b = (d * oc).sum(-1)
        disc = half_b ** 2 - a * ((oc ** 2).sum() - radius ** 2)
        hit = (-half_b - np.sqrt(np.maximum(disc, 0))) / a
        t = np.where((disc > 0) & (hit > 0) & (hit < t), hit, t)
    return t


@dataclass(kw_only=True)
class RoomPredictor(PointMapPredictor):
    """Exact pairwise point maps of the room, each view's camera taken by its frame number."""

    c2w: dict[int, np.ndarray]  # frame -> [4, 4]
    focals: dict[int, float]  # frame -> focal in plate pixels
    plate: tuple[int, int]  # (W, H); the principal point is (W/2, H/2), the aligner's default
    calls: list = field(default_factory=list)  # the number of pairs of every call

    def camera_rays(self, view: dict):
        frame = view["frame"]
        h, w = view["img"].shape[-2:]
        grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).astype(np.float64)
        uv = view["photo"].pixel_to_photo(grid) - (np.array(self.plate) - 1) / 2  # centre
        rays = np.concatenate([uv / self.focals[frame], np.ones((h, w, 1))], -1)
        return rays, _room_depth(rays, self.c2w[frame]), self.c2w[frame]

    def __call__(self, pairs, progress=None, cancel=None):
        self.calls.append(len(pairs))
        return super().__call__(pairs, progress, cancel)


@dataclass
class Shot:
    views: list[dict]
    frames: list[int]
    c2w: np.ndarray  # [F, 4, 4] truth
    focals: np.ndarray  # [F] truth, plate pixels
    plate: tuple[int, int]

    def predictor(self, **kwargs) -> RoomPredictor:
        return RoomPredictor(c2w=dict(zip(self.frames, self.c2w)),
                             focals=dict(zip(self.frames, self.focals)), plate=self.plate,
                             image_size=max(self.plate), **kwargs)

    @property
    def path_length(self) -> float:
        return float(np.linalg.norm(np.diff(self.c2w[:, :3, 3], axis=0), axis=1).sum())


def make_shot(folder: Path, n: int, plate: tuple[int, int] = (64, 36),
              focals: np.ndarray | float = 0.9, shake: dict[int, float] | None = None) -> Shot:
    """n frames numbered from FIRST_FRAME; `focals` relative to the plate width (one, or one
    per frame)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    frames = list(range(FIRST_FRAME, FIRST_FRAME + n))
    files = []
    for frame in frames:
        files.append(folder / f"plate.{frame}.png")
        Image.fromarray(rng.integers(0, 255, (plate[1], plate[0], 3), np.uint8)).save(files[-1])
    views = load_images([str(f) for f in files], size=max(plate))
    for view, frame in zip(views, frames):
        view["frame"] = frame
    focal_px = np.broadcast_to(np.asarray(focals, np.float64) * plate[0], (n,)).copy()
    return Shot(views, frames, camera_path(n, shake), focal_px, plate)
