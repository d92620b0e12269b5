"""What an import makes, as plain data: the Blender world and its scale, the point cloud's
arrays and live settings, and every camera's Blender values, pose and custom properties.

`plan_import(scene, options)` decides all of it for photos and `plan_track(track, plate,
options)` for a plate's solved camera; `importer/` only turns an `ImportPlan` or a `TrackPlan`
into Blender datablocks, and exporters build on the same plan. No bpy here, so every number an
import produces is tested without Blender.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Optional

import numpy as np

from .cameras import (SENSOR_MM, BlenderCamera, PinholeCamera, to_blender, transform_points,
                      world_matrix)
from . import schema
from .errors import Dust3rError
from .settings import MaskOptions

if TYPE_CHECKING:  # no torch or PIL here: the add-on's UI imports this module
    from .frames import Plate
    from .settings import SequenceOptions
    from .images import Photo
    from .settings import ImportOptions
    from .scene import PointCloud, Scene
    from .track import Track

AUTO_MEDIAN_DEPTH = 3.0  # auto scale: the photos' median depth becomes 3 m
RADIUS_PIXELS = 0.75  # auto point radius: this many photo pixels' footprint at the median depth


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
    # [M, 3] float32 unit vectors from each point to the centre of the camera that saw it:
    # the viewport shows each point as a square facing that camera
    view_direction: np.ndarray


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
        return schema.properties(**values)


@dataclass(frozen=True)
class OriginPlan:
    """The one parent (an Empty at the world origin) of everything an import makes: moving it
    moves points, cameras, depth meshes and camera animation together (scene set-up)."""

    name: str  # "<collection> origin"
    display_size: float  # Blender units

    @property
    def properties(self) -> dict[str, object]:
        return {schema.ORIGIN: True}  # how the set-up tools find it


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
    name = options.collection_name or default_name(scene)
    cloud, median_depth, scale, world, points = _cloud(scene, options, name)
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


def _cloud(scene: "Scene", options: "ImportOptions", name: str
           ) -> tuple["PointCloud", float, float, np.ndarray, Optional[PointsPlan]]:
    """The scene's cloud (subsampled), its median depth, the scale and world of the import
    (the median depth becomes 3 m unless `options.scale`) and the points to import."""
    depths = [np.asarray(scene.depthmaps[n])[np.asarray(scene.masks[n], bool)]
              for n in range(scene.n_images)]
    median_depth = _median(depths) or 1.0
    scale = options.scale or AUTO_MEDIAN_DEPTH / median_depth
    world = world_matrix(scale)
    cloud = _subsample(scene.point_cloud(), options.max_points)
    points = None
    if options.points:
        pixel = _median([d / f for d, f in zip(depths, scene.focals) if d.size])
        radius = options.point_radius or RADIUS_PIXELS * scale * pixel or 0.01
        xyz = transform_points(world, cloud.xyz)
        centres = transform_points(world, np.asarray(scene.c2w, np.float64)[:, :3, 3])
        towards = centres[cloud.image_index] - xyz
        towards /= np.maximum(np.linalg.norm(towards, axis=1, keepdims=True), 1e-12)
        points = PointsPlan(f"{name} points", xyz, cloud.rgb, cloud.confidence,
                            cloud.image_index, float(radius), float(options.confidence_threshold),
                            towards.astype(np.float32))
    return cloud, median_depth, float(scale), world, points


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
    # [V, 3] float32 sRGB colour of the network image (0.5 without colours): what Solid
    # shading shows, and renders where the mesh is not `textured`
    rgb: np.ndarray

    @property
    def properties(self) -> dict[str, object]:
        return schema.properties(image_index=self.image_index, depth_stride=self.stride)


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
    if scene.colors is None:
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


# ---------------------------------------------------------------------- a plate's solved camera
# A movie's first frame is plate frame 1, as Blender's Movie Clip numbers it by default.
MOVIE_FIRST_FRAME = 1
LENS_SPREAD_WARNING = 1e-3  # without zoom, focals further apart than this (relative) are named


@dataclass(frozen=True)
class PlateBackground:
    """The plate behind the camera, playing with the timeline: plate frame f at scene frame f.

    A movie is a Movie Clip starting at scene frame `frame_start` (its first frame is plate
    frame 1). An image sequence is an image of source SEQUENCE whose image user maps scene
    frame s to file number `min(max(s - frame_start + 1, 0), frame_duration) + frame_offset`
    (Blender's image user), so file N shows at frame N over the plate's frames.
    """

    source: str  # "MOVIE_CLIP" | "IMAGE"
    path: str  # the movie, or the image sequence's first file
    frame_start: int
    frame_offset: int = 0  # images only
    frame_duration: int = 0  # images only: the plate's first to last frame number


@dataclass(frozen=True)
class TrackPlan:
    """One camera animated through a plate's solved frames, the scene settings of the shot,
    the plate behind the camera and the keyframes' point cloud."""

    collection_name: str
    scale: float  # Blender units per reconstruction unit
    world: np.ndarray  # [4, 4] reconstruction -> Blender (Z up, scaled)
    points: Optional[PointsPlan]
    camera_name: str
    frames: tuple[int, ...]  # the solved frames: one key each, at exactly that scene frame
    cameras: tuple[BlenderCamera, ...]  # per frame: matrix_world, lens, sensor, shift
    zoom: bool  # lens and shift keyed per frame; otherwise constant (those of every frame)
    confidence: np.ndarray  # [F] per-frame confidence, keyed on `dust3r_confidence`
    clip: tuple[float, float]  # clip start, end covering the cloud from every frame
    display_size: float
    frame_range: tuple[int, int]  # the scene's frame start and end
    fps: Optional[tuple[int, float]]  # scene fps, fps_base; None: keep the scene's (images)
    resolution: tuple[int, int]  # render resolution at 100 %, pixel aspect 1
    background: Optional[PlateBackground]
    properties: dict  # the camera object's custom properties (`dust3r_*`)
    warnings: tuple[str, ...]
    origin: OriginPlan  # the parent of the camera and the points (scene set-up)


def plan_track(track: "Track", plate: "Plate", options: "ImportOptions",
               sequence: Optional["SequenceOptions"] = None) -> TrackPlan:
    """Everything `importer.import_track` creates for a solved plate, decided without Blender.

    The world and scale follow the stills' rule on the keyframes' scene (its median depth
    becomes 3 m unless `options.scale`). The lens is the solved one on a 36 mm long side, or,
    when `sequence.lens_mm` was given, on the known `sequence.sensor_mm` sensor width so that
    the lens reads exactly `lens_mm`. `sequence.zoom` keys lens and shift per frame.
    """
    frames = tuple(int(f) for f in track.frames)
    width, height = (int(v) for v in plate.size)
    if tuple(int(v) for v in track.size) != (width, height):
        raise Dust3rError(f"The solved track is {track.size[0]}x{track.size[1]} pixels but the "
                          f"plate {plate.source} is {width}x{height}")
    if len(frames) < 2 or list(frames) != sorted(set(frames)):
        raise Dust3rError(f"A track needs two or more ascending frames, not {frames}")
    missing = sorted(set(frames) - set(plate.frames))
    if missing:
        raise Dust3rError(f"Frames {missing[:5]} of the track are not in the plate "
                          f"{plate.source}")
    zoom = bool(sequence is not None and sequence.zoom)
    known = sequence is not None and sequence.lens_mm > 0
    # A known sensor width on the long side's scale, so that lens = lens_mm on any aspect.
    sensor = sequence.sensor_mm * max(width, height) / width if known else SENSOR_MM

    name = plate_name(plate)
    collection = options.collection_name or f"DUSt3R {name}"
    cloud, median_depth, scale, world, points = _cloud(track.scene, options, collection)

    focals = np.asarray(track.focals, np.float64)
    pps = np.asarray(track.pp, np.float64)
    warnings = []
    if not zoom:
        spread = float(np.ptp(focals) / np.median(focals))
        if spread > LENS_SPREAD_WARNING:
            warnings.append(f"The solved focal varies by {100 * spread:.2g} % over the shot "
                            "without zoom: the camera keeps the median")
        focals = np.full_like(focals, np.median(focals))
        pps = np.broadcast_to(np.median(pps, 0), pps.shape)
    c2w = np.asarray(track.c2w, np.float64)
    views = [PinholeCamera(width, height, f, f, pp[0], pp[1], pose)
             for f, pp, pose in zip(focals, pps, c2w)]
    cameras = tuple(to_blender(cam, world, sensor) for cam in views)

    sample = cloud.xyz[:: max(1, len(cloud) // 20_000)].astype(np.float64)  # for clipping
    ranges = np.array([clip_range(pose, sample, scale) for pose in c2w])
    clip = (float(ranges[:, 0].min()), float(ranges[:, 1].max()))

    properties = dict(source=plate.source, plate_kind=plate.kind, width=width, height=height,
                      pixel_aspect_x=1.0, pixel_aspect_y=1.0,
                      keyframes=[int(f) for f in track.keyframes],
                      confidence=float(track.confidence[0]))  # keyed per frame by the import
    if not zoom:
        properties.update(fx=views[0].fx, fy=views[0].fy, cx=views[0].cx, cy=views[0].cy)
    fps = scene_fps(plate.fps) if plate.kind == "movie" and plate.fps else None
    background = plate_background(plate) if options.background_images else None
    if background is not None and not os.path.isfile(background.path):
        warnings.append(f"No plate behind the camera: {background.path} is gone")
        background = None
    return TrackPlan(
        collection, scale, world, points, name, frames, cameras, zoom,
        np.asarray(track.confidence, np.float32), clip, 0.1 * median_depth * scale,
        (frames[0], frames[-1]), fps, (width, height), background,
        schema.properties(**properties), tuple(warnings),
        OriginPlan(f"{collection} origin", 0.5 * median_depth * scale))


def plate_name(plate: "Plate") -> str:
    """The shot's name: the movie's or the frames' file name without number and extension
    ("plate.1001.exr" -> "plate"), else the folder's."""
    path = plate.path_of(plate.frames[0])
    stem = os.path.splitext(os.path.basename(path))[0]
    if plate.kind != "movie":
        stem = re.sub(r"[._\- ]*\d+$", "", stem)
    return stem or os.path.basename(os.path.dirname(os.path.abspath(path))) or "plate"


def plate_background(plate: "Plate") -> PlateBackground:
    """The plate as a Movie Clip or an image sequence that shows plate frame f at frame f."""
    if plate.kind == "movie":
        return PlateBackground("MOVIE_CLIP", plate.path_of(plate.frames[0]), MOVIE_FIRST_FRAME)
    first, last = int(plate.frames[0]), int(plate.frames[-1])
    return PlateBackground("IMAGE", plate.path_of(first), first, first - 1, last - first + 1)


def scene_fps(fps: float) -> tuple[int, float]:
    """Blender's (fps, fps_base) for a frame rate: 25 -> (25, 1), 23.976 -> (24, 1.001) as
    Blender's NTSC presets (24000/1001), other fractions as numerator / denominator."""
    for base in (1.0, 1.001):
        rate = round(fps * base)
        if rate >= 1 and abs(fps * base - rate) <= 1e-4 * rate:
            return int(rate), base
    rate = Fraction(fps).limit_denominator(1000)
    return rate.numerator, float(rate.denominator)
