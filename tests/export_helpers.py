"""A small reconstruction with real photo files for the export tests (with and without bpy):
a landscape JPEG, a portrait PNG, a JPEG stored sideways with EXIF orientation 6 and a grey
PNG; cameras turned and moved, principal points off-centre, depth that varies per pixel."""
from __future__ import annotations

from pathlib import Path

import numpy as np

# (file name, stored size, EXIF orientation, PIL mode)
PHOTOS = (("wall left.jpg", (96, 72), 1, "RGB"), ("door.png", (60, 80), 1, "RGB"),
          ("phone.jpg", (96, 72), 6, "RGB"), ("grey.png", (80, 60), 1, "L"))


def write_photos(folder: Path) -> list[str]:
    from PIL import Image

    paths = []
    for k, (name, (w, h), orientation, mode) in enumerate(PHOTOS):
        rng = np.random.default_rng(k)
        pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).convert(mode)
        exif = image.getexif()
        if orientation != 1:
            exif[0x0112] = orientation
        path = folder / name
        image.save(path, exif=exif) if path.suffix == ".jpg" else image.save(path)
        paths.append(str(path))
    return paths


def pose(n: int) -> np.ndarray:
    """Camera n's camera-to-world: turned about y and x, moved along x and z."""
    a, b = 0.25 * n, 0.1 * (n % 2)
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    c2w = np.eye(4)
    c2w[:3, :3] = ry @ rx
    c2w[:3, 3] = (0.4 * n, -0.1 * n, 0.15 * n)
    return c2w


def photo_scene(folder: Path, size: int = 64, core=None):
    """A Scene of the photos written into `folder` (network images of `size`): each pixel's
    point at a depth of 2 to 3 units through its camera (so points reproject exactly).
    `core`: the package to build it with (the add-on's in the Blender tests)."""
    if core is None:
        import core
        import core.images
        import core.scene

    views = core.images.load_images(write_photos(folder), size=size)
    photos = [v["photo"] for v in views]
    rng = np.random.default_rng(7)
    c2w, focals, pps, depths, points, conf, masks, colors = [], [], [], [], [], [], [], []
    for n, photo in enumerate(photos):
        w, h = photo.network_size
        f, pp = 45.0 + 4 * n, np.array([(w - 1) / 2 + 0.7 * n, (h - 1) / 2 - 0.4 * n])
        v, u = np.mgrid[0:h, 0:w].astype(np.float64)
        d = 2.0 + rng.random((h, w))
        cam = np.stack([(u - pp[0]) / f * d, (v - pp[1]) / f * d, d], -1)
        c2w.append(pose(n))
        points.append((cam @ c2w[n][:3, :3].T + c2w[n][:3, 3]).astype(np.float32))
        depths.append(d.astype(np.float32))
        conf.append(rng.uniform(1.0, 10.0, (h, w)).astype(np.float32))
        masks.append(rng.random((h, w)) > 0.1)
        colors.append(rng.random((h, w, 3)).astype(np.float32))
        focals.append(f)
        pps.append(pp)
    return core.scene.Scene(np.array(c2w, np.float32), np.array(focals, np.float32),
                 np.array(pps, np.float32), depths, points, conf, masks, colors, photos=photos)
