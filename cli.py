"""Photos to a .blend without the UI.

    blender -b -P <extension folder>/cli.py -- PHOTOS... -o scene.blend [options]
    python cli.py PHOTOS... -o scene.blend [options]        (with the bpy module installed)

PHOTOS are image files or one folder. It runs the same pipeline as the panel, synchronously,
prints progress, saves the .blend and exits 0; on failure it prints the reason and exits 1
without writing anything (2 for bad arguments, 130 when interrupted). `--help` lists every
option.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from types import ModuleType, SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))


def package() -> ModuleType:
    """This add-on as a package: the enabled extension if it is loaded, else imported from
    this file's folder under the name `dust3r_blender`."""
    init = os.path.join(HERE, "__init__.py")
    for name, mod in list(sys.modules.items()):
        if getattr(mod, "__file__", None) and os.path.abspath(mod.__file__) == init:
            return mod
    spec = importlib.util.spec_from_file_location("dust3r_blender", init,
                                                  submodule_search_locations=[HERE])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="blender -b -P cli.py --",
        description="Reconstruct photos with DUSt3R and save the points and cameras as a .blend")
    p.add_argument("photos", nargs="+", help="image files, or one folder of images")
    p.add_argument("-o", "--output", required=True, help="the .blend file to write")
    p.add_argument("--base", help="open this .blend first and add the reconstruction to it")
    m = p.add_argument_group("model")
    m.add_argument("--model", default="512_dpt",
                   help="512_dpt, 512_linear, 224_linear, a Hugging Face repo id, or a "
                        ".pth/.safetensors file or model folder (default: 512_dpt). The "
                        "checkpoints are CC BY-NC-SA 4.0: non-commercial use only")
    m.add_argument("--model-dir", default="",
                   help="where released models are downloaded and looked for (default: the "
                        "add-on's model folder when it is enabled in this Blender)")
    m.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    m.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    m.add_argument("--batch-size", type=int, default=8, help="image pairs per network batch")
    m.add_argument("--image-size", type=int, default=0,
                   help="network input size (default: the model's, 512 or 224)")
    a = p.add_argument_group("pairs and alignment")
    a.add_argument("--scene-graph", default="complete",
                   help="complete, swin-K, logwin-K or oneref-R, optionally with -noncyclic")
    a.add_argument("--niter", type=int, default=300, help="alignment iterations")
    a.add_argument("--lr", type=float, default=0.01)
    a.add_argument("--schedule", default="cosine", choices=("cosine", "linear"))
    a.add_argument("--min-conf-thr", type=float, default=3.0)
    a.add_argument("--no-clean", action="store_true", help="keep occluded points")
    a.add_argument("--shared-focal", action="store_true", help="one focal for all photos")
    a.add_argument("--early-stop", type=int, default=0, metavar="N",
                   help="stop once the loss has not improved for N iterations (0 = off)")
    a.add_argument("--known-cameras", metavar="JSON",
                   help='known cameras: {"<photo index>": {"c2w": 4x4 OpenCV camera-to-world, '
                        '"focal": f, "pp": [cx, cy]}} in pixels of the photos, each key optional')
    a.add_argument("--use-cameras", choices=("both", "pose", "lens"),
                   help="keep the poses and/or lenses of the camera objects of --base "
                        "(matched to photos by background image, name, or order)")
    i = p.add_argument_group("import")
    i.add_argument("--collection", default="", help="name of the new collection")
    i.add_argument("--no-points", action="store_true")
    i.add_argument("--no-cameras", action="store_true")
    i.add_argument("--no-backgrounds", action="store_true", help="no photos behind the cameras")
    i.add_argument("--no-active-camera", action="store_true",
                   help="leave the scene camera and render resolution alone")
    i.add_argument("--point-radius", type=float, default=0.0, help="0 = automatic")
    i.add_argument("--max-points", type=int, default=0, help="0 = all")
    i.add_argument("--scale", type=float, default=0.0,
                   help="Blender units per reconstruction unit (0 = automatic)")
    return p


