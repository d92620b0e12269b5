"""run_pairs against the official per-pair forward, float32 and bf16, on the CPU or a GPU.

ViT-L 512 DPT with random weights (seed 0), random 512x384 images, complete pair graphs.
Prints one JSON object:

* official: seconds per pair of one full `model(view1, view2)` forward (batch 1, both images
  encoded, what the official driver does for every pair), min and median of --repeats after
  one warm-up, per precision;
* run_pairs: `core.inference.run_pairs` over N=3 (6 pairs) and N=8 (56 pairs) images: the
  seconds of its encoding stage (all N images) and per pair of its prediction stage (taken
  from its progress callback), and seconds per pair in all; min over --runs; the run's own
  wall and process CPU seconds;
* speedup: official float32 seconds per pair / run_pairs seconds per pair, per precision and
  N (the goal: at least 4 for bf16 at N=8);
* accuracy: bf16 against float32 run_pairs outputs at N=3 (same pairs): |delta pts3d| max
  and median relative to the largest |pts3d| of the float32 map, per side; the relative
  confidence difference max and median;
* peak_rss_gib: each configuration runs in a fresh process; its peak resident memory (the
  weights included) and the rise over the memory after building the model. CUDA adds
  torch.cuda.max_memory_allocated.

Each configuration takes its process's CPU time too, and the load average before and after:
on a shared machine compare the minimums, and rerun when the load was high.

    .venv/bin/python bench/pairs.py                      # CPU: about 4 minutes when quiet
    .venv/bin/python bench/pairs.py --n8-pairs 0         # N=8 on all 56 pairs (about 8)
    .venv/bin/python bench/pairs.py --weights 512_dpt    # the downloaded released weights
    python bench/pairs.py --device cuda --batch-size 16

By default the N=8 graph runs on its first 24 pairs (--n8-pairs; all 8 images are among
them, so all 8 are encoded) and the figures are extrapolated: encoding + 56 x the measured
prediction seconds per pair (every pair is the same work). The JSON says when it did
("extrapolated", "pairs_run").
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from core.device import resolve_device  # noqa: E402
from core.inference import run_pairs  # noqa: E402
from core.model import build_model  # noqa: E402
from core.pairs import make_pairs  # noqa: E402
from core.weights import RELEASED_CONFIGS  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
H, W = 384, 512


def random_views(n: int, seed: int = 0) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    return [dict(img=torch.rand(1, 3, H, W, generator=gen) * 2 - 1,
                 true_shape=np.int32([[H, W]]), idx=i, instance=str(i)) for i in range(n)]


def rss_gib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(device: torch.device) -> tuple[float, float]:
    synchronize(device)
    return time.perf_counter(), time.process_time()


def covering_prefix(pairs: list, n_images: int, at_least: int) -> list:
    """The shortest prefix of `pairs` (at least `at_least` long) that holds every image."""
    seen = set()
    for k, (view1, view2) in enumerate(pairs, 1):
        seen.update((view1["idx"], view2["idx"]))
        if len(seen) == n_images and k >= at_least:
            return pairs[:k]
    return pairs


# --------------------------------------------------------------------------------- workers

def official(model, device, dtype, repeats: int) -> dict:
    view1, view2 = ({**v, "img": v["img"].to(device)} for v in random_views(2))
    times, cpu = [], []
    for k in range(repeats + 1):  # the first one warms up
        start, cpu_start = clock(device)
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype,
                                                    enabled=dtype != torch.float32):
            model(view1, view2)
        end, cpu_end = clock(device)
        if k:
            times.append(end - start)
            cpu.append(cpu_end - cpu_start)
    return {"seconds_per_pair": min(times), "median_seconds_per_pair": float(np.median(times)),
            "runs": times, "process_cpu_seconds_per_pair": min(cpu)}


def pairs_run(model, device, dtype, n_images: int, batch_size: int, runs: int,
              limit: int | None, save: str | None) -> dict:
    pairs = make_pairs(random_views(n_images), "complete")
    run = pairs if limit is None else covering_prefix(pairs, n_images, limit)
    best = None
    for _ in range(runs):
        stamps = []
        start, cpu_start = clock(device)
        out = run_pairs(model, run, device, batch_size, dtype,
                        progress=lambda done, total: stamps.append(time.perf_counter()))
        end, cpu_end = clock(device)
        encode = stamps[0] - start
        per_pair = (end - stamps[0]) / len(run)
        total = encode + per_pair * len(pairs)
        if best is None or total < best["seconds"]:
            best = {"seconds": total, "encode_seconds": encode,
                    "predict_seconds_per_pair": per_pair, "run_seconds": end - start,
                    "run_process_cpu_seconds": cpu_end - cpu_start}
    best.update(n_images=n_images, pairs=len(pairs), pairs_run=len(run), batch_size=batch_size,
                seconds_per_pair=best["seconds"] / len(pairs),
                extrapolated=len(run) < len(pairs))
    if save:
        torch.save({side: dict(out[side]) for side in ("pred1", "pred2")}, save)
    return best


def worker(args) -> dict:
    device = resolve_device(args.device)
    dtype = DTYPES[args.dtype]
    torch.manual_seed(0)
    start = time.perf_counter()
    if args.weights:
        from core.weights import load_model
        model = load_model(args.weights, device)
    else:
        model = build_model(RELEASED_CONFIGS["512_dpt"]).to(device)
    result = {"build_seconds": time.perf_counter() - start, "rss_after_build_gib": rss_gib(),
              "load_before": os.getloadavg()}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    if args.worker == "official":
        result.update(official(model, device, dtype, args.repeats))
    else:
        result.update(pairs_run(model, device, dtype, args.n_images, args.batch_size, args.runs,
                                args.limit, args.save))
    result.update(load_after=os.getloadavg(), peak_rss_gib=peak_rss_gib())
    result["peak_rss_rise_gib"] = result["peak_rss_gib"] - result["rss_after_build_gib"]
    if device.type == "cuda":
        result["cuda_max_allocated_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return result


# ---------------------------------------------------------------------------------- driver

def spawn(args, what: str, dtype: str, **extra) -> dict:
    command = [sys.executable, __file__, "--worker", what, "--dtype", dtype,
               "--device", args.device, "--repeats", str(args.repeats), "--runs", str(args.runs),
               "--batch-size", str(args.batch_size)]
    if args.weights:
        command += ["--weights", args.weights]
    for key, value in extra.items():
        if value is not None:
            command += [f"--{key.replace('_', '-')}", str(value)]
    print(f"{what} {dtype} {extra}", file=sys.stderr, flush=True)
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(done.stdout)
    print(f"  -> {result.get('seconds_per_pair'):.3f} s/pair, load {result['load_after'][0]:.2f}",
          file=sys.stderr, flush=True)
    return result


def accuracy(reference_file: str, low_file: str) -> dict:
    ref, low = torch.load(reference_file), torch.load(low_file)
    result = {}
    for side, key in (("pred1", "pts3d"), ("pred2", "pts3d_in_other_view")):
        a, b = low[side][key], ref[side][key]
        diff = (a - b).abs() / b.abs().max()
        result[f"{side}.{key}"] = {"max": diff.max().item(), "median": diff.median().item()}
    for side in ("pred1", "pred2"):
        a, b = low[side]["conf"], ref[side]["conf"]
        rel = (a - b).abs() / b
        result[f"{side}.conf"] = {"max_relative": rel.max().item(),
                                  "median_relative": rel.median().item()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda[:N] or auto")
    parser.add_argument("--dtypes", default="fp32,bf16", help="comma-separated fp32,bf16,fp16")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="run_pairs batch size (default 2 on the CPU, 16 on CUDA)")
    parser.add_argument("--repeats", type=int, default=3, help="timed official forwards")
    parser.add_argument("--runs", type=int, default=1, help="run_pairs runs per configuration")
    parser.add_argument("--n8-pairs", type=int, default=24,
                        help="run N=8 on this many of its 56 pairs (at least; all 8 images "
                             "encoded) and extrapolate; 0: all 56 (about 4 more minutes)")
    parser.add_argument("--weights", default=None,
                        help="a local checkpoint (file, hub folder or downloaded released name) "
                             "instead of random weights: accuracy figures for real weights")
    parser.add_argument("--worker", choices=("official", "pairs"), help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    parser.add_argument("--n-images", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.batch_size is None:
        args.batch_size = 16 if device.type == "cuda" else 2
    if args.worker:
        print(json.dumps(worker(args)))
        return

    dtypes = args.dtypes.split(",")
    result = {
        "model": args.weights or "ViT-L 512 DPT, random weights", "image": f"{W}x{H}",
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else
        f"cpu, {torch.get_num_threads()} torch threads, {os.cpu_count()} cores",
        "batch_size": args.batch_size, "load_before": os.getloadavg(),
        "official": {}, "run_pairs": {}, "speedup": {}, "peak_rss_gib": {},
    }
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        saved = {}
        for dtype in dtypes:
            result["official"][dtype] = spawn(args, "official", dtype)
            result["peak_rss_gib"][f"official {dtype}"] = result["official"][dtype]["peak_rss_gib"]
            for n, limit in ((3, None), (8, args.n8_pairs or None)):
                save = None
                if n == 3:  # the outputs the accuracy compares
                    save = saved[dtype] = os.path.join(tmp, f"{dtype}.pt")
                key = f"{dtype} N={n}"
                result["run_pairs"][key] = spawn(args, "pairs", dtype, n_images=n, limit=limit,
                                                 save=save)
                result["peak_rss_gib"][f"run_pairs {key}"] = \
                    result["run_pairs"][key]["peak_rss_gib"]
        if "fp32" in dtypes:
            official = result["official"]["fp32"]["seconds_per_pair"]
            for key, run in result["run_pairs"].items():
                result["speedup"][f"run_pairs {key} over official fp32"] = \
                    official / run["seconds_per_pair"]
            for dtype in dtypes:
                result["speedup"][f"official {dtype} over official fp32"] = \
                    official / result["official"][dtype]["seconds_per_pair"]
            if "bf16" in dtypes:
                result["goal_4x_at_n8_bf16"] = \
                    result["speedup"]["run_pairs bf16 N=8 over official fp32"] >= 4
                result["accuracy_bf16_vs_fp32"] = accuracy(saved["fp32"], saved["bf16"])
    result.update(load_after=os.getloadavg(), bench_seconds=time.perf_counter() - start)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
