"""What the import of a solved plate makes, decided without Blender: one camera whose values
at frame f reproduce the track's camera of frame f, the shot's scene settings and the plate."""
import numpy as np
import pytest
from solved_track import image_plate as plate_of, movie_plate, solved_shot

import core.scene
from core.cameras import PinholeCamera, from_blender, to_blender
from core.errors import Dust3rError
from core.plan import AUTO_MEDIAN_DEPTH, plan_import, plan_track, scene_fps
from core.settings import ImportOptions, SequenceOptions

SIZE = (64, 36)


def image_plate(frames=tuple(range(1001, 1011)), size=SIZE, folder="/shots/a"):
    return plate_of(core, f"{folder}/plate.####.png", frames, size)


def opencv_camera(track, i):
    w, h = track.size
    return PinholeCamera(w, h, track.focals[i], track.focals[i], track.pp[i][0],
                         track.pp[i][1], track.c2w[i])


def image_user_file(bg, scene_frame):
    """The file number Blender's image user loads at a scene frame (clamped, not cyclic)."""
    local = min(max(scene_frame - bg.frame_start + 1, 0), bg.frame_duration)
    return local + bg.frame_offset


def test_every_frame_is_the_tracks_camera_through_the_stills_conversion():
    track = solved_shot(core)
    plan = plan_track(track, image_plate(), ImportOptions())
    assert plan.frames == track.frames and len(plan.cameras) == len(track.frames)
    for i, bcam in enumerate(plan.cameras):
        expected = to_blender(opencv_camera(track, i), plan.world)
        np.testing.assert_allclose(bcam.matrix_world, expected.matrix_world, atol=1e-12)
        assert bcam.lens == pytest.approx(expected.lens)
        assert (bcam.shift_x, bcam.shift_y) == pytest.approx((expected.shift_x, expected.shift_y))
        back = from_blender(bcam, plan.world)  # and back: the solved pose and intrinsics
        np.testing.assert_allclose(back.c2w, track.c2w[i], atol=1e-9)
        assert (back.fx, back.cx, back.cy) == pytest.approx(
            (track.focals[i], *track.pp[i]), abs=1e-9)


def test_without_zoom_one_lens_and_shift_for_the_whole_shot_and_a_36mm_long_side():
    track = solved_shot(core, focal=60.0)
    plan = plan_track(track, image_plate(), ImportOptions(background_images=False))
    assert not plan.zoom
    assert len({c.lens for c in plan.cameras}) == 1
    assert plan.cameras[0].lens == pytest.approx(60.0 * 36.0 / SIZE[0])
    assert len({(c.shift_x, c.shift_y, c.sensor_width, c.sensor_fit) for c in plan.cameras}) == 1
    assert plan.cameras[0].sensor_width == 36.0 and plan.cameras[0].sensor_fit == "HORIZONTAL"
    assert plan.properties["dust3r_fx"] == pytest.approx(60.0)
    assert not plan.warnings


def test_zoom_gives_a_lens_and_shift_per_frame():
    track = solved_shot(core, zoom=True)
    plan = plan_track(track, image_plate(), ImportOptions(), SequenceOptions(zoom=True))
    assert plan.zoom
    np.testing.assert_allclose([c.lens for c in plan.cameras], track.focals * 36.0 / SIZE[0])
    assert len({c.shift_x for c in plan.cameras}) == len(track.frames)
    assert "dust3r_fx" not in plan.properties  # no single focal to keep


def test_focals_that_differ_without_zoom_are_named_and_the_median_is_kept():
    track = solved_shot(core, zoom=True)
    plan = plan_track(track, image_plate(), ImportOptions())
    np.testing.assert_allclose([c.lens for c in plan.cameras],
                               np.median(track.focals) * 36 / 64)
    assert "without zoom" in plan.warnings[0]


@pytest.mark.parametrize("size", [(64, 36), (36, 64)])
def test_a_known_lens_reads_exactly_on_the_known_sensor_width(size):
    lens_mm, sensor_mm = 35.0, 24.89  # Super 35
    w, h = size
    track = solved_shot(core, size=size, focal=lens_mm * w / sensor_mm)
    sequence = SequenceOptions(lens_mm=lens_mm, sensor_mm=sensor_mm)
    plan = plan_track(track, image_plate(size=size), ImportOptions(), sequence)
    cam = plan.cameras[0]
    assert cam.lens == pytest.approx(lens_mm) and cam.sensor_width == pytest.approx(sensor_mm)
    assert cam.sensor_height == pytest.approx(sensor_mm * h / w)


