"""One or two images: cameras straight from the network's prediction, without optimisation.

Two images (the official `PairViewer`): the more confident direction of the pair defines the
world (its first camera); the other camera comes from a PnP of its points as predicted in
that frame. One image (paired with itself): a camera at the origin and the predicted points.
Focals are the Weiszfeld estimate on each image's own point map unless known.
"""
from __future__ import annotations

from typing import Optional

import torch

from .geometry import invert_pose, pose_matrix, transform, weighted_similarity
from .init import confident_pixels, initial_focals
from .inputs import Pairwise
from .known import KnownCameras
from .pnp import solve_pnp


def symmetric_pair(pw: Pairwise) -> Optional[tuple[int, int]]:
    """(edge 0->1, edge 1->0) when two images are paired both ways, else None."""
    first = {}
    for e, ij in enumerate(pw.edges):
        first.setdefault(ij, e)
    if pw.n_images == 2 and (0, 1) in first and (1, 0) in first:
        return first[(0, 1)], first[(1, 0)]
    return None


def single_view(pw: Pairwise, known: KnownCameras, shared_focal: bool):
    """(c2w [1, 4, 4], focals [1], depth [H, W] list) of one image paired with itself."""
    best = max(range(len(pw.edges)), key=pw.edge_score)
    pp = [known.principal_point(0, pw.shapes[0])]
    focals = initial_focals(pw, known, [best], pp, shared_focal)[0]
    c2w = known.c2w[0] if known.c2w[0] is not None else torch.eye(4, dtype=torch.float64)
    return c2w[None], torch.tensor(focals, dtype=torch.float64), [pw.edge(best)[0][..., 2]]


def pair_view(pw: Pairwise, known: KnownCameras, edges: tuple[int, int], min_conf_thr: float,
              shared_focal: bool):
    """(c2w [2, 4, 4], focals [2], depth list) of two images paired both ways."""
    pp = [known.principal_point(k, pw.shapes[k]) for k in range(2)]
    focals = initial_focals(pw, known, list(edges), pp, shared_focal)[0]
    ref = 0 if pw.edge_score(edges[0]) > pw.edge_score(edges[1]) else 1
    other = 1 - ref
    pts_ref, _, pts_other, _ = pw.edge(edges[ref])  # both images in camera ref's frame
    own_pts, own_conf = pw.edge(edges[other])[:2]  # the other image in its own frame

    index, pixels = confident_pixels(pw.im_conf[other], min_conf_thr)
    world = pts_other.reshape(-1, 3)[index]
    _, rot, trans = weighted_similarity(own_pts.reshape(-1, 3)[index], world,
                                        own_conf.reshape(-1)[index])
    pose, _ = solve_pnp(world, pixels, focals[other], pp[other], init_c2w=pose_matrix(rot, trans))
    c2w = torch.stack([torch.eye(4, dtype=torch.float64, device=pose.device), pose])
    if ref == 1:
        c2w = c2w.flip(0)
    depth = [None, None]
    depth[ref] = pts_ref[..., 2]
    depth[other] = transform(invert_pose(pose), pts_other)[..., 2]
    return c2w, torch.tensor(focals, dtype=torch.float64), depth
