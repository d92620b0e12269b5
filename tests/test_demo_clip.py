"""The shot demo's parts that need no Blender: truth keyed by frame, the ground-truth predictor
on sequence views, the per-frame track comparison, the picture and the movie files.

The shot here is analytic: a camera dollying and panning inside a box room (floor and four
walls, a smooth colour texture on world positions), so every pixel's true point, colour and
depth are known exactly.
"""
from dataclasses import replace
from types import SimpleNamespace

import av
import numpy as np
import pytest
import torch
from PIL import Image

from core.cameras import PinholeCamera
from core.images import load_images
from core.pairs import make_pairs
from core.scene import PointCloud
from demo.compare import TRACK_LIMITS, Similarity, track_camera, track_errors
from demo.movie import CODECS, encode_movie
from demo.oracle import GroundTruthPredictor
from demo.picture import plate_beside_cloud, render_cloud, track_picture
from demo.truth import TrueCamera, load_ground_truth, look_at, project, write_ground_truth

W, H, FRAMES = 160, 90, range(1001, 1013)
FOCAL = 35 / 36 * W
PLANES = [((0, 0, 1), 0.0), ((0, 1, 0), 3.0), ((0, 1, 0), -4.0), ((1, 0, 0), 4.0),
          ((1, 0, 0), -4.0), ((0, 0, 1), 3.0)]  # n . x = d: floor, walls, ceiling


def texture(world):
    """Smooth colours in [0, 1] of world points [..., 3]."""
    x, y, z = np.moveaxis(world, -1, 0)
    return np.stack([0.5 + 0.4 * np.sin(3 * x + 2 * z), 0.5 + 0.4 * np.sin(2.5 * y - 1.5 * x),
                     0.5 + 0.4 * np.cos(2 * z + 3 * y)], -1)


def shot_cameras():
    cams = []
    for k, frame in enumerate(FRAMES):
        s = k / (len(FRAMES) - 1)
        c2w = look_at(np.array([-1.0, -3.0, 1.5]) * (1 - s) + np.array([1.0, -2.0, 1.3]) * s,
                      np.array([-0.5, 1.0, 0.5]) * (1 - s) + np.array([0.6, 1.0, 0.6]) * s,
                      down=(0.0, 0.0, -1.0), roll_deg=2 * np.sin(2 * np.pi * s))
        cams.append(TrueCamera(f"plate.{frame}.png", W, H, FOCAL, FOCAL, (W - 1) / 2,
                               (H - 1) / 2, c2w, 1, f"depth_plate.{frame}.npy", frame=frame))
    return cams


def room_depth(cam):
    """z-depth [H, W] of the room at the pixel centres (rays with z = 1 in the camera)."""
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    rays = np.stack([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, np.ones((H, W))], -1)
    world = rays @ cam.c2w[:3, :3].T
    centre = cam.c2w[:3, 3]
    depth = np.full((H, W), np.inf)
    for normal, d in PLANES:
        normal = np.array(normal, np.float64)
        with np.errstate(divide="ignore"):
            t = (d - normal @ centre) / (world @ normal)
        depth = np.where((t > 0) & (t < depth), t, depth)
    return depth.astype(np.float32)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shot")
    for cam in shot_cameras():
        depth = room_depth(cam)
        np.save(folder / cam.depth_file, depth)
        u, v = np.meshgrid(np.arange(W), np.arange(H))
        z = depth.astype(np.float64)
        xyz = np.stack([(u - cam.cx) / cam.fx * z, (v - cam.cy) / cam.fy * z, z], -1)
        rgb = texture(xyz @ cam.c2w[:3, :3].T + cam.c2w[:3, 3])
        Image.fromarray(np.rint(rgb * 255).astype(np.uint8)).save(folder / cam.file)
    write_ground_truth(folder, shot_cameras())
    return load_ground_truth(folder)


