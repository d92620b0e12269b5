"""The demo's pictures (no bpy): an input image beside what the reconstruction shows there.

For a shot (`demo.clip`), the plate at a late frame beside the solved point cloud seen
through the camera solved for that frame (`track_picture`): `render_cloud` draws the points
one pixel each (the nearest point wins a pixel), which is enough to see whether the camera
lines up.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .compare import track_camera
from .truth import GroundTruth, project


def side_by_side(photo: Image.Image, render: Image.Image, caption: str,
                 label: str = "input photo") -> Image.Image:
    """The photo and the render next to each other, captioned underneath."""
    gap, band = 8, 28
    render = render.resize(photo.size)
    sheet = Image.new("RGB", (2 * photo.width + gap, photo.height + band), (255, 255, 255))
    sheet.paste(photo, (0, 0))
    sheet.paste(render, (photo.width + gap, 0))
    draw = ImageDraw.Draw(sheet)
    draw.text((8, photo.height + 8), label, fill=(0, 0, 0))
    draw.text((photo.width + gap + 8, photo.height + 8), caption, fill=(0, 0, 0))
    return sheet


def render_cloud(camera, cloud, background: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """The points of `cloud` (`xyz` [M, 3] world, `rgb` [M, 3] sRGB in [0, 1], as
    `core.scene.PointCloud`) seen through `camera` (an OpenCV camera with width, height,
    fx, fy, cx, cy and c2w, as `core.cameras.PinholeCamera`), each on its nearest pixel."""
    w, h = camera.width, camera.height
    uv, z = project(camera, np.asarray(cloud.xyz, np.float64))
    front = z > 0
    pixel = np.rint(uv[front]).astype(np.int64)
    inside = (pixel >= 0).all(1) & (pixel[:, 0] < w) & (pixel[:, 1] < h)
    flat, z = pixel[inside, 1] * w + pixel[inside, 0], z[front][inside]
    rgb = np.asarray(cloud.rgb)[front][inside]
    order = np.lexsort((z, flat))  # by pixel, nearest first
    first = np.unique(flat[order], return_index=True)[1]
    image = np.empty((h * w, 3), np.uint8)
    image[:] = background
    image[flat[order][first]] = np.clip(np.rint(rgb[order][first] * 255), 0, 255)
    return Image.fromarray(image.reshape(h, w, 3))


def plate_beside_cloud(plate: Image.Image, camera, cloud, frame: int,
                       caption: str = "solved points through the solved camera") -> Image.Image:
    """The picture of a solved shot: plate `frame` beside `cloud` rendered through `camera`
    (for the demo's --clip: `demo.compare.track_camera(track, k)` and the track's cloud)."""
    return side_by_side(plate.convert("RGB"), render_cloud(camera, cloud), caption,
                        f"plate, frame {frame}")


def track_picture(track, truth: GroundTruth, k: int | None = None) -> Image.Image:
    """The picture of a solved track (`core.track.Track`): the plate of `track.frames[k]`
    (default: the frame 80 % through the shot) beside the track's point cloud
    (`track.scene.point_cloud()`) rendered through the camera solved for that frame."""
    k = round(0.8 * (len(track.frames) - 1)) if k is None else k
    frame = track.frames[k]
    plate = Image.open(truth.photo_paths[truth.index_of(truth.folder, frame)])
    return plate_beside_cloud(plate, track_camera(track, k), track.scene.point_cloud(), frame)
