"""What an export writes, as plain data, whichever side made it (a run or Blender).

Everything is in one world, the export world: Blender's (Z up, in the units of the import or
of the Blender scene). Cameras are OpenCV (x right, y down, z forward; pixel centres at
integers) on the original, EXIF-upright photo; each format converts to its own conventions.
No torch, PIL or bpy here: the Blender side builds these without the pipeline's packages.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional

import numpy as np

from ..cameras import CV_TO_BLENDER_CAMERA, PinholeCamera, orthonormalize
from ..settings import MaskOptions
from ..plan import _subsample, plan_import

if TYPE_CHECKING:
    from ..images import Photo
    from ..settings import ImportOptions
    from ..plan import ImportPlan
    from ..scene import Scene

DEFAULT_MAX_POINTS = 100_000  # the seed clouds of COLMAP and nerfstudio exports


@dataclass(frozen=True)
class ExportCamera:
    """One photo's camera."""

    image_index: int  # the photo's index in the run (the points' `image_index`)
    camera: PinholeCamera  # OpenCV, on the EXIF-upright photo; pose in the export world
    photo: Optional[str]  # the photo file, as stored (its EXIF orientation is read at export)
    label: str = ""  # what the user calls it in messages (the Blender camera's name)

    @property
    def what(self) -> str:
        return self.label or f"photo {self.image_index}"


@dataclass(frozen=True)
class ExportPoints:
    """The coloured cloud (the field order of `core.scene.PointCloud`)."""

    xyz: np.ndarray  # [M, 3] float32, export world
    rgb: np.ndarray  # [M, 3] float32 sRGB in [0, 1]
    confidence: np.ndarray  # [M] float32
    image_index: np.ndarray  # [M] int32: the photo each point was seen in

    def __len__(self) -> int:
        return len(self.xyz)

    @classmethod
    def empty(cls) -> "ExportPoints":
        return cls(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32),
                   np.zeros(0, np.float32), np.zeros(0, np.int32))

    @property
    def rgb8(self) -> np.ndarray:
        """[M, 3] uint8 sRGB."""
        return np.rint(np.clip(self.rgb, 0.0, 1.0) * 255).astype(np.uint8)

    def subset(self, max_points: int) -> "ExportPoints":
        """A seeded random subset of at most `max_points` points (0 = all), in order."""
        return _subsample(self, max_points)


@dataclass(frozen=True)
class DepthMap:
    """One photo's depth map in the network image, as the aligner made it."""

    image_index: int
    depth: np.ndarray  # [H, W] float32 z-depth along the optical axis, export units
    confidence: np.ndarray  # [H, W] float32 raw confidence (0 where clean-up rejected it)
    mask: np.ndarray  # [H, W] bool: the pixels that are in the point cloud
    camera: PinholeCamera  # on the network image (W x H); pose in the export world
    photo: Optional["Photo"]  # how the network image was cut from the photo


@dataclass(frozen=True)
class ExportScene:
    cameras: tuple[ExportCamera, ...]  # in photo order
    points: ExportPoints
    depth: tuple[DepthMap, ...] = ()  # only from a run: a Blender scene has no depth maps
    masks: MaskOptions = MaskOptions()  # the run's: the photos' masks/ (`core.masks.photo_mask`)


def describe_plan(plan: "ImportPlan", scene: Optional["Scene"] = None) -> ExportScene:
    """The export of what `plan` imports (its cameras and points, in its Blender world);
    with the `scene` it was planned from, its depth maps too."""
    cameras = tuple(ExportCamera(
        cam.image_index, replace(cam.camera, c2w=_opencv_pose(cam.blender.matrix_world)),
        cam.photo.path if cam.photo else None, cam.name) for cam in plan.cameras)
    if plan.points is None:
        points = ExportPoints.empty()
    else:
        p = plan.points
        points = ExportPoints(p.xyz, p.rgb, p.confidence, p.image_index)
    depth = () if scene is None else _depth_maps(scene, plan)
    masks = plan.cameras[0].masks if plan.cameras else MaskOptions()
    return ExportScene(cameras, points, depth, masks)


def describe_scene(scene: "Scene", options: Optional["ImportOptions"] = None,
                   masks: MaskOptions = MaskOptions()) -> ExportScene:
    """The export of a finished run's Scene as `options` would import it (its scale and
    max_points; points and cameras always), with the run's `masks` (`Result.masks`)."""
    from ..settings import ImportOptions

    options = replace(options or ImportOptions(), points=True, cameras=True,
                      background_images=False, set_active_camera=False)
    return describe_plan(plan_import(scene, options, masks), scene)


def _opencv_pose(matrix_world: np.ndarray) -> np.ndarray:
    """A Blender camera's matrix_world as a camera-to-world with OpenCV camera axes."""
    return np.asarray(matrix_world, np.float64) @ CV_TO_BLENDER_CAMERA


def _depth_maps(scene: "Scene", plan: "ImportPlan") -> tuple[DepthMap, ...]:
    maps = []
    for n in range(scene.n_images):
        w, h = scene.image_size(n)
        f, (cx, cy) = float(scene.focals[n]), np.asarray(scene.pp[n], np.float64)
        pose = plan.world @ np.asarray(scene.c2w[n], np.float64)  # as the import's cameras
        pose[:3, :3] = orthonormalize(pose[:3, :3])  # without the world's scale
        camera = PinholeCamera(w, h, f, f, float(cx), float(cy), pose)
        maps.append(DepthMap(n, (np.asarray(scene.depthmaps[n]) * plan.scale).astype(np.float32),
                             np.asarray(scene.confidence[n], np.float32),
                             np.asarray(scene.masks[n], bool), camera, scene.photo(n)))
    return tuple(maps)
