"""Photos in, aligned Scene out: every setting of a run in one plain object, and `run()`.

The Blender panel, the command line and scripts all fill a `JobParams` and call `run()`; the
panel does it on a worker thread through `core.jobs`. Nothing here touches bpy.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import numpy as np

from .errors import Dust3rError, OutOfMemory, raise_if_cancelled

if TYPE_CHECKING:  # the heavy modules (torch, PIL) load only when a run starts, so that the
    from .scene import Scene  # add-on registers before its dependencies are installed

Progress = Optional[Callable[[str, int, int], None]]  # (stage, done, total)
Cancel = Optional[Callable[[], bool]]
# predictor(pairs, progress, cancel) -> pairwise dict in the official inference() layout;
# replaces model loading and the network (ground-truth predictions, tests).
Predictor = Callable[[list, Callable[[int, int], None], Cancel], dict]

RELEASED_MODELS = ("512_dpt", "512_linear", "224_linear")
DEVICES = ("auto", "cuda", "cpu")
PRECISIONS = ("fp32", "bf16", "fp16")
SCHEDULES = ("cosine", "linear")
STAGES = ("model", "images", "pairs", "align", "import")


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


@dataclass
class ImportOptions:
    """How the Scene becomes Blender data (used by `importer.import_scene`)."""

    collection_name: str = ""  # "" = "DUSt3R <first photo's folder>"
    points: bool = True
    cameras: bool = True
    background_images: bool = True  # the EXIF-upright photo behind each camera
    point_radius: float = 0.0  # Blender units; 0 = about one pixel's footprint
    confidence_threshold: float = 0.0  # initial live threshold (min_conf_thr already applied)
    max_points: int = 0  # 0 = all; otherwise a random subset of this size
    scale: float = 0.0  # reconstruction -> Blender units; 0 = auto (known poses: 1)
    set_active_camera: bool = True  # make the first photo's camera the scene camera


@dataclass
class JobParams:
    """Every setting of one reconstruction, copied from the UI on the main thread."""

    photos: Sequence[str] | str = ()  # image files, or one folder
    model: str = "512_dpt"  # released name, Hugging Face repo id, or a local file/folder
    model_dir: str = ""  # where released checkpoints are downloaded and looked for
    device: str = "auto"
    precision: str = "fp32"
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

    def validate(self) -> None:
        """Raise `Dust3rError` for settings no run could use (before any work starts)."""
        checks = [
            (self.device in DEVICES, f"device must be one of {DEVICES}, not {self.device!r}"),
            (self.precision in PRECISIONS,
             f"precision must be one of {PRECISIONS}, not {self.precision!r}"),
            (self.schedule in SCHEDULES,
             f"schedule must be one of {SCHEDULES}, not {self.schedule!r}"),
            (self.batch_size >= 1, f"batch size must be at least 1, not {self.batch_size}"),
            (self.niter >= 0, f"iterations must not be negative, not {self.niter}"),
            (self.lr > 0, f"learning rate must be positive, not {self.lr}"),
            (self.min_conf_thr >= 0,
             f"confidence threshold must not be negative, not {self.min_conf_thr}"),
            (self.image_size >= 0, f"image size must not be negative, not {self.image_size}"),
            (bool(self.photos), "No photos given"),
            (bool(self.model), "No model given"),
        ]
        for ok, message in checks:
            if not ok:
                raise Dust3rError(message)

    @property
    def has_known_poses(self) -> bool:
        return any(k.c2w is not None for k in self.known_cameras.values())


@dataclass
class Result:
    """A finished run: the Scene, how to import it, and what it cost."""

    scene: "Scene"
    import_options: ImportOptions
    n_pairs: int
    seconds: dict[str, float]  # per stage

    def summary(self) -> str:
        total = sum(self.seconds.values())
        return f"{self.scene.n_images} photos, {self.n_pairs} pairs, {total:.1f} s"


def torch_dtype(precision: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def load_model(params: JobParams, progress: Progress = None, cancel: Cancel = None):
    """The network of `params.model` on the device of `params.device` (downloads if needed)."""
    from .device import resolve_device
    from .weights import load_model as load_weights

    raise_if_cancelled(cancel)
    report = progress or (lambda stage, done, total: None)
    report("model", 0, 1)
    kwargs = {"model_dir": params.model_dir} if params.model_dir else {}
    model = load_weights(params.model, device=resolve_device(params.device),
                         progress=lambda done, total: report("model", done >> 20, total >> 20),
                         **kwargs)  # a first run downloads: progress in MB (fits an int32)
    report("model", 1, 1)
    return model


def model_image_size(model, params: JobParams) -> int:
    """The network input size: the user's choice, else the one the model was trained at."""
    if params.image_size:
        return params.image_size
    size = getattr(model, "config", {}).get("img_size")  # [H, W] the model was trained at
    return int(max(size)) if size else 512


