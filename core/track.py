"""A plate's camera track: every frame of a shot solved into one camera path.

Solving hundreds of frames with one global alignment would take memory in proportion to
their pairs, so the shot is solved in two steps (`plan_keyframes` says which frames do what):

1. Keyframes, every k-th frame and always the last, are aligned together by the full
   aligner (`core.align.global_align`) on a pair graph for sequences (`core.pairs.
   sequence_graph`, or the user's). k is the user's, or the smallest whose keyframe
   alignment fits KEYFRAME_MEMORY (`alignment_bytes`).
2. Every other frame gets its own solved camera, not an interpolation: it is paired with its
   two neighbouring keyframes (both ways) and aligned with those keyframes' cameras held
   fixed (known poses and focals), BATCH_FRAMES frames at a time so that memory stays flat.

Focal: one for the whole shot by default (the keyframes share one, the in-between frames
take it as known); `zoom` solves one per frame; a known lens (`lens_mm` on `sensor_mm`) is
lens / sensor * plate width pixels, kept exactly for every frame. The principal point is
the plate's centre. Cameras are in the keyframe alignment's world, intrinsics in pixels of
the plate.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
import torch

from .align import global_align
from .cameras import checked_focal
from .errors import Dust3rError, raise_if_cancelled
from .pairs import fit_graph, pair_indices, sequence_graph
from .progress import Cancel, StageProgress, for_stage
from .scene import Scene
from .settings import AlignSettings, SequenceOptions

if TYPE_CHECKING:
    from .predictor import Predictor

KEYFRAME_MEMORY = 3 << 30  # bytes the keyframe alignment may take (the automatic step)
BATCH_FRAMES = 8  # in-between frames aligned together (with their keyframes)
# Memory of an alignment per network pixel, measured by bench/track.py: per pair, its
# outputs (points and confidence of both sides), the collated view images of both sides and
# the aligner's packed sides; per image, its parameters, optimiser state and Scene.
PAIR_BYTES_PER_PIXEL = 88
IMAGE_BYTES_PER_PIXEL = 120


@dataclass
class Track:
    """The solved camera of every frame of a shot."""

    frames: tuple[int, ...]  # every solved frame number, ascending
    keyframes: tuple[int, ...]  # the frames solved by the full aligner
    c2w: np.ndarray  # [F, 4, 4] float64, OpenCV axes, reconstruction world
    focals: np.ndarray  # [F] pixels of the plate frame (W x H)
    pp: np.ndarray  # [F, 2] pixels of the plate frame (OpenCV, centres at integers)
    size: tuple[int, int]  # plate (W, H)
    # [F] the median raw network confidence (>= 1, higher = better) over the frame's pairs
    # of the median over each pair's pixels of that frame: low where the network was unsure
    confidence: np.ndarray
    scene: "Scene"  # the keyframes' Scene (its point cloud is the shot's cloud)


@dataclass(frozen=True)
class KeyframePlan:
    """Which frames are keyframes, how they are paired, and the in-between batches.

    Frames are positions 0..F-1 in the solved frames; pairs are (i, j) positions in
    `keyframes`, in the order the network sees them.
    """

    n_frames: int
    step: int  # every step-th frame is a keyframe (and the last)
    keyframes: tuple[int, ...]
    graph: str  # the keyframes' pair graph
    keyframe_pairs: tuple[tuple[int, int], ...]
    batches: tuple[tuple[int, ...], ...]  # in-between frames aligned together
    keyframe_bytes: int  # `alignment_bytes` of the keyframe alignment

    def neighbours(self, frame: int) -> tuple[int, int]:
        """The keyframes (positions) just before and after an in-between frame."""
        after = int(np.searchsorted(self.keyframes, frame))
        return self.keyframes[after - 1], self.keyframes[after]

    def batch_images(self, batch: Sequence[int]) -> list[int]:
        """The frames (positions) one batch aligns: its frames and their keyframes."""
        return sorted({k for f in batch for k in self.neighbours(f)} | set(batch))

    def batch_pairs(self, batch: Sequence[int]) -> list[tuple[int, int]]:
        """Each frame with both its keyframes, both ways, as positions in `batch_images`."""
        local = {f: n for n, f in enumerate(self.batch_images(batch))}
        pairs = [(local[f], local[k]) for f in batch for k in self.neighbours(f)]
        return pairs + [(j, i) for i, j in pairs]

    @property
    def encoder_passes(self) -> int:
        """Images the network encodes: the keyframes once, then every batch's images."""
        return len(self.keyframes) + sum(len(self.batch_images(b)) for b in self.batches)

    @property
    def decoder_passes(self) -> int:
        """Pairs the network decodes (one pass gives both sides of a pair)."""
        return len(self.keyframe_pairs) + sum(len(self.batch_pairs(b)) for b in self.batches)


