"""Photos to a .blend without the UI.

    blender -b -P <extension folder>/cli.py -- PHOTOS... -o scene.blend [options]
    blender -b base.blend -P cli.py -- PHOTOS... -o scene.blend [options]  (add to a file)
    python cli.py PHOTOS... -o scene.blend [options]        (with the bpy module installed)
    python cli.py PHOTOS... --export-colmap DIR [--export-ply FILE ...]   (files for other tools)
    blender -b -P cli.py -- PLATE --sequence -o shot.blend [--frame-start N --frame-end M ...]

PHOTOS are image files or one folder; with --sequence one PLATE (a folder of numbered frames,
a pattern such as plate.####.png, or a movie file) becomes one animated camera. It runs the same pipeline as the panel, with the same
settings (`tool.settings.job_params`), synchronously, prints progress, saves the .blend
and/or writes the --export-* files (`core.export`) and exits 0. Bad input is refused before
any long work: it prints `DUSt3R error: <reason>` and exits 1 without writing anything (2
for malformed arguments, 130 when interrupted).
`--help` lists every option.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import signal
import sys
from types import ModuleType

HERE = os.path.dirname(os.path.abspath(__file__))
BLEND_MAGIC = (b"BLENDER", b"\x1f\x8b", b"\x28\xb5\x2f\xfd")  # plain, gzip, zstd .blend
KNOWN_CAMERA_KEYS = ("c2w", "focal", "pp", "image_size")


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


def _module(pkg: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{pkg.__name__}.{name}")


def parser(pkg: ModuleType) -> argparse.ArgumentParser:
    """The options; their destinations carry the panel settings' names (`scene.dust3r`),
    their defaults and choices come from `core`."""
    options, settings = _module(pkg, "core.options"), _module(pkg, "core.settings")
    run, imp, ids = settings.JobParams(), settings.ImportOptions(), options.ids
    p = argparse.ArgumentParser(
        prog="blender -b -P cli.py --",
        description="Reconstruct photos with DUSt3R and save the points and cameras as a .blend")
    p.add_argument("photos", nargs="+", metavar="PHOTOS|PLATE",
                   help="image files, or one folder of images; with --sequence one plate: a "
                        "folder of numbered frames, a pattern (plate.####.png) or a movie")
    p.add_argument("-o", "--output", help="the .blend file to write (optional when an "
                                           "--export-* option is given)")
    p.add_argument("--base", help="open this .blend first and add the reconstruction to it "
                                  "(default: the .blend Blender opened, else an empty file)")
    m = p.add_argument_group("model")
    m.add_argument("--model", default=run.model,
                   help=f"{', '.join(ids(options.MODELS))}, a Hugging Face repo id, or a "
                        f".pth/.safetensors file or model folder (default: {run.model}). "
                        f"{options.MODEL_LICENCE}")
    m.add_argument("--model-dir", default="",
                   help="where released models are downloaded and looked for (default: the "
                        "add-on's model folder when it is enabled in this Blender)")
    m.add_argument("--online", action="store_true",
                   help="download the model if it is not in the model folder, even when "
                        "Blender's online access is off (blender --online-mode turns it on)")
    m.add_argument("--device", default=run.device, choices=ids(options.DEVICES))
    m.add_argument("--precision", default=run.precision, choices=ids(options.PRECISIONS))
    m.add_argument("--batch-size", type=int, default=run.batch_size,
                   help="image pairs per network batch")
    m.add_argument("--image-size", type=int, default=run.image_size,
                   help="network input size (default: the model's, 512 or 224)")
    a = p.add_argument_group("pairs and alignment")
    a.add_argument("--scene-graph",
                   help="complete, swin-K, logwin-K, oneref-R or sequence-K, optionally with "
                        f"-noncyclic (default: {run.scene_graph}; a plate's keyframes: chosen "
                        "from their count)")
    a.add_argument("--niter", type=int, default=run.niter, help="alignment iterations")
    a.add_argument("--lr", type=float, default=run.lr)
    a.add_argument("--schedule", default=run.schedule, choices=ids(options.SCHEDULES))
    a.add_argument("--min-conf-thr", type=float, default=run.min_conf_thr)
    a.add_argument("--no-clean", dest="clean", action="store_false", default=run.clean,
                   help="keep occluded points")
    a.add_argument("--shared-focal", action="store_true", default=run.shared_focal,
                   help="one focal for all photos")
    a.add_argument("--early-stop", type=int, default=run.early_stop_patience, metavar="N",
                   help="stop once the loss has not improved for N iterations (0 = off)")
    a.add_argument("--known-cameras", metavar="JSON",
                   help='known cameras: {"<photo index>": {"c2w": 4x4 OpenCV camera-to-world, '
                        '"focal": f, "pp": [cx, cy], "image_size": [W, H]}} with focal and pp '
                        'in pixels of the photo (or of image_size), each key optional')
    a.add_argument("--use-cameras", choices=ids(options.KEEP_CAMERAS),
                   help="keep the poses and/or lenses of the cameras of the base file "
                        "(matched to photos by background image, name, or order)")
    k = p.add_argument_group("masks (white or opaque = keep the pixel)")
    source = k.add_mutually_exclusive_group()
    source.add_argument("--masks", dest="mask_folder", default=run.masks.folder, metavar="DIR",
                        help="a folder with one mask image per photo, named after the photo "
                             "(IMG_1.png for IMG_1.jpg); photos without one run unmasked")
    source.add_argument("--alpha-masks", action="store_true", default=run.masks.alpha,
                        help="the photos' own alpha channels (transparent = leave out); "
                             "photos without one run unmasked")
    k.add_argument("--invert-masks", dest="invert_masks", action="store_true",
                   default=run.masks.invert, help="leave out the white (opaque) pixels instead")
    i = p.add_argument_group("import")
    i.add_argument("--collection", dest="collection_name", default=imp.collection_name,
                   metavar="NAME", help="name of the new collection")
    i.add_argument("--no-points", dest="import_points", action="store_false",
                   default=imp.points)
    i.add_argument("--no-cameras", dest="import_cameras", action="store_false",
                   default=imp.cameras)
    i.add_argument("--no-backgrounds", dest="background_images", action="store_false",
                   default=imp.background_images, help="no photos behind the cameras")
    i.add_argument("--no-active-camera", dest="set_active_camera", action="store_false",
                   default=imp.set_active_camera,
                   help="leave the scene camera and render resolution alone")
    i.add_argument("--point-radius", type=float, default=imp.point_radius,
                   help="0 = automatic")
    i.add_argument("--max-points", type=int, default=imp.max_points, help="0 = all")
    i.add_argument("--scale", type=float, default=imp.scale,
                   help="Blender units per reconstruction unit (0 = automatic)")
    i.add_argument("--depth-meshes", action="store_true", default=imp.depth_meshes,
                   help="a mesh per photo from its depth map, textured with the photo")
    i.add_argument("--depth-stride", type=int, default=imp.depth_stride, metavar="N",
                   help="depth meshes: a vertex every N network pixels (default: "
                        f"{imp.depth_stride})")
    sequence_options(p, pkg)
    export_options(p, pkg)
    return p


SEQUENCE_KEYS = ("frame_start", "frame_end", "frame_step", "keyframe_step", "zoom", "lens_mm",
                 "sensor_mm")
# A plate's COLMAP, nerfstudio and depth exports would hold only its keyframes (its PLY is
# the shot's cloud): refused rather than silently partial.
STILLS_ONLY = ("use_cameras", "known_cameras", "depth_meshes", "shared_focal", "export_colmap",
               "export_transforms", "export_depth")


def sequence_options(p: argparse.ArgumentParser, pkg: ModuleType) -> None:
    """--sequence and the plate's settings (`core.settings.SequenceOptions`)."""
    seq = _module(pkg, "core.settings").SequenceOptions()
    s = p.add_argument_group("plate (--sequence): footage to one animated camera")
    s.add_argument("--sequence", action="store_true",
                   help="PLATE is footage: solve it as one camera keyed on every frame, with "
                        "the plate behind it and the scene's frame range, fps and resolution "
                        "set from it")
    s.add_argument("--frame-start", type=int, default=seq.frame_start, metavar="N",
                   help="the first frame to solve (default: the plate's first)")
    s.add_argument("--frame-end", type=int, default=seq.frame_end, metavar="M",
                   help="the last frame to solve (default: the plate's last)")
    s.add_argument("--frame-step", type=int, default=seq.frame_step, metavar="K",
                   help="solve every K-th frame (default: %(default)s)")
    s.add_argument("--keyframe-step", type=int, default=seq.keyframe_step, metavar="K",
                   help="align every K-th frame with the full aligner, the rest against them "
                        "(default: 0 = chosen from the memory budget)")
    s.add_argument("--zoom", action="store_true", default=seq.zoom,
                   help="the focal length changes during the shot: solve one per frame")
    s.add_argument("--lens-mm", type=float, default=seq.lens_mm, metavar="F",
                   help="a known focal length in mm, kept exactly (default: 0 = solve it)")
    s.add_argument("--sensor-mm", type=float, default=seq.sensor_mm, metavar="W",
                   help="the sensor width in mm of --lens-mm (default: %(default)s)")