def job_params(args, pkg: ModuleType):
    pipeline = pkg.core.pipeline
    photos = args.photos[0] if len(args.photos) == 1 and os.path.isdir(args.photos[0]) \
        else args.photos
    return pipeline.JobParams(
        photos=photos, model=args.model, model_dir=args.model_dir, device=args.device,
        precision=args.precision, scene_graph=args.scene_graph, batch_size=args.batch_size,
        niter=args.niter, lr=args.lr, schedule=args.schedule, min_conf_thr=args.min_conf_thr,
        clean=not args.no_clean, shared_focal=args.shared_focal,
        early_stop_patience=args.early_stop, image_size=args.image_size,
        known_cameras=read_known_cameras(args.known_cameras, pipeline),
        import_options=pipeline.ImportOptions(
            collection_name=args.collection, points=not args.no_points,
            cameras=not args.no_cameras, background_images=not args.no_backgrounds,
            point_radius=args.point_radius, confidence_threshold=args.min_conf_thr,
            max_points=args.max_points, scale=args.scale,
            set_active_camera=not args.no_active_camera))


def read_known_cameras(path, pipeline) -> dict:
    if not path:
        return {}
    import numpy as np

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return {int(k): pipeline.KnownCamera(
            c2w=None if v.get("c2w") is None else np.asarray(v["c2w"], np.float64),
            focal=v.get("focal"), pp=None if v.get("pp") is None else tuple(v["pp"]))
            for k, v in data.items()}
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise package().core.errors.Dust3rError(
            f"Cannot read the known cameras of {path}: {exc}") from exc


def use_preferences(args, pkg: ModuleType, bpy) -> None:
    """Find what the add-on's preferences installed (dependencies, downloaded models) when it
    is enabled in this Blender, and fail early and clearly if a dependency is missing."""
    dependencies = importlib.import_module(f"{pkg.__name__}.core.dependencies")
    addon = bpy.context.preferences.addons.get(pkg.__name__)
    if addon is not None and addon.preferences is not None:
        prefs = importlib.import_module(f"{pkg.__name__}.panels.preferences")
        dependencies.add_paths(*prefs.dependency_paths(addon.preferences))
        if not args.model_dir:
            args.model_dir = prefs.model_dir(addon.preferences)
    absent = dependencies.missing()
    if absent:
        raise pkg.core.errors.Dust3rError(
            f"Missing Python packages: {', '.join(absent)}. Install them with 'Install "
            "Dependencies' in the add-on's preferences, or with pip into this Python")


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    pkg = package()
    for sub in ("core.pipeline", "core.errors", "core.images", "importer"):
        importlib.import_module(f"{pkg.__name__}.{sub}")
    import bpy

    errors = pkg.core.errors
    output = os.path.abspath(args.output)
    try:
        if not output.endswith(".blend"):
            raise errors.Dust3rError(f"The output must be a .blend file, not {output}")
        if args.base:
            bpy.ops.wm.open_mainfile(filepath=os.path.abspath(args.base))
        use_preferences(args, pkg, bpy)
        params = job_params(args, pkg)
        if args.use_cameras:
            reconstruct = importlib.import_module(f"{pkg.__name__}.operators.reconstruct")
            cams = [o for o in bpy.context.scene.objects if o.type == "CAMERA"]
            paths = params.photos if isinstance(params.photos, list) else \
                pkg.core.images.list_images(params.photos)
            context = SimpleNamespace(selected_objects=cams, scene=bpy.context.scene)
            params.known_cameras.update(
                reconstruct.known_cameras(context, paths, args.use_cameras.upper()))
        created = pkg.importer.reconstruct(params, progress=pkg.core.pipeline.ProgressPrinter())
        os.makedirs(os.path.dirname(output), exist_ok=True)
        bpy.ops.wm.save_as_mainfile(filepath=output, check_existing=False)
    except errors.Dust3rError as exc:
        print(f"DUSt3R error: {exc}", file=sys.stderr, flush=True)
        return 1
    except (errors.Cancelled, KeyboardInterrupt):
        print("DUSt3R: interrupted", file=sys.stderr, flush=True)
        return 130
    points = len(created["points"].data.vertices) if created["points"] else 0
    print(f"DUSt3R: {created['result'].summary()}: {points:,} points, "
          f"{len(created['cameras'])} cameras -> {output}", flush=True)
    return 0


def _argv() -> list[str]:
    """Our arguments: after "--" under Blender, else everything after the script."""
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


if __name__ == "__main__":
    sys.exit(main(_argv()))
