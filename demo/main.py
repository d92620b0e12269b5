"""The README's demo: render a scene with exact ground truth, reconstruct it, compare.

    scripts/demo.sh [--checkpoint PATH] [--out out/demo] [--views 6] [--device auto] ...

1. Renders the demo room with Cycles (`demo.render`; reused when already rendered).
2. Reconstructs it with the DUSt3R network when a checkpoint is found (`--checkpoint`, the
   environment variable DUST3R_CHECKPOINT, or the released 512_dpt model in the model folder
   or the Hugging Face cache), otherwise -- loudly -- with the ground-truth predictor
   (`demo.oracle`) in the network's place. Everything else runs for real: image loading,
   pairs, global alignment, intrinsics on the photos, the Blender import.
3. Saves `demo.blend`, and `demo.png`: an input photo next to a Cycles render of the
   reconstructed points through the camera the import made for that photo.
4. Prints every imported camera's error against the ground truth.

With --clip the same for footage (`demo.clip`): a rendered shot (--frames 48 at 512x288,
numbered from 1001, also as plate.mkv) is solved into one animated camera, saved as
`clip.blend` with `clip.png` (a late frame beside the points through its solved camera), and
every frame's errors are printed; the exit status is 1 when any frame is over the limits.

Runs inside the add-on package (as Blender loads it): `python -m demo` from the repository
root, with the bpy module.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Optional

import bpy
import numpy as np
from PIL import Image, ImageOps

from .. import importer
from ..core import cameras as core_cameras
from ..core import options, weights
from ..core.errors import Dust3rError
from ..core.settings import ImportOptions, JobParams, SequenceOptions
from ..core.progress import ProgressPrinter
from ..tool.cameras import blender_camera
from .compat import render_still, set_file_format
from .clip import render_clip
from .compare import CameraErrors, TrackErrors, camera_errors, scene_similarity, track_errors
from .oracle import GroundTruthPredictor
from .picture import side_by_side, track_picture
from .render import render_scene
from .truth import GROUND_TRUTH, GroundTruth, load_ground_truth

CHECKPOINT_ENV = "DUST3R_CHECKPOINT"


def find_checkpoint(path: Optional[str], model_dir: Optional[str] = None) -> Optional[str]:
    """The checkpoint to use: `path`, else $DUST3R_CHECKPOINT, else a local copy of 512_dpt.

    A path the user named that does not exist is an error, not a silent fall-back.
    """
    for named, origin in ((path, "--checkpoint"), (os.environ.get(CHECKPOINT_ENV), CHECKPOINT_ENV)):
        if named:
            found = weights.find_local(named, model_dir)
            if found is None:
                raise Dust3rError(f"The checkpoint {named!r} (from {origin}) was not found")
            return str(found)
    found = weights.find_local("512_dpt", model_dir)
    return str(found) if found else None


def imported_cameras(imported: importer.Imported, truth: GroundTruth,
                     target: Optional[bpy.types.Scene] = None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The imported Blender cameras as OpenCV cameras in Blender's world: c2w [N,4,4], focal
    [N] in photo pixels, and the ground-truth index of each one's photo."""
    target = target or bpy.context.scene
    scene = imported.result.scene
    pinholes = [core_cameras.from_blender(blender_camera(obj, target), np.eye(4))
                for obj in imported.cameras]
    order = [truth.index_of(scene.photo(n).path) for n in range(scene.n_images)]
    return np.stack([p.c2w for p in pinholes]), np.array([p.fx for p in pinholes]), order


def imported_errors(imported: importer.Imported, truth: GroundTruth) -> CameraErrors:
    """The imported cameras against the truth, after the similarity that best aligns the
    imported points with the true ones."""
    c2w, focals, order = imported_cameras(imported, truth)
    world = core_cameras.world_matrix(imported.scale)
    sim = scene_similarity(imported.result.scene, truth, world)
    true = [truth.cameras[k] for k in order]
    return camera_errors(np.stack([c.c2w for c in true]), np.array([c.fx for c in true]),
                         c2w, focals, sim)


