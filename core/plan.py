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
from .masks import MaskOptions

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
    masks: MaskOptions = MaskOptions()  # the run's masks, kept for File > Export

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
        if self.masks.source != "none":
            values.update(mask_folder=self.masks.folder, mask_alpha=self.masks.alpha,
                          mask_invert=self.masks.invert)
        return {PROPERTY_PREFIX + key: value for key, value in values.items()}


@dataclass(frozen=True)
class OriginPlan:
    """The one parent (an Empty at the world origin) of everything an import makes: moving it
    moves points, cameras, depth meshes and camera animation together (scene set-up)."""

    name: str  # "<collection> origin"
    display_size: float  # Blender units

    @property
    def properties(self) -> dict[str, object]:
        return {PROPERTY_PREFIX + "origin": True}  # how the set-up tools find it


@dataclass(frozen=True)
class ImportPlan:
    collection_name: str
    scale: float  # Blender units per reconstruction unit
    world: np.ndarray  # [4, 4] reconstruction -> Blender (Z up, scaled)
    points: Optional[PointsPlan]
    cameras: tuple[CameraPlan, ...]
    active_camera: Optional[int]  # index into `cameras` of the new scene camera
    warnings: tuple[str, ...]
    origin: OriginPlan  # the parent of every object above, identity parent inverse
    depth_meshes: tuple["DepthMeshPlan", ...] = ()  # one per photo with ImportOptions.depth_meshes


def plan_import(scene: "Scene", options: "ImportOptions",
                masks: MaskOptions = MaskOptions()) -> ImportPlan:
    """Everything `importer.import_scene` creates for `scene`, decided without Blender;
    `masks` are the run's (`Result.masks`), which the cameras keep for exports."""
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
            name_n = camera_name(scene, n)
            background = options.background_images and photo is not None
            if background and not os.path.isfile(photo.path):
                warnings.append(f"No background for {name_n}: {photo.path} is gone")
                background = False
            cameras.append(CameraPlan(
                name_n, n, cam, to_blender(cam, world),
                clip_range(cam.c2w, sample, scale), 0.1 * median_depth * scale, photo,
                background, masks))
    active = 0 if options.set_active_camera and cameras else None
    meshes = plan_depth_meshes(scene, world, options, warnings) if options.depth_meshes else ()
    origin = OriginPlan(f"{name} origin", 0.5 * median_depth * scale)
    return ImportPlan(name, float(scale), world, points, tuple(cameras), active, tuple(warnings),
                      origin, depth_meshes=meshes)


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


# ----------------------------------------------------------------------------- depth meshes
# A face is dropped where its corners' depths jump more than a surface turned this steeply away
# from the camera would give (the tangent of the angle between the surface and facing the
# camera: 10 = 84.3 degrees). Such faces are the skin a depth map stretches across an
# occlusion edge; real surfaces seen that obliquely are smeared over many pixels anyway.
DEPTH_MAX_SLOPE = 10.0


@dataclass(frozen=True)
class DepthMeshPlan:
    """One photo's depth map as a grid mesh in Blender's world, UV-mapped to the photo.

    The vertices are the network pixels on every `stride`-th row and column (and the last
    ones), kept where a face uses them; faces are the grid's quads whose four corners are
    confident and do not span a depth discontinuity (`depth_mesh_faces`).
    """

    name: str  # the photo's camera name + " depth"
    image_index: int
    photo: Optional["Photo"]
    textured: bool  # the photo file is there to texture the mesh (else: the `rgb` colours)
    stride: int
    vertices: np.ndarray  # [V, 3] float32 Blender world: the scene's pts3d of `pixels`
    uv: np.ndarray  # [V, 2] float32 position in the upright photo, (0, 0) = bottom left
    faces: np.ndarray  # [F, 4] int32 vertex indices, counter-clockwise seen from the camera
    pixels: np.ndarray  # [V, 2] int32 network pixel (column, row) of each vertex
    confidence: np.ndarray  # [V] float32 raw network confidence
    # [V, 3] float32 sRGB colour of the network image (0.5 without colours) where the mesh
    # is not `textured`; [0, 3] where it is
    rgb: np.ndarray


def camera_name(scene: "Scene", n: int) -> str:
    """"000 <photo file stem>": the name the import gives photo n's camera."""
    photo = scene.photo(n)
    stem = os.path.splitext(os.path.basename(photo.path))[0] if photo else "camera"
    return f"{n:03d} {stem}"


def plan_depth_meshes(scene: "Scene", world: np.ndarray, options: "ImportOptions",
                      warnings: list[str]) -> tuple[DepthMeshPlan, ...]:
    """`depth_mesh` of every photo, with a warning for each photo whose file is gone (its
    mesh shows the network image's colours)."""
    meshes = []
    for n in range(scene.n_images):
        mesh = depth_mesh(scene, n, world, options.depth_stride, options.confidence_threshold)
        if mesh.photo is not None and not mesh.textured:
            warnings.append(f"{mesh.name} shows the network image's colours: "
                            f"{mesh.photo.path} is gone")
        meshes.append(mesh)
    return tuple(meshes)


