"""Known cameras: the user's poses, focals and principal points, checked and in the network frame.

Intrinsics are given on the original photo when the image carries its `Photo` (the resize
and crop of image loading are undone with `Photo.intrinsics_to_network`), and in network
pixels otherwise. Poses are camera-to-world 4x4 (or 3x4) matrices in OpenCV axes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from ..cameras import checked_focal, checked_point, checked_pose
from ..errors import AlignmentError
from ..images import Photo
from .geometry import default_pp
from .inputs import per_image


@dataclass
class KnownCameras:
    """Per image: the fixed c2w (float64 [4, 4]), focal and pp in network pixels, or None."""

    c2w: list[Optional[torch.Tensor]]
    focals: list[Optional[float]]
    pp: list[Optional[tuple[float, float]]]
    focal_scale: list[float]  # network pixels per photo pixel (1 without a photo)

    @property
    def n_poses(self) -> int:
        return sum(p is not None for p in self.c2w)

    def principal_point(self, n: int, shape: tuple[int, int]) -> tuple[float, float]:
        """The known principal point of image n, else the official default (W/2, H/2)."""
        return self.pp[n] if self.pp[n] is not None else default_pp(*shape)


def read_known(known_poses: Any, known_focals: Any, known_pp: Any, shared_focal: bool,
               photos: list[Optional[Photo]], shapes: list[tuple[int, int]]) -> KnownCameras:
    """The known values per image, checked; `shapes` (H, W) are the network images'."""
    n = len(photos)
    scale = [p.focal_scale if p is not None else 1.0 for p in photos]
    sizes = [p.size if p is not None else shape[::-1] for p, shape in zip(photos, shapes)]
    poses = [None if p is None else
             torch.as_tensor(_checked(checked_pose, p, f"known_poses[{k}]"))
             for k, p in enumerate(per_image(known_poses, n, "known_poses"))]

    focals: list[Optional[float]] = []
    for k, f in enumerate(per_image(known_focals, n, "known_focals")):
        if f is not None:
            f = _checked(checked_focal, f, f"known_focals[{k}]", max(sizes[k])) * scale[k]
        focals.append(f)
    if shared_focal and any(f is not None for f in focals):
        photo_px = [f / scale[k] for k, f in enumerate(focals) if f is not None]
        if max(photo_px) > 1.001 * min(photo_px):
            raise AlignmentError(f"shared_focal is set but the known focals differ: {photo_px}")
        focals = [float(np.exp(np.mean(np.log(photo_px)))) * s for s in scale]

    pps: list[Optional[tuple[float, float]]] = []
    for k, p in enumerate(per_image(known_pp, n, "known_pp")):
        if p is not None:
            p = np.array(_checked(checked_point, p, f"known_pp[{k}]", sizes[k]))
            if photos[k] is not None:
                p = photos[k].pixel_to_network(p)
            p = (float(p[0]), float(p[1]))
        pps.append(p)
    return KnownCameras(poses, focals, pps, scale)


def _checked(check, value: Any, what: str, *context):
    """A `core.cameras` check of one known value (tensors and 1-element arrays as numbers)."""
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and value.size == 1 and check is checked_focal:
        value = value.reshape(-1)[0]
    try:
        return check(value, what, *context)
    except ValueError as exc:
        raise AlignmentError(str(exc)) from exc
