"""Set Floor's dominant-plane search: seconds for `core.scene_setup.dominant_plane` on a cloud
of N points (half on a noisy floor, half scattered), and the angle it finds. Prints JSON.

    .venv/bin/python bench/floor.py [--points 1000000]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.scene_setup import dominant_plane  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    half = args.points // 2
    floor = np.c_[rng.uniform(-3, 3, (half, 2)), rng.normal(0, 0.005, half)]
    cloud = np.concatenate([floor, rng.uniform(-3, 3, (args.points - half, 3))])
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        plane, inliers = dominant_plane(cloud)
        seconds.append(time.perf_counter() - start)
    angle = np.degrees(np.arccos(min(1.0, abs(float(plane.normal[2])))))
    print(json.dumps({"points": args.points, "seconds_min": round(min(seconds), 3),
                      "normal_error_deg": round(float(angle), 4),
                      "inlier_fraction": round(float(inliers.mean()), 4)}))


if __name__ == "__main__":
    main()
