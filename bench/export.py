"""Export speed and size on the demo scene, and how well the exported cameras read back.
Headless bpy; pycolmap for the read-back (a test dependency). Prints JSON.

    .venv/bin/python bench/export.py [--demo out/demo] [--keep DIR]

Renders the demo room if `--demo` has no photos yet (`demo.render`), reconstructs it with the
ground-truth predictor (1 % noise) and imports it, then times every export from the run and
the File > Export operators from the imported collection. The read-back compares pycolmap's
cameras and projections with the Blender cameras (and Blender's own `world_to_camera_view`),
and the read-back cameras with the demo's ground truth (after the demo's similarity).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="bpy-user-"))
REPO = Path(__file__).resolve().parents[1]


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 2**20, 2)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t0, 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--demo", default=str(REPO / "out" / "demo"), help="the demo's output folder")
    ap.add_argument("--keep", help="write the exports here (default: a temporary folder)")
    args = ap.parse_args()
    import bpy

    parent = Path(tempfile.mkdtemp(prefix="dust3r-bench-"))
    (parent / "dust3r_blender").symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(parent))
    import addon_utils

    assert addon_utils.enable("dust3r_blender", default_set=True, handle_error=None)
    from dust3r_blender import importer
    from dust3r_blender.core import export as core_export
    from dust3r_blender.core.export import colmap, depth, nerfstudio, ply
    from dust3r_blender.core.settings import ImportOptions, JobParams
    from dust3r_blender.demo.oracle import GroundTruthPredictor
    from dust3r_blender.demo.render import render_scene
    from dust3r_blender.demo.truth import GROUND_TRUTH, load_ground_truth

    photos = Path(args.demo) / "photos"
    if not (photos / GROUND_TRUTH).exists():
        render_scene(photos)
    truth = load_ground_truth(photos)
    bpy.ops.wm.read_homefile(use_empty=True)
    imported = importer.reconstruct(
        JobParams(photos=str(photos), import_options=ImportOptions(collection_name="demo")),
        predictor=GroundTruthPredictor(truth, noise=0.01))
    scene = imported.result.scene
    out = Path(args.keep or tempfile.mkdtemp(prefix="dust3r-export-"))
    shutil.rmtree(out, ignore_errors=True)

    photo_mb = round(sum(p.stat().st_size for p in photos.glob("view_*.jpg")) / 2**20, 2)
    report: dict = {"benchmark": "export", "bpy": bpy.app.version_string,
                    "photos": scene.n_images, "photos_mb": photo_mb, "from_run": {},
                    "from_blender": {}}
    export, seconds = timed(lambda: core_export.describe_scene(scene,
                                                               imported.result.import_options))
    report["points"] = len(export.points)
    report["from_run"]["describe_s"] = seconds
    runs = {
        "colmap_binary": lambda: colmap.write_colmap(export, out / "colmap_bin"),
        "colmap_text": lambda: colmap.write_colmap(export, out / "colmap_txt", binary=False),
        "colmap_binary_all_points": lambda: colmap.write_colmap(export, out / "colmap_all",
                                                                max_points=0),
        "nerfstudio": lambda: nerfstudio.write_transforms(export, out / "ns" / "transforms.json"),
        "ply_all_points": lambda: ply.write_points(export, out / "cloud.ply"),
        "depth": lambda: depth.write_depth(export, out / "depth"),
    }
    for name, run in runs.items():
        written, seconds = timed(run)
        target = written.parent if name == "nerfstudio" else written
        report["from_run"][name] = {"seconds": seconds, "mb": size_mb(target)}

    ops = {"colmap_binary": lambda: bpy.ops.dust3r.export_colmap(
               filepath=str(out / "blender_colmap")),
           "nerfstudio": lambda: bpy.ops.dust3r.export_nerfstudio(filepath=str(out / "blender_ns")),
           "ply": lambda: bpy.ops.dust3r.export_ply(filepath=str(out / "blender.ply"))}
    for name, op in ops.items():
        _, seconds = timed(op)
        report["from_blender"][name] = {"seconds": seconds}

    try:
        import pycolmap
    except ImportError:
        report["read_back"] = "pycolmap is not installed"
    else:
        report["read_back"] = read_back(pycolmap, out / "blender_colmap", imported, truth)
    print(json.dumps(report, indent=1))


def read_back(pycolmap, folder: Path, imported, truth) -> dict:
    """pycolmap's cameras against the Blender cameras and the ground truth."""
    import bpy
    import numpy as np
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    from dust3r_blender.core.cameras import from_blender, world_matrix
    from dust3r_blender.demo.compare import camera_errors, scene_similarity
    from dust3r_blender.importer.cameras import activate_camera
    from dust3r_blender.tool.cameras import blender_camera

    scene, world = imported.result.scene, world_matrix(imported.scale)
    rec = pycolmap.Reconstruction(str(folder / "sparse" / "0"))
    by_name = {rec.images[i].name: rec.images[i] for i in rec.images}
    points = np.array([p.xyz for p in rec.points3D.values()])[::200]
    rot, centre, focal, pp, pixels, c2ws, fxs, checked = [], [], [], [], [], [], [], []
    for obj in imported.cameras:
        bcam = from_blender(blender_camera(obj, bpy.context.scene), np.eye(4))
        image = by_name[os.path.basename(obj["dust3r_source"])]
        camera = rec.cameras[image.camera_id]
        c2w = np.linalg.inv(np.vstack([image.cam_from_world().matrix(), [0, 0, 0, 1]]))
        c2ws.append(c2w)
        fxs.append(camera.params[0])
        cos = (np.trace(c2w[:3, :3].T @ bcam.c2w[:3, :3]) - 1) / 2
        rot.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
        centre.append(np.linalg.norm(c2w[:3, 3] - bcam.c2w[:3, 3]))
        focal.append(abs(camera.params[0] / bcam.fx - 1))
        pp.append(np.abs(camera.params[2:] - [bcam.cx + 0.5, bcam.cy + 0.5]).max())
        activate_camera(bpy.context.scene, obj)
        w, h = bcam.width, bcam.height
        ndc = np.array([world_to_camera_view(bpy.context.scene, obj, Vector(p)) for p in points])
        seen = (ndc[:, 2] > 0) & (ndc[:, :2] >= 0).all(1) & (ndc[:, :2] <= 1).all(1)
        blender_uv = np.stack([ndc[seen, 0] * w, (1 - ndc[seen, 1]) * h], 1)
        colmap_uv = np.array([image.project_point(p) for p in points[seen]])
        checked.append(int(seen.sum()))
        pixels.append(np.abs(colmap_uv - blender_uv).max())
    order = [truth.index_of(scene.photo(n).path) for n in range(scene.n_images)]
    true = [truth.cameras[k] for k in order]
    # COLMAP's c2w are in Blender's world; the similarity maps the scene's (Z-up, scaled)
    # points onto the truth, as the demo does for the imported cameras.
    errors = camera_errors(np.stack([c.c2w for c in true]), np.array([c.fx for c in true]),
                           np.stack(c2ws), np.array(fxs), scene_similarity(scene, truth, world))
    return {"vs_blender_cameras": {"rotation_deg_max": float(max(rot)),
                                   "centre_max": float(max(centre)),
                                   "focal_rel_max": float(max(focal)),
                                   "principal_point_px_max": float(max(pp)),
                                   "projection_px_max": float(max(pixels)),
                                   "points_in_frame_checked": checked},
            "vs_ground_truth": {"rotation_deg_max": float(errors.rotation_deg.max()),
                                "position_rel_max": float(errors.position.max()),
                                "focal_rel_max": float(errors.focal.max())}}


if __name__ == "__main__":
    main()
