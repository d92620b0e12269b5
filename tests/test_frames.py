"""Plates (core.frames): image sequences and movies become numbered frames; plates made here."""
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

from core import frames as F
from core.errors import Cancelled, Dust3rError
from core.frames import frame_range, load_frames, open_plate, read_frame
from core.settings import SequenceOptions
from core.images import load_images, open_upright

W, H = 64, 48


def write_sequence(folder, numbers, name="plate.{:04d}.png", size=(W, H)):
    folder.mkdir(exist_ok=True)
    paths = []
    for n in numbers:
        pixels = np.full((size[1], size[0], 3), n % 256, np.uint8)
        pixels[0, 0] = (n // 256, 7, 9)
        paths.append(folder / name.format(n))
        Image.fromarray(pixels).save(paths[-1])
    return paths


# --- finding the plate --------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["{d}", "{d}/plate.####.png", "{d}/plate.%04d.png",
                                      "{d}/plate.1003.png"])
def test_a_folder_a_pattern_or_one_numbered_frame_give_the_sequence_with_its_numbers(
        tmp_path, spelling):
    paths = write_sequence(tmp_path / "shot", range(1001, 1006))
    (tmp_path / "shot" / "notes.txt").write_text("not a frame")
    (tmp_path / "shot" / "thumbnail.png").write_bytes(paths[0].read_bytes())  # no number
    plate = open_plate(spelling.format(d=tmp_path / "shot"))
    assert plate.kind == "images" and plate.frames == (1001, 1002, 1003, 1004, 1005)
    assert plate.size == (W, H) and plate.fps is None
    assert plate.path_of(1004) == str(paths[3])
    assert read_frame(plate, 1004)[1, 1, 0] == 1004 % 256
    with pytest.raises(Dust3rError, match="Frame 1006 is not in the plate"):
        plate.path_of(1006)


def test_one_frame_given_alone_stands_for_its_sequence_whatever_the_padding(tmp_path):
    write_sequence(tmp_path / "s", [998, 999], name="p.{:04d}.png")
    write_sequence(tmp_path / "s", [1000, 1001], name="p.{}.png")
    write_sequence(tmp_path / "s", [1, 2], name="other.{}.png")
    for alone in ("p.0998.png", "p.1001.png"):
        assert open_plate(str(tmp_path / "s" / alone)).frames == (998, 999, 1000, 1001)


def test_the_frame_number_is_the_last_number_before_the_extension(tmp_path):
    write_sequence(tmp_path / "s", [41, 42], name="shot_v2.{:04d}_beauty.jpg")
    names = F.numbered("plate_v3.1001.jp2"), F.numbered("1001.png"), F.numbered("mask.png")
    assert [(n.prefix, n.number, n.suffix) for n in names[:2]] == [("plate_v3.", 1001, ".jp2"),
                                                                   ("", 1001, ".png")]
    assert names[2] is None
    plate = open_plate(str(tmp_path / "s"))
    assert plate.frames == (41, 42)


def test_unpadded_numbers_and_percent_d(tmp_path):
    write_sequence(tmp_path / "s", [8, 9, 10, 11], name="f_{}.jpg")
    for source in (tmp_path / "s", tmp_path / "s" / "f_%d.jpg", tmp_path / "s" / "f_#.jpg",
                   tmp_path / "s" / "f_9.jpg"):
        assert open_plate(str(source)).frames == (8, 9, 10, 11)


def test_padding_in_a_pattern_is_the_padding_of_the_names(tmp_path):
    write_sequence(tmp_path / "s", [998, 999], name="a.{:04d}.png")
    write_sequence(tmp_path / "s", [1000], name="a.{}.png")
    write_sequence(tmp_path / "s", [7], name="a.{:03d}.png")  # 007: not #### nor %04d
    assert open_plate(str(tmp_path / "s" / "a.####.png")).frames == (998, 999, 1000)
    assert open_plate(str(tmp_path / "s" / "a.%03d.png")).frames == (7, 1000)  # both %03d


