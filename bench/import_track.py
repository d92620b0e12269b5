"""Plate import speed: a solved track of 240 frames at 512 x 288 (keyframes every 10th frame,
their network-sized depth maps as the point cloud) through importer.import_track, headless
bpy, with the plate as an image sequence. Prints JSON: seconds to plan (core.plan, numpy) and
to build the Blender data (best of --repeats), points, keys, and the seconds to step through
every frame (frame_set) once.

    .venv/bin/python bench/import_track.py [--frames 240] [--keyframe-step 10] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="bpy-user-"))
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # tests/solved_track.py: a solved shot and its plate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--keyframe-step", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import bpy
    from PIL import Image

    parent = Path(tempfile.mkdtemp(prefix="dust3r-bench-"))
    (parent / "dust3r_blender").symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(parent))
    from dust3r_blender import core
    from dust3r_blender.core.settings import ImportOptions
    from dust3r_blender.core.plan import plan_track
    from dust3r_blender.importer import import_plan
    from solved_track import image_plate, solved_shot

    size, frames = (512, 288), tuple(range(1001, 1001 + args.frames))
    track = solved_shot(core, frames=frames, keyframe_every=args.keyframe_step, size=size,
                        focal=450.0)
    for frame in frames:  # tiny files: Blender loads a sequence's frames lazily
        Image.new("RGB", size, (frame % 255, 90, 90)).save(parent / f"plate.{frame}.png")
    plate = image_plate(core, str(parent / "plate.####.png"), frames, size)

    runs = []
    for _ in range(args.repeats):
        bpy.ops.wm.read_homefile(use_empty=True)
        t0 = time.perf_counter()
        plan = plan_track(track, plate, ImportOptions())
        t1 = time.perf_counter()
        created = import_plan(plan)
        t2 = time.perf_counter()
        runs.append((t1 - t0, t2 - t1))
    scene = bpy.context.scene
    t0 = time.perf_counter()
    for frame in frames:
        scene.frame_set(frame)
    step = time.perf_counter() - t0
    plan_s, build_s = min(runs, key=sum)
    print(json.dumps({
        "benchmark": "blender_import_track", "bpy": bpy.app.version_string,
        "frames": len(frames), "keyframes": len(track.keyframes), "plate_size": list(size),
        "points": len(plan.points.xyz), "keys_per_channel": len(plan.frames),
        "seconds_plan": round(plan_s, 3), "seconds_build": round(build_s, 3),
        "seconds_frame_set_every_frame": round(step, 3),
        "cameras": len(created.cameras)}))


if __name__ == "__main__":
    main()
