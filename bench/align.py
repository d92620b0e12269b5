"""Benchmark of core.align.global_align at 512x384: seconds per iteration, peak memory, accuracy.

    .venv/bin/python bench/align.py [--sizes 4 8 16] [--niter 300] [--threads 2] [--device cpu]

Synthetic scenes with exact ground truth (tests/align_synthetic.py), the symmetrised
complete graph, 1 % noise and random pairwise scales. Each size runs in a fresh process so
that its peak memory (VmHWM on Linux, CUDA's max_memory_allocated on a GPU) is its own; the
peak is reported above the memory already taken by the inputs, relative to their size, and
next to the size of the result itself (the Scene with its init), which it includes.
The official aligner costs about 0.027 s per pair per iteration here (spec section 11).
Prints one JSON object; `load_avg` tells how busy the shared machine was.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OFFICIAL_S_PER_EDGE = 0.027


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_one(n: int, niter: int, device: str) -> dict:
    import numpy as np
    import torch

    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    from align_metrics import camera_errors
    from align_synthetic import make_pairwise, make_scene
    from core.align import global_align
    from core.settings import AlignSettings

    # warm up on a tiny scene: the code pages of torch/MKL kernels are not the aligner's memory
    global_align(make_pairwise(make_scene(3)), AlignSettings(niter=2), device=device)
    truth = make_scene(n, shapes=[(384, 512)] * n, focals=[600.0] * n, radius=4.0, seed=n)
    pairwise = make_pairwise(truth, noise=0.01, pair_scale=2, seed=n)
    input_mb = sum(t.numel() * t.element_size() for p in ("pred1", "pred2")
                   for t in pairwise[p].values()) / 2 ** 20
    if device == "cpu":
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # return what building the inputs freed
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
        base_mb = _rss_mb("VmRSS")
    else:
        torch.cuda.reset_peak_memory_stats()
        base_mb = torch.cuda.memory_allocated() / 2 ** 20
    stamps, cpu_stamps = [], []

    def progress(k, total):
        stamps.append(time.perf_counter())
        cpu_stamps.append(time.process_time())

    start = time.perf_counter()
    scene = global_align(pairwise, AlignSettings(niter=niter), device=device, progress=progress)
    total = time.perf_counter() - start
    if device == "cpu":
        peak_mb = _rss_mb("VmHWM") - base_mb
    else:
        peak_mb = torch.cuda.max_memory_allocated() / 2 ** 20 - base_mb
    per_iter = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
    fields = ("c2w", "focals", "pp", "depthmaps", "pts3d", "confidence", "masks")
    result_mb = sum(np.asarray(getattr(s, f)).nbytes
                    for s in (scene, scene.init) for f in fields) / 2 ** 20
    # CPU seconds of this process: what an otherwise idle machine would take (other agents
    # share the cores here, so wall time overstates; with one thread the two agree when idle)
    cpu_per_iter = (cpu_stamps[-1] - cpu_stamps[0]) / (len(stamps) - 1)
    edges = n * (n - 1)
    err = camera_errors(scene.c2w, scene.focals, truth.c2w, truth.focals, scene.depthmaps,
                        truth.depth)
    return {
        "images": n, "pairs": edges, "niter": niter, "device": device,
        "threads": torch.get_num_threads(),
        "s_per_iter": round(per_iter, 4), "cpu_s_per_iter": round(cpu_per_iter, 4),
        "ms_per_pair_iter": round(per_iter / edges * 1000, 3),
        "official_s_per_iter": round(OFFICIAL_S_PER_EDGE * edges, 3),
        "speedup_vs_official": round(OFFICIAL_S_PER_EDGE * edges / per_iter, 1),
        "speedup_vs_official_cpu_time": round(OFFICIAL_S_PER_EDGE * edges / cpu_per_iter, 1),
        "s_outside_loop": round(total - per_iter * len(stamps), 2), "s_total": round(total, 2),
        "input_mb": round(input_mb, 1), "peak_extra_mb": round(peak_mb, 1),
        "peak_over_input": round(peak_mb / input_mb, 2),
        "result_mb": round(result_mb, 1),  # the returned Scene and its init: part of the peak
        "accuracy_vs_truth": {k: float(np.round(v, 5)) for k, v in err.items()},
        "init_accuracy_vs_truth": {k: float(np.round(v, 5)) for k, v in camera_errors(
            scene.init.c2w, scene.init.focals, truth.c2w, truth.focals).items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--niter", type=int, default=300)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.one:
        print(json.dumps(run_one(args.one, args.niter, args.device)))
        return
    load_before = os.getloadavg()
    runs = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(n), "--niter", str(args.niter),
               "--device", args.device]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    print(json.dumps({"benchmark": "core.align.global_align, 512x384, complete symmetric graph",
                      "cpu_count": os.cpu_count(),
                      "load_avg_before": [round(x, 2) for x in load_before],
                      "load_avg_after": [round(x, 2) for x in os.getloadavg()], "runs": runs},
                     indent=1))


if __name__ == "__main__":
    main()