def panel_settings(args: argparse.Namespace, p: argparse.ArgumentParser,
                   pkg: ModuleType) -> None:
    """Add the panel's settings (`scene.dust3r`) that the options spell differently: the
    pair settings, the mask source, the plate's (`tool.settings.job_params` reads them)."""
    errors = _module(pkg, "core.errors")
    args.auto_pairs = args.scene_graph is None  # a plate: the keyframes' graph by their count
    args.scene_graph = args.scene_graph or _module(pkg, "core.settings").JobParams().scene_graph
    try:
        kind, param, cyclic = _module(pkg, "core.pairs").parse_graph(args.scene_graph)
    except ValueError as exc:
        raise errors.Dust3rError(str(exc)) from exc
    args.scene_graph, args.window, args.reference, args.noncyclic = (
        kind, param, param, not cyclic)
    args.mask_source = "folder" if args.mask_folder else "alpha" if args.alpha_masks else "none"
    if args.invert_masks and args.mask_source == "none":
        raise errors.Dust3rError("--invert-masks needs masks: --masks DIR or --alpha-masks")
    plate_settings(args, p, pkg)


def plate_settings(args: argparse.Namespace, p: argparse.ArgumentParser,
                   pkg: ModuleType) -> None:
    """The panel's plate settings from the command line (`input_type`, `use_frame_start`,
    ...); `Dust3rError` for plate options without --sequence, stills options with it, or
    more than one PLATE."""
    errors = _module(pkg, "core.errors")
    args.input_type = "PLATE" if args.sequence else "PHOTOS"
    args.use_frame_start, args.use_frame_end = (args.frame_start is not None,
                                                args.frame_end is not None)
    given = [key for key in (*SEQUENCE_KEYS, *STILLS_ONLY)
             if getattr(args, key) != p.get_default(key)]
    if not args.sequence:
        if plate := [key for key in given if key in SEQUENCE_KEYS]:
            raise errors.Dust3rError(f"{_flags(plate)} apply only to a plate: add --sequence")
        return
    if len(args.photos) != 1:
        raise errors.Dust3rError(f"--sequence takes one PLATE (a folder, a frame pattern or a "
                                 f"movie file), not {len(args.photos)}: {' '.join(args.photos)}")
    if stills := [key for key in given if key in STILLS_ONLY]:
        focal = ": a plate has one focal for the shot unless --zoom, or a known lens with " \
            "--lens-mm" if "shared_focal" in stills else ""
        raise errors.Dust3rError(f"{_flags(stills)} apply to photos, not to a plate "
                                 f"(--sequence){focal}")


