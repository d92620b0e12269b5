"""Network speed: ViT-L 512 DPT (random weights) at 512x384, per pair and with encoder reuse.

Prints one JSON object:
* forward: seconds per pair forward `model(view1, view2)` (batch 1, two encoder passes, as the
  official driver does it), median of --repeats after --warmup, and the peak memory (CPU: the
  process's peak RSS, weights included; CUDA: torch.cuda.max_memory_allocated);
* run_pairs: N random images, complete symmetrized graph, through `core.inference.run_pairs`:
  the encoder and decoder+head passes it made (counted) against the official 2 encoder passes
  per pair, total and per-pair seconds, and the speed-up over forward-per-pair;
* on CUDA, the largest difference of the outputs from the CPU float32 outputs, relative to
  their largest magnitude, per precision.

    .venv/bin/python bench/network.py                                 # CPU, float32, N=3
    python bench/network.py --device cuda --dtype float32,bf16 --n-images 10
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from core.device import resolve_device  # noqa: E402
from core.inference import run_pairs  # noqa: E402
from core.model import build_model  # noqa: E402
from core.pairs import make_pairs  # noqa: E402
from core.weights import RELEASED_CONFIGS  # noqa: E402

DTYPES = {"float32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
H, W = 384, 512


def random_views(n: int, seed: int = 0) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    return [dict(img=torch.rand(1, 3, H, W, generator=gen) * 2 - 1, true_shape=np.int32([[H, W]]),
                 idx=i, instance=str(i)) for i in range(n)]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def forward(model, view1, view2, device, dtype):
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype,
                                                enabled=dtype != torch.float32):
        return model(view1, view2)


def on_device(view: dict, device: torch.device) -> dict:
    return {**view, "img": view["img"].to(device)}


def time_forward(model, device, dtype, warmup, repeats) -> dict:
    view1, view2 = (on_device(v, device) for v in random_views(2))
    reset_peak(device)
    times, cpu_times = [], []
    for k in range(warmup + repeats):
        synchronize(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        forward(model, view1, view2, device, dtype)
        synchronize(device)
        if k >= warmup:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    return {"seconds_per_pair": statistics.median(times), "runs": times,
            "process_cpu_seconds_per_pair": statistics.median(cpu_times),
            "peak_memory_gib": peak_memory_gib(device)}


def time_run_pairs(model, device, dtype, n_images, batch_size, warmup, repeats) -> dict:
    pairs = make_pairs(random_views(n_images), "complete")
    counts = {"encode": 0, "predict": 0}
    encode, predict = model.encode, model.predict

    def counting_encode(img):
        counts["encode"] += len(img)
        return encode(img)

    def counting_predict(feat1, *args):
        counts["predict"] += len(feat1)
        return predict(feat1, *args)

    model.encode, model.predict = counting_encode, counting_predict
    try:
        if warmup:  # kernels, allocator
            run_pairs(model, pairs[:1], device, batch_size, dtype)
            counts.update(encode=0, predict=0)
        reset_peak(device)
        times, cpu_times = [], []
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            run_pairs(model, pairs, device, batch_size, dtype)
            times.append(time.perf_counter() - start)  # run_pairs ends with results on the CPU
            cpu_times.append(time.process_time() - cpu_start)
    finally:
        del model.encode, model.predict
    seconds = statistics.median(times)
    return {
        "n_images": n_images, "pairs": len(pairs), "batch_size": batch_size, "runs": times,
        "encoder_passes": counts["encode"] // repeats,
        "decoder_head_passes": counts["predict"] // repeats,
        "official_encoder_passes": 2 * len(pairs), "official_decoder_head_passes": len(pairs),
        "seconds": seconds, "seconds_per_pair": seconds / len(pairs),
        "process_cpu_seconds_per_pair": statistics.median(cpu_times) / len(pairs),
        "peak_memory_gib": peak_memory_gib(device),
    }


def max_relative_difference(pred, reference) -> float:
    return max(float((pred[side][key].float().cpu() - reference[side][key]).abs().max()
                     / reference[side][key].abs().max())
               for side in (0, 1) for key in reference[side])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--dtype", default=None,
                        help="comma-separated float32,bf16,fp16 (default: float32 on CPU, "
                             "float32,bf16 on CUDA)")
    parser.add_argument("--n-images", type=int, default=None,
                        help="images for the run_pairs test (default 3 on CPU, 10 on CUDA)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="run_pairs batch size (default 2 on CPU, 16 on CUDA)")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 on CPU, 20 on CUDA")
    parser.add_argument("--warmup", type=int, default=None, help="default 0 on CPU, 3 on CUDA")
    args = parser.parse_args()

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    dtypes = (args.dtype or ("float32,bf16" if cuda else "float32")).split(",")
    n_images = args.n_images or (10 if cuda else 3)
    batch_size = args.batch_size or (16 if cuda else 2)
    repeats = args.repeats or (20 if cuda else 3)
    warmup = args.warmup if args.warmup is not None else (3 if cuda else 0)
    result = {
        "model": "ViT-L 512 DPT, random weights", "image": f"{W}x{H}",
        "device": torch.cuda.get_device_name(device) if cuda else
        f"cpu, {torch.get_num_threads()} torch threads, {os.cpu_count()} cores",
        "torch": torch.__version__, "load_average_before": os.getloadavg(),
    }

    torch.manual_seed(0)
    start = time.perf_counter()
    model = build_model(RELEASED_CONFIGS["512_dpt"])
    result["build_seconds"] = time.perf_counter() - start
    result["parameters"] = sum(p.numel() for p in model.parameters())
    reference = None
    if cuda:  # the CPU float32 outputs of one pair, to compare the GPU precisions with
        reference = forward(model, *random_views(2), torch.device("cpu"), torch.float32)
    model.to(device)

    result["forward"], result["run_pairs"] = {}, {}
    for name in dtypes:
        dtype = DTYPES[name]
        result["forward"][name] = time_forward(model, device, dtype, warmup, repeats)
        if reference is not None:
            pred = forward(model, *(on_device(v, device) for v in random_views(2)), device, dtype)
            result["forward"][name]["max_relative_difference_to_cpu_float32"] = \
                max_relative_difference(pred, reference)
        runs = time_run_pairs(model, device, dtype, n_images, batch_size, warmup,
                              max(1, repeats // 5))
        single = result["forward"][name]
        runs["speedup_over_forward_per_pair"] = single["seconds_per_pair"] / runs["seconds_per_pair"]
        runs["speedup_in_process_cpu_seconds"] = (single["process_cpu_seconds_per_pair"]
                                                  / runs["process_cpu_seconds_per_pair"])
        result["run_pairs"][name] = runs
    result["load_average_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
