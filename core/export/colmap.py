"""A COLMAP sparse model with its images, as 3D Gaussian Splatting and gsplat read it.

    FOLDER/
      images/<photo>          the upright photos (`photos`), one per camera
      masks/<photo>.png       only with masks: 255 = keep, 0 = ignore (COLMAP's naming)
      sparse/0/cameras.bin    one PINHOLE camera per photo (or cameras.txt)
      sparse/0/images.bin     world-to-camera poses and each point's observation (images.txt)
      sparse/0/points3D.bin   the coloured seed cloud with its tracks (points3D.txt)
      sparse/0/points3D.ply   the same cloud: x y z nx ny nz red green blue confidence
      dust3r_export.json      marks the folder as an export (it is replaced as a whole)

COLMAP's conventions: pixel centres at +0.5 (cx = OpenCV cx + 0.5), camera axes as OpenCV,
poses world-to-camera as a unit quaternion (qw, qx, qy, qz; qw >= 0) and a translation. The
world is the export's (Blender's, Z up). Every point has a track of one observation: the
photo it was seen in, at its projection there (reprojection error 0), so trainers that read
tracks (gsplat's depth loss) find points in every image; a point that no longer projects into
its photo (a camera moved in Blender, a deleted camera) has an empty track.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..progress import Cancel
from .description import DEFAULT_MAX_POINTS, ExportPoints, ExportScene
from .files import staged_folder
from .photos import PhotoFile, has_masks, plan_photos, write_masks, write_photos
from .ply import write_ply

PINHOLE = 1  # COLMAP's camera model id: fx, fy, cx, cy


@dataclass(frozen=True)
class ColmapImage:
    image_id: int
    camera_id: int
    name: str
    qvec: np.ndarray  # [4] qw qx qy qz, world-to-camera rotation
    tvec: np.ndarray  # [3] world-to-camera translation
    xy: np.ndarray  # [K, 2] float64 observations (COLMAP pixels)
    point3D_ids: np.ndarray  # [K] int64


@dataclass(frozen=True)
class ColmapModel:
    """The numbers of the three files."""

    cameras: tuple[tuple[int, int, int, tuple[float, float, float, float]], ...]  # id, W, H, p
    images: tuple[ColmapImage, ...]
    points: ExportPoints  # ids 1..M in order
    track_image: np.ndarray  # [M] image id of each point's observation (0: none)
    track_index: np.ndarray  # [M] its index in that image's observations


def write_colmap(export: ExportScene, folder: str | os.PathLike, *, binary: bool = True,
                 max_points: int = DEFAULT_MAX_POINTS,
                 cancel: Optional[Cancel] = None) -> Path:
    """Write the COLMAP dataset of `export` to `folder` (new, empty, or an earlier export,
    replaced whole), the model binary or text, with a seeded subset of `max_points` points
    (0 = all), and masks/ with the run's masks (`export.masks`). Returns the folder."""
    files = plan_photos(export.cameras)
    masks = has_masks(files, export.masks)
    model = colmap_model(files, export.points.subset(max_points))
    with staged_folder(folder, "colmap") as stage:
        write_photos(files, stage.path / "images", cancel)
        if masks:
            write_masks(files, export.masks, stage.path / "masks", cancel)
        sparse = stage.path / "sparse" / "0"
        sparse.mkdir(parents=True)
        (write_binary if binary else write_text)(model, sparse)
        write_ply(sparse / "points3D.ply", model.points, normals=True)
        stage.record.update(model="binary" if binary else "text", images=len(files),
                            points=len(model.points), masks=masks,
                            world="Blender (Z up)")
    return stage.target


def colmap_model(files: Sequence[PhotoFile], points: ExportPoints) -> ColmapModel:
    """Cameras, images and points of the photos `files` (ids from 1, in order)."""
    cameras, images = [], []
    track_image = np.zeros(len(points), np.int64)
    track_index = np.zeros(len(points), np.int64)
    for k, file in enumerate(files):
        cam, image_id = file.camera.camera, k + 1
        cameras.append((image_id, cam.width, cam.height,
                        (cam.fx, cam.fy, cam.cx + 0.5, cam.cy + 0.5)))
        w2c = np.linalg.inv(np.asarray(cam.c2w, np.float64))
        mine = np.flatnonzero(points.image_index == file.camera.image_index)
        uvz = cam.project(points.xyz[mine])
        inside = ((uvz[:, 2] > 0) & (uvz[:, 0] >= -0.5) & (uvz[:, 0] < cam.width - 0.5)
                  & (uvz[:, 1] >= -0.5) & (uvz[:, 1] < cam.height - 0.5))
        seen = mine[inside]
        track_image[seen] = image_id
        track_index[seen] = np.arange(len(seen))
        images.append(ColmapImage(image_id, image_id, file.name, quaternion(w2c[:3, :3]),
                                  w2c[:3, 3].copy(), uvz[inside, :2] + 0.5, seen + 1))
    return ColmapModel(tuple(cameras), tuple(images), points, track_image, track_index)