def alignment_bytes(n_images: int, n_pairs: int, shape: tuple[int, int]) -> int:
    """Estimated peak memory of aligning n_images network images of `shape` (H, W) from
    n_pairs pairs (see PAIR_BYTES_PER_PIXEL)."""
    pixels = shape[0] * shape[1]
    return pixels * (n_pairs * PAIR_BYTES_PER_PIXEL + n_images * IMAGE_BYTES_PER_PIXEL)


def keyframe_positions(n_frames: int, step: int) -> tuple[int, ...]:
    """Every step-th frame from the first, and always the last."""
    return tuple(sorted(set(range(0, n_frames, step)) | {n_frames - 1}))


def plan_keyframes(n_frames: int, shape: tuple[int, int], keyframe_step: int = 0,
                   pair_graph: str = "", budget: int = KEYFRAME_MEMORY) -> KeyframePlan:
    """The plan of a shot of n_frames network images of `shape` (H, W).

    `keyframe_step` 0 picks the smallest step whose keyframe alignment (`alignment_bytes`)
    fits `budget` (two keyframes, the first and last frames, if none does). `pair_graph` ""
    pairs the keyframes by `core.pairs.sequence_graph` of their count; any graph string
    overrides it. `Dust3rError` for fewer than two frames or an unusable graph.
    """
    if n_frames < 2:
        raise Dust3rError(f"A camera track needs at least two frames, not {n_frames}")
    if keyframe_step < 0:
        raise Dust3rError(f"The keyframe step must be 0 (automatic) or more, not {keyframe_step}")
    steps = [keyframe_step] if keyframe_step else range(1, n_frames)
    for step in steps:
        keyframes = keyframe_positions(n_frames, step)
        n_keys = len(keyframes)
        graph = pair_graph or sequence_graph(n_keys)
        try:
            pairs = tuple(pair_indices(n_keys, fit_graph(graph, n_keys)))
        except ValueError as exc:  # a malformed graph, or e.g. "oneref-9" with 5 keyframes
            raise Dust3rError(f"The pair graph of the {n_keys} keyframes: {exc}") from exc
        needed = alignment_bytes(n_keys, len(pairs), shape)
        if needed <= budget:
            break
    inbetween = sorted(set(range(n_frames)) - set(keyframes))
    batches = tuple(tuple(inbetween[k:k + BATCH_FRAMES])
                    for k in range(0, len(inbetween), BATCH_FRAMES))
    return KeyframePlan(n_frames, step, keyframes, graph, pairs, batches, needed)