def render_points(camera: bpy.types.Object, path: Path, samples: int = 16) -> Image.Image:
    """A Cycles render of the scene through `camera` at its photo's resolution."""
    scene = bpy.context.scene
    importer.cameras.activate_camera(scene, camera)
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.view_settings.view_transform = "Standard"  # the points' colours are the photo's sRGB
    if scene.world is None:
        scene.world = bpy.data.worlds.new("backdrop")
    scene.world.color = (0.02, 0.02, 0.02)
    set_file_format(scene.render.image_settings, "PNG", color_mode="RGB")
    scene.render.filepath = str(path)
    render_still()
    return Image.open(path).convert("RGB")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/demo.sh", description=__doc__.split("\n")[0])
    p.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    p.add_argument("--checkpoint", help="a DUSt3R checkpoint (.pth, model.safetensors, hub "
                   f"folder or released name); default: ${CHECKPOINT_ENV}, else 512_dpt if "
                   "it was downloaded")
    p.add_argument("--model-dir", default=None, help="where released models are looked for")
    p.add_argument("--ground-truth", action="store_true",
                   help="use the ground-truth predictor even when a checkpoint is found")
    p.add_argument("--noise", type=float, default=0.01,
                   help="ground-truth predictor: point noise relative to depth (default 0.01)")
    p.add_argument("--views", type=int, default=6, help="photos to render (default 6)")
    p.add_argument("--rerender", action="store_true", help="render the photos again")
    p.add_argument("--device", default="auto", choices=options.ids(options.DEVICES))
    p.add_argument("--precision", default=JobParams().precision,
                   choices=options.ids(options.PRECISIONS))
    p.add_argument("--niter", type=int, default=300, help="alignment iterations (default 300)")
    p.add_argument("--photo", type=int, default=0, help="the photo shown in demo.png")
    clip = p.add_argument_group("footage (--clip)")
    clip.add_argument("--clip", action="store_true",
                      help="solve a rendered shot into one animated camera instead of photos")
    clip.add_argument("--frames", type=int, default=48, help="frames of the shot (default 48)")
    clip.add_argument("--width", type=int, default=512, help="plate width (default 512)")
    clip.add_argument("--height", type=int, default=288, help="plate height (default 288)")
    clip.add_argument("--movie", action="store_true",
                      help="solve the shot's movie file (plate.mkv) instead of its PNG frames")
    clip.add_argument("--keyframe-step", type=int, default=SequenceOptions().keyframe_step,
                      help="every K-th frame is a keyframe (default 0: automatic)")
    return p


def banner(lines: list[str]) -> None:
    width = max(map(len, lines)) + 4
    print("\n" + "#" * width, *(f"# {line:<{width - 4}} #" for line in lines), "#" * width,
          sep="\n", flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    args = parser().parse_args(argv)
    out = Path(args.out).resolve()
    photos = out / "photos"
    try:
        return run_clip(args, out) if args.clip else run(args, out, photos)
    except Dust3rError as exc:
        print(f"demo failed: {exc}", flush=True)
        return 1


def choose_predictor(args: argparse.Namespace, truth: GroundTruth
                     ) -> tuple[Optional[str], Optional[GroundTruthPredictor]]:
    """The checkpoint to run, or (None, the ground-truth predictor) -- announced either way."""
    checkpoint = None if args.ground_truth else find_checkpoint(args.checkpoint, args.model_dir)
    if checkpoint:
        banner([f"Reconstructing with the DUSt3R network: {checkpoint}"])
        return checkpoint, None
    banner(["NO DUSt3R CHECKPOINT: the network is replaced by the GROUND-TRUTH PREDICTOR",
            "(point maps from the rendered depth, with noise, outliers and a random scale",
            "per pair). Image loading, alignment, intrinsics and the Blender import run for",
            f"real. For the network: --checkpoint PATH, ${CHECKPOINT_ENV}, or download the",
            "released 512_dpt model in the add-on's preferences (CC BY-NC-SA 4.0)."])
    return None, GroundTruthPredictor(truth, noise=args.noise)


def run(args: argparse.Namespace, out: Path, photos: Path) -> int:
    if args.rerender or not (photos / GROUND_TRUTH).exists():
        print(f"Rendering {args.views} photos of the demo room with Cycles -> {photos}", flush=True)
        render_scene(photos, n_views=args.views)
    truth = load_ground_truth(photos)
    checkpoint, predictor = choose_predictor(args, truth)

    bpy.ops.wm.read_homefile(use_empty=True)
    params = JobParams(photos=str(photos), model=checkpoint or "512_dpt",
                                device=args.device, precision=args.precision, niter=args.niter,
                                import_options=ImportOptions(collection_name="DUSt3R demo"))
    imported = importer.reconstruct(params, progress=ProgressPrinter(), predictor=predictor)
    errors = imported_errors(imported, truth)

    shown = imported.cameras[args.photo]
    with tempfile.TemporaryDirectory() as tmp:
        render = render_points(shown, Path(tmp) / "render.png")
    photo = ImageOps.exif_transpose(Image.open(imported.result.scene.photo(args.photo).path))
    network = "DUSt3R network" if checkpoint else "ground-truth predictor"
    side_by_side(photo.convert("RGB"), render,
                 f"reconstructed points ({network}), Cycles, imported camera").save(out / "demo.png")
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "demo.blend"), check_existing=False)

    print(f"\n{imported.result.summary()}: {imported.summary()}")
    print("Imported cameras against the ground truth (after the similarity that best aligns the "
          "reconstructed points with the true ones; position relative to the cameras' spread):")
    names = [truth.cameras[k].file for k in imported_cameras(imported, truth)[2]]
    print(errors.table(names))
    print(f"\nWrote {out / 'demo.blend'} and {out / 'demo.png'}", flush=True)
    return 0