def quaternion(rotation: np.ndarray) -> np.ndarray:
    """The unit quaternion (w, x, y, z), w >= 0, of a rotation matrix (from its largest
    diagonal term, which keeps the division well away from zero)."""
    r = np.asarray(rotation, np.float64)
    trace = np.trace(r)
    if trace > max(r[0, 0], r[1, 1], r[2, 2]):
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [s / 4, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
    elif r[0, 0] >= r[1, 1] and r[0, 0] >= r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
        q = [(r[2, 1] - r[1, 2]) / s, s / 4, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s]
    elif r[1, 1] >= r[2, 2]:
        s = 2.0 * np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
        q = [(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, s / 4, (r[1, 2] + r[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
        q = [(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, s / 4]
    q = np.array(q) / np.linalg.norm(q)
    return -q if q[0] < 0 else q


# ------------------------------------------------------------------ binary files
# Little-endian, as COLMAP writes them: counts and ids uint64/uint32, values double.
_CAMERA = np.dtype([("id", "<u4"), ("model", "<i4"), ("width", "<u8"), ("height", "<u8"),
                    ("params", "<f8", 4)])
_POINT2D = np.dtype([("xy", "<f8", 2), ("point3D_id", "<i8")])
_POINT3D = [("id", "<u8"), ("xyz", "<f8", 3), ("rgb", "u1", 3), ("error", "<f8"),
            ("track_length", "<u8")]
_TRACKED = np.dtype(_POINT3D + [("image_id", "<u4"), ("point2D_idx", "<u4")])


def write_binary(model: ColmapModel, folder: Path) -> None:
    cameras = np.zeros(len(model.cameras), _CAMERA)
    for row, (camera_id, width, height, params) in zip(cameras, model.cameras):
        row["id"], row["width"], row["height"], row["params"] = camera_id, width, height, params
    cameras["model"] = PINHOLE
    with open(folder / "cameras.bin", "wb") as f:
        f.write(struct.pack("<Q", len(cameras)) + cameras.tobytes())

    with open(folder / "images.bin", "wb") as f:
        f.write(struct.pack("<Q", len(model.images)))
        for image in model.images:
            points2d = np.zeros(len(image.xy), _POINT2D)
            points2d["xy"], points2d["point3D_id"] = image.xy, image.point3D_ids
            f.write(struct.pack("<I4d3dI", image.image_id, *image.qvec, *image.tvec,
                                image.camera_id))
            f.write(image.name.encode("utf-8") + b"\0")
            f.write(struct.pack("<Q", len(points2d)) + points2d.tobytes())

    points, tracked = model.points, model.track_image > 0
    records = []
    for dtype, keep in ((_TRACKED, tracked), (np.dtype(_POINT3D), ~tracked)):
        rows = np.zeros(int(keep.sum()), dtype)
        rows["id"] = np.flatnonzero(keep) + 1
        rows["xyz"], rows["rgb"] = points.xyz[keep], points.rgb8[keep]
        if dtype is _TRACKED:
            rows["track_length"] = 1
            rows["image_id"], rows["point2D_idx"] = model.track_image[keep], \
                model.track_index[keep]
        records.append(rows.tobytes())
    with open(folder / "points3D.bin", "wb") as f:
        f.write(struct.pack("<Q", len(points)))
        f.writelines(records)


# ------------------------------------------------------------------ text files
def write_text(model: ColmapModel, folder: Path) -> None:
    lines = ["# One line per camera: CAMERA_ID MODEL WIDTH HEIGHT fx fy cx cy",
             f"# Number of cameras: {len(model.cameras)}"]
    lines += [f"{camera_id} PINHOLE {width} {height} {' '.join(map(repr, map(float, params)))}"
              for camera_id, width, height, params in model.cameras]
    _write_lines(folder / "cameras.txt", lines)

    observations = sum(len(image.xy) for image in model.images)
    lines = ["# Two lines per image:",
             "#   IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME",
             "#   X Y POINT3D_ID for each observation (an empty line when there are none)",
             f"# Number of images: {len(model.images)}, observations: {observations}"]
    for image in model.images:
        pose = " ".join(map(repr, [*image.qvec.tolist(), *image.tvec.tolist()]))
        lines.append(f"{image.image_id} {pose} {image.camera_id} {image.name}")
        lines.append(" ".join(f"{x!r} {y!r} {i}" for (x, y), i in
                              zip(image.xy.tolist(), image.point3D_ids.tolist())))
    _write_lines(folder / "images.txt", lines)

    points = model.points
    lines = ["# One line per point: POINT3D_ID X Y Z R G B ERROR then IMAGE_ID POINT2D_IDX "
             "for each observation", f"# Number of points: {len(points)}"]
    tracks = [f" {i} {k}" if i else "" for i, k in
              zip(model.track_image.tolist(), model.track_index.tolist())]
    lines += [f"{n} {x!r} {y!r} {z!r} {r} {g} {b} 0.0{track}" for n, (x, y, z), (r, g, b), track
              in zip(range(1, len(points) + 1), points.xyz.astype(np.float64).tolist(),
                     points.rgb8.tolist(), tracks)]
    _write_lines(folder / "points3D.txt", lines)


def _write_lines(path: Path, lines: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