def _flags(keys: list[str]) -> str:
    return ", ".join("--" + key.replace("_", "-") for key in keys)


EXPORTS = ("export_colmap", "export_transforms", "export_ply", "export_depth")


def export_options(p: argparse.ArgumentParser, pkg: ModuleType) -> None:
    """--export-*: files for other tools, from the finished run (`core.export`)."""
    e = p.add_argument_group(
        "export", "files for other tools, in Blender's world (Z up, the import's scale); each "
        "written whole or not at all. A folder must be new, empty or an earlier export: an "
        "export replaces it as a whole")
    e.add_argument("--export-colmap", metavar="DIR",
                   help="a COLMAP model with its images: DIR/sparse/0, DIR/images (3D Gaussian "
                        "Splatting, gsplat, COLMAP)")
    e.add_argument("--colmap-format", choices=("binary", "text"), default="binary",
                   help="the COLMAP model's files (default: binary)")
    e.add_argument("--export-transforms", metavar="FILE",
                   help="a nerfstudio transforms.json; its folder also gets images/ and the "
                        "seed cloud sparse_pc.ply")
    e.add_argument("--export-ply", metavar="FILE",
                   help="the point cloud as a PLY: x y z, red green blue, confidence")
    e.add_argument("--export-depth", metavar="DIR",
                   help="per-photo depth, confidence and mask (.npy) with their cameras in "
                        "DIR/depth.json")
    e.add_argument("--export-max-points", type=int, metavar="N",
                   default=_module(pkg, "core.export").DEFAULT_MAX_POINTS,
                   help="points in the COLMAP and nerfstudio seed clouds, a random subset "
                        "(0 = all; default %(default)s); the PLY has all")


