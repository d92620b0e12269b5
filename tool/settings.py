"""One run's settings -> `core.settings.JobParams`, for the operator and cli.py alike.

The panel's settings (`scene.dust3r`) and cli.py's parsed arguments carry the same names
(`niter`, `import_points`, `scene_graph` with `window`/`reference`/`noncyclic`, ...), so one
function turns either into a run; the model comes from the preferences or the command line.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from ..core.errors import Dust3rError
from ..core.pairs import graph_string
from ..core.settings import ImportOptions, JobParams, KnownCamera, MaskOptions, SequenceOptions


@dataclass(frozen=True)
class ModelChoice:
    """Which network runs where, and whether it may be downloaded."""

    source: str  # released name, Hugging Face repo id, or a checkpoint file/folder
    folder: str  # where released models are downloaded and looked for ("" = default)
    device: str
    precision: str
    allow_download: bool  # Blender's "Allow Online Access"


def scene_graph(settings) -> str:
    """The core graph string of the pair settings ("swin-3-noncyclic", ...)."""
    return graph_string(settings.scene_graph, settings.window, settings.reference,
                        settings.noncyclic)


def mask_options(settings) -> MaskOptions:
    """The mask settings (`mask_source`: none | alpha | folder, `mask_folder`,
    `invert_masks`); Invert is ignored without a source (the panel hides it then)."""
    source = settings.mask_source
    if source == "folder" and not settings.mask_folder:
        raise Dust3rError("Masks from a folder: choose the mask folder")
    folder = ""
    if source == "folder":
        import bpy  # "//masks" is relative to the .blend file

        folder = bpy.path.abspath(settings.mask_folder)
    return MaskOptions(folder=folder, alpha=source == "alpha",
                       invert=bool(settings.invert_masks) and source != "none")


def sequence_options(settings) -> Optional[SequenceOptions]:
    """The plate settings (`input_type` PLATE or CLIP; cli.py: --sequence) as
    SequenceOptions, None for photos. A frame range end not in use (`use_frame_start`,
    `use_frame_end` off) is the plate's own; `auto_pairs` leaves the keyframes' pair graph
    to core.track, else it is the Pairs setting."""
    if settings.input_type == "PHOTOS":
        return None
    return SequenceOptions(
        frame_start=settings.frame_start if settings.use_frame_start else None,
        frame_end=settings.frame_end if settings.use_frame_end else None,
        frame_step=settings.frame_step, keyframe_step=settings.keyframe_step,
        zoom=settings.zoom, lens_mm=settings.lens_mm, sensor_mm=settings.sensor_mm,
        pair_graph="" if settings.auto_pairs else scene_graph(settings))


def job_params(settings, photos: Sequence[str] | str, model: ModelChoice,
               known_cameras: Optional[dict[int, KnownCamera]] = None) -> JobParams:
    """The JobParams of a run on `photos` (files, or one folder; a plate: its folder,
    pattern or movie file); `Dust3rError` for settings no run could use."""
    sequence = sequence_options(settings)
    return JobParams(
        photos=photos if isinstance(photos, str) else list(photos), model=model.source,
        model_dir=model.folder,
        allow_download=model.allow_download, device=model.device, precision=model.precision,
        scene_graph=scene_graph(settings), batch_size=settings.batch_size,
        niter=settings.niter, lr=settings.lr, schedule=settings.schedule,
        min_conf_thr=settings.min_conf_thr, clean=settings.clean,
        shared_focal=settings.shared_focal, early_stop_patience=settings.early_stop,
        image_size=settings.image_size, known_cameras=dict(known_cameras or {}),
        import_options=ImportOptions(
            collection_name=settings.collection_name, points=settings.import_points,
            cameras=settings.import_cameras, background_images=settings.background_images,
            point_radius=settings.point_radius, confidence_threshold=settings.min_conf_thr,
            max_points=settings.max_points, scale=settings.scale,
            set_active_camera=settings.set_active_camera,
            # a plate has no depth meshes: the panel hides them, cli.py refuses them
            depth_meshes=settings.depth_meshes and sequence is None,
            depth_stride=settings.depth_stride),
        masks=mask_options(settings), sequence=sequence)
