"""`global_align`: pairwise point maps in, one consistent `Scene` out."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

import numpy as np
import torch

from ..errors import AlignmentError, raise_if_cancelled
from ..progress import Cancel, Progress
from ..scene import Scene
from ..settings import AlignSettings
from .clean import clean_pointcloud
from .edge_loss import pack_edges
from .geometry import unproject
from .init import check_connected, mst_init
from .inputs import Pairwise, read_pairwise
from .known import read_known
from .optimizer import SceneParameters, optimize
from .pair_viewer import pair_view, single_view, symmetric_pair

def global_align(pairwise: Mapping[str, Any], settings: AlignSettings = AlignSettings(), *,
                 known_poses: Any = None, known_focals: Any = None, known_pp: Any = None,
                 shared_focal: bool = False, masks: Any = None,
                 progress: Optional[Progress] = None,
                 cancel: Optional[Cancel] = None, device: str | torch.device = "cpu") -> Scene:
    """Align the pairwise predictions (the `inference()` layout) into one scene, optimised
    as `settings` say (`core.settings.AlignSettings`: the official parameters by default).

    One image (paired with itself): a camera at the origin and the predicted points. Two
    images paired both ways (and no known poses): the official two-view result, no
    optimisation. Otherwise: spanning-tree initialisation, then `settings.niter` Adam
    iterations.

    Per-image options are sequences (None = unknown) or dicts {image index: value}:
    `known_poses` c2w 4x4 (OpenCV axes); `known_focals`, `known_pp` (x, y) in pixels of the
    original photo when the views carry `photo`, else of the network image; `masks` bool
    [H, W] in the network image (True = use the pixel). `min_conf_thr` applies to the raw
    confidence. `progress(iteration, niter)` is called after every iteration (the losses are
    in `Scene.loss_trace`) and `cancel()` checked before each; `early_stop_patience` stops
    once the loss has not improved by 0.01 % for that many iterations (off by default, as in
    the official code).
    """
    niter, min_conf_thr, clean = settings.niter, settings.min_conf_thr, settings.clean
    device = torch.device(device)
    raise_if_cancelled(cancel)
    pw = read_pairwise(pairwise, device, masks)
    known = read_known(known_poses, known_focals, known_pp, shared_focal, pw.photos,
                       pw.shapes)
    check_connected(pw)
    for k, conf in enumerate(pw.im_conf):
        if not bool((conf > min_conf_thr).any()):
            raise AlignmentError(f"image {k} has no pixel with confidence above min_conf_thr="
                                 f"{min_conf_thr} (highest {float(conf.max()):.3g}); lower the "
                                 "threshold or leave this photo out")
    pp = torch.tensor([known.principal_point(k, s) for k, s in enumerate(pw.shapes)],
                      dtype=torch.float64)

    trace = np.zeros(0, np.float32)
    pair = symmetric_pair(pw)
    if pw.n_images == 1:
        c2w, focals, depth = single_view(pw, known, shared_focal)
        start = None
    elif pair is not None and known.n_poses == 0:
        c2w, focals, depth = pair_view(pw, known, pair, min_conf_thr, shared_focal)
        start = None
    else:
        params = SceneParameters(mst_init(pw, known, min_conf_thr, shared_focal, cancel), known,
                                 pack_edges(pw, pp, cancel), shared_focal, device)
        start = _decode(params, pw)
        trace = optimize(params, niter, settings.lr, settings.schedule, progress, cancel,
                         settings.early_stop_patience or None)
        c2w, focals, depth = _decode(params, pw)
        del params  # the packed pairs, as large as the input: free them before the outputs

    scene = _scene(pw, c2w, focals, depth, pp, min_conf_thr, clean)
    if start is None:  # nothing to optimise: the initial scene is the result
        scene.init = dataclasses.replace(scene)
    else:
        scene.init = _scene(pw, *start, pp, min_conf_thr, clean=False)
    scene.loss_trace = trace
    return scene


def _decode(params: SceneParameters, pw: Pairwise):
    """(c2w, focals, per-image depth [H, W]) of the current parameters."""
    with torch.no_grad():
        depth: list = [None] * pw.n_images
        for group, maps in zip(params.sides.groups, params.depthmaps()):
            for k, d in zip(group.images, maps):
                depth[k] = d.reshape(group.shape)
        return params.c2w().double(), params.focal_lengths().double(), depth


def _stack(maps: list[np.ndarray]):
    return np.stack(maps) if len({m.shape for m in maps}) == 1 else maps


def _outputs(shapes: list[tuple[int, int]], tail: tuple = (), dtype=np.float32):
    """An output field (one [N, H, W, ...] array when all images share a shape, else a list)
    and the per-image arrays to fill it through, so that nothing is stacked afterwards."""
    if len(set(shapes)) == 1:
        stacked = np.empty((len(shapes),) + shapes[0] + tail, dtype)
        return stacked, list(stacked)
    arrays = [np.empty(shape + tail, dtype) for shape in shapes]
    return arrays, arrays


def _scene(pw: Pairwise, c2w: torch.Tensor, focals: torch.Tensor, depth: list[torch.Tensor],
           pp: torch.Tensor, min_conf_thr: float, clean: bool) -> Scene:
    c2w, focals, pp = c2w.to(pw.device), focals.to(pw.device), pp.to(pw.device)
    depth = [d.to(pw.device, torch.float32) for d in depth]
    bad = [k for k in range(pw.n_images)
           if not (bool(torch.isfinite(c2w[k]).all()) and bool(torch.isfinite(focals[k]))
                   and float(focals[k]) > 0 and bool(torch.isfinite(depth[k]).all()))]
    if bad:
        raise AlignmentError(f"the alignment produced invalid cameras or depths for images {bad}; "
                             "the pairwise predictions may be inconsistent")
    depthmaps, depth_out = _outputs(pw.shapes)
    pts3d, pts_out = _outputs(pw.shapes, (3,))
    for k, d in enumerate(depth):
        depth_out[k][...] = d.cpu().numpy()
        points = unproject(d, focals[k].float(), pp[k].float(), c2w[k].float())
        pts_out[k][...] = points.cpu().numpy()
    conf = pw.im_conf
    if clean:
        points = [torch.from_numpy(p).to(pw.device) for p in pts_out]  # no copy on the CPU
        conf = clean_pointcloud(conf, depth, points, c2w.float(), focals.float(), pp.float())
    confidence, conf_out = _outputs(pw.shapes)
    masks, mask_out = _outputs(pw.shapes, dtype=bool)
    for k, c in enumerate(conf):
        conf_out[k][...] = c.cpu().numpy()
        np.greater(conf_out[k], min_conf_thr, out=mask_out[k])
    return Scene(
        c2w=c2w.cpu().numpy().astype(np.float32),
        focals=focals.cpu().numpy().astype(np.float32),
        pp=pp.cpu().numpy().astype(np.float32),
        depthmaps=depthmaps, pts3d=pts3d, confidence=confidence, masks=masks,
        colors=None if pw.colors is None else _stack(pw.colors),
        photos=list(pw.photos))