def export_targets(args: argparse.Namespace, pkg: ModuleType) -> dict:
    """The --export-* destinations checked before any work: {option: absolute path}."""
    errors, destination = _module(pkg, "core.errors"), _module(pkg, "core.destination")
    if args.export_max_points < 0:
        raise errors.Dust3rError("--export-max-points must be 0 (all) or more, not "
                                 f"{args.export_max_points}")
    targets = {}
    if args.export_colmap:
        targets["export_colmap"] = destination.check_export_folder(args.export_colmap)
    if args.export_transforms:
        folder = _module(pkg, "core.export.nerfstudio").dataset_folder(args.export_transforms)
        targets["export_transforms"] = folder / os.path.basename(args.export_transforms)
    if args.export_ply:
        targets["export_ply"] = destination.check_destination(args.export_ply, (".ply",))
    if args.export_depth:
        targets["export_depth"] = destination.check_export_folder(args.export_depth)
    return targets


def check_apart(output, targets: dict, pkg: ModuleType) -> None:
    """No output inside a folder that an export replaces as a whole (or that folder itself)."""
    places = {"--output": output} if output else {}
    places.update({"--" + k.replace("_", "-"): v for k, v in targets.items()})
    folders = {k: (v.parent if k == "--export-transforms" else v) for k, v in places.items()
               if k in ("--export-colmap", "--export-transforms", "--export-depth")}
    for name, path in places.items():
        for other, folder in folders.items():
            if other != name and (path == folder or folder in path.parents):
                raise _module(pkg, "core.errors").Dust3rError(
                    f"{name} {path} lies in the folder of {other} ({folder}), which the export "
                    "replaces as a whole: give every output a place of its own")


