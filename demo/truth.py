"""Ground truth of a rendered demo scene: the cameras and depth maps `demo.render` writes.

No bpy here: the ground-truth predictor, the demo and the tests read it with numpy only.
Conventions follow OpenCV: pixel centres at integer coordinates, camera x right, y down,
z forward, `c2w` maps camera to world. Everything describes the EXIF-upright photo (what a
viewer shows), which is also the frame of the depth maps.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

GROUND_TRUTH = "ground_truth.json"
_SMOOTH = 0.05  # bilinear depth only where the 4 neighbours agree within 5 % (no flying pixels)
EXIF_ORIENTATION = 0x0112
# How the pixels are stored for an EXIF orientation: the transpose that undoes the viewer's.
_STORED = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
           8: Image.Transpose.ROTATE_270}


@dataclass(frozen=True)
class TrueCamera:
    """One photo of the demo scene and the camera that took it."""

    file: str  # photo file name, relative to the scene folder
    width: int  # upright photo size
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    c2w: np.ndarray  # [4, 4] OpenCV camera-to-world
    exif_orientation: int  # EXIF Orientation tag stored in the JPEG (1 = stored upright)
    depth_file: str  # float32 [height, width] z-depth, inf where the ray hits nothing
    # Scenes where one object moves between the shots (`demo.render --moving NAME`): its
    # pixels in this photo as an upright mask image in the add-on's convention (white =
    # keep, black = the moving object), and its 4x4 world matrix in this shot.
    mask_file: str = ""
    object_pose: Optional[np.ndarray] = None
    # A frame of a shot (`demo.clip`): its frame number in the plate; `file` is then the
    # frame's image file, or the movie file for every frame of a movie.
    frame: Optional[int] = None

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], np.float64)

    def to_json(self) -> dict:
        return {"file": self.file, "width": self.width, "height": self.height,
                "fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy,
                "c2w": np.asarray(self.c2w).tolist(), "exif_orientation": self.exif_orientation,
                "depth_file": self.depth_file, "mask_file": self.mask_file,
                "object_pose": None if self.object_pose is None else
                np.asarray(self.object_pose).tolist(), "frame": self.frame}

    @classmethod
    def from_json(cls, d: dict) -> "TrueCamera":
        return cls(d["file"], int(d["width"]), int(d["height"]), float(d["fx"]), float(d["fy"]),
                   float(d["cx"]), float(d["cy"]), np.array(d["c2w"], np.float64),
                   int(d["exif_orientation"]), d["depth_file"], d.get("mask_file", ""),
                   None if d.get("object_pose") is None else np.array(d["object_pose"]),
                   None if d.get("frame") is None else int(d["frame"]))


@dataclass(frozen=True)
class GroundTruth:
    """The cameras of a rendered scene, in photo (file name) order."""

    folder: Path
    cameras: tuple[TrueCamera, ...]

    @property
    def photo_paths(self) -> list[Path]:
        return [self.folder / c.file for c in self.cameras]

    def depth(self, n: int) -> np.ndarray:
        return np.load(self.folder / self.cameras[n].depth_file)

    def moving_object(self, n: int) -> np.ndarray:
        """Bool [height, width]: the pixels of photo n that show the moving object."""
        return np.asarray(Image.open(self.folder / self.cameras[n].mask_file).convert("L")) < 128

    def index_of(self, path: str | Path, frame: Optional[int] = None) -> int:
        """Index of the camera that took the photo at `path` (matched by file name), or,
        with `frame`, that took that frame of the shot (the plate's image file or a movie of
        the same frames: matched by the frame number alone)."""
        if frame is None:
            found = [n for n, c in enumerate(self.cameras) if c.file == Path(path).name]
        else:
            found = [n for n, c in enumerate(self.cameras) if c.frame == frame]
        if not found:
            what = f"frame {frame} of {path}" if frame is not None else str(path)
            raise KeyError(f"{what} is not a photo of the scene in {self.folder}")
        return found[0]

    @property
    def frames(self) -> list[int]:
        """The frame numbers of a shot's cameras (in camera order)."""
        return [c.frame for c in self.cameras]

    def renumbered(self, first: int) -> "GroundTruth":
        """The same shot with its frames numbered from `first` (e.g. a movie of the plate
        whose reader numbers its frames from 1)."""
        shift = first - min(self.frames)
        return GroundTruth(self.folder, tuple(replace(c, frame=c.frame + shift)
                                              for c in self.cameras))

    def network_rays(self, n: int, photo, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Camera n's rays [H,W,3] (z = 1, camera frame) through the pixel centres of a network
        image of `size` = (W, H) made from its photo (`photo`: the loader's `Photo`), and the
        true z-depth [H,W] along them (inf where they hit nothing)."""
        cam = self.cameras[n]
        grid = np.stack(np.meshgrid(np.arange(size[0]), np.arange(size[1])), -1)
        uv = photo.pixel_to_photo(grid.astype(np.float64))
        rays = np.stack([(uv[..., 0] - cam.cx) / cam.fx, (uv[..., 1] - cam.cy) / cam.fy,
                         np.ones(uv.shape[:-1])], -1)
        return rays, sample_depth(self.depth(n), uv)

    def points(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """World points [M, 3] of every pixel of photo n that sees geometry, and their (u, v)."""
        cam, depth = self.cameras[n], self.depth(n)
        v, u = np.nonzero(np.isfinite(depth))
        z = depth[v, u].astype(np.float64)
        xyz = np.stack([(u - cam.cx) / cam.fx * z, (v - cam.cy) / cam.fy * z, z], -1)
        world = xyz @ cam.c2w[:3, :3].T + cam.c2w[:3, 3]
        return world, np.stack([u, v], -1).astype(np.float64)


def look_at(centre, target, down=(0.0, 1.0, 0.0), roll_deg: float = 0.0) -> np.ndarray:
    """OpenCV camera-to-world [4, 4] of a camera at `centre` looking at `target`, `down`
    being the world direction that shows as down in the image (+y in OpenCV-like worlds,
    -z in Z-up ones), rolled by `roll_deg` about the view axis."""
    centre = np.asarray(centre, np.float64)
    z = np.asarray(target, np.float64) - centre
    z /= np.linalg.norm(z)
    x = np.cross(np.asarray(down, np.float64), z)  # down x forward = right
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    roll = np.radians(roll_deg)
    x, y = np.cos(roll) * x + np.sin(roll) * y, -np.sin(roll) * x + np.cos(roll) * y
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([x, y, z], 1)
    c2w[:3, 3] = centre
    return c2w


def write_ground_truth(folder: Path, cameras: list[TrueCamera]) -> Path:
    path = Path(folder) / GROUND_TRUTH
    path.write_text(json.dumps({"cameras": [c.to_json() for c in cameras]}, indent=1))
    return path


def load_ground_truth(folder: str | Path) -> GroundTruth:
    """Read `ground_truth.json` from a scene folder written by `demo.render`."""
    folder = Path(folder)
    data = json.loads((folder / GROUND_TRUTH).read_text())
    return GroundTruth(folder, tuple(TrueCamera.from_json(d) for d in data["cameras"]))


def project(cam: TrueCamera, world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points [M, 3] -> pixel coordinates [M, 2] and z-depth [M] in photo `cam`."""
    w2c = np.linalg.inv(cam.c2w)
    xyz = world @ w2c[:3, :3].T + w2c[:3, 3]
    z = xyz[:, 2]
    uv = np.stack([cam.fx * xyz[:, 0] / z + cam.cx, cam.fy * xyz[:, 1] / z + cam.cy], -1)
    return uv, z


def sample_depth(depth: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Depth [H,W] at photo pixel coordinates uv [...,2]: bilinear on smooth surfaces.

    Where the four neighbours straddle an edge (or the sky), interpolating would invent
    points between the surfaces, so the nearest pixel's depth is used instead.
    """
    h, w = depth.shape
    u = np.clip(uv[..., 0], 0, w - 1)
    v = np.clip(uv[..., 1], 0, h - 1)
    u0 = np.minimum(np.floor(u).astype(np.int64), w - 2)
    v0 = np.minimum(np.floor(v).astype(np.int64), h - 2)
    du, dv = u - u0, v - v0
    corners = np.stack([depth[v0, u0], depth[v0, u0 + 1], depth[v0 + 1, u0], depth[v0 + 1, u0 + 1]])
    weights = np.stack([(1 - du) * (1 - dv), du * (1 - dv), (1 - du) * dv, du * dv])
    with np.errstate(invalid="ignore"):  # inf - inf at the sky
        smooth = np.isfinite(corners).all(0) & (np.ptp(corners, 0) <= _SMOOTH * corners.min(0))
        bilinear = (weights * np.where(np.isfinite(corners), corners, 0)).sum(0)
    nearest = depth[np.rint(v).astype(np.int64), np.rint(u).astype(np.int64)]
    return np.where(smooth, bilinear, nearest).astype(np.float64)


def save_photo(image: Image.Image, path: str | Path, exif_orientation: int = 1) -> None:
    """Save an upright photo as a JPEG stored so that applying `exif_orientation` shows it."""
    exif = Image.Exif()
    if exif_orientation != 1:
        image = image.transpose(_STORED[exif_orientation])
        exif[EXIF_ORIENTATION] = exif_orientation
    image.save(path, quality=92, exif=exif.tobytes())
