"""Scene set-up maths: the floor plane, the origin and the scale of a reconstruction.

Each tool returns a 4x4 similarity in Blender's world that the add-on applies to the
reconstruction's one parent object, so points, cameras, depth meshes and camera animation
move together. Plain numpy: everything here is tested without Blender.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import Dust3rError

RANSAC_HYPOTHESES = 512  # planes tried at once; 99.9 % to hit a plane of 30 % of the points
RANSAC_SAMPLE = 20_000  # points each hypothesis is scored on (the refit uses all of them)
RANSAC_THRESHOLD = 0.01  # inlier distance, as a fraction of the cloud's median spread
COLLINEAR = 1e-3  # a point set this much thinner than long has no plane of its own


@dataclass(frozen=True)
class Plane:
    """The plane through `point` with unit `normal` (the side it points to is "above")."""

    point: np.ndarray  # [3]
    normal: np.ndarray  # [3], unit length

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distances [M] of `points` [M, 3], positive above."""
        return (np.asarray(points, np.float64) - self.point) @ self.normal


def _points(points: np.ndarray, what: str, at_least: int) -> np.ndarray:
    points = np.asarray(points, np.float64).reshape(-1, 3)
    points = points[np.isfinite(points).all(1)]
    if len(points) < at_least:
        raise Dust3rError(f"{what} needs at least {at_least} points, got {len(points)}")
    return points


def fit_plane(points: np.ndarray) -> Plane:
    """The least-squares plane of `points` [M, 3] (M >= 3, not all on one line)."""
    points = _points(points, "A floor", 3)
    centre = points.mean(0)
    _, s, vt = np.linalg.svd(points - centre, full_matrices=False)
    # (Nearly) collinear points leave the plane's tilt about their line to noise (float32
    # vertices carry about 1e-7 of their coordinates): no plane.
    if s[1] <= COLLINEAR * s[0]:
        raise Dust3rError(f"The {len(points)} points lie on one line (or one spot): "
                          "select points that span an area of the floor")
    return Plane(centre, vt[2])


def dominant_plane(points: np.ndarray, threshold: Optional[float] = None, seed: int = 0,
                   hypotheses: int = RANSAC_HYPOTHESES) -> tuple[Plane, np.ndarray]:
    """The plane most points lie on (RANSAC), refitted to its inliers; returns it and the
    inlier mask [M] of the finite points given.

    `threshold` is the inlier distance (default: 1 % of the cloud's median distance from
    its median point). Every hypothesis is scored at once on a seeded random sample of the
    points; the best one's inliers among all points are then fitted by least squares, twice.
    """
    points = _points(points, "A floor", 3)
    rng = np.random.default_rng(seed)
    if threshold is None:
        spread = np.median(np.linalg.norm(points - np.median(points, 0), axis=1))
        threshold = RANSAC_THRESHOLD * spread
    if not threshold > 0:
        raise Dust3rError("The points all lie at one spot: there is no plane to find")

    triples = points[rng.integers(0, len(points), (hypotheses, 3))]  # [K, 3, 3]
    normals = np.cross(triples[:, 1] - triples[:, 0], triples[:, 2] - triples[:, 0])
    length = np.linalg.norm(normals, axis=1)
    ok = length > 1e-12 * np.maximum(np.abs(triples).max((1, 2)), 1.0) ** 2
    if not ok.any():
        raise Dust3rError("The points lie on one line: there is no plane to find")
    normals[ok] /= length[ok, None]
    sample = points[rng.choice(len(points), min(len(points), RANSAC_SAMPLE), replace=False)]
    offsets = np.einsum("kd,kd->k", normals, triples[:, 0])
    # [S, K] distances in float32 (41 MB): each hypothesis' inlier count on the sample
    distance = np.abs(sample.astype(np.float32) @ normals.T.astype(np.float32)
                      - offsets.astype(np.float32))
    score = np.where(ok, (distance < threshold).sum(0), -1)
    best = int(np.argmax(score))
    plane = Plane(triples[best, 0], normals[best])
    for _ in range(2):  # refit to the inliers, then take the inliers of the refit plane
        inliers = np.abs(plane.distance(points)) < threshold
        plane = fit_plane(points[inliers])
    return plane, np.abs(plane.distance(points)) < threshold


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation [3, 3] turning unit vector `a` onto unit vector `b`."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    v, c = np.cross(a, b), float(a @ b)
    if c < -1 + 1e-12:  # opposite: half a turn about any axis perpendicular to a
        axis = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def floor_transform(plane: Plane, cameras: np.ndarray) -> np.ndarray:
    """The rigid 4x4 that puts `plane` at Z = 0 with Z up and the median of the camera
    positions `cameras` [K, 3] above it (K = 0: the normal's side nearer +Z is up).

    It turns the normal onto +Z by the smallest rotation about the plane's point, then
    lowers that point to Z = 0, so the floor keeps its place in X and Y.
    """
    normal = plane.normal / np.linalg.norm(plane.normal)
    cameras = np.asarray(cameras, np.float64).reshape(-1, 3)
    side = np.median(Plane(plane.point, normal).distance(cameras)) if len(cameras) else normal[2]
    if side < 0:
        normal = -normal
    matrix = np.eye(4)
    matrix[:3, :3] = rotation_between(normal, np.array([0.0, 0.0, 1.0]))
    matrix[:3, 3] = plane.point - matrix[:3, :3] @ plane.point
    matrix[2, 3] -= plane.point[2]
    return matrix


def origin_transform(point: np.ndarray) -> np.ndarray:
    """The translation that moves `point` [3] to the world origin."""
    matrix = np.eye(4)
    matrix[:3, 3] = -np.asarray(point, np.float64)
    return matrix


def centre(points: np.ndarray) -> np.ndarray:
    """The mean of `points` [M, 3] (M >= 1)."""
    return _points(points, "An origin", 1).mean(0)


def scale_transform(factor: float) -> np.ndarray:
    """Uniform scaling by `factor` about the world origin (the floor Z = 0 and the origin
    stay where they are)."""
    if not (np.isfinite(factor) and factor > 0):
        raise Dust3rError(f"The scale factor must be a positive number, not {factor!r}")
    return np.diag([factor, factor, factor, 1.0])


def scale_between(a: np.ndarray, b: np.ndarray, distance: float) -> float:
    """The factor that makes points `a` and `b` [3] `distance` apart."""
    if not (np.isfinite(distance) and distance > 0):
        raise Dust3rError(f"The real distance must be positive, not {distance:g}")
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    now = float(np.linalg.norm(a - b))
    if now <= 1e-9 * max(1.0, float(np.abs(a).max()), float(np.abs(b).max())):
        raise Dust3rError("The two points are at the same place: select two points apart")
    return distance / now


def scale_from_height(height_now: float, height: float) -> float:
    """The factor that puts a camera now `height_now` above the floor Z = 0 at `height`."""
    if not (np.isfinite(height) and height > 0):
        raise Dust3rError(f"The real camera height must be positive, not {height:g}")
    if not height_now > 0:
        raise Dust3rError(f"The camera is not above the floor (Z = {height_now:.4g}): "
                          "set the floor first")
    return height / height_now
