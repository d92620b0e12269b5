"""OpenCV pinhole cameras <-> Blender camera settings (numpy only, no bpy).

OpenCV: x right, y down, z forward; pixel centres at integer coordinates, so the image spans
[-0.5, W - 0.5]. Blender: the camera looks down its local -Z with +Y up; its projection is set
by lens, sensor size and fit, shift and the render resolution and pixel aspect. The formulas
below are Blender's own view-plane computation solved for these settings, so a photo's
camera is reproduced exactly, portrait or landscape, with off-centre principal points and
non-square pixels.

The reconstruction world is OpenCV-like too (the first camera looks along +Z with -Y up).
`world_matrix` turns it Z-up for Blender and scales it; the same matrix is applied to the
points and to the cameras.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

# Rx(-90 deg): the reconstruction's "down" (+Y) becomes Blender's -Z, its "forward" (+Z) +Y.
M_UP = np.array([[1.0, 0.0, 0.0, 0.0],
                 [0.0, 0.0, 1.0, 0.0],
                 [0.0, -1.0, 0.0, 0.0],
                 [0.0, 0.0, 0.0, 1.0]])
# OpenCV camera axes -> Blender camera axes (y and z flipped), on the right of a c2w.
CV_TO_BLENDER_CAMERA = np.diag([1.0, -1.0, -1.0, 1.0])
SENSOR_MM = 36.0  # the long side of the sensor: lens values read like full-frame focal lengths


@dataclass(frozen=True)
class PinholeCamera:
    """An OpenCV camera on an image of `width` x `height` pixels."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    c2w: np.ndarray  # [4, 4] camera-to-world, OpenCV camera axes

    def __eq__(self, other: object) -> bool:
        # The generated __eq__ compares field by field from Python 3.13 on, and the truth of
        # an array comparison is ambiguous: the pose is compared by value here.
        if not isinstance(other, PinholeCamera):
            return NotImplemented
        return (self.width, self.height, self.fx, self.fy, self.cx, self.cy) == \
            (other.width, other.height, other.fx, other.fy, other.cx, other.cy) \
            and np.array_equal(self.c2w, other.c2w)

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points [M, 3] -> pixel coordinates and depth [M, 3] (u, v, z)."""
        w2c = np.linalg.inv(self.c2w)
        cam = np.asarray(points, np.float64) @ w2c[:3, :3].T + w2c[:3, 3]
        z = cam[:, 2]
        u, v = self.fx * cam[:, 0] / z + self.cx, self.fy * cam[:, 1] / z + self.cy
        return np.stack([u, v, z], 1)

    def resized(self, width: int, height: int) -> "PinholeCamera":
        """The same camera on the same image scaled to another resolution."""
        sx, sy = width / self.width, height / self.height
        return PinholeCamera(width, height, self.fx * sx, self.fy * sy,
                             (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, self.c2w)


@dataclass(frozen=True)
class BlenderCamera:
    """Everything Blender needs to reproduce a `PinholeCamera`: object, camera data, render."""

    matrix_world: np.ndarray  # [4, 4], rotation orthonormal, scale 1
    lens: float  # mm
    sensor_fit: str  # "HORIZONTAL" | "VERTICAL" | "AUTO"
    sensor_width: float  # mm
    sensor_height: float  # mm
    shift_x: float
    shift_y: float
    resolution: tuple[int, int]  # render resolution_x, resolution_y at 100 %
    pixel_aspect: tuple[float, float]  # render pixel_aspect_x, pixel_aspect_y


def world_matrix(scale: float = 1.0) -> np.ndarray:
    """Reconstruction world -> Blender world: Z-up, uniformly scaled."""
    return np.diag([scale, scale, scale, 1.0]) @ M_UP


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 affine matrix to points [M, 3]; keeps float32 input float32."""
    points = np.asarray(points)
    out = points @ matrix[:3, :3].T.astype(points.dtype) + matrix[:3, 3].astype(points.dtype)
    return out


def orthonormalize(rotation: np.ndarray) -> np.ndarray:
    """The nearest rotation matrix (SVD), so Blender sees no shear or scale on a camera."""
    u, _, vt = np.linalg.svd(rotation)
    r = u @ vt
    if np.linalg.det(r) < 0:  # a reflection: flip the weakest axis back
        u[:, -1] *= -1
        r = u @ vt
    return r


def to_blender(cam: PinholeCamera, world: np.ndarray | None = None,
               sensor: float = SENSOR_MM) -> BlenderCamera:
    """Blender settings that project like `cam`, in the Blender world `world @ reconstruction`.

    The fit follows the long side (landscape: HORIZONTAL, portrait: VERTICAL) so that `lens`
    is a full-frame-like focal length either way (beyond 174 degrees of view the sensor
    grows, as Blender's lens cannot go under 1 mm). `world` may scale uniformly; the camera
    keeps scale 1 and only its position is scaled.
    """
    world = M_UP if world is None else np.asarray(world, np.float64)
    w, h = cam.width, cam.height
    cxe, cye = cam.cx + 0.5, cam.cy + 0.5  # principal point from the image's outer corner
    ycor = cam.fx / cam.fy  # pixel_aspect_y / pixel_aspect_x
    # Blender's lens is at least 1 mm: a camera wider than that gets a larger sensor instead.
    sensor = max(sensor, w / cam.fx if w >= h else h / cam.fy)
    if w >= h:
        fit, viewfac = "HORIZONTAL", w
        lens = cam.fx * sensor / w
        sensor_w, sensor_h = sensor, sensor * h / w
    else:
        fit, viewfac = "VERTICAL", ycor * h
        lens = cam.fy * sensor / h
        sensor_w, sensor_h = sensor * w / h, sensor
    aspect = (1.0, ycor) if ycor >= 1 else (1.0 / ycor, 1.0)

    c2w = world @ np.asarray(cam.c2w, np.float64) @ CV_TO_BLENDER_CAMERA
    scale = np.cbrt(abs(np.linalg.det(world[:3, :3])))
    matrix = np.eye(4)
    matrix[:3, :3] = orthonormalize(c2w[:3, :3] / scale)
    matrix[:3, 3] = c2w[:3, 3]
    return BlenderCamera(matrix, float(lens), fit, float(sensor_w), float(sensor_h),
                         float((w / 2 - cxe) / viewfac), float((cye - h / 2) * ycor / viewfac),
                         (int(w), int(h)), (float(aspect[0]), float(aspect[1])))


