"""Time and peak memory of reading a movie plate with `core.frames` (PyAV).

Encodes a 1920x1080 H.264 movie (libx264, a keyframe every `--gop` frames, moving noise) once,
then in a fresh process each: `open_plate` (container and first frame), `load_frames` of every
frame and of every 10th frame at network size 512, and one late frame alone. Prints JSON:
seconds, frames decoded per second, and the process's peak resident memory (Linux VmHWM) above
the imports.
Usage: python bench/load_frames.py [--frames 240] [--gop 48] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MEASURE = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from core.frames import load_frames, open_plate, read_frame
import PIL.Image, torch
def peak():
    return int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
before = peak()
t0 = time.perf_counter()
plate = open_plate({path!r})
opened = time.perf_counter() - t0
frames = list(plate.frames)[::{step}] if {step} else [plate.frames[-3]]
t0 = time.perf_counter()
if {step}:
    load_frames(plate, frames, 512)
else:
    read_frame(plate, frames[0])
seconds = time.perf_counter() - t0
print(json.dumps(dict(open_s=round(opened, 3), frames=len(frames), seconds=round(seconds, 2),
                      frames_per_s=round(len(frames) / seconds, 1),
                      peak_mib_above_imports=round(peak() - before, 1))))
"""


def write_movie(path: Path, count: int, gop: int) -> None:
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (1080 + count * 4, 1920, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0",
                          "preset": "ultrafast"}
        for n in range(count):  # a pan over noise: every frame differs
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[4 * n:4 * n + 1080]),
                                               format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--gop", type=int, default=48)
    parser.add_argument("--keep", type=Path, help="write the movie here and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-frames-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"plate_{args.frames}_gop{args.gop}.mp4"
    if not path.exists():
        write_movie(path, args.frames, args.gop)
    results = {"movie": f"1920x1080 H.264, {args.frames} frames, keyframe every {args.gop}"}
    for name, step in (("every_frame", 1), ("every_10th", 10), ("one_late_frame", 0)):
        out = subprocess.run([sys.executable, "-c", MEASURE.format(root=str(ROOT),
                                                                   path=str(path), step=step)],
                             capture_output=True, text=True, check=True)
        results[name] = json.loads(out.stdout)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
