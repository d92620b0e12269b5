"""A solved plate -> Blender: one camera that at every solved frame f projects like the track's
camera of frame f, the plate playing behind it (image sequence or movie), the shot's scene
settings, and nothing left behind when the import fails."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from blender_helpers import projected, scene_state
from solved_track import solved_shot

import bpy
from demo.compat import compositor_output, render_still, set_file_format

SIZE = (320, 180)  # 16:9
FOCAL = 300.0


def grey(k: int) -> int:
    """The grey level of plate frame number k: far apart, so a frame is known by its grey."""
    return 20 + 23 * (k % 10)


def write_sequence(core, folder, frames, size=SIZE):
    """Write the plate `plate.####.png` of `frames` and open it as the add-on does."""
    from PIL import Image

    w, h = size
    for k in frames:
        Image.fromarray(np.full((h, w, 3), grey(k), np.uint8)).save(folder / f"plate.{k:04d}.png")
    return core.frames.open_plate(str(folder / "plate.####.png"))


def write_movie(core, path, n_frames, size=SIZE, rate=Fraction(24000, 1001)):
    """A movie whose k-th frame (1-based, as Blender numbers it) is grey(k), opened as the
    add-on does."""
    import av

    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"qscale": "1"}
        for k in range(1, n_frames + 1):
            frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), grey(k), np.uint8), "rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return core.frames.open_plate(str(path))


def shown_grey(tree, output, node) -> float:
    """The grey the compositor shows for `node` at the scene's frame (Standard view)."""
    tree.links.new(node.outputs["Image"], output)
    render_still()
    image = bpy.data.images.load(bpy.context.scene.render.filepath, check_existing=False)
    try:
        pixels = np.empty(len(image.pixels), np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    return float(np.median(pixels.reshape(-1, 4)[:, :3])) * 255


@pytest.fixture
def small_render(tmp_path):
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.view_settings.view_transform = "Standard"
    scene.render.resolution_percentage = 10  # the compositor's output is all these tests need
    set_file_format(scene.render.image_settings, "PNG")
    scene.render.filepath = str(tmp_path / "shown.png")
    return scene


CASES = {"one lens": dict(), "zoom": dict(zoom=True),
         "frame step": dict(frames=tuple(range(1001, 1024, 3)))}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_camera_at_every_solved_frame_projects_like_the_tracks_camera(addon, tmp_path,
                                                                          case):
    kwargs = {"frames": tuple(range(1001, 1013)), "size": SIZE, "focal": FOCAL, **CASES[case]}
    track = solved_shot(addon.core, **kwargs)
    plate = write_sequence(addon.core, tmp_path, range(track.frames[0], track.frames[-1] + 1))
    sequence = addon.core.settings.SequenceOptions(zoom=kwargs.get("zoom", False))
    imported = addon.importer.import_track(track, plate, sequence=sequence)
    (camera,) = imported.cameras
    scene = bpy.context.scene
    assert scene.camera == camera
    assert (scene.frame_start, scene.frame_end) == (track.frames[0], track.frames[-1])
    assert (scene.render.resolution_x, scene.render.resolution_y) == SIZE
    assert scene.render.resolution_percentage == 100
    assert camera.name in imported.collection.objects and imported.points is not None
    assert (camera.data.animation_data is not None) == sequence.zoom  # lens keyed only so

    rng = np.random.default_rng(3)
    world = addon.core.cameras.world_matrix(imported.scale)
    for i, frame in enumerate(track.frames):
        scene.frame_set(frame)
        w, h = SIZE
        cv = addon.core.cameras.PinholeCamera(w, h, track.focals[i], track.focals[i],
                                              *track.pp[i], track.c2w[i])
        local = rng.uniform([-2, -1.5, 1.0], [2, 1.5, 6.0], size=(50, 3))  # in and out of view
        points = local @ track.c2w[i][:3, :3].T + track.c2w[i][:3, 3]
        uv = projected(camera, addon.core.cameras.transform_points(world, points))
        np.testing.assert_allclose(uv, cv.project(points)[:, :2], atol=0.01,
                                   err_msg=f"frame {frame}")
        assert camera["dust3r_confidence"] == pytest.approx(track.confidence[i], rel=1e-6)


def test_an_image_sequence_plays_file_n_at_frame_n(addon, tmp_path, small_render):
    track = solved_shot(addon.core, frames=tuple(range(1003, 1009)), size=SIZE, focal=FOCAL)
    plate = write_sequence(addon.core, tmp_path, range(1001, 1011))  # longer than the track
    imported = addon.importer.import_track(track, plate)
    (background,) = imported.cameras[0].data.background_images
    assert background.source == "IMAGE" and background.image.source == "SEQUENCE"
    assert imported.images == (background.image,)
    user = background.image_user
    with compositor_output(small_render) as (tree, output):
        node = tree.nodes.new("CompositorNodeImage")  # reads the image as the background does
        node.image = background.image
        node.frame_start, node.frame_offset = user.frame_start, user.frame_offset
        node.frame_duration = user.frame_duration
        for frame in plate.frames:
            small_render.frame_set(frame)
            assert user.frame_current == frame  # the file number the background shows
            assert shown_grey(tree, output, node) == pytest.approx(grey(frame), abs=1.5)


def test_a_movie_plays_as_a_clip_at_its_rate(addon, tmp_path, small_render):
    plate = write_movie(addon.core, tmp_path / "shot.mp4", 8)
    track = solved_shot(addon.core, frames=tuple(range(3, 9)), size=SIZE, focal=FOCAL)
    imported = addon.importer.import_track(track, plate)
    render = small_render.render
    assert (render.fps, render.fps_base) == (24, pytest.approx(1.001))
    assert (small_render.frame_start, small_render.frame_end) == (3, 8)
    (background,) = imported.cameras[0].data.background_images
    assert background.source == "MOVIE_CLIP" and background.clip == imported.movie_clip
    assert imported.movie_clip.frame_duration == 8 and imported.cameras[0].name == "shot"
    with compositor_output(small_render) as (tree, output):
        node = tree.nodes.new("CompositorNodeMovieClip")  # the clip, as the background plays it
        node.clip = imported.movie_clip
        for frame in plate.frames:
            small_render.frame_set(frame)
            shown = shown_grey(tree, output, node)
            assert shown == pytest.approx(grey(frame), abs=4), f"frame {frame}"


@pytest.mark.parametrize("kind", ["images", "movie"])
def test_a_failed_import_leaves_the_scene_as_it_was(addon, tmp_path, monkeypatch, kind):
    track = solved_shot(addon.core, frames=tuple(range(1, 7)), size=SIZE, focal=FOCAL)
    plate = (write_movie(addon.core, tmp_path / "shot.mp4", 6) if kind == "movie"
             else write_sequence(addon.core, tmp_path, range(1, 7)))
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end, scene.render.fps = 10, 90, 30
    scene.frame_set(42)

    def state():
        render = scene.render
        return dict(scene_state(), actions=sorted(a.name for a in bpy.data.actions),
                    clips=sorted(c.name for c in bpy.data.movieclips),
                    frames=(scene.frame_start, scene.frame_end, scene.frame_current),
                    fps=(render.fps, render.fps_base), percentage=render.resolution_percentage)

    before = state()
    set_scene = addon.importer.track.set_scene

    def fail_after_setting_the_scene(*args):
        set_scene(*args)
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(addon.importer.track, "set_scene", fail_after_setting_the_scene)
    with pytest.raises(RuntimeError, match="simulated"):
        addon.importer.import_track(track, plate)
    assert state() == before


def test_a_full_turn_keeps_the_rotation_keys_continuous(addon, tmp_path):
    """A 360 degree pan in 30 degree steps: Euler keys never jump a turn between frames (so
    the LINEAR in-between turns the short way), and every frame still projects exactly."""
    track = solved_shot(addon.core, frames=tuple(range(1, 14)), size=SIZE, focal=FOCAL)
    yaw = np.radians(np.arange(13) * 30.0)  # about the reconstruction's vertical (OpenCV y)
    c2w = np.tile(np.eye(4), (13, 1, 1))
    c2w[:, 0, 0], c2w[:, 0, 2], c2w[:, 2, 0], c2w[:, 2, 2] = (np.cos(yaw), np.sin(yaw),
                                                              -np.sin(yaw), np.cos(yaw))
    track = type(track)(**{**track.__dict__, "c2w": c2w})
    plate = write_sequence(addon.core, tmp_path, range(1, 14))
    imported = addon.importer.import_track(track, plate)
    camera, scene = imported.cameras[0], bpy.context.scene
    world = addon.core.cameras.world_matrix(imported.scale)
    eulers, points = [], np.array([[0.3, -0.2, 2.0], [-1.0, 0.4, 4.0]])
    for i, frame in enumerate(track.frames):
        scene.frame_set(frame)
        eulers.append(tuple(camera.rotation_euler))
        cv = addon.core.cameras.PinholeCamera(*SIZE, FOCAL, FOCAL, *track.pp[i], c2w[i])
        world_points = points @ c2w[i][:3, :3].T + c2w[i][:3, 3]
        uv = projected(camera, addon.core.cameras.transform_points(world, world_points))
        np.testing.assert_allclose(uv, cv.project(world_points)[:, :2], atol=0.01)
    steps = np.abs(np.diff(np.array(eulers), axis=0))
    assert steps.max() < np.radians(31)
    assert "a camera on frames 1-13" in imported.summary()


def test_scene_set_up_moves_the_animated_camera_with_its_points(addon, tmp_path):
    """The plate's camera hangs from the reconstruction's origin: Set Origin moves its whole
    animation with the cloud, so at every frame it still sees the points where it did."""
    track = solved_shot(addon.core, frames=tuple(range(1001, 1007)), size=SIZE, focal=FOCAL)
    plate = write_sequence(addon.core, tmp_path, track.frames)
    imported = addon.importer.import_track(track, plate)
    (camera,) = imported.cameras
    assert camera.parent == imported.origin and imported.points.parent == imported.origin
    scene = bpy.context.scene
    co = np.empty(len(imported.points.data.vertices) * 3, np.float32)
    imported.points.data.vertices.foreach_get("co", co)
    sample = co.reshape(-1, 3)[::97].astype(np.float64)  # mesh coordinates (origin at identity)

    def seen() -> list[np.ndarray]:
        out = []
        m = np.array(imported.points.matrix_world)
        for frame in track.frames:
            scene.frame_set(frame)
            out.append(projected(camera, sample @ m[:3, :3].T + m[:3, 3]))
        return out

    before = seen()
    scene.cursor.location = (0.4, -0.7, 1.2)
    bpy.context.view_layer.objects.active = camera
    assert bpy.ops.dust3r.set_origin(source="cursor") == {"FINISHED"}
    np.testing.assert_allclose(np.array(imported.origin.matrix_world)[:3, 3], (-0.4, 0.7, -1.2),
                               atol=1e-6)
    for frame, was, now in zip(track.frames, before, seen()):
        np.testing.assert_allclose(now, was, atol=1e-3, err_msg=f"frame {frame}")