def run(params: JobParams, progress: Progress = None, cancel: Cancel = None,
        predictor: Optional[Predictor] = None, model=None) -> Result:
    """Load photos, pair them, predict (network or `predictor`), align. Synchronous.

    `progress(stage, done, total)` reports "model" (MB while a released model downloads,
    else 0/1 then 1/1), "images", "pairs", "align" (the Blender side adds "import"); `cancel()` is
    checked between every batch and iteration and raises `core.errors.Cancelled`.
    `model` is an already loaded network (the UI's cache); without it and without a
    `predictor` the model of `params` is loaded here. Raises `Dust3rError` for bad input.
    """
    params.validate()
    report = progress or (lambda stage, done, total: None)
    seconds: dict[str, float] = {}
    with memory_errors():
        t0 = time.perf_counter()
        if predictor is None and model is None:
            model = load_model(params, progress, cancel)
        seconds["model"] = time.perf_counter() - t0
        return _reconstruct(params, report, cancel, predictor, model, seconds)


def _reconstruct(params, report, cancel, predictor, model, seconds) -> Result:
    from .align import global_align
    from .images import load_images
    from .device import resolve_device
    from .inference import run_pairs
    from .pairs import make_pairs

    t0 = time.perf_counter()
    size = (params.image_size or 512) if predictor is not None else model_image_size(model, params)
    report("images", 0, 1)
    images = load_images(params.photos, size=size)
    report("images", 1, 1)
    raise_if_cancelled(cancel)
    known = _known_on_photos(params.known_cameras, [view["photo"] for view in images])
    try:
        pairs = make_pairs(images, scene_graph=params.scene_graph)
    except ValueError as exc:  # e.g. "oneref-7" with 5 photos
        raise Dust3rError(str(exc)) from exc
    seconds["images"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pair_progress = lambda done, total: report("pairs", done, total)  # noqa: E731
    if predictor is not None:
        pairwise = predictor(pairs, pair_progress, cancel)
    else:
        pairwise = run_pairs(model, pairs, device=resolve_device(params.device),
                             batch_size=params.batch_size, dtype=torch_dtype(params.precision),
                             progress=pair_progress, cancel=cancel)
    seconds["pairs"] = time.perf_counter() - t0
    raise_if_cancelled(cancel)

    t0 = time.perf_counter()
    scene = global_align(
        pairwise, niter=params.niter, lr=params.lr, schedule=params.schedule,
        min_conf_thr=params.min_conf_thr, clean=params.clean, shared_focal=params.shared_focal,
        known_poses=_per_image(known, "c2w"), known_focals=_per_image(known, "focal"),
        known_pp=_per_image(known, "pp"),
        progress=lambda done, total, *_: report("align", done, total), cancel=cancel,
        device=resolve_device(params.device),
        early_stop_patience=params.early_stop_patience or None)
    seconds["align"] = time.perf_counter() - t0

    options = params.import_options
    if params.has_known_poses and not options.scale:
        options = replace(options, scale=1.0)  # the user's cameras fix the scale and frame
    return Result(scene, options, len(pairs), seconds)


def _known_on_photos(known: dict[int, KnownCamera], photos: list) -> dict[int, KnownCamera]:
    """The known cameras with their intrinsics in pixels of the photos."""
    out = {}
    for i, k in known.items():
        if not 0 <= i < len(photos):
            raise Dust3rError(f"A known camera was given for image {i}, but there are only "
                              f"{len(photos)} photos")
        if k.image_size is None or (k.focal is None and k.pp is None):
            out[i] = k
            continue
        (w0, h0), (w, h) = photos[i].size, k.image_size
        if abs(w0 * h - h0 * w) > 0.01 * w0 * h:
            raise Dust3rError(f"The known camera of {photos[i].path} is {w}x{h} but the photo "
                              f"is {w0}x{h0}: their aspect ratios differ")
        sx, sy = w0 / w, h0 / h
        focal = None if k.focal is None else k.focal * (sx + sy) / 2
        pp = None if k.pp is None else ((k.pp[0] + 0.5) * sx - 0.5, (k.pp[1] + 0.5) * sy - 0.5)
        out[i] = KnownCamera(k.c2w, focal, pp)
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


class ProgressPrinter:
    """A `progress` callback for consoles: one line per stage and about every 10 %."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout
        self.last: tuple[str, int] = ("", -1)
        self.t0 = time.perf_counter()

    def __call__(self, stage: str, done: int, total: int) -> None:
        tenth = int(10 * done / total) if total else 0
        if (stage, tenth) == self.last:
            return
        self.last = (stage, tenth)
        count = f" {done}/{total}" if total else ""
        print(f"DUSt3R [{time.perf_counter() - self.t0:7.1f} s] {stage}{count}",
              file=self.stream, flush=True)