def test_truth_is_keyed_by_frame_number(shot):
    assert shot.frames == list(FRAMES)
    assert shot.index_of(shot.folder / "plate.1005.png") == 4  # by file name, as stills
    assert shot.index_of("anything/plate.mkv", 1005) == 4  # a movie: by the frame alone
    movie = shot.renumbered(1)  # a reader that numbers a movie's frames from 1
    assert movie.frames == list(range(1, 13)) and movie.index_of("plate.mkv", 5) == 4
    assert movie.cameras[4].c2w is shot.cameras[4].c2w
    with pytest.raises(KeyError, match="frame 1013 of plate.mkv"):
        shot.index_of("plate.mkv", 1013)


def sequence_views(truth, movie=None, first=None):
    """The plate's network views as a frame loader gives them: with "frame" keys, and, for a
    movie, every photo's path the movie file and frames numbered from `first`."""
    views = load_images([str(p) for p in truth.photo_paths], size=512)
    for view, cam in zip(views, truth.cameras):
        view["frame"] = cam.frame if first is None else cam.frame - FRAMES[0] + first
        if movie:
            view["photo"] = replace(view["photo"], path=movie)
    return views


@pytest.mark.parametrize("movie, first", [(None, None), ("plate.mkv", 1)], ids=["images", "movie"])
def test_predictor_matches_sequence_views_by_frame(shot, movie, first):
    stills = load_images([str(p) for p in shot.photo_paths], size=512)
    frames = [0, 11]
    reference = GroundTruthPredictor(shot)(make_pairs([stills[k] for k in frames]))
    truth = shot if first is None else shot.renumbered(first)
    views = sequence_views(shot, movie, first)
    out = GroundTruthPredictor(truth)(make_pairs([views[k] for k in frames]))
    for pred, key in (("pred1", "pts3d"), ("pred2", "pts3d_in_other_view"), ("pred1", "conf")):
        assert torch.equal(out[pred][key], reference[pred][key])
    # Another frame's geometry would differ: the frame number decides, not the order.
    shuffled = [dict(views[0], frame=views[5]["frame"]), views[11]]
    other = GroundTruthPredictor(truth)(make_pairs(shuffled))
    assert not torch.equal(other["pred1"]["pts3d"], reference["pred1"]["pts3d"])


def test_a_frame_outside_the_truth_is_named(shot):
    views = sequence_views(shot, "plate.mp4", 1)
    with pytest.raises(KeyError, match="frame [12] of plate.mp4 is not a photo"):
        GroundTruthPredictor(shot)(make_pairs(views[:2]))


class Track:
    """A stand-in for core.track.Track: the fields track_errors reads."""

    def __init__(self, frames, c2w, focals, pp, size):
        self.frames, self.keyframes = tuple(frames), tuple(frames[::4])
        self.c2w, self.focals, self.pp, self.size = c2w, focals, pp, size


def rotation(axis, degrees):
    axis = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = np.radians(degrees)
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k


# The truth in another world (the solve's own): x_true = 2.5 R x + t.
TRUE_SIM = Similarity(2.5, rotation((1, 2, 3), 40), np.array([0.3, -1.0, 2.0]))


def solved_from_truth(truth):
    """The truth as a solver would give it: in its own world, at its own scale."""
    c2w = np.stack([c.c2w for c in truth.cameras]).copy()
    c2w[:, :3, 3] = TRUE_SIM.invert(c2w[:, :3, 3])
    c2w[:, :3, :3] = TRUE_SIM.rotation.T @ c2w[:, :3, :3]
    return Track(truth.frames, c2w, np.array([c.fx for c in truth.cameras]),
                 np.array([[c.cx, c.cy] for c in truth.cameras]), (W, H))


def path_length(truth):
    centres = np.stack([c.c2w[:3, 3] for c in truth.cameras])
    return np.linalg.norm(np.diff(centres, axis=0), axis=1).sum()


def test_the_truth_as_a_track_has_no_error(shot):
    errors = track_errors(solved_from_truth(shot), shot)
    assert errors.frames == tuple(FRAMES) and errors.failures() == []
    for name in TRACK_LIMITS:
        assert getattr(errors, name).max() < 1e-4 * TRACK_LIMITS[name]
    assert errors.similarity.scale == pytest.approx(2.5)
    assert errors.path_length == pytest.approx(path_length(shot))
    assert "1012" in errors.table() and "worst" in errors.table()