def grid_indices(size: int, stride: int) -> np.ndarray:
    """Every `stride`-th index of 0..size-1, and the last one, so the grid reaches the edge."""
    index = np.arange(0, size, stride)
    return index if index[-1] == size - 1 else np.append(index, size - 1)


def depth_mesh(scene: "Scene", n: int, world: np.ndarray, stride: int = 1,
               min_confidence: float = 0.0,
               max_slope: float = DEPTH_MAX_SLOPE) -> DepthMeshPlan:
    """Photo n's depth map as a grid mesh (numpy only: no loops over pixels), textured with
    the photo when its file is there."""
    rows = grid_indices(scene.depthmaps[n].shape[0], stride)
    cols = grid_indices(scene.depthmaps[n].shape[1], stride)
    grid = np.ix_(rows, cols)
    depth = np.asarray(scene.depthmaps[n], np.float32)[grid]
    confidence = np.asarray(scene.confidence[n], np.float32)[grid]
    valid = np.asarray(scene.masks[n], bool)[grid] & (confidence >= min_confidence) \
        & np.isfinite(depth) & (depth > 0)
    keep = depth_mesh_faces(depth, valid, np.diff(rows), np.diff(cols),
                            float(scene.focals[n]), max_slope)

    # Faces as corner indices into the R x C grid: (r, c), (r+1, c), (r+1, c+1), (r, c+1)
    # runs counter-clockwise on the image (y down), so the normals face the camera.
    n_cols = len(cols)
    top_left = np.flatnonzero(keep.ravel())
    top_left = top_left // (n_cols - 1) * n_cols + top_left % (n_cols - 1)
    corners = top_left[:, None] + np.array([0, n_cols, n_cols + 1, 1])
    used = np.zeros(depth.size, bool)
    used[corners.ravel()] = True
    new_index = np.cumsum(used, dtype=np.int64) - 1
    faces = new_index[corners].astype(np.int32)

    row_of, col_of = np.divmod(np.flatnonzero(used), n_cols)
    pixels = np.stack([cols[col_of], rows[row_of]], -1).astype(np.int32)
    xyz = np.asarray(scene.pts3d[n])[pixels[:, 1], pixels[:, 0]]
    photo = scene.photo(n)
    if photo is not None:
        uv_photo, (width, height) = photo.pixel_to_photo(pixels), photo.size
    else:
        uv_photo, (width, height) = pixels.astype(np.float64), scene.image_size(n)
    uv = np.stack([(uv_photo[:, 0] + 0.5) / width, 1.0 - (uv_photo[:, 1] + 0.5) / height], -1)
    textured = photo is not None and os.path.isfile(photo.path)
    if textured:
        rgb = np.zeros((0, 3), np.float32)
    elif scene.colors is None:
        rgb = np.full((len(pixels), 3), 0.5, np.float32)
    else:
        rgb = np.asarray(scene.colors[n], np.float32)[pixels[:, 1], pixels[:, 0]]
    return DepthMeshPlan(
        f"{camera_name(scene, n)} depth", n, photo, textured, int(stride),
        transform_points(world, xyz.astype(np.float32)),  # as the points: the same vertices
        uv.astype(np.float32), faces, pixels,
        np.asarray(scene.confidence[n], np.float32)[pixels[:, 1], pixels[:, 0]], rgb)


def depth_mesh_faces(depth: np.ndarray, valid: np.ndarray, row_steps: np.ndarray,
                     col_steps: np.ndarray, focal: float,
                     max_slope: float = DEPTH_MAX_SLOPE) -> np.ndarray:
    """[R-1, C-1] bool: which quads of an R x C grid of depths to keep.

    A quad is kept when its four corners are `valid` and their depths differ by at most
    `max_slope` x its size seen from the camera (its longer side in pixels / `focal`, in
    radians) of the nearest corner's depth: a surface turned up to atan(max_slope) from facing
    the camera keeps its faces. With the default 10 (84.3 degrees), at stride 1 on a
    512-pixel network image (focal about 400 px) that allows a 2.5 % jump, at stride 4 10 %.
    """
    corners = (np.s_[:-1, :-1], np.s_[1:, :-1], np.s_[1:, 1:], np.s_[:-1, 1:])
    d = np.stack([depth[c] for c in corners])
    ok = np.logical_and.reduce([valid[c] for c in corners])
    side = np.maximum(np.asarray(row_steps, np.float64)[:, None],
                      np.asarray(col_steps, np.float64)[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        jump = (d.max(0) - d.min(0)) / d.min(0)
    return ok & (jump <= max_slope * side / focal)
