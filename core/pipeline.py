"""Photos (or a plate) in, aligned Scene (or camera track) out: `run(params)`.

The Blender panel, the command line and scripts all fill a `core.settings.JobParams` and
call `run()` (the panel on a worker thread through `core.jobs`): `prepare` opens and checks
the input once, before a model loads, and `execute` does the work. Nothing here touches bpy.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Optional

import torch

from . import weights
from .align import global_align
from .device import resolve_device, resolve_dtype
from .errors import Dust3rError, OutOfMemory, raise_if_cancelled
from .frames import Plate, frame_photo, frame_range, load_frames, open_plate
from .images import Photo, enlarged_note, load_images, plan_images
from .inference import OUT_OF_MEMORY_ADVICE
from .masks import frame_masks, network_masks
from .options import released
from .pairs import fit_graph, make_pairs
from .predictor import NetworkPredictor, Predictor, trained_image_size
from .progress import Cancel, StageProgress, for_stage
from .scene import Scene
from .settings import ImportOptions, JobParams, KnownCamera, MaskOptions, SequenceOptions, notes
from .track import Track, solve_track


@dataclass
class Result:
    """A finished run: the Scene, how to import it, and what it cost."""

    scene: Scene
    import_options: ImportOptions
    n_pairs: int
    seconds: dict[str, float]  # per stage
    notes: tuple[str, ...] = ()
    masks: MaskOptions = field(default_factory=MaskOptions)  # the run's (`masks.photo_mask`)
    track: Optional[Track] = None  # a plate's solved camera path (`scene` = its keyframes)
    plate: Optional[Plate] = None  # the plate it was solved from
    sequence: Optional[SequenceOptions] = None  # how it was solved (lens, zoom: the import)

    def summary(self) -> str:
        total = sum(self.seconds.values())
        if self.track is not None:
            return (f"{len(self.track.frames)} frames ({len(self.track.keyframes)} keyframes), "
                    f"{self.n_pairs} pairs, {total:.1f} s")
        return f"{self.scene.n_images} photos, {self.n_pairs} pairs, {total:.1f} s"


def load_model(params: JobParams, progress: Optional[StageProgress] = None,
               cancel: Optional[Cancel] = None):
    """The network of `params.model` on the device of `params.device` (downloads if needed
    and allowed)."""

    raise_if_cancelled(cancel)
    report = for_stage(progress, "model")
    report(0, 1)
    kwargs = {"model_dir": params.model_dir} if params.model_dir else {}
    model = weights.load_model(params.model, device=resolve_device(params.device),
                               progress=lambda done, total: report(done >> 20, total >> 20),
                               allow_download=params.allow_download,
                               **kwargs)  # a first run downloads: progress in MB (fits an int32)
    report(1, 1)
    return model


def network_predictor(model, params: JobParams) -> NetworkPredictor:
    """The loaded network as the run's predictor, on the device and at the precision of
    `params`."""

    device = resolve_device(params.device)
    return NetworkPredictor(model, device, resolve_dtype(params.precision, device),
                            params.batch_size, trained_image_size(model))


@dataclass(frozen=True)
class Inputs:
    """A run's settings and its input, opened and checked once (`prepare`) before a model
    loads: the photos as the loader will make them and the known cameras on them, or the
    plate and the frames in its range."""

    params: JobParams
    photos: tuple[Photo, ...] = ()
    known: dict[int, KnownCamera] = field(default_factory=dict)  # on the photos' pixels
    plate: Optional[Plate] = None
    frames: tuple[int, ...] = ()


def prepare(params: JobParams, plate: Optional[Plate] = None) -> Inputs:
    """Open the run's input and check it from the file headers (milliseconds a photo):
    every photo and known camera, and every mask read and checked against its photo; a
    sequence: the plate (`plate`, when the caller opened it already) and its frame range.
    `Dust3rError` naming the file, before a model is loaded or downloaded."""
    model = released(params.model)
    size = params.image_size or (model.image_size if model else 512)
    if params.sequence is not None:
        plate = plate or open_plate(params.photos)
        frames = frame_range(plate, params.sequence)
        frame_masks(plate, frames, [dict(frame=f, photo=frame_photo(plate, f, size))
                                    for f in frames], params.masks)
        return Inputs(params, plate=plate, frames=tuple(frames))
    if not params.photos:
        raise Dust3rError("No photos given")
    photos = plan_images(params.photos, size=size)
    known = _known_on_photos(params.known_cameras, photos)
    network_masks(photos, params.masks)
    return Inputs(params, tuple(photos), known)


def run(params: JobParams, progress: Optional[StageProgress] = None,
        cancel: Optional[Cancel] = None, predictor: Optional[Predictor] = None) -> Result:
    """Load photos, pair them, predict, align. Synchronous: `execute(prepare(params))`.

    `predictor` (see `core.predictor`) turns pairs into point maps; without one, the network
    of `params.model` is loaded and used. `progress(stage, done, total)` reports "model" (MB
    while a released model downloads, else 0/1 then 1/1), "images", "pairs", "align" (the
    Blender side adds "import"); `cancel()` is checked between every batch and iteration and
    raises `core.errors.Cancelled`. Raises `Dust3rError` for bad input, before long work
    wherever it can be known up front.
    """
    return execute(prepare(params), progress, cancel, predictor)


def execute(inputs: Inputs, progress: Optional[StageProgress] = None,
            cancel: Optional[Cancel] = None, predictor: Optional[Predictor] = None) -> Result:
    """The run of prepared `inputs` (see `run`)."""
    seconds: dict[str, float] = {}
    with memory_errors():
        t0 = time.perf_counter()
        if predictor is None:
            params = inputs.params
            predictor = network_predictor(load_model(params, progress, cancel), params)
        seconds["model"] = time.perf_counter() - t0
        reconstruct = _reconstruct if inputs.plate is None else _reconstruct_plate
        return reconstruct(inputs, predictor, progress, cancel, seconds)


def _reconstruct(inputs: Inputs, predictor: Predictor, progress, cancel,
                 seconds: dict[str, float]) -> Result:
    params = inputs.params
    t0 = time.perf_counter()
    report = for_stage(progress, "images")
    report(0, 1)
    images = load_images(params.photos, size=params.image_size or predictor.image_size)
    report(1, 1)
    raise_if_cancelled(cancel)
    known = inputs.known
    masks, mask_notes = network_masks([view["photo"] for view in images], params.masks)
    try:
        pairs = make_pairs(images, scene_graph=fit_graph(params.scene_graph, len(images)))
    except ValueError as exc:  # e.g. "oneref-7" with 5 photos
        raise Dust3rError(str(exc)) from exc
    seconds["images"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pairwise = predictor(pairs, for_stage(progress, "pairs"), cancel)
    seconds["pairs"] = time.perf_counter() - t0
    raise_if_cancelled(cancel)

    t0 = time.perf_counter()
    scene = global_align(
        pairwise, params.alignment, shared_focal=params.shared_focal,
        known_poses=_per_image(known, "c2w"), known_focals=_per_image(known, "focal"),
        known_pp=_per_image(known, "pp"), masks=masks, progress=for_stage(progress, "align"),
        cancel=cancel, device=resolve_device(params.device))
    seconds["align"] = time.perf_counter() - t0

    options = params.import_options
    if params.has_known_poses and not options.scale:
        options = replace(options, scale=1.0)  # the user's cameras fix the scale and frame
    enlarged = enlarged_note([view["photo"] for view in images])
    return Result(scene, options, len(pairs), seconds,
                  tuple(notes(params.scene_graph, len(images), params.has_known_poses))
                  + tuple(mask_notes) + ((enlarged,) if enlarged else ()), params.masks)


def _reconstruct_plate(inputs: Inputs, predictor: Predictor, progress, cancel,
                       seconds: dict[str, float]) -> Result:
    """A plate (`params.sequence`): its frames in range, solved into one camera path."""
    params, plate, frames = inputs.params, inputs.plate, inputs.frames
    t0 = time.perf_counter()
    views = load_frames(plate, frames, params.image_size or predictor.image_size,
                        progress=for_stage(progress, "images"), cancel=cancel)
    masks, mask_notes = frame_masks(plate, frames, views, params.masks)
    seconds["images"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pairs = _PairCounter(predictor)
    track = solve_track(views, pairs, params.alignment, params.sequence,
                        resolve_device(params.device), progress, cancel, masks)
    seconds["solve"] = time.perf_counter() - t0
    return Result(track.scene, params.import_options, pairs.count, seconds, tuple(mask_notes),
                  params.masks, track, plate, params.sequence)


@dataclass
class _PairCounter:
    """The predictor, counting the pairs it is given (a plate's keyframe and in-between
    pairs, for `Result.n_pairs`)."""

    predictor: Predictor
    count: int = 0

    @property
    def image_size(self) -> int:
        return self.predictor.image_size

    def __call__(self, pairs, progress=None, cancel=None):
        self.count += len(pairs)
        return self.predictor(pairs, progress, cancel)


def _known_on_photos(known: dict[int, KnownCamera], photos: list) -> dict[int, KnownCamera]:
    """The known cameras checked against their photos, with intrinsics in photo pixels."""
    out = {}
    for i, k in known.items():
        if not 0 <= i < len(photos):
            raise Dust3rError(f"A known camera was given for photo {i}, but there are only "
                              f"{len(photos)} photos (numbered from 0)")
        (w0, h0), what = photos[i].size, f"the known camera of {photos[i].path}"
        k = k.checked(what)
        if k.image_size is not None and (k.focal is not None or k.pp is not None):
            (w, h) = k.image_size
            if abs(w0 * h - h0 * w) > 0.01 * w0 * h:
                raise Dust3rError(f"{what} is {w}x{h} but the photo is {w0}x{h0}: their aspect "
                                  "ratios differ")
            sx, sy = w0 / w, h0 / h
            focal = None if k.focal is None else k.focal * (sx + sy) / 2
            pp = None if k.pp is None else ((k.pp[0] + 0.5) * sx - 0.5,
                                            (k.pp[1] + 0.5) * sy - 0.5)
            k = KnownCamera(k.c2w, focal, pp)
        # Plausible on the photo itself (a focal of 1e30 is a typo, not a telephoto).
        out[i] = KnownCamera(k.c2w, k.focal, k.pp, (w0, h0)).checked(what)
    return out


def _per_image(known: dict[int, KnownCamera], attr: str) -> Optional[dict]:
    values = {i: getattr(k, attr) for i, k in known.items() if getattr(k, attr) is not None}
    return values or None


@contextmanager
def memory_errors():
    """Turn out-of-memory errors (GPU or CPU) into `OutOfMemory` with advice."""

    try:
        yield
    except MemoryError as exc:
        raise OutOfMemory(f"Out of memory. {OUT_OF_MEMORY_ADVICE}") from exc
    except RuntimeError as exc:
        if isinstance(exc, Dust3rError) or "out of memory" not in str(exc).lower():
            raise
        torch.cuda.empty_cache()
        raise OutOfMemory(f"Out of GPU memory. {OUT_OF_MEMORY_ADVICE}") from exc