def from_blender(cam: BlenderCamera, world: np.ndarray | None = None) -> PinholeCamera:
    """The OpenCV camera of Blender settings (any fit, shift and pixel aspect); inverse of
    `to_blender`. The pose is expressed in the reconstruction world of `world`."""
    world = M_UP if world is None else np.asarray(world, np.float64)
    w, h = cam.resolution
    ax, ay = cam.pixel_aspect
    ycor = ay / ax
    if cam.sensor_fit == "AUTO":  # Blender: fit the larger displayed side, sensor_width for it
        fit = "HORIZONTAL" if ax * w >= ay * h else "VERTICAL"
        sensor = cam.sensor_width
    else:
        fit = cam.sensor_fit
        sensor = cam.sensor_width if fit == "HORIZONTAL" else cam.sensor_height
    viewfac = w if fit == "HORIZONTAL" else ycor * h
    fx = cam.lens * viewfac / sensor
    cxe = w / 2 - cam.shift_x * viewfac
    cye = h / 2 + cam.shift_y * viewfac / ycor

    matrix = np.asarray(cam.matrix_world, np.float64).copy()
    matrix[:3, :3] = orthonormalize(matrix[:3, :3])  # drop any object scale
    c2w = np.linalg.inv(world) @ matrix @ CV_TO_BLENDER_CAMERA
    c2w[:3, :3] = orthonormalize(c2w[:3, :3] * np.cbrt(abs(np.linalg.det(world[:3, :3]))))
    return PinholeCamera(int(w), int(h), float(fx), float(fx / ycor), float(cxe - 0.5),
                         float(cye - 0.5), c2w)


# ------------------------------------------------------------------ known cameras, checked
# A user's camera values (JSON, a script, a Blender camera) are checked here once, so that a
# typo gives a clear message instead of a traceback or a silently absurd camera.
FOCAL_RANGE = (0.02, 1000.0)  # plausible focal lengths in long sides: 176 to 0.06 deg of view


def checked_focal(value: object, what: str, long_side: Optional[float] = None) -> float:
    """A focal length in pixels: a real positive number (and plausible for `long_side`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number of pixels, not {value!r}")
    focal = float(value)
    if not (np.isfinite(focal) and focal > 0):
        raise ValueError(f"{what} must be a positive number of pixels, not {value!r}")
    if long_side is not None:
        low, high = FOCAL_RANGE[0] * long_side, FOCAL_RANGE[1] * long_side
        if not low <= focal <= high:
            raise ValueError(f"{what} = {focal:g} pixels is not a plausible focal length for an "
                             f"image {long_side:g} pixels long (expected {low:g} to {high:g})")
    return focal


def checked_point(value: object, what: str, size: Optional[tuple[int, int]] = None
                  ) -> tuple[float, float]:
    """A principal point (x, y) in pixels: two finite numbers, near the image of `size`."""
    try:
        point = np.asarray(value, np.float64).reshape(-1)
    except (TypeError, ValueError):
        point = np.zeros(0)
    if isinstance(value, (str, bytes)) or point.shape != (2,) or not np.isfinite(point).all():
        raise ValueError(f"{what} must be two numbers [x, y] in pixels, not {value!r}")
    if size is not None:
        w, h = size
        if not (-w <= point[0] <= 2 * w and -h <= point[1] <= 2 * h):
            raise ValueError(f"{what} = ({point[0]:g}, {point[1]:g}) lies far outside the "
                             f"{w}x{h} image")
    return float(point[0]), float(point[1])


def checked_pose(value: object, what: str) -> np.ndarray:
    """A camera-to-world matrix: 4x4 (or 3x4) finite numbers whose 3x3 part is a rotation."""
    try:
        m = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        m = np.zeros(0)
    if m.shape not in ((4, 4), (3, 4)) or not np.isfinite(m).all():
        raise ValueError(f"{what} must be a 4x4 camera-to-world matrix of numbers, got "
                         f"{'shape ' + str(m.shape) if m.size else repr(value)}")
    rot = m[:3, :3]
    if np.abs(rot.T @ rot - np.eye(3)).max() > 1e-3 or np.linalg.det(rot) < 0:
        raise ValueError(f"{what} is not a rigid transform (its 3x3 part must be a rotation: "
                         "no scale, shear or mirroring)")
    out = np.eye(4)
    out[:3] = m[:3]
    return out