def solve_clip(params: JobParams, truth: GroundTruth, predictor=None,
               progress=None) -> tuple[importer.Imported, TrackErrors]:
    """A rendered shot's plate (`params.photos`: `plate.####.png`, or a movie, whose frames
    count from 1) through `importer.reconstruct` into the current Blender file, and each
    solved frame's errors against `truth` (renumbered to the plate's first frame)."""
    imported = importer.reconstruct(params, progress=progress, predictor=predictor)
    plate_truth = truth.renumbered(imported.result.plate.frames[0])
    return imported, track_errors(imported.result.track, plate_truth)


def run_clip(args: argparse.Namespace, out: Path) -> int:
    """--clip: render the shot (if needed), solve it, save clip.blend and clip.png, print the
    per-frame errors; 1 when a frame is over the limits."""
    shot = out / "clip"
    size = (args.width, args.height)
    truth = load_ground_truth(shot) if (shot / GROUND_TRUTH).exists() else None
    if args.rerender or truth is None or len(truth.cameras) != args.frames or any(
            (c.width, c.height) != size for c in truth.cameras):
        print(f"Rendering a {args.frames}-frame shot at {args.width}x{args.height} with Cycles "
              f"-> {shot}", flush=True)
        render_clip(shot, args.frames, args.width, args.height, movie=True)
        truth = load_ground_truth(shot)
    # A movie's frames count from 1: the predictor matches views by frame number.
    checkpoint, predictor = choose_predictor(args, truth.renumbered(1) if args.movie else truth)

    bpy.ops.wm.read_homefile(use_empty=True)
    plate = shot / "plate.mkv" if args.movie else shot / "plate.####.png"
    params = JobParams(
        photos=str(plate), model=checkpoint or "512_dpt", device=args.device,
        precision=args.precision, niter=args.niter,
        sequence=SequenceOptions(keyframe_step=args.keyframe_step),
        import_options=ImportOptions(collection_name="DUSt3R clip"))
    imported, errors = solve_clip(params, truth, predictor, ProgressPrinter())
    track = imported.result.track
    track_picture(track, truth.renumbered(track.frames[0])).save(out / "clip.png")
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "clip.blend"), check_existing=False)

    print(f"\n{imported.result.summary()}: {imported.summary()}")
    print("Every solved frame against the ground truth (after the similarity that best aligns "
          "the solved path with the true one; position relative to the path length):")
    print(errors.table())
    failures = errors.failures()
    print(f"\nWrote {out / 'clip.blend'} and {out / 'clip.png'}", flush=True)
    if failures:
        print(f"{len(failures)} frames over the limits: {failures}", flush=True)
        return 1
    return 0