def test_missing_frames_in_the_range_are_named_compactly_never_renumbered(tmp_path):
    write_sequence(tmp_path / "s", [1001, 1002, 1003, 1007, 1008, 1009, 1011])
    plate = open_plate(str(tmp_path / "s"))
    assert plate.frames == (1001, 1002, 1003, 1007, 1008, 1009, 1011)
    with pytest.raises(Dust3rError, match=r"misses frames 1004-1006, 1010 of the range "
                                          r"1001-1011"):
        frame_range(plate, SequenceOptions())
    with pytest.raises(Dust3rError, match=r"misses frames 1005 of the range 1003-1007"):
        frame_range(plate, SequenceOptions(frame_start=1003, frame_end=1007, frame_step=2))
    assert frame_range(plate, SequenceOptions(frame_start=1007, frame_end=1009)) == [1007, 1008,
                                                                                     1009]
    assert frame_range(plate, SequenceOptions(frame_start=1007, frame_step=2)) == [1007, 1009,
                                                                                    1011]


def test_a_folder_with_several_sequences_names_them(tmp_path):
    write_sequence(tmp_path / "s", [1, 2], name="bg.{:04d}.png")
    write_sequence(tmp_path / "s", [1, 2], name="fg.{:04d}.exr".replace(".exr", ".png"))
    with pytest.raises(Dust3rError, match=r"several sequences: bg.####.png \(2 frames\), "
                                          r"fg.####.png \(2 frames\)"):
        open_plate(str(tmp_path / "s"))
    assert open_plate(str(tmp_path / "s" / "fg.####.png")).frames == (1, 2)


def test_one_number_given_twice_is_an_error(tmp_path):
    write_sequence(tmp_path / "s", [41, 42], name="p.{:04d}.png")
    write_sequence(tmp_path / "s", [42], name="p.{}.png")
    with pytest.raises(Dust3rError, match="Two files of the plate are frame 42: p.0042.png and "
                                          "p.42.png"):
        open_plate(str(tmp_path / "s"))


def test_frames_of_different_sizes_name_the_first_odd_one(tmp_path):
    write_sequence(tmp_path / "s", [1, 2, 3])
    write_sequence(tmp_path / "s", [4, 5], size=(W, H + 2))
    with pytest.raises(Dust3rError, match=r"Frame 4 \(.*plate.0004.png\) is 64x50 but the "
                                          r"plate's frames are 64x48"):
        open_plate(str(tmp_path / "s"))


@pytest.mark.parametrize("source, message", [
    ("nowhere", "does not exist"),
    ("empty", "No numbered frames in the plate folder"),
    ("alone.png", "single image without a frame number"),
    ("p.####.png", "No frames match the plate pattern"),
    ("p.##.#.png", "must mark the frame number once"),
    ("movie.mp4", "Cannot open .*movie.mp4"),
])
def test_bad_sources_say_what_is_wrong(tmp_path, source, message):
    (tmp_path / "empty").mkdir()
    Image.new("RGB", (W, H)).save(tmp_path / "alone.png")
    (tmp_path / "movie.mp4").write_bytes(b"not a movie at all" * 10)
    with pytest.raises(Dust3rError, match=message):
        open_plate(str(tmp_path / source))


