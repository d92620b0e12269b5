"""The benchmark report: network, alignment and Blender import figures in ONE JSON object.

    .venv/bin/python bench/report.py [--align-niter 50] [--network-repeats 3] [--no-cuda]

* network: ViT-L 512 DPT with random weights at 512x384 (bench/network.py): seconds per pair
  forward and peak memory, CPU float32; CUDA float32 and bf16 when a GPU is present; plus
  the per-pair cost of `run_pairs` with its encoder reuse;
* pairs: `run_pairs` at N=3 and N=8 against the official one-forward-per-pair, float32 and
  bf16, with the bf16 accuracy (bench/pairs.py, on the CPU);
* alignment: `global_align` seconds per iteration and peak memory for 4, 8 and 16 images
  at 512x384 (bench/align.py), on the CPU and, when present, on CUDA;
* import: seconds to import 1M points into Blender (bench/import_points.py).

Each benchmark runs in its own process (so that its peak memory is its own) and its whole
output is kept under "details"; "summary" has the headline figures. On a shared machine wall
seconds overstate the cost: the "cpu_seconds" figures (this process's CPU time) and
"load_average" tell how busy it was.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parent


def run_bench(script: str, *args: str) -> dict:
    """Run bench/<script> in a fresh process and parse the JSON object it prints last."""
    out = subprocess.run([sys.executable, str(BENCH / script), *args], check=True,
                         capture_output=True, text=True, cwd=BENCH.parent).stdout
    start = out.rfind("\n{") + 1  # the JSON object (pretty-printed or one line) ends the output
    return json.loads(out[start:])


def network_summary(details: dict) -> dict:
    return {dtype: {"seconds_per_pair_forward": run["seconds_per_pair"],
                    "cpu_seconds_per_pair_forward": run["process_cpu_seconds_per_pair"],
                    "peak_memory_gib": run["peak_memory_gib"],
                    "seconds_per_pair_run_pairs": details["run_pairs"][dtype]["seconds_per_pair"]}
            for dtype, run in details["forward"].items()}


def align_summary(details: dict) -> dict:
    return {str(run["images"]): {"pairs": run["pairs"], "seconds_per_iteration": run["s_per_iter"],
                                 "cpu_seconds_per_iteration": run["cpu_s_per_iter"],
                                 "peak_memory_mb": run["peak_extra_mb"],
                                 "peak_over_input": run["peak_over_input"]}
            for run in details["runs"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--align-niter", type=int, default=50,
                        help="iterations per alignment run (the per-iteration cost is steady)")
    parser.add_argument("--network-repeats", type=int, default=None,
                        help="forwards timed per precision (default: bench/network.py's)")
    parser.add_argument("--no-cuda", action="store_true", help="CPU only, even with a GPU")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available() and not args.no_cuda
    repeats = ["--repeats", str(args.network_repeats)] if args.network_repeats else []
    sizes = ["--sizes", "4", "8", "16", "--niter", str(args.align_niter)]

    load_before = os.getloadavg()
    details = {"network": {"cpu": run_bench("network.py", "--device", "cpu", "--dtype", "float32",
                                            *repeats)},
               "pairs": run_bench("pairs.py", "--device", "cpu"),
               "alignment": {"cpu": run_bench("align.py", "--device", "cpu", *sizes)},
               "import": run_bench("import_points.py", "--points", "1000000")}
    if cuda:
        details["network"]["cuda"] = run_bench("network.py", "--device", "cuda",
                                               "--dtype", "float32,bf16", *repeats)
        details["alignment"]["cuda"] = run_bench("align.py", "--device", "cuda", *sizes)

    summary = {
        "network_vit_l_512_dpt_512x384": {device: network_summary(d)
                                          for device, d in details["network"].items()},
        "run_pairs_seconds_per_pair_cpu": {
            **{f"official {k}": v["seconds_per_pair"] for k, v in details["pairs"]["official"].items()},
            **{k: v["seconds_per_pair"] for k, v in details["pairs"]["run_pairs"].items()}},
        "bf16_accuracy": details["pairs"]["accuracy_bf16_vs_fp32"],
        "alignment_512x384": {device: align_summary(d) for device, d in details["alignment"].items()},
        "blender_import_1m_points_seconds": details["import"]["seconds_min"],
    }
    print(json.dumps({
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name() if cuda else None},
        "load_average": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in os.getloadavg()]},
        "summary": summary, "details": details}, indent=1))


if __name__ == "__main__":
    main()
