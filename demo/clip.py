"""Render a shot of the demo room for the camera track: a plate with exact per-frame truth.

The camera dollies forward and to the right across the room while it pans left over the
objects (eased in and out, with a slight roll), on a constant 35 mm lens (36 mm sensor,
horizontal fit). Every frame is rendered as the stills demo renders a photo (`demo.render`:
the anti-aliased, denoised image, and a 1-sample Z pass that is the OpenCV z-depth).
Writes into OUT_DIR:

    plate.1001.png ...         the plate, 16:9, frames numbered from 1001
    depth_plate.1001.npy ...   float32 z-depth per frame (inf: sky)
    ground_truth.json          `demo.truth`: one camera per frame, keyed by its frame number
    plate.mkv, plate.mp4       with --movie (`demo.movie`): the same frames as movie files

    python -m demo.clip OUT_DIR [--frames 48] [--width 512 --height 288] [--samples 4] [--movie]
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from .movie import CODECS, encode_movie
from .render import Shot, add_camera, aim, new_scene, render_view, true_camera
from .truth import write_ground_truth

FIRST_FRAME = 1001  # the first frame number of a VFX plate
LENS_MM = 35.0
# The camera's path (location, target) at the start and the end of the shot, in metres.
_START = (Vector((-2.6, -3.3, 1.55)), Vector((-0.6, 0.2, 0.55)))
_END = (Vector((1.1, -2.3, 1.35)), Vector((0.1, 0.3, 0.6)))
_ROLL_DEG = 1.5  # the roll swings between -1.5 and 1.5 degrees over the shot


def plan_clip(n_frames: int = 48, width: int = 512, height: int = 288) -> list[Shot]:
    """The shot's frames: the same path whatever the frame count (fewer frames: bigger steps)."""
    if n_frames < 2:
        raise ValueError(f"a shot needs at least 2 frames, not {n_frames}")
    shots = []
    for k in range(n_frames):
        t = k / (n_frames - 1)
        s = t * t * (3 - 2 * t)  # ease in and out, as a dolly grip does
        location, target = (a.lerp(b, s) for a, b in zip(_START, _END))
        shots.append(Shot(f"plate.{FIRST_FRAME + k}", location, target,
                          _ROLL_DEG * math.sin(2 * math.pi * t), LENS_MM, width, height, 1))
    return shots


def render_clip(out_dir: str | Path, n_frames: int = 48, width: int = 512, height: int = 288,
                samples: int = 4, movie: bool = False) -> Path:
    """Build the room in a fresh Blender file and render every frame of the shot; returns
    the ground truth's path. `movie`: also encode the plate as the movie files of
    `demo.movie.CODECS` (plate.mkv, plate.mp4)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scene = new_scene()
    shots = plan_clip(n_frames, width, height)
    scene.frame_start, scene.frame_end = FIRST_FRAME, FIRST_FRAME + n_frames - 1
    cameras = []
    with tempfile.TemporaryDirectory(prefix="dust3r-clip-") as tmp:
        scene.camera = obj = add_camera(shots[0])  # one camera, moved from frame to frame
        for frame, shot in enumerate(shots, FIRST_FRAME):
            aim(obj, shot)
            bpy.context.view_layer.update()
            photo, depth = render_view(scene, shot, Path(tmp), samples)
            cam = replace(true_camera(obj, shot, ".png"), frame=frame)
            photo.save(out / cam.file)
            np.save(out / cam.depth_file, depth)
            cameras.append(cam)
    if movie:
        for codec in CODECS:
            encode_movie([out / c.file for c in cameras], out / f"plate{CODECS[codec].suffix}",
                         codec)
    return write_ground_truth(out, cameras)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.clip", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=288)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--movie", action="store_true", help="also write plate.mkv and plate.mp4")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    path = render_clip(args.out_dir, args.frames, args.width, args.height, args.samples,
                       args.movie)
    seconds = time.perf_counter() - t0
    print(f"wrote {path}: {args.frames} frames in {seconds:.1f} s "
          f"({seconds / args.frames:.2f} s per frame)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