def test_unreadable_frames_and_movies_are_named(tmp_path):
    paths = write_sequence(tmp_path / "s", [1, 2, 3])
    paths[1].write_bytes(b"not a png")
    with pytest.raises(Dust3rError, match=r"Cannot read .*plate.0002.png as an image"):
        open_plate(str(tmp_path / "s"))
    movie = tmp_path / "cut.mp4"
    write_movie(movie, 12)
    movie.write_bytes(movie.read_bytes()[: movie.stat().st_size // 2])  # the index is lost
    with pytest.raises(Dust3rError, match=r"cut.mp4"):
        open_plate(str(movie))


# --- frame ranges -------------------------------------------------------------------------

def test_the_range_defaults_to_the_plate_and_takes_a_step(tmp_path):
    write_sequence(tmp_path / "s", range(1001, 1011))
    plate = open_plate(str(tmp_path / "s"))
    assert frame_range(plate, SequenceOptions()) == list(range(1001, 1011))
    assert frame_range(plate, SequenceOptions(frame_start=1003, frame_step=3)) == [1003, 1006,
                                                                                     1009]
    assert frame_range(plate, SequenceOptions(frame_end=1002)) == [1001, 1002]


@pytest.mark.parametrize("options, message", [
    (SequenceOptions(frame_start=1), "range 1-1010 is not inside the plate"),
    (SequenceOptions(frame_end=1011), "range 1001-1011 is not inside the plate"),
    (SequenceOptions(frame_start=1010), "gives 1 frame, but a camera track needs at least two"),
    (SequenceOptions(frame_start=1001, frame_end=1005, frame_step=5), "gives 1 frame"),
])
def test_a_range_outside_the_plate_or_too_short_names_the_plates_range(tmp_path, options,
                                                                       message):
    write_sequence(tmp_path / "s", range(1001, 1011))
    with pytest.raises(Dust3rError, match=message) as info:
        frame_range(open_plate(str(tmp_path / "s")), options)
    assert "has frames 1001-1010" in str(info.value)


@pytest.mark.parametrize("options, message", [
    (dict(frame_step=0), "frame step must be a whole number, 1 or more"),
    (dict(frame_start=1.5), "first frame must be a whole number"),
    (dict(frame_start=20, frame_end=10), "ends before it starts"),
    (dict(keyframe_step=-1), "keyframe step"),
    (dict(lens_mm=-35.0), "lens"),
    (dict(sensor_mm=0.0), "sensor width"),
    (dict(zoom=True, lens_mm=35.0), "exclude each other"),
])
def test_options_no_plate_could_use_are_refused(options, message):
    """Checked when they are made: a SequenceOptions is always one a plate can use."""
    with pytest.raises(Dust3rError, match=message):
        SequenceOptions(**options)
    SequenceOptions(frame_start=1001, frame_end=1100, lens_mm=35.0)


# --- pixels -------------------------------------------------------------------------------

def test_deep_frames_become_8_bit_as_photos_do(tmp_path):
    (tmp_path / "s").mkdir()
    ramp = np.linspace(0, 65535, W * H).reshape(H, W).astype(np.uint16)
    for n in (1, 2):
        Image.fromarray(ramp).save(tmp_path / "s" / f"deep.{n}.tif")
    plate = open_plate(str(tmp_path / "s"))
    expected = np.asarray(open_upright(tmp_path / "s" / "deep.1.tif")[0])
    np.testing.assert_array_equal(read_frame(plate, 1), expected)
    assert read_frame(plate, 1).max() == 255


def test_exif_orientation_is_ignored_as_blender_ignores_it(tmp_path):
    (tmp_path / "s").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    for n in (1, 2):
        Image.new("RGB", (W, H), (200, 0, 0)).save(tmp_path / "s" / f"o.{n}.jpg", exif=exif)
    plate = open_plate(str(tmp_path / "s"))
    assert plate.size == (W, H) and read_frame(plate, 2).shape == (H, W, 3)


def write_exr(path, values):
    """An OpenEXR file of float32 values [H, W, C] (C = 1, 3 or 4), by FFmpeg's encoder."""
    fmt = {1: "grayf32le", 3: "gbrpf32le", 4: "gbrapf32le"}[values.shape[-1]]
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(
        values[..., 0] if values.shape[-1] == 1 else values, np.float32), format=fmt)
    codec = av.CodecContext.create("exr", "w")
    codec.width, codec.height, codec.pix_fmt = values.shape[1], values.shape[0], fmt
    codec.time_base = Fraction(1, 24)
    path.write_bytes(b"".join(bytes(p) for p in codec.encode(frame) + codec.encode(None)))


def srgb(linear):
    """The sRGB transfer function (IEC 61966-2-1) on values clipped to 0..1."""
    v = np.clip(linear, 0, 1)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


def test_exr_frames_are_shown_as_blenders_standard_view_shows_them(tmp_path):
    (tmp_path / "s").mkdir()
    rng = np.random.default_rng(0)
    linear = rng.uniform(-0.2, 3.0, (H, W, 3)).astype(np.float32)
    linear[0, :3] = np.array([0.0, 0.002, 0.18])[:, None]  # black, the linear toe, mid grey
    linear[1, 0] = np.nan
    alpha = np.zeros((H, W, 1), np.float32)  # alpha ignored: fully transparent, still seen
    write_exr(tmp_path / "s" / "beauty.1001.exr", np.concatenate([linear, alpha], -1))
    write_exr(tmp_path / "s" / "beauty.1002.exr", linear[..., :1])  # grey
    plate = open_plate(str(tmp_path / "s" / "beauty.####.exr"))
    assert plate.size == (W, H) and plate.frames == (1001, 1002)
    expected = np.rint(srgb(np.nan_to_num(linear)) * 255).astype(np.uint8)
    np.testing.assert_array_equal(read_frame(plate, 1001), expected)
    assert read_frame(plate, 1001)[0, 2, 0] == 118  # 18 % grey is 118 of 255 on screen
    grey = read_frame(plate, 1002)
    np.testing.assert_array_equal(grey, np.repeat(expected[..., :1], 3, -1))
    assert F.read_alpha(plate, 1001).max() == 0 and F.read_alpha(plate, 1002) is None


# --- movies -------------------------------------------------------------------------------

BITS = 8  # frame number as 8 black/white bars: survives any lossy codec


def coded_frame(n, size=(W, H)):
    bars = (n >> np.arange(BITS)) & 1
    row = np.repeat(bars * 255, size[0] // BITS).astype(np.uint8)
    return np.repeat(np.repeat(row[None, :, None], size[1], 0), 3, 2)


def decode_number(rgb):
    bars = rgb[rgb.shape[0] // 2, :, 0].reshape(BITS, -1).mean(1) > 127
    return int((bars * (1 << np.arange(BITS))).sum())


def write_movie(path, count, codec="mpeg4", rate=24, gop=10, rotation=0):
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0",
                              "bf": "2"}
        if rotation:
            stream.set_display_rotation(rotation)
        for n in range(1, count + 1):
            frame = av.VideoFrame.from_ndarray(coded_frame(n), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return str(path)


@pytest.mark.parametrize("name, codec", [("shot.mp4", "mpeg4"), ("shot.mov", "libx264"),
                                         ("shot.mkv", "mpeg4"), ("shot.avi", "mpeg4")])
def test_a_movies_frame_n_is_the_nth_frame_shown(tmp_path, name, codec):
    path = write_movie(tmp_path / name, 40, codec, rate=25)
    plate = open_plate(path)
    assert plate.kind == "movie" and plate.frames == tuple(range(1, 41))
    assert plate.fps == 25.0 and plate.size == (W, H) and plate.path_of(7) == path
    for n in (1, 2, 17, 40, 3):
        assert decode_number(read_frame(plate, n)) == n
    got = [(f, decode_number(rgb)) for f, rgb in F._frame_pixels(plate, [5, 6, 30, 31, 2])]
    assert got == [(5, 5), (6, 6), (30, 30), (31, 31), (2, 2)]


def test_an_mkv_without_a_frame_count_is_counted_by_its_packets(tmp_path):
    path = write_movie(tmp_path / "shot.mkv", 33)
    with av.open(path) as container:
        assert container.streams.video[0].frames == 0  # what makes the count necessary
    assert open_plate(path).frames[-1] == 33


class CountingContainer:
    """An av container that counts the frames its decoder hands out."""

    def __init__(self, container, counter):
        self._container, self._counter = container, counter

    def __getattr__(self, name):
        return getattr(self._container, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._container.close()

    def decode(self, *args, **kwargs):
        for frame in self._container.decode(*args, **kwargs):
            self._counter.append(frame.pts)
            yield frame


@pytest.mark.parametrize("codec", ["mpeg4", "libx264"])
def test_only_the_frames_needed_are_decoded(tmp_path, monkeypatch, codec):
    """A keyframe every 10 frames: a frame costs at most the frames from its keyframe."""
    plate = open_plate(write_movie(tmp_path / "long.mp4", 120, codec, gop=10))
    decoded = []
    opened = F._open_av
    monkeypatch.setattr(F, "_open_av", lambda path: CountingContainer(opened(path), decoded))
    assert decode_number(read_frame(plate, 115)) == 115
    assert 1 <= len(decoded) <= 10 + 3  # a GOP, and B-frame reordering
    decoded.clear()
    views = load_frames(plate, [53, 54, 55, 56, 95], 64)
    assert [v["frame"] for v in views] == [53, 54, 55, 56, 95]
    assert len(decoded) <= 2 * (10 + 3)  # decoding on from 53 to 56, a seek for 95
    decoded.clear()
    assert decode_number(read_frame(plate, 1)) == 1 and len(decoded) <= 3


def test_a_phone_movies_rotation_is_applied(tmp_path):
    """Stored landscape, shown rotated 90 degrees counter-clockwise (as Blender 5 shows it)."""
    plate = open_plate(write_movie(tmp_path / "phone.mp4", 3, rotation=90))
    assert plate.size == (H, W)
    rgb = read_frame(plate, 3)
    assert rgb.shape == (W, H, 3)
    assert decode_number(np.rot90(rgb, -1)) == 3


def test_without_pyav_movies_and_exr_say_how_to_install_it_and_others_still_load(
        tmp_path, monkeypatch):
    movie = write_movie(tmp_path / "shot.mp4", 3)
    write_sequence(tmp_path / "s", [1, 2])
    (tmp_path / "e").mkdir()
    for n in (1, 2):
        write_exr(tmp_path / "e" / f"x.{n}.exr", np.zeros((H, W, 3), np.float32))
    monkeypatch.setitem(sys.modules, "av", None)  # import av -> ImportError
    for source in (movie, str(tmp_path / "e")):
        with pytest.raises(Dust3rError, match=r"Install Dependencies, or `pip install av`"):
            open_plate(source)
    assert open_plate(str(tmp_path / "s")).frames == (1, 2)


# --- network views ------------------------------------------------------------------------

def test_frames_become_the_same_views_as_photos_plus_their_number(tmp_path):
    paths = write_sequence(tmp_path / "s", range(1001, 1004), size=(160, 90))
    plate = open_plate(str(tmp_path / "s"))
    calls = []
    views = load_frames(plate, [1003, 1001], 224, progress=lambda d, t: calls.append((d, t)))
    photos = load_images([str(paths[2]), str(paths[0])], 224)
    for view, photo in zip(views, photos):
        assert view.keys() - photo.keys() == {"frame"}
        torch.testing.assert_close(view["img"], photo["img"], rtol=0, atol=0)
        np.testing.assert_array_equal(view["true_shape"], photo["true_shape"])
        assert (view["idx"], view["instance"], view["photo"]) == (photo["idx"], photo["instance"],
                                                                  photo["photo"])
    assert [v["frame"] for v in views] == [1003, 1001] and calls == [(1, 2), (2, 2)]
    with pytest.raises(Cancelled):
        load_frames(plate, [1001, 1002], 224, cancel=lambda: True)


def test_a_plate_too_thin_for_the_network_is_refused_before_decoding(tmp_path):
    write_sequence(tmp_path / "s", [1, 2], size=(640, 8))
    with pytest.raises(Dust3rError, match="too small"):
        load_frames(open_plate(str(tmp_path / "s")), [1, 2], 512)
