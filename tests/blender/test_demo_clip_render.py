"""The rendered shot (`demo.clip`, the short CI version) is a plate with exact truth.

Frames numbered from 1001, 16:9, one constant 35 mm lens on a camera that dollies and pans;
each frame's true depth, seen from another frame through the true cameras, lands where that
frame's depth puts it, on the same colour; the movie files decode to the same frames.
"""
import re

import av
import numpy as np
import pytest
from PIL import Image

from core.cameras import PinholeCamera
from core.scene import PointCloud
from demo.clip import FIRST_FRAME, LENS_MM, render_clip
from demo.movie import CODECS
from demo.picture import plate_beside_cloud, render_cloud
from demo.truth import load_ground_truth, project, sample_depth

pytestmark = pytest.mark.slow  # 12 Cycles frames
FRAMES, W, H = 12, 192, 108


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    render_clip(folder, n_frames=FRAMES, width=W, height=H, samples=2, movie=True)
    return load_ground_truth(folder)


def plate(truth, n):
    return np.asarray(Image.open(truth.photo_paths[n]).convert("RGB"), np.float64)


def test_frames_are_numbered_from_1001_and_16_by_9(shot):
    frames = list(range(FIRST_FRAME, FIRST_FRAME + FRAMES))
    assert FIRST_FRAME == 1001 and shot.frames == frames
    numbered = sorted(int(m[1]) for p in shot.folder.iterdir()
                      if (m := re.fullmatch(r"plate\.(\d+)\.png", p.name)))
    assert numbered == frames
    assert [c.file for c in shot.cameras] == [f"plate.{f}.png" for f in frames]
    for n, cam in enumerate(shot.cameras):
        assert Image.open(shot.photo_paths[n]).size == (cam.width, cam.height) == (W, H)
        assert shot.depth(n).shape == (H, W)
    assert 9 * W == 16 * H


def test_one_lens_on_a_camera_that_dollies_and_pans(shot):
    focal = LENS_MM / 36.0 * W
    for cam in shot.cameras:
        assert (cam.fx, cam.fy) == pytest.approx((focal, focal), rel=1e-6)
        assert (cam.cx, cam.cy) == ((W - 1) / 2, (H - 1) / 2)
    c2w = np.stack([c.c2w for c in shot.cameras])
    steps = np.linalg.norm(np.diff(c2w[:, :3, 3], axis=0), axis=1)
    assert steps.sum() > 3.0 and steps.min() > 0  # metres: it travels, every frame
    heading = np.degrees(np.arctan2(c2w[:, 1, 2], c2w[:, 0, 2]))  # view axis in the floor plane
    assert abs(heading[-1] - heading[0]) > 30  # and turns


@pytest.mark.parametrize("a, b", [(0, 1), (5, 8), (11, 6)])
def test_depth_of_one_frame_lands_on_another_within_a_pixel(shot, a, b):
    world, uv_a = shot.points(a)
    cam_a, cam_b = shot.cameras[a], shot.cameras[b]
    uv, z = project(cam_b, world)
    inside = (z > 0) & (uv >= 0).all(1) & (uv[:, 0] < W - 1) & (uv[:, 1] < H - 1)
    seen = np.abs(sample_depth(shot.depth(b), uv[inside]) / z[inside] - 1) < 0.003
    assert inside.mean() > 0.5 and seen.mean() > 0.5
    # Back from frame b's own depth at that spot: the point lands where frame a saw it.
    uv_b = uv[inside][seen]
    depth_b = sample_depth(shot.depth(b), uv_b)
    rays = np.stack([(uv_b[:, 0] - cam_b.cx) / cam_b.fx, (uv_b[:, 1] - cam_b.cy) / cam_b.fy,
                     np.ones(len(uv_b))], -1)
    back, _ = project(cam_a, (rays * depth_b[:, None]) @ cam_b.c2w[:3, :3].T + cam_b.c2w[:3, 3])
    distance = np.linalg.norm(back - uv_a[inside][seen], axis=1)
    assert np.median(distance) < 0.05 and np.quantile(distance, 0.99) < 1.0
    u_a, v_a = uv_a[inside][seen].astype(int).T
    u_b, v_b = np.rint(uv_b).astype(int).T
    colour_a, colour_b = plate(shot, a)[v_a, u_a], plate(shot, b)[v_b, u_b]
    unrelated = np.abs(colour_a - np.roll(colour_b, len(colour_b) // 2, 0)).mean()
    assert np.abs(colour_a - colour_b).mean() < 0.3 * unrelated


@pytest.mark.parametrize("codec, tolerance", [("ffv1", 0.0), ("h264", 3.0)])
def test_movie_decodes_to_the_plate(shot, codec, tolerance):
    with av.open(str(shot.folder / f"plate{CODECS[codec].suffix}")) as movie:
        frames = [f.to_ndarray(format="rgb24") for f in movie.decode(video=0)]
    assert len(frames) == FRAMES
    for n, frame in enumerate(frames):
        assert np.abs(frame - plate(shot, n)).mean() <= tolerance


def test_the_shot_s_points_through_a_late_frame_s_camera_show_its_plate(shot):
    """The demo picture on the truth: the points of a late frame and of earlier ones,
    coloured from their plates, rendered through the late frame's true camera, look like
    its plate; through a camera panned by 1 degree they do not."""
    late = FRAMES - 2
    clouds = []
    for n in (6, 8, 9, late):
        world, uv = shot.points(n)
        u, v = uv.astype(int).T
        clouds.append((world, plate(shot, n)[v, u] / 255))
    cloud = PointCloud(*(np.concatenate(parts) for parts in zip(*clouds)), None, None)
    cam = shot.cameras[late]
    camera = PinholeCamera(cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy, cam.c2w)
    sheet = np.asarray(plate_beside_cloud(Image.open(shot.photo_paths[late]), camera, cloud,
                                          shot.frames[late]), np.float64)
    left, right = sheet[:H, :W], sheet[:H, W + 8:]
    np.testing.assert_array_equal(left, plate(shot, late))
    assert (right.sum(-1) > 0).all()  # its own points cover every pixel
    assert match(right, plate(shot, late)) < 0.2  # some won by the other frames' points
    without_own = PointCloud(*(np.concatenate(parts) for parts in zip(*clouds[:-1])), None, None)
    seen = np.asarray(render_cloud(camera, without_own), np.float64)
    assert (seen.sum(-1) > 0).mean() > 0.7 and match(seen, plate(shot, late)) < 0.3
    a = np.radians(1.0)
    pan = np.array([[np.cos(a), 0, np.sin(a), 0], [0, 1, 0, 0], [-np.sin(a), 0, np.cos(a), 0],
                    [0, 0, 0, 1]])
    panned = PinholeCamera(cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy, cam.c2w @ pan)
    wrong = np.asarray(render_cloud(panned, without_own), np.float64)
    assert match(wrong, plate(shot, late)) > 2 * match(seen, plate(shot, late))


def match(render, photo):
    """Colour error of a render's covered pixels against a photo, relative to the error
    of unrelated pixels (1: no better than chance)."""
    covered = render.sum(-1) > 0
    error = np.abs(render - photo)[covered].mean()
    return error / np.abs(render[covered] - np.roll(photo[covered], 997, 0)).mean()