def write_exports(targets: dict, result, args: argparse.Namespace, pkg: ModuleType) -> None:
    """Write every --export-* of the finished run, printing one line each."""
    errors = _module(pkg, "core.errors")
    export = _module(pkg, "core.export").describe_scene(result.scene, result.import_options,
                                                        result.masks)
    photos, points = len(export.cameras), len(export.points)
    seeds = min(args.export_max_points or points, points)
    for key, path in targets.items():
        try:
            if key == "export_colmap":
                written = _module(pkg, "core.export.colmap").write_colmap(
                    export, path, binary=args.colmap_format == "binary",
                    max_points=args.export_max_points)
                what = f"COLMAP model ({args.colmap_format}), {photos} photos, {seeds:,} points"
            elif key == "export_transforms":
                written = _module(pkg, "core.export.nerfstudio").write_transforms(
                    export, path, max_points=args.export_max_points)
                what = f"nerfstudio dataset, {photos} photos, {seeds:,} points"
            elif key == "export_ply":
                written = _module(pkg, "core.export.ply").write_points(export, path)
                what = f"point cloud, {points:,} points"
            else:
                written = _module(pkg, "core.export.depth").write_depth(export, path)
                what = f"depth maps of {len(export.depth)} photos"
        except OSError as exc:
            raise errors.Dust3rError(f"Cannot write {path}: {exc}") from exc
        print(f"DUSt3R: {what} -> {written}", flush=True)


def read_known_cameras(path: str, pkg: ModuleType) -> dict:
    """The --known-cameras file as {photo index: KnownCamera} (values checked later, with
    the other settings)."""
    errors, settings = _module(pkg, "core.errors"), _module(pkg, "core.settings")
    if not os.path.isfile(path):
        raise errors.Dust3rError(f"The known cameras file {path} does not exist or is not a "
                                 "regular file")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise errors.Dust3rError(f"Cannot read the known cameras of {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise errors.Dust3rError(f"{path}: the known cameras must be a JSON object keyed by "
                                 "photo index")
    known = {}
    for key, entry in data.items():
        if not (isinstance(key, str) and key.strip().isdigit()):
            raise errors.Dust3rError(f"{path}: {key!r} is not a photo index (0, 1, ...)")
        if not isinstance(entry, dict) or set(entry) - set(KNOWN_CAMERA_KEYS):
            raise errors.Dust3rError(
                f"{path}: the camera of photo {key} must be an object with the keys "
                f"{', '.join(KNOWN_CAMERA_KEYS)}, got {entry!r}")
        size = entry.get("image_size")
        known[int(key)] = settings.KnownCamera(
            c2w=entry.get("c2w"), focal=entry.get("focal"), pp=entry.get("pp"),
            image_size=tuple(size) if isinstance(size, list) else size)
    return known


def base_file(path: str, pkg: ModuleType) -> str:
    """The --base path, checked to be a readable .blend before it is opened."""
    errors = _module(pkg, "core.errors")
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise errors.Dust3rError(f"The base file {path} does not exist or is not a regular file")
    try:
        with open(path, "rb") as f:
            magic = f.read(7)
    except OSError as exc:
        raise errors.Dust3rError(f"Cannot read the base file {path}: {exc.strerror}") from exc
    if not magic.startswith(BLEND_MAGIC):
        raise errors.Dust3rError(f"The base file {path} is not a .blend file")
    return path


def open_scene(base: str | None, bpy, errors: ModuleType) -> None:
    """Start from `base`, else from the .blend Blender opened, else from an empty file (not
    the startup scene's cube, light and camera)."""
    try:
        if base:
            bpy.ops.wm.open_mainfile(filepath=base)
        elif not bpy.data.filepath:
            bpy.ops.wm.read_homefile(use_empty=True)
    except RuntimeError as exc:
        raise errors.Dust3rError(f"Cannot open {base}: {exc}") from exc


def model_choice(args: argparse.Namespace, pkg: ModuleType):
    """The command line's model settings. When the add-on is enabled in this Blender, what
    its preferences installed is used too: dependency folders, and the model folder unless
    --model-dir is given. Downloads follow Blender's online access (or --online)."""
    import bpy

    errors, tool_prefs = _module(pkg, "core.errors"), _module(pkg, "tool.preferences")
    folder = args.model_dir
    prefs = tool_prefs.enabled_preferences()
    if prefs is not None:
        tool_prefs.require_dependencies(prefs)
        folder = folder or tool_prefs.model_dir(prefs)
    elif absent := _module(pkg, "core.dependencies").missing(required=True):
        raise errors.Dust3rError(f"Missing Python packages: {', '.join(absent)}: install them "
                                 "with pip into this Python, or enable the add-on and use "
                                 "'Install Dependencies' in its preferences")
    return _module(pkg, "tool.settings").ModelChoice(
        args.model, folder, args.device, args.precision, bpy.app.online_access or args.online)


