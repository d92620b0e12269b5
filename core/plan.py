"""What an import makes, as plain data: the Blender world and its scale, the point cloud's
arrays and live settings, and every camera's Blender values, pose and custom properties.

`plan_import(scene, options)` decides all of it; `importer/` only turns an `ImportPlan` into
Blender datablocks, and exporters build on the same plan. No bpy here, so every number an
import produces is tested without Blender.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

from .cameras import BlenderCamera, PinholeCamera, to_blender, transform_points, world_matrix

if TYPE_CHECKING:  # no torch or PIL here: the add-on's UI imports this module
    from .images import Photo
    from .pipeline import ImportOptions
    from .scene import PointCloud, Scene

AUTO_MEDIAN_DEPTH = 3.0  # auto scale: the photos' median depth becomes 3 m
RADIUS_PIXELS = 0.75  # auto point radius: this many photo pixels' footprint at the median depth
PROPERTY_PREFIX = "dust3r_"  # custom properties of the cameras


@dataclass(frozen=True)
class PointsPlan:
    """The point cloud in Blender's world, with the starting values of its live inputs."""

    name: str
    xyz: np.ndarray  # [M, 3] float32
    rgb: np.ndarray  # [M, 3] float32 sRGB in [0, 1]
    confidence: np.ndarray  # [M] float32 raw network confidence
    image_index: np.ndarray  # [M] int32
    radius: float  # Blender units
    min_confidence: float


@dataclass(frozen=True)
class CameraPlan:
    """One photo's camera: OpenCV on the photo, and the Blender settings that project alike."""

    name: str
    image_index: int
    camera: PinholeCamera  # on the EXIF-upright photo; pose in the reconstruction world
    blender: BlenderCamera  # lens, sensor, shift, pixel aspect, matrix in Blender's world
    clip: tuple[float, float]  # clip start, end (Blender units)
    display_size: float
    photo: Optional["Photo"]
    background: bool  # show the upright photo behind the camera

    @property
    def properties(self) -> dict[str, object]:
        """The custom properties a camera keeps (render resolution is per scene, so the
        photo's size and OpenCV intrinsics travel with the camera)."""
        cam, bcam = self.camera, self.blender
        values: dict[str, object] = dict(
            width=cam.width, height=cam.height, fx=cam.fx, fy=cam.fy, cx=cam.cx, cy=cam.cy,
            pixel_aspect_x=bcam.pixel_aspect[0], pixel_aspect_y=bcam.pixel_aspect[1],
            image_index=self.image_index)
        if self.photo is not None:
            values.update(source=self.photo.path, exif_orientation=self.photo.exif_orientation)
        return {PROPERTY_PREFIX + key: value for key, value in values.items()}


@dataclass(frozen=True)
class ImportPlan:
    collection_name: str
    scale: float  # Blender units per reconstruction unit
    world: np.ndarray  # [4, 4] reconstruction -> Blender (Z up, scaled)
    points: Optional[PointsPlan]
    cameras: tuple[CameraPlan, ...]
    active_camera: Optional[int]  # index into `cameras` of the new scene camera
    warnings: tuple[str, ...]


def plan_import(scene: "Scene", options: "ImportOptions") -> ImportPlan:
    """Everything `importer.import_scene` creates for `scene`, decided without Blender."""
    depths = [np.asarray(scene.depthmaps[n])[np.asarray(scene.masks[n], bool)]
              for n in range(scene.n_images)]
    median_depth = _median(depths) or 1.0
    scale = options.scale or AUTO_MEDIAN_DEPTH / median_depth
    world = world_matrix(scale)
    name = options.collection_name or default_name(scene)
    cloud = _subsample(scene.point_cloud(), options.max_points)

    points = None
    if options.points:
        pixel = _median([d / f for d, f in zip(depths, scene.focals) if d.size])
        radius = options.point_radius or RADIUS_PIXELS * scale * pixel or 0.01
        points = PointsPlan(f"{name} points", transform_points(world, cloud.xyz), cloud.rgb,
                            cloud.confidence, cloud.image_index, float(radius),
                            float(options.confidence_threshold))

    cameras, warnings = [], []
    if options.cameras:
        sample = cloud.xyz[:: max(1, len(cloud) // 100_000)].astype(np.float64)  # for clipping
        sizes, focals, pps = scene.photo_sizes, scene.photo_focals, scene.photo_pp
        for n in range(scene.n_images):
            photo = scene.photo(n)
            cam = PinholeCamera(int(sizes[n][0]), int(sizes[n][1]), focals[n], focals[n],
                                pps[n][0], pps[n][1], np.asarray(scene.c2w[n], np.float64))
            stem = os.path.splitext(os.path.basename(photo.path))[0] if photo else "camera"
            camera_name = f"{n:03d} {stem}"
            background = options.background_images and photo is not None
            if background and not os.path.isfile(photo.path):
                warnings.append(f"No background for {camera_name}: {photo.path} is gone")
                background = False
            cameras.append(CameraPlan(
                camera_name, n, cam, to_blender(cam, world),
                clip_range(cam.c2w, sample, scale), 0.1 * median_depth * scale, photo,
                background))
    active = 0 if options.set_active_camera and cameras else None
    return ImportPlan(name, float(scale), world, points, tuple(cameras), active, tuple(warnings))


def default_name(scene: "Scene") -> str:
    """"DUSt3R <folder of the first photo>"."""
    photo = scene.photo(0)
    folder = os.path.basename(os.path.dirname(os.path.abspath(photo.path))) if photo else ""
    return f"DUSt3R {folder}" if folder else "DUSt3R reconstruction"


def clip_range(c2w: np.ndarray, xyz: np.ndarray, scale: float) -> tuple[float, float]:
    """Clip start/end (scaled) that keep the visible cloud: the depth range of the points ahead."""
    depth = (xyz - c2w[:3, 3]) @ c2w[:3, 2]
    depth = depth[depth > 0]
    if not depth.size:
        return 0.1, 1000.0
    near = max(1e-4, 0.5 * float(np.percentile(depth, 0.5)) * scale)
    far = max(2.0 * float(depth.max()) * scale, near * 10)
    return near, far


def _subsample(cloud: "PointCloud", max_points: int) -> "PointCloud":
    """A random subset of `max_points` points (seeded: the same run imports the same points)."""
    if not max_points or len(cloud) <= max_points:
        return cloud
    keep = np.sort(np.random.default_rng(0).choice(len(cloud), max_points, replace=False))
    return type(cloud)(cloud.xyz[keep], cloud.rgb[keep], cloud.confidence[keep],
                       cloud.image_index[keep])


def _median(arrays: list) -> float:
    values = [np.asarray(a, np.float64).ravel() for a in arrays]
    values = [v for v in values if v.size]
    return float(np.median(np.concatenate(values))) if values else 0.0