def solve_track(views: list[dict], predictor: "Predictor", alignment: AlignSettings,
                sequence: SequenceOptions, device: str | torch.device = "cpu",
                progress: Optional[StageProgress] = None, cancel: Optional[Cancel] = None,
                masks: Optional[Sequence[Optional[np.ndarray]]] = None) -> Track:
    """Solve the camera of every frame of a plate (module docstring).

    `views`: the frames' network views (as `core.images.load_images` makes them, each with
    its `photo` and a `frame` number); `alignment`: how every alignment optimises (the
    keyframes' cleans its cloud, the in-between frames' do not); `sequence`: the keyframe
    step, pair graph, zoom and lens; `masks`: per view (in the order given) a bool [H, W]
    network mask or None (`core.masks.frame_masks`). Progress: "pairs" (the keyframe pairs
    through the predictor), "align" (keyframe alignment iterations), "frames" (frames solved
    / total); `cancel()` is checked between batches and at every iteration (raises
    `core.errors.Cancelled`).
    """
    order = sorted(range(len(views)), key=lambda k: views[k]["frame"])
    views = [views[k] for k in order]
    masks = [None] * len(views) if masks is None else [masks[k] for k in order]
    frames = tuple(int(view["frame"]) for view in views)
    if len(set(frames)) != len(frames):
        raise Dust3rError(f"Frame numbers repeat among the views: {frames}")
    size = tuple(views[0]["photo"].size) if views else (0, 0)
    plan = plan_keyframes(len(views), tuple(views[0]["img"].shape[-2:]) if views else (0, 0),
                          sequence.keyframe_step, sequence.pair_graph)
    lens = sequence.lens_mm / sequence.sensor_mm * size[0] if sequence.lens_mm > 0 else None
    # The principal point is the plate's centre, as a cine camera's lens sits on its sensor
    # (shift 0): the aligner's own default, W/2 in pixel-centre coordinates, is half a pixel
    # off, which reprojects the shot 0.5 px x (plate / network size) off.
    centre = ((size[0] - 1) / 2, (size[1] - 1) / 2)
    zoom = sequence.zoom  # never with a known lens (`SequenceOptions` refuses both)
    report = for_stage(progress, "frames")
    report(0, len(frames))

    n = len(frames)
    c2w, focals = np.zeros((n, 4, 4)), np.zeros(n)
    pp, confidence = np.zeros((n, 2)), np.zeros(n)

    keys, is_key = plan.keyframes, np.isin(np.arange(n), plan.keyframes)
    pairwise = predictor(_pairs(views, keys, plan.keyframe_pairs), for_stage(progress, "pairs"),
                         cancel)
    scene = global_align(pairwise, alignment, progress=for_stage(progress, "align"),
                         cancel=cancel, device=device, masks=[masks[k] for k in keys],
                         known_pp={k: centre for k in range(len(keys))},
                         shared_focal=lens is None and not zoom,
                         known_focals={k: lens for k in range(len(keys))} if lens else None)
    confidence[list(keys)] = _frame_confidence(pairwise, len(keys))
    del pairwise  # the largest thing here: free it before the in-between frames
    _check_focals(scene.photo_focals, size)  # the in-between frames build on them
    c2w[list(keys)] = scene.c2w
    focals[list(keys)] = scene.photo_focals
    pp[list(keys)] = scene.photo_pp
    if not zoom:  # one focal for the shot: the user's exactly, else the keyframes'
        focals[:] = lens if lens else float(np.exp(np.log(scene.photo_focals).mean()))
    done = len(keys)
    report(done, n)

    in_between = replace(alignment, clean=False)  # their clouds are not imported

    for batch in plan.batches:
        raise_if_cancelled(cancel)
        images = plan.batch_images(batch)
        pairwise = predictor(_pairs(views, images, plan.batch_pairs(batch)), None, cancel)
        fixed = {local: f for local, f in enumerate(images) if is_key[f]}
        known = fixed if zoom else dict(enumerate(images))
        solved = global_align(pairwise, in_between, cancel=cancel, device=device,
                              masks=[masks[f] for f in images],
                              known_pp={local: centre for local in range(len(images))},
                              known_poses={local: c2w[f] for local, f in fixed.items()},
                              known_focals={local: focals[f] for local, f in known.items()})
        own = [local for local, f in enumerate(images) if not is_key[f]]
        frame_of = [images[local] for local in own]
        confidence[frame_of] = _frame_confidence(pairwise, len(images))[own]
        c2w[frame_of] = solved.c2w[own]
        pp[frame_of] = solved.photo_pp[own]
        if zoom:
            focals[frame_of] = solved.photo_focals[own]
        done += len(batch)
        report(done, n)
    return Track(frames, tuple(frames[k] for k in keys), c2w, focals, pp, size, confidence,
                 scene)


def _check_focals(focals: np.ndarray, size: tuple[int, int]) -> None:
    """`Dust3rError` when the keyframes were solved with a focal no lens gives (the network
    saw no usable geometry), before the in-between frames are built on it."""
    for focal in np.asarray(focals, np.float64):
        try:
            checked_focal(float(focal), "focal", max(size))
        except ValueError:
            raise Dust3rError(
                f"The keyframes were solved with a focal of {focal:.3g} pixels for a "
                f"{size[0]}x{size[1]} plate, which no lens gives: the network found no usable "
                "geometry in these frames (too little parallax or texture?). Give the known "
                "lens, or another frame range") from None


def _pairs(views: list[dict], images: Sequence[int], pairs: Sequence[tuple[int, int]]) -> list:
    """The view pairs of `pairs` (positions in `images`), each view renumbered to its position
    (the aligner needs images 0..N-1; the views' pixels are shared, not copied)."""
    local = [dict(views[f], idx=n, instance=str(n)) for n, f in enumerate(images)]
    return [(local[i], local[j]) for i, j in pairs]


def _frame_confidence(pairwise: dict, n_images: int) -> np.ndarray:
    """[n_images] the median over each image's pair sides of that side's median raw
    confidence (the `Track.confidence` of a frame)."""
    sides: list[list[float]] = [[] for _ in range(n_images)]
    for view, pred in (("view1", "pred1"), ("view2", "pred2")):
        for image, conf in zip(pairwise[view]["idx"], pairwise[pred]["conf"]):
            sides[int(image)].append(float(conf.float().median()))
    return np.array([np.median(s) for s in sides])
