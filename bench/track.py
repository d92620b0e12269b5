"""Benchmark of core.track.solve_track: a 240-frame 16:9 plate at 512x288 on the CPU.

    .venv/bin/python bench/track.py [--frames 240] [--plate 512x288] [--niter 300]
        [--keyframe-step 0] [--noise 0.0] [--float16] [--threads 2]

The shot is tests/track_synthetic.py's (a dolly with a pan through a box room) with its
exact predictor, so the figures are the track's own: the plan (keyframe step from the memory
budget, the keyframes' graph, the network passes such a plate needs: images encoded and
pairs decoded), the seconds spent aligning (the whole solve minus the predictor's time),
the peak memory of the process (VmHWM, including the plate's views and the predictor's
outputs) and the per-frame errors against the truth. `--float16` rounds every pairwise
point map and confidence through float16, as a compact store of the network's outputs
would, to measure what that does to the cameras. Runs in a fresh process so that its peak
is its own; prints one JSON object (`load_avg` tells how busy the shared machine was).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--plate", default="512x288", help="W x H of the plate (= network size)")
    parser.add_argument("--niter", type=int, default=300)
    parser.add_argument("--keyframe-step", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.0, help="relative to depth")
    parser.add_argument("--float16", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    import torch

    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    from core.settings import AlignSettings, SequenceOptions
    from core.track import plan_keyframes, solve_track
    from demo.compare import camera_errors, similarity
    from track_synthetic import make_shot

    torch.set_num_threads(args.threads)
    plate = tuple(int(v) for v in args.plate.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        shot = make_shot(Path(folder), args.frames, plate)
    options = SequenceOptions(keyframe_step=args.keyframe_step)
    shape = tuple(shot.views[0]["img"].shape[-2:])
    plan = plan_keyframes(args.frames, shape, options.keyframe_step, options.pair_graph)

    predictor = shot.predictor(noise=args.noise)
    predict_seconds = [0.0]

    def predict(pairs, progress=None, cancel=None):
        t0 = time.perf_counter()
        out = predictor(pairs, progress, cancel)
        if args.float16:
            for pred, key in (("pred1", "pts3d"), ("pred2", "pts3d_in_other_view"),
                              ("pred1", "conf"), ("pred2", "conf")):
                out[pred][key] = out[pred][key].half().float()
        predict_seconds[0] += time.perf_counter() - t0
        return out

    def progress(stage, done, total):  # on stderr: what a run cut short still tells
        if stage == "frames":
            print(f"{time.perf_counter() - t0:.0f} s: {done}/{total} frames, peak "
                  f"{_status_mb('VmHWM'):.0f} MB", file=sys.stderr, flush=True)

    predict.image_size = predictor.image_size
    rss_before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    track = solve_track(shot.views, predict, AlignSettings(niter=args.niter), options,
                        progress=progress)
    seconds = time.perf_counter() - t0

    sim = similarity(track.c2w[:, :3, 3], shot.c2w[:, :3, 3])
    err = camera_errors(shot.c2w, shot.focals, track.c2w, track.focals, sim)
    position = np.linalg.norm(sim.apply(track.c2w[:, :3, 3]) - shot.c2w[:, :3, 3], axis=1)
    print(json.dumps({
        "frames": args.frames, "plate": plate, "network": shape[::-1], "niter": args.niter,
        "noise": args.noise, "float16_outputs": args.float16, "threads": args.threads,
        "keyframe_step": plan.step, "keyframes": len(plan.keyframes), "graph": plan.graph,
        "keyframe_pairs": len(plan.keyframe_pairs), "batches": len(plan.batches),
        "encoder_passes": plan.encoder_passes, "decoder_passes": plan.decoder_passes,
        "keyframe_estimate_mb": round(plan.keyframe_bytes / 2 ** 20),
        "solve_s": round(seconds, 1), "predictor_s": round(predict_seconds[0], 1),
        "align_s": round(seconds - predict_seconds[0], 1),
        "rss_before_solve_mb": round(rss_before), "peak_rss_mb": round(_status_mb("VmHWM")),
        "max_rotation_deg": round(float(err.rotation_deg.max()), 4),
        "max_position_pct_of_path": round(100 * float(position.max() / shot.path_length), 4),
        "max_focal_pct": round(100 * float(err.focal.max()), 4),
        "load_avg": os.getloadavg()[0],
    }))


if __name__ == "__main__":
    main()
