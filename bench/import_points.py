"""Blender import speed: seconds to import a Scene of about 1M points (and 16 cameras) with
importer.import_scene, headless bpy. Prints JSON.

    .venv/bin/python bench/import_points.py [--points 1000000]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import bpy  # noqa: F401  (before the add-on's modules)
    import numpy as np

    parent = Path(tempfile.mkdtemp(prefix="dust3r-bench-"))
    (parent / "dust3r_blender").symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(parent))
    from dust3r_blender.core.images import Photo
    from dust3r_blender.core.scene import Scene
    from dust3r_blender.importer import import_scene

    n_images = 16
    h, w = 384, 512
    per = max(1, args.points // (n_images * h * w) + 1)
    rng = np.random.default_rng(0)
    n = n_images * per
    pts = rng.normal(size=(n, h, w, 3)).astype(np.float32) + [0, 0, 4]
    mask = np.zeros((n, h, w), bool)
    mask.reshape(-1)[: args.points] = True
    c2w = np.tile(np.eye(4, dtype=np.float32), (n, 1, 1))
    photo = Photo("bench.jpg", (4032, 3024), 1, (512, 384), (0, 0, 512, 384))
    scene = Scene(c2w, np.full(n, 400.0, np.float32), np.tile([255.5, 191.5], (n, 1)).astype(
        np.float32), pts[..., 2].copy(), pts, rng.uniform(1, 10, (n, h, w)).astype(np.float32),
        mask, rng.uniform(0, 1, (n, h, w, 3)).astype(np.float32), photos=[photo] * n)
    times = []
    for _ in range(args.repeats):
        bpy.ops.wm.read_homefile(use_empty=True)
        t0 = time.perf_counter()
        created = import_scene(scene)
        times.append(time.perf_counter() - t0)
        assert len(created.points.data.vertices) == args.points
    print(json.dumps({"benchmark": "blender_import", "bpy": bpy.app.version_string,
                      "points": args.points, "cameras": n, "seconds_min": round(min(times), 3),
                      "seconds_all": [round(t, 3) for t in times]}))


if __name__ == "__main__":
    main()