@pytest.fixture(scope="module")
def perturbed(shot):
    """The truth as a track with known errors in four frames: 0.3 deg of pan at 1003, the
    centre 0.5 % of the path off along the camera's x at 1006, the focal 2 % long at 1009,
    the principal point (1.2, 1.6) px off (2 px) at 1011."""
    track = solved_from_truth(shot)
    track.c2w[2, :3, :3] = track.c2w[2, :3, :3] @ rotation((0, 1, 0), 0.3)
    step = 0.005 * path_length(shot) / TRUE_SIM.scale
    track.c2w[5, :3, 3] += step * track.c2w[5, :3, 0]
    track.focals[8] *= 1.02
    track.pp[10] += (1.2, 1.6)
    return track


def focal_reprojection(truth, n, factor, step=4):
    """RMS pixel shift of a focal `factor` times too long: (factor - 1) * |uv - pp|."""
    _, uv = truth.points(n)
    cam = truth.cameras[n]
    return (factor - 1) * np.sqrt((((uv[::step] - (cam.cx, cam.cy)) ** 2).sum(1)).mean())


def test_injected_errors_come_out_exactly_with_the_true_similarity(shot, perturbed):
    errors = track_errors(perturbed, shot, sim=TRUE_SIM)
    expected = {"rotation_deg": {2: 0.3}, "position": {5: 0.005}, "focal": {8: 0.02},
                "reprojection_px": {8: focal_reprojection(shot, 8, 1.02), 10: 2.0}}
    for name, frames in expected.items():
        values = getattr(errors, name)
        for k, value in frames.items():
            assert values[k] == pytest.approx(value, rel=1e-6), (name, k)
        others = np.delete(values, [k for k in frames] + [2, 5])  # 2, 5 also reproject off
        assert others.max() < 1e-4 * TRACK_LIMITS[name], name
    # The pan and the offset move the picture too: about f * angle, f * offset / depth.
    assert errors.reprojection_px[2] == pytest.approx(FOCAL * np.radians(0.3), rel=0.2)
    assert 0 < errors.reprojection_px[5] < 1


def test_injected_errors_come_out_with_the_fitted_similarity(shot, perturbed):
    # The fit takes a share (about 1/12: one frame of 12) of a frame's own error.
    errors = track_errors(perturbed, shot)
    assert errors.similarity.scale == pytest.approx(2.5, rel=1e-3)
    assert errors.rotation_deg[2] == pytest.approx(0.3, rel=0.15)
    assert errors.position[5] == pytest.approx(0.005, rel=0.15)
    assert errors.focal[8] == pytest.approx(0.02, rel=1e-9)
    assert errors.reprojection_px[10] == pytest.approx(2.0, abs=0.1)
    assert errors.failures() == [1009, 1011]  # 2 % focal, 2 px: over the limits
    assert np.delete(errors.rotation_deg, 2).max() < 0.03


def test_a_track_on_another_plate_size_is_refused(shot):
    track = solved_from_truth(shot)
    track.size = (2 * W, 2 * H)
    with pytest.raises(ValueError, match="plate size"):
        track_errors(track, shot)


def frame_cloud(truth, n):
    """Frame n's true points with the colours its plate shows there."""
    world, uv = truth.points(n)
    plate = np.asarray(Image.open(truth.photo_paths[n]), np.float32) / 255
    u, v = uv.astype(int).T
    return PointCloud(world.astype(np.float32), plate[v, u], np.ones(len(world), np.float32),
                      np.zeros(len(world), np.int32))


def as_pinhole(cam):
    return PinholeCamera(cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy, cam.c2w)


