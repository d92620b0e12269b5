"""Helpers of the Blender tests: photos, synthetic Scenes, a snapshot of the scene."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def scene_state() -> dict:
    """Everything a failed or cancelled run must leave as it was."""
    import bpy

    render = bpy.context.scene.render
    names = {t: sorted(b.name for b in getattr(bpy.data, t))
             for t in ("objects", "meshes", "cameras", "materials", "node_groups", "images",
                       "collections")}
    return dict(names, camera=bpy.context.scene.camera and bpy.context.scene.camera.name,
                resolution=(render.resolution_x, render.resolution_y))


def projected(camera, points_blender) -> np.ndarray:
    """OpenCV pixel coordinates of Blender points through a Blender camera at the scene's
    frame and render resolution."""
    import bpy
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    scene = bpy.context.scene
    w, h = scene.render.resolution_x, scene.render.resolution_y
    got = np.array([world_to_camera_view(scene, camera, Vector(p)) for p in points_blender])
    return np.stack([got[:, 0] * w - 0.5, (1 - got[:, 1]) * h - 0.5], 1)


def write_photo(path: Path, size: tuple[int, int], orientation: int = 1, seed: int = 0) -> Path:
    """A small textured JPEG of `size` (stored pixels) with an optional EXIF orientation."""
    from PIL import Image

    w, h = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    pixels = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1),
                       rng.integers(0, 255, (h, w))], -1).astype(np.uint8)
    img = Image.fromarray(pixels)
    exif = img.getexif()
    if orientation != 1:
        exif[0x0112] = orientation
    img.save(path, quality=95, exif=exif)
    return path


def synthetic_scene(core, photos: list, c2w: np.ndarray, focals, pps, depth: float = 2.0,
                    colors=None):
    """A Scene with constant-depth maps seen by the given cameras (network-frame intrinsics)."""
    depthmaps, pts3d, conf, masks, cols = [], [], [], [], []
    for n, photo in enumerate(photos):
        w, h = photo.network_size
        v, u = np.mgrid[0:h, 0:w].astype(np.float64)
        d = np.full((h, w), depth)
        cam = np.stack([(u - pps[n][0]) / focals[n] * d, (v - pps[n][1]) / focals[n] * d, d], -1)
        pts = cam @ c2w[n][:3, :3].T + c2w[n][:3, 3]
        depthmaps.append(d.astype(np.float32))
        pts3d.append(pts.astype(np.float32))
        conf.append(np.linspace(1.0, 10.0, h * w, dtype=np.float32).reshape(h, w))
        masks.append(np.ones((h, w), bool))
        rgb = colors[n] if colors is not None else np.full(3, 0.5)
        cols.append(np.broadcast_to(np.asarray(rgb, np.float32), (h, w, 3)).copy())
    return core.scene.Scene(np.asarray(c2w, np.float32), np.asarray(focals, np.float32),
                            np.asarray(pps, np.float32), depthmaps, pts3d, conf, masks, cols,
                            photos=list(photos))
