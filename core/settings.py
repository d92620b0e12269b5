"""Every setting of a run, as plain checked dataclasses: what the panel, the command line and
scripts fill in, and what the pipeline reads (`core.pipeline.run`).

    JobParams       one reconstruction: photos (or a plate), model, pairs, alignment, and
      KnownCamera     what the user knows of a photo's camera,
      ImportOptions   how the result becomes Blender data,
      MaskOptions     which pixels take part,
      SequenceOptions how a plate is solved as one moving camera.

Light on purpose (numpy and the standard library only): the Blender side imports it while
registering, before torch, PIL or PyAV may be installed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from .cameras import checked_focal, checked_point, checked_pose
from .checks import check, real, whole
from .errors import Dust3rError
from .options import DEVICES, PRECISIONS, SCHEDULES, ids
from .pairs import fit_graph, pair_indices


@dataclass(frozen=True)
class MaskOptions:
    """Where a run's masks come from; the default is no masks."""

    folder: str = ""  # one mask image per photo, named after the photo's stem; "" = none
    alpha: bool = False  # the photo's own alpha channel: transparent = ignore
    invert: bool = False  # swap keep and ignore

    def __post_init__(self) -> None:
        self.validate()

    @property
    def source(self) -> str:
        """The id of `core.options.MASK_SOURCES`: "none", "alpha" or "folder"."""
        return "folder" if self.folder else "alpha" if self.alpha else "none"

    def validate(self) -> None:
        """`Dust3rError` for options no run could use (the file system is not looked at)."""
        if not isinstance(self.folder, str) or not isinstance(self.alpha, bool) \
                or not isinstance(self.invert, bool):
            raise Dust3rError(f"Masks: folder must be a path and alpha, invert True or False, "
                              f"not {self!r}")
        if self.folder and self.alpha:
            raise Dust3rError("Masks come from a mask folder or from the photos' alpha "
                              "channels, not both: choose one")
        if self.invert and self.source == "none":
            raise Dust3rError("Invert masks needs masks: a mask folder or the photos' alpha "
                              "channels")


@dataclass(frozen=True)
class SequenceOptions:
    """How a plate is solved as one moving camera (`JobParams.sequence`; None = stills)."""

    frame_start: Optional[int] = None  # None = the plate's first frame
    frame_end: Optional[int] = None  # None = its last
    frame_step: int = 1
    keyframe_step: int = 0  # 0 = automatic (core.track picks it from the memory budget)
    zoom: bool = False  # one focal per frame instead of one for the shot
    lens_mm: float = 0.0  # > 0: a known lens, kept exactly (with sensor_mm)
    sensor_mm: float = 36.0  # sensor width in mm (camera report), used with lens_mm
    pair_graph: str = ""  # "" = the automatic sequence graph (core.track)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """`Dust3rError` for values no plate could use (the plate itself is not looked at)."""
        check([
            (self.frame_start is None or whole(self.frame_start, -(2 ** 31)),
             f"The first frame must be a whole number, not {self.frame_start!r}"),
            (self.frame_end is None or whole(self.frame_end, -(2 ** 31)),
             f"The last frame must be a whole number, not {self.frame_end!r}"),
            (whole(self.frame_step, 1),
             f"The frame step must be a whole number, 1 or more, not {self.frame_step!r}"),
            (whole(self.keyframe_step, 0), "The keyframe step must be 0 (automatic) or a whole "
                                           f"number of frames, not {self.keyframe_step!r}"),
            (isinstance(self.zoom, bool), f"Zoom must be True or False, not {self.zoom!r}"),
            (real(self.lens_mm, 0),
             f"The lens must be 0 (solve for it) or a focal length in mm, not {self.lens_mm!r}"),
            (real(self.sensor_mm, 0, positive=True),
             f"The sensor width must be a positive number of mm, not {self.sensor_mm!r}"),
            (not (self.zoom and self.lens_mm), "A known lens is constant: zoom (one focal per "
                                               "frame) and a lens in mm exclude each other"),
            (isinstance(self.pair_graph, str),
             f"The pair graph must be a string, not {self.pair_graph!r}"),
        ])
        if self.frame_start is not None and self.frame_end is not None \
                and self.frame_end < self.frame_start:
            raise Dust3rError(f"The frame range {self.frame_start}-{self.frame_end} ends before "
                              "it starts")


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
    if len(size) != 2 or not all(whole(v, 1) for v in size):
        raise ValueError(f"{what}: image size must be two whole numbers (W, H), not {value!r}")
    return int(size[0]), int(size[1])


