"""Depth mesh import speed and memory: 16 photos at 512 x 384 network pixels (stride 1 by
default) through importer.import_scene with ImportOptions(depth_meshes=True), headless bpy.
Prints JSON: seconds to plan (core.plan, numpy) and to build the Blender data, the process's
peak memory above its level before the import, the meshes' size, and the .blend's size and
save time.

    .venv/bin/python bench/import_depth_meshes.py [--photos 16] [--stride 1] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="bpy-user-"))
REPO = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakMemory:
    """The highest resident set size seen while the block runs (sampled every 2 ms)."""

    def __enter__(self):
        self.start = self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=16)
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import bpy  # noqa: F401  (before the add-on's modules)
    import numpy as np
    from PIL import Image

    parent = Path(tempfile.mkdtemp(prefix="dust3r-bench-"))
    (parent / "dust3r_blender").symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(parent))
    from dust3r_blender.core.images import Photo
    from dust3r_blender.core.settings import ImportOptions
    from dust3r_blender.core.plan import plan_import
    from dust3r_blender.core.scene import Scene
    from dust3r_blender.importer import import_plan

    n, h, w, focal = args.photos, 384, 512, 400.0
    rng = np.random.default_rng(0)
    photos = []
    for k in range(n):  # small files: Blender loads images lazily, their size hardly matters
        path = parent / f"photo_{k:02d}.jpg"
        Image.fromarray(rng.integers(0, 255, (96, 128, 3), np.uint8)).resize(
            (1024, 768)).save(path, quality=90)
        photos.append(Photo(str(path), (1024, 768), 1, (512, 384), (0, 0, 512, 384)))
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = 3.0 + 0.3 * np.sin(u / 40) * np.cos(v / 30)
    depth[100:250, 200:330] -= 1.0  # an object in front: faces dropped along its outline
    cam = np.stack([(u - 255.5) / focal * depth, (v - 191.5) / focal * depth, depth], -1)
    c2w = np.tile(np.eye(4, dtype=np.float32), (n, 1, 1))
    c2w[:, 0, 3] = np.arange(n) * 0.2
    pts3d = cam[None] + c2w[:, None, None, :3, 3]
    scene = Scene(c2w, np.full(n, focal, np.float32), np.tile([255.5, 191.5], (n, 1)).astype(
        np.float32), np.broadcast_to(depth, (n, h, w)).copy(), pts3d,
        rng.uniform(3.5, 10, (n, h, w)).astype(np.float32), np.ones((n, h, w), bool),
        rng.uniform(0, 1, (n, h, w, 3)).astype(np.float32), photos=photos)
    options = ImportOptions(points=False, depth_meshes=True, depth_stride=args.stride)

    runs = []
    for _ in range(args.repeats):
        bpy.ops.wm.read_homefile(use_empty=True)
        with PeakMemory() as memory:
            t0 = time.perf_counter()
            plan = plan_import(scene, options)
            t1 = time.perf_counter()
            created = import_plan(plan)
            t2 = time.perf_counter()
        runs.append(dict(plan=t1 - t0, build=t2 - t1, total=t2 - t0,
                         peak_mb=(memory.peak - memory.start) / 2**20,
                         after_mb=(rss() - memory.start) / 2**20))
        assert len(created.depth_meshes) == n
    vertices = sum(len(m.vertices) for m in plan.depth_meshes)
    faces = sum(len(m.faces) for m in plan.depth_meshes)
    blend = parent / "meshes.blend"
    t0 = time.perf_counter()
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    save = time.perf_counter() - t0
    best = min(runs, key=lambda r: r["total"])
    print(json.dumps({
        "benchmark": "blender_import_depth_meshes", "bpy": bpy.app.version_string,
        "photos": n, "network_size": [w, h], "stride": args.stride, "vertices": vertices,
        "faces": faces, "seconds_plan": round(best["plan"], 3),
        "seconds_build": round(best["build"], 3), "seconds_total": round(best["total"], 3),
        "seconds_total_all": [round(r["total"], 3) for r in runs],
        "peak_mb_above_start": round(max(r["peak_mb"] for r in runs), 1),
        "kept_mb_after_import": round(runs[0]["after_mb"], 1),
        "blend_mb": round(blend.stat().st_size / 2**20, 1), "seconds_save": round(save, 2)}))


if __name__ == "__main__":
    main()
