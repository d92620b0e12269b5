"""Photos in, aligned Scene out: every setting of a run in one plain object, and `run()`.

The Blender panel, the command line and scripts all fill a `JobParams` and call `run()`; the
panel does it on a worker thread through `core.jobs`. Nothing here touches bpy.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from .cameras import checked_focal, checked_point, checked_pose
from .checks import check as _check, real as _real, whole as _whole
from .errors import Dust3rError, OutOfMemory, raise_if_cancelled
from .frames import SequenceOptions
from .masks import MaskOptions
from .options import DEVICES, PRECISIONS, SCHEDULES, ids
from .pairs import fit_graph, pair_indices
from .progress import Cancel, StageProgress, for_stage

if TYPE_CHECKING:  # the heavy modules (torch, PIL) load only when a run starts, so that the
    from .frames import Plate  # add-on registers before its dependencies are installed
    from .predictor import NetworkPredictor, Predictor
    from .scene import Scene
    from .track import Track


@dataclass
class KnownCamera:
    """What the user knows about one photo's camera; None = solve for it.

    `c2w` is camera-to-world with OpenCV axes (x right, y down, z forward) in the
    reconstruction world (see `core.cameras.world_matrix` for Blender's); `focal` and `pp`
    are in pixels of the original, EXIF-upright photo (or of `image_size`).
    """

    c2w: Optional[np.ndarray] = None  # [4, 4]
    focal: Optional[float] = None
    pp: Optional[tuple[float, float]] = None
    # (W, H) that `focal` and `pp` refer to when not the photo's own size (e.g. a Blender
    # camera's render resolution): they are rescaled to the photo, whose aspect must match.
    image_size: Optional[tuple[int, int]] = None

    def checked(self, what: str) -> "KnownCamera":
        """The same camera with its values checked and normalised; `Dust3rError` naming
        `what` (e.g. "the known camera of photo 2") for anything unusable."""
        try:
            size = None if self.image_size is None else _image_size(self.image_size, what)
            return KnownCamera(
                c2w=None if self.c2w is None else checked_pose(self.c2w, f"{what}: pose"),
                focal=None if self.focal is None else checked_focal(
                    self.focal, f"{what}: focal", max(size) if size else None),
                pp=None if self.pp is None else checked_point(
                    self.pp, f"{what}: principal point", size),
                image_size=size)
        except ValueError as exc:
            raise Dust3rError(str(exc)) from exc


def _image_size(value: object, what: str) -> tuple[int, int]:
    size = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(size) != 2 or not all(_whole(v, 1) for v in size):
        raise ValueError(f"{what}: image size must be two whole numbers (W, H), not {value!r}")
    return int(size[0]), int(size[1])


@dataclass
class ImportOptions:
    """How the Scene becomes Blender data (see `core.plan`)."""

    collection_name: str = ""  # "" = "DUSt3R <first photo's folder>"
    points: bool = True
    cameras: bool = True
    background_images: bool = True  # the EXIF-upright photo behind each camera
    point_radius: float = 0.0  # Blender units; 0 = about one pixel's footprint
    confidence_threshold: float = 0.0  # initial live threshold (min_conf_thr already applied)
    max_points: int = 0  # 0 = all; otherwise a random subset of this size
    scale: float = 0.0  # reconstruction -> Blender units; 0 = auto (known poses: 1)
    set_active_camera: bool = True  # make the first photo's camera the scene camera
    depth_meshes: bool = False  # a grid mesh per photo from its depth map, showing the photo
    depth_stride: int = 1  # depth meshes: a vertex every this many network pixels

    def validate(self) -> None:
        """Raise `Dust3rError` for options no import could use."""
        _check([
            (_whole(self.max_points, 0), "Max points must be a whole number, 0 (all) or more, "
                                         f"not {self.max_points!r}"),
            (_real(self.scale, 0), "Scale must be 0 (automatic) or a positive number of Blender "
                                   f"units per reconstruction unit, not {self.scale!r}"),
            (_real(self.point_radius, 0), "Point radius must be 0 (automatic) or a positive "
                                          f"length, not {self.point_radius!r}"),
            (_real(self.confidence_threshold, 0),
             f"The confidence threshold must be 0 or more, not {self.confidence_threshold!r}"),
            (_whole(self.depth_stride, 1), "Depth stride must be a whole number of pixels, 1 "
                                           f"or more, not {self.depth_stride!r}"),
        ])


@dataclass
class JobParams:
    """Every setting of one reconstruction, copied from the UI on the main thread."""

    photos: Sequence[str] | str = ()  # image files, or one folder; with `sequence`: the plate
    model: str = "512_dpt"  # released name, Hugging Face repo id, or a local file/folder
    model_dir: str = ""  # where released checkpoints are downloaded and looked for
    allow_download: bool = True  # False: a model that is not local is an error (offline)
    device: str = "auto"
    precision: str = "auto"
    scene_graph: str = "complete"  # complete | swin-K | logwin-K | oneref-R [-noncyclic]
    batch_size: int = 8
    niter: int = 300
    lr: float = 0.01
    schedule: str = "cosine"
    min_conf_thr: float = 3.0
    clean: bool = True
    shared_focal: bool = False
    early_stop_patience: int = 0  # stop once the loss stalls this many iterations; 0 = off
    known_cameras: dict[int, KnownCamera] = field(default_factory=dict)
    image_size: int = 0  # network input size (512, 224); 0 = the size the model was trained at
    import_options: ImportOptions = field(default_factory=ImportOptions)
    masks: MaskOptions = field(default_factory=MaskOptions)  # pixels to leave out (core.masks)
    # A plate (image sequence or movie, `photos` is its folder, pattern or file) solved as one
    # moving camera; None = stills (core.frames, core.track).
    sequence: Optional[SequenceOptions] = None

    def validate(self) -> None:
        """Raise `Dust3rError` for settings no run could use (before any work starts)."""
        _check([
            (self.device in ids(DEVICES), f"device must be one of {ids(DEVICES)}, not "
                                          f"{self.device!r}"),
            (self.precision in ids(PRECISIONS),
             f"precision must be one of {ids(PRECISIONS)}, not {self.precision!r}"),
            (self.schedule in ids(SCHEDULES),
             f"schedule must be one of {ids(SCHEDULES)}, not {self.schedule!r}"),
            (_whole(self.batch_size, 1), f"batch size must be at least 1, not {self.batch_size!r}"),
            (_whole(self.niter, 0), f"iterations must be 0 or more, not {self.niter!r}"),
            (_real(self.lr, 0, positive=True), f"learning rate must be positive, not {self.lr!r}"),
            (_real(self.min_conf_thr, 0),
             f"confidence threshold must be 0 or more, not {self.min_conf_thr!r}"),
            (_whole(self.early_stop_patience, 0),
             f"early stop must be 0 (off) or a number of iterations, not "
             f"{self.early_stop_patience!r}"),
            (self.image_size == 0 or _whole(self.image_size, 64) and self.image_size <= 2048,
             f"image size must be 0 (the model's) or 64 to 2048 pixels, not {self.image_size!r}"),
            (bool(self.photos), "No photos given"),
            (bool(self.model), "No model given"),
        ])
        try:
            pair_indices(1, self.scene_graph)  # the graph string's syntax
        except ValueError as exc:
            raise Dust3rError(str(exc)) from exc
        for index, known in self.known_cameras.items():
            if not _whole(index, 0):
                raise Dust3rError(f"A known camera is keyed by {index!r}: use the photo's index "
                                  "(0, 1, ...)")
            known.checked(f"the known camera of photo {index}")
        self.import_options.validate()
        self.masks.validate()
        if self.sequence is not None:
            if not isinstance(self.sequence, SequenceOptions):
                raise Dust3rError(f"sequence must be SequenceOptions or None, not "
                                  f"{self.sequence!r}")
            if not isinstance(self.photos, (str, os.PathLike)):
                raise Dust3rError("A sequence's plate is one folder, frame pattern or movie "
                                  f"file, not a list: {self.photos!r}")
            self.sequence.validate()

    @property
    def has_known_poses(self) -> bool:
        return any(k.c2w is not None for k in self.known_cameras.values())


def notes(scene_graph: str, n_photos: int, known_poses: bool) -> list[str]:
    """What the settings do with `n_photos` photos that a user would not guess (the UI
    shows them before a run; `Result.notes` repeats them)."""
    out = []
    if n_photos == 2 and not known_poses:
        out.append("Two photos are solved directly from their pair: the alignment "
                   "iterations are not used")
    elif n_photos == 1:
        out.append("One photo: its camera sits at the origin; the alignment iterations are "
                   "not used")
    try:
        graph = fit_graph(scene_graph, n_photos)
    except ValueError:
        return out  # validate() reports the malformed graph
    if graph != scene_graph:
        out.append(f"The pair graph {scene_graph} with {n_photos} photos pairs photos with "
                   f"themselves: {graph} is used, which pairs every photo with every other")
    return out


@dataclass
class Result:
    """A finished run: the Scene, how to import it, and what it cost."""

    scene: "Scene"
    import_options: ImportOptions
    n_pairs: int
    seconds: dict[str, float]  # per stage
    notes: tuple[str, ...] = ()
    masks: MaskOptions = field(default_factory=MaskOptions)  # the run's (`masks.photo_mask`)
    track: Optional["Track"] = None  # a plate's solved camera path (`scene` = its keyframes)
    plate: Optional["Plate"] = None  # the plate it was solved from
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
    from .device import resolve_device
    from .weights import load_model as load_weights

    raise_if_cancelled(cancel)
    report = for_stage(progress, "model")
    report(0, 1)
    kwargs = {"model_dir": params.model_dir} if params.model_dir else {}
    model = load_weights(params.model, device=resolve_device(params.device),
                         progress=lambda done, total: report(done >> 20, total >> 20),
                         allow_download=params.allow_download,
                         **kwargs)  # a first run downloads: progress in MB (fits an int32)
    report(1, 1)
    return model


def network_predictor(model, params: JobParams) -> "NetworkPredictor":
    """The loaded network as the run's predictor, on the device and at the precision of
    `params`."""
    from .device import resolve_device, resolve_dtype
    from .predictor import NetworkPredictor, trained_image_size

    device = resolve_device(params.device)
    return NetworkPredictor(model, device, resolve_dtype(params.precision, device),
                            params.batch_size, trained_image_size(model))


def run(params: JobParams, progress: Optional[StageProgress] = None,
        cancel: Optional[Cancel] = None, predictor: "Optional[Predictor]" = None) -> Result:
    """Load photos, pair them, predict, align. Synchronous.

    `predictor` (see `core.predictor`) turns pairs into point maps; without one, the network
    of `params.model` is loaded and used. `progress(stage, done, total)` reports "model" (MB
    while a released model downloads, else 0/1 then 1/1), "images", "pairs", "align" (the
    Blender side adds "import"); `cancel()` is checked between every batch and iteration and
    raises `core.errors.Cancelled`. Raises `Dust3rError` for bad input, before long work
    wherever it can be known up front.
    """
    params.validate()
    check_photos(params)
    seconds: dict[str, float] = {}
    with memory_errors():
        t0 = time.perf_counter()
        if predictor is None:
            predictor = network_predictor(load_model(params, progress, cancel), params)
        seconds["model"] = time.perf_counter() - t0
        reconstruct = _reconstruct if params.sequence is None else _reconstruct_plate
        return reconstruct(params, predictor, progress, cancel, seconds)


def check_photos(params: JobParams) -> None:
    """Every photo and known camera checked from the file headers (milliseconds a photo),
    and every mask read and checked against its photo, before a model is loaded or
    downloaded: `Dust3rError` naming the file. A sequence: the plate and its frame range."""
    from .images import plan_images
    from .masks import network_masks
    from .options import released

    model = released(params.model)
    size = params.image_size or (model.image_size if model else 512)
    if params.sequence is not None:
        from .frames import frame_photo, frame_range, open_plate
        from .masks import frame_masks

        plate = open_plate(params.photos)
        frames = frame_range(plate, params.sequence)
        frame_masks(plate, frames, [dict(frame=f, photo=frame_photo(plate, f, size))
                                    for f in frames], params.masks)
        return
    photos = plan_images(params.photos, size=size)
    _known_on_photos(params.known_cameras, photos)
    network_masks(photos, params.masks)


def _reconstruct(params: JobParams, predictor: "Predictor", progress, cancel,
                 seconds: dict[str, float]) -> Result:
    from .align import global_align
    from .device import resolve_device
    from .images import enlarged_note, load_images
    from .masks import network_masks
    from .pairs import make_pairs

    t0 = time.perf_counter()
    report = for_stage(progress, "images")
    report(0, 1)
    images = load_images(params.photos, size=params.image_size or predictor.image_size)
    report(1, 1)
    raise_if_cancelled(cancel)
    known = _known_on_photos(params.known_cameras, [view["photo"] for view in images])
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
        pairwise, niter=params.niter, lr=params.lr, schedule=params.schedule,
        min_conf_thr=params.min_conf_thr, clean=params.clean, shared_focal=params.shared_focal,
        known_poses=_per_image(known, "c2w"), known_focals=_per_image(known, "focal"),
        known_pp=_per_image(known, "pp"),
        masks=masks,
        progress=for_stage(progress, "align"), cancel=cancel,
        device=resolve_device(params.device),
        early_stop_patience=params.early_stop_patience or None)
    seconds["align"] = time.perf_counter() - t0

    options = params.import_options
    if params.has_known_poses and not options.scale:
        options = replace(options, scale=1.0)  # the user's cameras fix the scale and frame
    enlarged = enlarged_note([view["photo"] for view in images])
    return Result(scene, options, len(pairs), seconds,
                  tuple(notes(params.scene_graph, len(images), params.has_known_poses))
                  + tuple(mask_notes) + ((enlarged,) if enlarged else ()), params.masks)


def _reconstruct_plate(params: JobParams, predictor: "Predictor", progress, cancel,
                       seconds: dict[str, float]) -> Result:
    """A plate (`params.sequence`): its frames in range, solved into one camera path."""
    from .frames import frame_range, load_frames, open_plate
    from .masks import frame_masks
    from .track import solve_track

    t0 = time.perf_counter()
    plate = open_plate(params.photos)
    frames = frame_range(plate, params.sequence)
    views = load_frames(plate, frames, params.image_size or predictor.image_size,
                        progress=for_stage(progress, "images"), cancel=cancel)
    masks, mask_notes = frame_masks(plate, frames, views, params.masks)
    seconds["images"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pairs = _PairCounter(predictor)
    track = solve_track(views, pairs, params, params.sequence, progress, cancel, masks)
    seconds["solve"] = time.perf_counter() - t0
    return Result(track.scene, params.import_options, pairs.count, seconds, tuple(mask_notes),
                  params.masks, track, plate, params.sequence)


@dataclass
class _PairCounter:
    """The predictor, counting the pairs it is given (a plate's keyframe and in-between
    pairs, for `Result.n_pairs`)."""

    predictor: "Predictor"
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
    from .inference import OUT_OF_MEMORY_ADVICE

    try:
        yield
    except MemoryError as exc:
        raise OutOfMemory(f"Out of memory. {OUT_OF_MEMORY_ADVICE}") from exc
    except RuntimeError as exc:
        if isinstance(exc, Dust3rError) or "out of memory" not in str(exc).lower():
            raise
        import torch

        torch.cuda.empty_cache()
        raise OutOfMemory(f"Out of GPU memory. {OUT_OF_MEMORY_ADVICE}") from exc