def test_the_keyframes_scene_sets_the_scale_and_the_points_as_for_stills():
    track = solved_shot(core, depth=0.5)
    plan = plan_track(track, image_plate(), ImportOptions())
    assert plan.scale == pytest.approx(AUTO_MEDIAN_DEPTH / 0.5)
    stills = plan_import(track.scene, ImportOptions(collection_name=plan.collection_name))
    np.testing.assert_allclose(plan.world, stills.world)
    np.testing.assert_array_equal(plan.points.xyz, stills.points.xyz)
    assert plan.points.radius == stills.points.radius
    assert plan_track(track, image_plate(), ImportOptions(scale=2.0)).scale == 2.0
    assert plan_track(track, image_plate(), ImportOptions(points=False)).points is None


def test_clip_range_keeps_the_cloud_in_view_from_every_frame():
    track = solved_shot(core, depth=2.0)
    plan = plan_track(track, image_plate(), ImportOptions(scale=1.0))
    xyz = track.scene.point_cloud().xyz.astype(np.float64)
    depths = np.concatenate([(xyz - pose[:3, 3]) @ pose[:3, 2] for pose in track.c2w])
    assert plan.clip[0] < depths.min() and plan.clip[1] > depths.max()


def test_scene_settings_frame_range_resolution_and_confidence():
    frames = tuple(range(1001, 1020, 2))  # a frame step of 2
    track = solved_shot(core, frames=frames)
    plan = plan_track(track, image_plate(frames=range(1001, 1020)), ImportOptions())
    assert plan.frame_range == (1001, 1019)
    assert plan.resolution == SIZE and plan.fps is None  # images: the scene's own rate
    np.testing.assert_allclose(plan.confidence, track.confidence)
    props = plan.properties
    assert props["dust3r_keyframes"] == list(track.keyframes)
    assert (props["dust3r_width"], props["dust3r_height"]) == SIZE
    assert props["dust3r_source"] == "/shots/a/plate.####.png"


@pytest.mark.parametrize("fps, expected", [(24.0, (24, 1.0)), (25.0, (25, 1.0)),
                                           (24000 / 1001, (24, 1.001)), (23.976, (24, 1.001)),
                                           (30000 / 1001, (30, 1.001)), (60000 / 1001, (60, 1.001)),
                                           (12.5, (25, 2.0))])
def test_frame_rates_become_blender_fps_and_fps_base(fps, expected):
    rate, base = scene_fps(fps)
    assert (rate, base) == (expected[0], pytest.approx(expected[1]))
    assert rate / base == pytest.approx(fps, rel=1e-4)


def test_a_movie_sets_the_scene_rate_and_plays_as_a_clip_from_frame_one(tmp_path):
    movie = tmp_path / "shot_v2.mov"
    movie.write_bytes(b"")
    plate = movie_plate(core, str(movie), 10, SIZE, 24000 / 1001)
    plan = plan_track(solved_shot(core, frames=tuple(range(1, 11))), plate, ImportOptions())
    assert plan.fps == (24, pytest.approx(1.001))
    assert plan.camera_name == "shot_v2" and plan.collection_name == "DUSt3R shot_v2"
    bg = plan.background
    assert (bg.source, bg.path, bg.frame_start) == ("MOVIE_CLIP", str(movie), 1)


def test_an_image_sequence_shows_file_n_at_frame_n(tmp_path):
    plate = image_plate(frames=range(1001, 1031), folder=str(tmp_path))
    for frame in plate.frames:
        (tmp_path / f"plate.{frame}.png").write_bytes(b"")
    track = solved_shot(core, frames=tuple(range(1005, 1015)))
    plan = plan_track(track, plate, ImportOptions(collection_name="Shot"))
    bg = plan.background
    assert bg.source == "IMAGE" and bg.path == str(tmp_path / "plate.1001.png")
    assert [image_user_file(bg, f) for f in plate.frames] == list(plate.frames)
    assert plan.camera_name == "plate" and plan.collection_name == "Shot"
    assert plan_track(track, plate, ImportOptions(background_images=False)).background is None


def test_a_plate_that_is_gone_is_named_and_left_out():
    plan = plan_track(solved_shot(core), image_plate(folder="/nowhere"), ImportOptions())
    assert plan.background is None
    assert plan.warnings == ("No plate behind the camera: /nowhere/plate.1001.png is gone",)


def test_a_plate_of_bare_numbers_is_named_after_its_folder():
    plate = plate_of(core, "/shots/sh010/####.exr", range(1, 11), SIZE)
    plan = plan_track(solved_shot(core, frames=tuple(range(1, 11))), plate, ImportOptions())
    assert plan.camera_name == "sh010"


def test_a_track_that_does_not_fit_its_plate_is_refused():
    track = solved_shot(core)
    with pytest.raises(Dust3rError, match="64x36.*plate.*32x18"):
        plan_track(track, image_plate(size=(32, 18)), ImportOptions())
    with pytest.raises(Dust3rError, match=r"\[1009, 1010\].*not in the plate"):
        plan_track(track, image_plate(frames=range(1001, 1009)), ImportOptions())