def run(args: argparse.Namespace, pkg: ModuleType) -> str:
    """Check everything, reconstruct, import and save and/or export; the summary line."""
    errors = _module(pkg, "core.errors")
    output = _module(pkg, "core.destination").check_destination(args.output, (".blend",)) \
        if args.output else None
    targets = export_targets(args, pkg)
    check_apart(output, targets, pkg)
    base = base_file(args.base, pkg) if args.base else None
    known = read_known_cameras(args.known_cameras, pkg) if args.known_cameras else {}
    import bpy

    model = model_choice(args, pkg)
    if args.use_cameras and not (base or bpy.data.filepath):
        raise errors.Dust3rError("--use-cameras keeps the cameras of a base file: give it with "
                                 "--base FILE.blend (or open it with blender FILE.blend -b)")
    settings = _module(pkg, "tool.settings")
    photos = args.photos[0] if args.sequence or len(args.photos) == 1 \
        and os.path.isdir(args.photos[0]) else args.photos
    params = settings.job_params(args, photos, model, known)  # checked before opening anything
    if args.sequence:  # the plate and its range, from the file headers
        frames = _module(pkg, "core.frames")
        frames.frame_range(frames.open_plate(photos), params.sequence)
    open_scene(base, bpy, errors)
    if args.use_cameras:
        paths = _module(pkg, "core.images").list_images(photos) if isinstance(photos, str) \
            else photos
        known.update(_module(pkg, "tool.cameras").known_cameras(
            bpy.context.scene.objects, bpy.context.scene, paths, args.use_cameras))
    params = settings.job_params(args, photos, model, known)

    progress = _module(pkg, "core.progress").ProgressPrinter()
    if output:
        imported = _module(pkg, "importer").reconstruct(params, progress=progress)
        result = imported.result
    else:  # exports only: nothing to import into Blender
        result = _module(pkg, "core.pipeline").run(params, progress=progress)
    for note in result.notes:
        print(f"DUSt3R note: {note}", flush=True)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        bpy.ops.wm.save_as_mainfile(filepath=str(output), check_existing=False)
    write_exports(targets, result, args, pkg)
    return f"{result.summary()}: {imported.summary()} -> {output}" if output else \
        result.summary()


def start_blender() -> None:
    """`import bpy` (under `python cli.py`) with Ctrl-C held until Blender has started: an
    interrupt inside its start-up scripts segfaulted the process or was swallowed by them."""
    if "bpy" in sys.modules:
        return
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    try:
        import bpy  # noqa: F401
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    try:
        start_blender()
        pkg = package()
        errors = _module(pkg, "core.errors")
        p = parser(pkg)
        args = p.parse_args(argv)
        if not (args.output or any(getattr(args, key) for key in EXPORTS)):
            p.error("nothing to write: give -o/--output FILE.blend and/or --export-colmap, "
                    "--export-transforms, --export-ply or --export-depth")
        try:
            panel_settings(args, p, pkg)
            summary = run(args, pkg)
        except errors.Dust3rError as exc:
            print(f"DUSt3R error: {exc}", file=sys.stderr, flush=True)
            return 1
    except KeyboardInterrupt:  # Ctrl-C, at any point (start-up included)
        print("DUSt3R: interrupted", file=sys.stderr, flush=True)
        return 130
    print(f"DUSt3R: {summary}", flush=True)
    return 0


def _argv() -> list[str]:
    """Our arguments: after "--" under Blender, else everything after the script."""
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


if __name__ == "__main__":
    sys.exit(main(_argv()))
