"""Photos in, network images out, and the bookkeeping to map cameras back onto the photos.

Coordinates follow OpenCV: pixel (u, v) = (column, row), pixel centres at integers, so the
top-left pixel's centre is (0, 0) and its outer corner (-0.5, -0.5).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