def test_points_rendered_through_the_true_camera_are_the_plate(shot):
    late = 10
    plate = np.asarray(Image.open(shot.photo_paths[late]), np.float64)
    same = np.asarray(render_cloud(as_pinhole(shot.cameras[late]), frame_cloud(shot, late)))
    np.testing.assert_array_equal(same, plate)  # every pixel its own point
    # The first frame's points through the late frame's camera: where they land (a few
    # holes: the camera came closer), the colours of the plate there.
    camera = track_camera(Track(shot.frames, np.stack([c.c2w for c in shot.cameras]),
                                np.array([c.fx for c in shot.cameras]),
                                np.array([[c.cx, c.cy] for c in shot.cameras]), (W, H)), late)
    cloud = frame_cloud(shot, 0)
    seen = np.asarray(render_cloud(camera, cloud, background=(0, 0, 0)), np.float64)
    covered = seen.sum(-1) > 0
    assert covered.mean() > 0.5
    error = np.abs(seen - plate)[covered].mean()
    assert error < 4  # levels: the texture moves by under half a pixel
    wrong = replace(camera, c2w=camera.c2w @ np.block([[rotation((0, 1, 0), 1.0), np.zeros((3, 1))],
                                                       [np.zeros((1, 3)), np.ones((1, 1))]]))
    seen_wrong = np.asarray(render_cloud(wrong, cloud), np.float64)
    assert np.abs(seen_wrong - plate)[seen_wrong.sum(-1) > 0].mean() > 2 * error
    # Nearest point wins: a magenta point behind the surface at the image centre does not
    # show, one in front of it does.
    uv, _ = project(camera, cloud.xyz.astype(np.float64))
    k = np.argmin(np.linalg.norm(uv - (camera.cx, camera.cy), axis=1))
    centre = camera.c2w[:3, 3]
    for factor, shows in ((2.0, False), (0.5, True)):
        extra = centre + factor * (cloud.xyz[k] - centre)
        cloud_plus = PointCloud(np.concatenate([cloud.xyz, extra[None]]),
                                np.concatenate([cloud.rgb, [[1.0, 0.0, 1.0]]]), None, None)
        u, v = np.rint(uv[k]).astype(int)
        pixel = np.asarray(render_cloud(camera, cloud_plus))[v, u]
        assert (tuple(pixel) == (255, 0, 255)) is shows


def test_the_picture_shows_the_plate_beside_the_render(shot):
    cam = as_pinhole(shot.cameras[10])
    plate = Image.open(shot.photo_paths[10])
    sheet = plate_beside_cloud(plate, cam, frame_cloud(shot, 10), 1011)
    assert sheet.size == (2 * W + 8, H + 28)
    np.testing.assert_array_equal(np.asarray(sheet)[:H, :W], np.asarray(plate))
    np.testing.assert_array_equal(np.asarray(sheet)[:H, W + 8:], np.asarray(plate))


def test_track_picture_shows_a_late_plate_beside_the_track_s_cloud(shot):
    """A solved track in its own world: its cloud (the truth's points mapped the same way)
    through its camera at a late frame is that frame's plate."""
    late = round(0.8 * (len(FRAMES) - 1))
    cloud = frame_cloud(shot, late)
    track = solved_from_truth(shot)
    solved_cloud = replace(cloud, xyz=TRUE_SIM.invert(cloud.xyz))
    track.scene = SimpleNamespace(point_cloud=lambda: solved_cloud)
    sheet = np.asarray(track_picture(track, shot), np.float64)
    plate = np.asarray(Image.open(shot.photo_paths[late]), np.float64)
    np.testing.assert_array_equal(sheet[:H, :W], plate)
    assert (sheet[:H, W + 8:] == plate).all(-1).mean() > 0.99  # rounding at pixel borders
    earlier = np.asarray(track_picture(track, shot, k=2), np.float64)
    np.testing.assert_array_equal(earlier[:H, :W], np.asarray(Image.open(shot.photo_paths[2])))


def decode(path):
    with av.open(str(path)) as movie:
        return [frame.to_ndarray(format="rgb24") for frame in movie.decode(video=0)]


@pytest.mark.parametrize("codec, tolerance", [("ffv1", 0.0), ("h264", 3.0)])
def test_movie_decodes_to_the_plate(shot, tmp_path, codec, tolerance):
    path = encode_movie(shot.photo_paths, tmp_path / f"plate{CODECS[codec].suffix}", codec)
    frames = decode(path)
    assert len(frames) == len(FRAMES)
    for frame, photo in zip(frames, shot.photo_paths):
        plate = np.asarray(Image.open(photo), np.float64)
        assert frame.shape == plate.shape
        assert np.abs(frame - plate).mean() <= tolerance
