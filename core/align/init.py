"""Initialisation of the global alignment: the spanning-tree walk of the official aligner.

The strongest pairs (mean confidence of one side times the other's) form a maximum spanning
tree; walking it from the strongest edge chains the pairwise point maps into the first
camera's frame with weighted Umeyama fits. Cameras the walk does not pose get a PnP, every
pair gets its similarity onto the chained points, and the scene is scaled so that the
pairwise scales have the geometric mean `BASE_SCALE`, or moved onto the known cameras
(with their scale when they give one).

Deliberate differences from the official code (spec section 8): each image's focal is
estimated from its own point map, not from the previously walked edge's (QUIRK); the
Umeyama fits are reweighted against confident outliers and run on an even sample of at most
`FIT_POINTS` pixels; the PnP is our own (pnp.py); known poses may be any subset.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from ..errors import AlignmentError, raise_if_cancelled
from ..progress import Cancel
from .geometry import (estimate_focal, invert_pose, pose_matrix, robust_similarity, sample_pixels,
                       transform)
from .inputs import Pairwise
from .known import KnownCameras
from .pnp import solve_pnp

BASE_SCALE = 0.5  # geometric mean of the pairwise scales (official base_scale)


@dataclass
class Initial:
    """Cameras, depth and pairwise similarities to start the optimisation from.

    Pair e maps its points x (camera i's frame) into the world as s_e (R_e x + t_e).
    """

    c2w: torch.Tensor  # [N, 4, 4] float64
    focals: torch.Tensor  # [N] float64, network pixels
    depth: list[torch.Tensor]  # [H, W] float32 per image
    pw_scale: torch.Tensor  # [E] float64
    pw_rot: torch.Tensor  # [E, 3, 3] float64
    pw_trans: torch.Tensor  # [E, 3] float64 (translation divided by the scale)
    metric: bool  # the known poses fix the scale (the pairwise scales are not normalised)


def check_connected(pw: Pairwise) -> None:
    n = pw.n_images
    ij = np.array(pw.edges).T
    graph = coo_matrix((np.ones(ij.shape[1]), (ij[0], ij[1])), shape=(n, n))
    count, label = connected_components(graph, directed=False)
    if count > 1:
        groups = [np.flatnonzero(label == c).tolist() for c in range(count)]
        raise AlignmentError(f"the image pairs do not connect all images: separate groups "
                             f"{groups}; use a denser scene graph (e.g. 'complete')")


def spanning_tree(pw: Pairwise, scores: list[float]) -> list[int]:
    """Edges of the maximum-score spanning tree, strongest first (as the official code)."""
    n = pw.n_images
    best: dict[tuple[int, int], int] = {}
    for e, (i, j) in enumerate(pw.edges):  # per unordered pair keep the stronger direction
        if i == j:
            continue
        key = (min(i, j), max(i, j))
        if key not in best or scores[e] > scores[best[key]]:
            best[key] = e
    candidates = sorted(best.values())
    rows = [pw.edges[e][0] for e in candidates]
    cols = [pw.edges[e][1] for e in candidates]
    graph = coo_matrix(([-scores[e] for e in candidates], (rows, cols)), shape=(n, n))
    tree = minimum_spanning_tree(graph).tocoo()
    lookup = {pw.edges[e]: e for e in candidates}
    chosen = [lookup[(int(r), int(c))] for r, c in zip(tree.row, tree.col)]
    return sorted(chosen, key=lambda e: -scores[e])


def mst_init(pw: Pairwise, known: KnownCameras, min_conf_thr: float, shared_focal: bool,
             cancel: Optional[Cancel] = None) -> Initial:
    """The starting point of the optimisation (module docstring); `cancel` is checked per pair."""
    n = pw.n_images
    scores = [pw.edge_score(e) for e in range(len(pw.edges))]
    pp = [known.principal_point(k, pw.shapes[k]) for k in range(n)]
    pts3d: list = [None] * n
    c2w: list = [None] * n
    _walk(pw, scores, pts3d, c2w, cancel)
    focals, estimated = initial_focals(pw, known, [_own_edge(pw, k, scores) for k in range(n)], pp,
                                       shared_focal)
    for k in range(n):
        if c2w[k] is None:  # only an image with no point map of its own can lack a focal
            c2w[k], focals[k] = _pnp(pw, k, pts3d[k], focals[k], pp[k], scores, min_conf_thr,
                                     refine_focal=not estimated[k] and not shared_focal)
    c2w = torch.stack(c2w)

    sims = []
    for e, (i, _) in enumerate(pw.edges):
        raise_if_cancelled(cancel)
        pts, conf = pw.edge(e)[:2]
        sims.append(robust_similarity(pts, pts3d[i], conf))
    pw_scale = torch.stack([s for s, _, _ in sims])
    pw_rot = torch.stack([r for _, r, _ in sims])
    pw_shift = torch.stack([t for _, _, t in sims])

    # the world: fitted onto the known cameras, scaled to the official base scale unless they fix it
    scale, rot, trans, metric = _similarity_to_known(c2w, known)
    if not metric:
        norm = BASE_SCALE / float(torch.exp(torch.log(pw_scale).mean()))
        scale, rot, trans, _ = _similarity_to_known(c2w, known, scale=norm)
    c2w = pose_matrix(rot @ c2w[:, :3, :3], scale * c2w[:, :3, 3] @ rot.T + trans)
    for k in range(n):
        if known.c2w[k] is not None:
            c2w[k] = known.c2w[k].to(c2w)
    pts3d = [p @ (scale * rot).T.float() + trans.float() for p in pts3d]
    pw_rot = rot @ pw_rot
    pw_shift = scale * pw_shift @ rot.T + trans
    pw_scale = scale * pw_scale

    depth = []
    for k in range(n):
        z = transform(invert_pose(c2w[k]), pts3d[k])[..., 2]
        d = torch.log(z.float())
        depth.append(torch.exp(torch.where(torch.isfinite(d), d, 0.0)))
    focals = torch.tensor(focals, dtype=torch.float64, device=pw.device)
    return Initial(c2w, focals, depth, pw_scale, pw_rot, pw_shift / pw_scale[:, None], metric)


def _walk(pw: Pairwise, scores: list[float], pts3d: list, c2w: list,
          cancel: Optional[Cancel]) -> None:
    """Chain the spanning tree's point maps into the frame of its strongest edge's first camera."""
    todo = deque(spanning_tree(pw, scores))
    e = todo.popleft()
    i, j = pw.edges[e]
    pts_i, _, pts_j, _ = pw.edge(e)
    pts3d[i], pts3d[j] = pts_i, pts_j
    c2w[i] = torch.eye(4, dtype=torch.float64, device=pw.device)
    while todo:
        raise_if_cancelled(cancel)
        e = todo.popleft()
        i, j = pw.edges[e]
        pts_i, conf_i, pts_j, conf_j = pw.edge(e)
        if pts3d[i] is not None:
            s, rot, trans = robust_similarity(pts_i, pts3d[i], conf_i)
            pts3d[j] = pts_j @ (s * rot).T.float() + trans.float()
        elif pts3d[j] is not None:
            s, rot, trans = robust_similarity(pts_j, pts3d[j], conf_j)
            pts3d[i] = pts_i @ (s * rot).T.float() + trans.float()
        else:
            todo.append(e)  # neither end placed yet: retry after the others
            continue
        if c2w[i] is None:  # the similarity's scale belongs to the points, not the camera
            c2w[i] = pose_matrix(rot, trans)


def _own_edge(pw: Pairwise, k: int, scores: list[float]):
    """The strongest pair whose first image is k (its point map is in camera k's frame)."""
    own = [e for e, (i, _) in enumerate(pw.edges) if i == k]
    return max(own, key=lambda e: scores[e]) if own else None


def initial_focals(pw: Pairwise, known: KnownCameras, own_edges: list, pp,
                   shared_focal: bool) -> tuple[list[float], list[bool]]:
    """Per image: the known focal, else the Weiszfeld estimate on its own point map (pair
    `own_edges[k]`, whose first image is k; None if there is none); and which are either.

    An image without a usable estimate (no own point map, or a nonsensical one as from an
    untrained network) gets the others' geometric mean, or the official starting value
    max(H, W) when no image has one. With `shared_focal`, all get the geometric mean (in
    photo pixels, so that photos of one camera at different network scales agree).
    """
    focals = list(known.focals)
    for k, e in enumerate(own_edges):
        if focals[k] is None and e is not None:
            pts, conf = pw.edge(e)[:2]
            focal = estimate_focal(pts, pp[k], mask=conf > 0)
            focals[k] = focal if np.isfinite(focal) and focal > 0 else None
    photo_px = [f / known.focal_scale[k] for k, f in enumerate(focals) if f is not None]
    if photo_px:
        typical = [float(np.exp(np.mean(np.log(photo_px)))) * s for s in known.focal_scale]
    else:
        typical = [float(max(shape)) for shape in pw.shapes]
    estimated = [f is not None for f in focals]
    if shared_focal:
        return typical, estimated
    return [f if f is not None else typical[k] for k, f in enumerate(focals)], estimated


def _pnp(pw: Pairwise, k: int, world: torch.Tensor, focal: float, pp, scores, min_conf_thr,
         refine_focal: bool) -> tuple[torch.Tensor, float]:
    """Pose (and focal) of camera k from its world points, starting from a Procrustes fit of
    its own point map when it has one."""
    index, pixels = confident_pixels(pw.im_conf[k], min_conf_thr)
    world = world.reshape(-1, 3)[index]
    init = None
    e = _own_edge(pw, k, scores)
    if e is not None:
        pts, own_conf = pw.edge(e)[:2]
        _, rot, trans = robust_similarity(pts.reshape(-1, 3)[index], world,
                                          own_conf.reshape(-1)[index])
        init = pose_matrix(rot, trans)
    return solve_pnp(world, pixels, focal, pp, init_c2w=init, refine_focal=refine_focal)


def confident_pixels(conf: torch.Tensor,
                     min_conf_thr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A sample of the pixels above the threshold (or of all usable ones, if too few are)."""
    use = conf > min_conf_thr
    return sample_pixels(use if int(use.sum()) >= 6 else conf > 0)


def _similarity_to_known(c2w: torch.Tensor, known: KnownCameras, scale: float | None = None):
    """(scale, R, t) moving the walk's world onto the known cameras, and whether it is metric.

    Rotation: the average of the known orientations relative to the walk's; then the scale
    (least squares on two or more distinct known centres, unless given) and the translation.
    Without known poses: the identity with the given scale.
    """
    ids = [k for k, p in enumerate(known.c2w) if p is not None]
    if not ids:
        return (scale or 1.0), torch.eye(3).to(c2w), torch.zeros(3).to(c2w), False
    target = torch.stack([known.c2w[k] for k in ids]).to(c2w)
    u, _, vh = torch.linalg.svd((target[:, :3, :3] @ c2w[ids, :3, :3].transpose(1, 2)).sum(0))
    rot = u @ torch.diag(torch.tensor([1.0, 1.0, float(torch.det(u @ vh))])).to(c2w) @ vh
    src = c2w[ids, :3, 3] @ rot.T
    dst = target[:, :3, 3]
    src_d, dst_d = src - src.mean(0), dst - dst.mean(0)
    spread = float((src_d ** 2).sum())
    metric = len(ids) >= 2 and spread > 1e-12 and float((dst_d ** 2).sum()) > 1e-12
    if scale is None:
        scale = max(float((src_d * dst_d).sum()) / spread, 1e-12) if metric else 1.0
    return scale, rot, dst.mean(0) - scale * src.mean(0), metric
