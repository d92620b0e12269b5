"""A plate's frames as Blender shows the same files: a movie's frame count, rate, size and
frame numbering (a Movie Clip's `frame_duration`, `fps`, `size`; the frame a movie strip shows
at frame N, rendered), and OpenEXR frames as the Standard view transform displays them."""
import bpy
import numpy as np
import pytest
from PIL import Image
from test_frames import H, W, decode_number, write_exr, write_movie

from core.frames import open_plate, read_frame


def render_strip(kind: str, path: str, frame: int, size, out) -> np.ndarray:
    """Render the sequencer showing `path` (a movie, or an image) at scene frame `frame`: 8-bit
    display RGB as Blender writes a PNG of it (view transform Standard)."""
    scene = bpy.context.scene
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences  # 5.0 / 4.x
    if not strips:
        make = strips.new_movie if kind == "movie" else strips.new_image
        make("plate", path, channel=1, frame_start=1)
    scene.view_settings.view_transform = "Standard"
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_depth = "8"
    scene.frame_set(frame)
    scene.render.filepath = str(out)
    bpy.ops.render.render(write_still=True)
    return np.asarray(Image.open(out).convert("RGB"))


@pytest.mark.parametrize("name, codec", [("shot.mp4", "mpeg4"), ("shot.mov", "libx264"),
                                         ("shot.mkv", "mpeg4")])
def test_a_movies_frames_are_numbered_as_blender_numbers_them(tmp_path, name, codec):
    path = write_movie(tmp_path / name, 14, codec, rate=25)
    plate = open_plate(path)
    clip = bpy.data.movieclips.load(path)
    assert (clip.frame_start, clip.frame_offset) == (1, 0)  # the clip's frame 1: the first
    assert clip.frame_duration == len(plate.frames) == plate.frames[-1] == 14
    assert clip.fps == plate.fps and tuple(clip.size) == plate.size
    for frame in (1, 2, 9, 14):
        shown = render_strip("movie", path, frame, plate.size, tmp_path / f"{frame}.png")
        assert decode_number(shown) == decode_number(read_frame(plate, frame)) == frame


def test_a_rotated_movie_has_the_size_blender_shows(tmp_path):
    """Blender 4.5 and newer apply a movie's rotation (measured on 4.5.15 to 5.3.0); 4.2
    shows the stored frame (documented in core.frames)."""
    path = write_movie(tmp_path / "phone.mp4", 3, rotation=90)
    plate = open_plate(path)
    clip = bpy.data.movieclips.load(path)
    if bpy.app.version >= (4, 5, 0):
        assert tuple(clip.size) == plate.size == (H, W)
    else:
        assert tuple(clip.size) == plate.size[::-1]


def test_exr_frames_look_as_blenders_standard_view_shows_them(tmp_path):
    rng = np.random.default_rng(1)
    linear = rng.uniform(0.0, 1.5, (H, W, 3)).astype(np.float32)
    linear[0, :4] = np.array([0.0, 0.002, 0.18, 1.0])[:, None]
    (tmp_path / "s").mkdir()
    for n in (1, 2):
        write_exr(tmp_path / "s" / f"beauty.{n:04d}.exr", linear)
    plate = open_plate(str(tmp_path / "s"))
    ours = read_frame(plate, 2).astype(int)
    blender = render_strip("image", plate.path_of(2), 1, plate.size,
                           tmp_path / "exr.png").astype(int)
    diff = np.abs(ours - blender)
    assert diff.mean() < 0.5  # rounding to 8 bits
    # 4.2's colour management rounds through a look-up table: 0.3 % of values differ by 2
    assert diff.max() <= (1 if bpy.app.version >= (5, 0, 0) else 2)
