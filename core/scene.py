"""The reconstructed scene: cameras, depth and points per image, and the cloud to import.

Everything is numpy, float32 unless noted, in OpenCV camera conventions: x right, y down,
z forward; pixel centres at integer coordinates. Intrinsics (`focals`, `pp`) are in pixels of
the network image; `photo_*` give the same cameras on the original (EXIF-upright) photos.
Per-image maps are stacked arrays [N, H, W, ...] when all images share one size (the usual
case) and lists of per-image arrays when they do not (portrait and landscape photos mixed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np

from .images import Photo

PerImage = Union[np.ndarray, Sequence[np.ndarray]]


@dataclass
class PointCloud:
    """One filtered, coloured point cloud, ready for import."""

    xyz: np.ndarray  # [M, 3] float32 world coordinates (OpenCV world of the Scene)
    rgb: np.ndarray  # [M, 3] float32 sRGB-encoded colours in [0, 1]
    confidence: np.ndarray  # [M] float32 raw network confidence (>= 1)
    image_index: np.ndarray  # [M] int32 index of the image each point comes from

    def __len__(self) -> int:
        return len(self.xyz)


@dataclass
class Scene:
    """Per-image cameras, depth and points of one aligned reconstruction."""

    c2w: np.ndarray  # [N, 4, 4] camera-to-world
    focals: np.ndarray  # [N] focal length in network-image pixels
    pp: np.ndarray  # [N, 2] principal point in network-image pixels
    depthmaps: PerImage  # [N, H, W] z-depth along the optical axis
    pts3d: PerImage  # [N, H, W, 3] world points of every pixel
    confidence: PerImage  # [N, H, W] raw confidence; 0 where clean-up rejected a pixel
    masks: PerImage  # [N, H, W] bool: the pixels that belong in the point cloud
    colors: Optional[PerImage] = None  # [N, H, W, 3] sRGB in [0, 1]; None without images
    photos: Sequence[Optional[Photo]] = ()  # what loading did to each photo, when known
    init: Optional["Scene"] = None  # the same fields right after initialisation
    loss_trace: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def n_images(self) -> int:
        return len(self.c2w)

    def image_size(self, n: int) -> tuple[int, int]:
        """(W, H) of image n in the network frame."""
        h, w = self.depthmaps[n].shape
        return w, h

    def photo(self, n: int) -> Optional[Photo]:
        return self.photos[n] if n < len(self.photos) else None

    @property
    def photo_sizes(self) -> np.ndarray:
        """[N, 2] int (W0, H0) of the upright photos (the network size where unknown)."""
        return np.array([self.photo(n).size if self.photo(n) else self.image_size(n)
                         for n in range(self.n_images)], np.int64)

    @property
    def photo_focals(self) -> np.ndarray:
        """[N] focal lengths in photo pixels."""
        return np.array([self.photo(n).intrinsics_to_photo(f, pp)[0] if self.photo(n) else f
                         for n, (f, pp) in enumerate(zip(self.focals, self.pp))], np.float64)

    @property
    def photo_pp(self) -> np.ndarray:
        """[N, 2] principal points in photo pixels."""
        return np.array([self.photo(n).intrinsics_to_photo(f, pp)[1] if self.photo(n) else pp
                         for n, (f, pp) in enumerate(zip(self.focals, self.pp))], np.float64)

    def point_cloud(self, min_conf: Optional[float] = None) -> PointCloud:
        """All masked pixels of all images as one cloud; `min_conf` filters further."""
        keep = [np.asarray(self.masks[n], bool) for n in range(self.n_images)]
        if min_conf is not None:
            keep = [k & (np.asarray(self.confidence[n]) > min_conf) for n, k in enumerate(keep)]
        xyz = np.concatenate([np.asarray(self.pts3d[n])[k] for n, k in enumerate(keep)])
        conf = np.concatenate([np.asarray(self.confidence[n])[k] for n, k in enumerate(keep)])
        if self.colors is None:
            rgb = np.full((len(xyz), 3), 0.5, np.float32)
        else:
            rgb = np.concatenate([np.asarray(self.colors[n])[k] for n, k in enumerate(keep)])
        index = np.repeat(np.arange(self.n_images, dtype=np.int32), [int(k.sum()) for k in keep])
        return PointCloud(xyz.astype(np.float32), rgb.astype(np.float32),
                          conf.astype(np.float32), index)