@dataclass(frozen=True)
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

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise `Dust3rError` for options no import could use."""
        check([
            (whole(self.max_points, 0), "Max points must be a whole number, 0 (all) or more, "
                                         f"not {self.max_points!r}"),
            (real(self.scale, 0), "Scale must be 0 (automatic) or a positive number of Blender "
                                   f"units per reconstruction unit, not {self.scale!r}"),
            (real(self.point_radius, 0), "Point radius must be 0 (automatic) or a positive "
                                          f"length, not {self.point_radius!r}"),
            (real(self.confidence_threshold, 0),
             f"The confidence threshold must be 0 or more, not {self.confidence_threshold!r}"),
            (whole(self.depth_stride, 1), "Depth stride must be a whole number of pixels, 1 "
                                           f"or more, not {self.depth_stride!r}"),
        ])


@dataclass(frozen=True)
class AlignSettings:
    """How the global aligner optimises (`core.align.global_align`), for photos and for a
    plate's keyframes and in-between frames alike (the official parameters by default)."""

    niter: int = 300
    lr: float = 0.01
    schedule: str = "cosine"
    min_conf_thr: float = 3.0  # on the raw network confidence
    clean: bool = True  # remove floaters seen in front of other cameras' depth
    early_stop_patience: int = 0  # stop once the loss stalls this many iterations; 0 = off

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """`Dust3rError` for settings no alignment could use."""
        check([
            (self.schedule in ids(SCHEDULES),
             f"schedule must be one of {ids(SCHEDULES)}, not {self.schedule!r}"),
            (whole(self.niter, 0), f"iterations must be 0 or more, not {self.niter!r}"),
            (real(self.lr, 0, positive=True), f"learning rate must be positive, not {self.lr!r}"),
            (real(self.min_conf_thr, 0),
             f"confidence threshold must be 0 or more, not {self.min_conf_thr!r}"),
            (isinstance(self.clean, bool), f"clean must be True or False, not {self.clean!r}"),
            (whole(self.early_stop_patience, 0),
             f"early stop must be 0 (off) or a number of iterations, not "
             f"{self.early_stop_patience!r}"),
        ])


@dataclass(frozen=True)
class JobParams:
    """Every setting of one reconstruction, copied from the UI on the main thread; checked
    when it is made (`Dust3rError`), so that whatever holds one holds a usable one. The
    photos themselves are checked when a run opens them (`core.pipeline.prepare`)."""

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

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise `Dust3rError` for settings no run could use (before any work starts)."""
        _ = self.alignment  # AlignSettings checks its own fields
        check([
            (self.device in ids(DEVICES), f"device must be one of {ids(DEVICES)}, not "
                                          f"{self.device!r}"),
            (self.precision in ids(PRECISIONS),
             f"precision must be one of {ids(PRECISIONS)}, not {self.precision!r}"),
            (whole(self.batch_size, 1), f"batch size must be at least 1, not {self.batch_size!r}"),
            (self.image_size == 0 or whole(self.image_size, 64) and self.image_size <= 2048,
             f"image size must be 0 (the model's) or 64 to 2048 pixels, not {self.image_size!r}"),
            (bool(self.model), "No model given"),
            (isinstance(self.import_options, ImportOptions),
             f"import_options must be ImportOptions, not {self.import_options!r}"),
            (isinstance(self.masks, MaskOptions), f"masks must be MaskOptions, not {self.masks!r}"),
            (self.sequence is None or isinstance(self.sequence, SequenceOptions),
             f"sequence must be SequenceOptions or None, not {self.sequence!r}"),
            (self.sequence is None or isinstance(self.photos, (str, os.PathLike)),
             f"A sequence's plate is one folder, frame pattern or movie file, not a list: "
             f"{self.photos!r}"),
        ])
        try:
            pair_indices(1, self.scene_graph)  # the graph string's syntax
        except ValueError as exc:
            raise Dust3rError(str(exc)) from exc
        for index, known in self.known_cameras.items():
            if not whole(index, 0):
                raise Dust3rError(f"A known camera is keyed by {index!r}: use the photo's index "
                                  "(0, 1, ...)")
            known.checked(f"the known camera of photo {index}")

    @property
    def alignment(self) -> AlignSettings:
        """The alignment settings of the run (photos and plates alike)."""
        return AlignSettings(self.niter, self.lr, self.schedule, self.min_conf_thr, self.clean,
                             self.early_stop_patience)

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
