"""The alignment loss (spec 7.3) with a hand-written gradient, streamed image by image.

Every pixel of image k has a world point X = R_k (d (u - ppx) / f_k, d (v - ppy) / f_k, d)
+ T_k with d = exp(log depth). For pair e = (i, j) and each of its two sides (image i,
image j), with the pair's similarity written as the 3x4 matrix M_e = [s_e R_e | s_e t_e]:

    loss = sum over sides, pixels of  w * | X_image(pixel) - M_e [p; 1] |

where p is the side's predicted point and w = log(conf) divided by the total pixel count of
that side over all pairs (the official normalisation). Each side is stored once as
Q = [w p; w] (4 x pixels: the size of the input itself), so that the weighted residual is
one batched matrix product, w r = w X - M_e Q, and |w r| = w |r| (w >= 0). The gradients
need no autograd graph over pixels:

    d loss / d M_e = - sum unit(r) Q^T        d loss / d X = sum over the sides of w unit(r)

and from d loss / d X (= G, per image) with Y = X - T = R (d ray):

    d / d log depth = G . Y      d / d R = (sum G Y^T) R      d / d T = sum G
    d / d f = -(sum G . Y - R[:, 2] . (G d)) / f

Images are visited one at a time: their points are built in a reusable buffer, all their
sides are streamed through it in chunks whose temporaries fit a byte budget (in cache on a
CPU), and their gradients are finished while still hot. Working memory is a few images'
worth, whatever the number of pairs; the same code runs on any torch device.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch

from ..errors import raise_if_cancelled
from ..progress import Cancel
from .geometry import pixel_grid
from .inputs import Pairwise

# temporaries per chunk: small enough to stay in a CPU's cache, large enough to keep a GPU busy
CHUNK_BYTES = {"cpu": 6 << 20, "default": 512 << 20}


@dataclass
class SideGroup:
    """All pair sides whose image has one shape (H, W), sorted by image."""

    shape: tuple[int, int]
    images: list[int]  # global indices of the images of this shape
    data: torch.Tensor  # [S, 4, H*W]: rows 0-2 = w * point (planar), row 3 = w
    edge: torch.Tensor  # [S] int64: the pair of each side
    chunks: list[list[tuple[int, int]]]  # per image of `images`: (start, stop) rows of `data`
    grid: torch.Tensor  # [2, H*W]: (u, v) of every pixel
    pp: torch.Tensor  # [n_g, 2, 1]: principal point of each image
    work: dict = field(default_factory=dict)  # reusable buffers (no page faults per call)


@dataclass
class EdgeSides:
    """Every side of every pair, packed for the loss (see the module docstring)."""

    groups: list[SideGroup]
    n_edges: int

    @property
    def nbytes(self) -> int:
        return sum(g.data.numel() * g.data.element_size() for g in self.groups)


def pack_edges(pw: Pairwise, pp: torch.Tensor, cancel: Optional[Cancel] = None) -> EdgeSides:
    """Pack both sides of every pair as [w p; w] (pixels with confidence <= 1 get no weight);
    `pp` [N, 2] are the principal points, fixed during the optimisation."""
    device = pw.device
    area = [h * w for h, w in pw.shapes]
    denom_i = float(sum(area[i] for i, _ in pw.edges))
    denom_j = float(sum(area[j] for _, j in pw.edges))
    sides = sorted([(i, e, 0) for e, (i, _) in enumerate(pw.edges)]
                   + [(j, e, 1) for e, (_, j) in enumerate(pw.edges)])
    budget = CHUNK_BYTES.get(device.type, CHUNK_BYTES["default"])
    groups = []
    for shape in sorted(set(pw.shapes)):
        images = [k for k, s in enumerate(pw.shapes) if s == shape]
        mine = [s for s in sides if s[0] in images]
        hw = shape[0] * shape[1]
        data = torch.empty(len(mine), 4, hw, device=device)
        for row, (_, e, second) in enumerate(mine):
            raise_if_cancelled(cancel)
            pts = (pw.pts_j if second else pw.pts_i)[e].to(device).reshape(hw, 3)
            conf = (pw.conf_j if second else pw.conf_i)[e].to(device).reshape(hw)
            weight = torch.log(conf.clamp_min(1.0)) / (denom_j if second else denom_i)
            data[row, 3] = weight
            torch.mul(pts.T, weight, out=data[row, :3])
        size = max(1, budget // (3 * hw * 4))
        chunks = []
        for img in images:
            rows = [r for r, s in enumerate(mine) if s[0] == img]
            chunks.append([(start, min(start + size, rows[-1] + 1))
                           for start in range(rows[0], rows[-1] + 1, size)])
        grid = pixel_grid(*shape, device=device).reshape(hw, 2).T.contiguous()
        edge = torch.tensor([s[1] for s in mine], device=device)
        groups.append(SideGroup(shape, images, data, edge, chunks, grid,
                                pp[images].to(grid)[:, :, None]))
    return EdgeSides(groups, len(pw.edges))


def edge_loss(sides: EdgeSides, sim: torch.Tensor, rot: torch.Tensor, trans: torch.Tensor,
              focals: torch.Tensor, log_depth: list[torch.Tensor]) -> torch.Tensor:
    """The loss (0-dim float32), differentiable w.r.t. every argument but `sides`.

    sim [E, 3, 4] = [sR | st] per pair; rot [N, 3, 3], trans [N, 3] camera-to-world;
    focals [N]; log_depth per group of `sides`, [n_g, H*W].
    """
    return _EdgeLoss.apply(sides, sim, rot, trans, focals, *log_depth)


class _EdgeLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sides: EdgeSides, sim, rot, trans, focals, *log_depth):
        grads = any(ctx.needs_input_grad[1:])
        total = torch.zeros((), dtype=torch.float64, device=sim.device)
        out = None
        if grads:
            out = {"sim": torch.zeros_like(sim), "rot": torch.zeros_like(rot),
                   "trans": torch.zeros_like(trans), "focals": torch.zeros_like(focals),
                   "log_depth": [torch.empty_like(d) for d in log_depth]}
        for g, group in enumerate(sides.groups):
            total += _group(group, g, sim, rot, trans, focals, log_depth[g], out)
        if grads:
            ctx.save_for_backward(out["sim"], out["rot"], out["trans"], out["focals"],
                                  *out["log_depth"])
        return total.float()

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        return (None, *(g.mul_(grad_loss) for g in ctx.saved_tensors))


def _buffers(group: SideGroup, device: torch.device) -> dict:
    n_sides, _, hw = group.data.shape
    size = max(stop - start for chunks in group.chunks for start, stop in chunks)
    key = (size, n_sides, hw, device)
    if group.work.get("key") != key:
        empty = lambda *shape: torch.empty(*shape, device=device)  # noqa: E731
        group.work = {"key": key, "res": empty(size, 3, hw), "norm": empty(size, hw),
                      "g_side": empty(n_sides, 3, 4), "depth": empty(hw), "scaled": empty(hw),
                      "points": empty(3, hw), "cam": empty(3, hw), "g_points": empty(3, hw),
                      "pixels": empty(2, hw)}
    return group.work


def _group(group: SideGroup, g: int, sim, rot, trans, focals, log_depth, out) -> torch.Tensor:
    """Loss of one group's sides; with `out`, fills in their gradients (see the module doc)."""
    work = _buffers(group, sim.device)
    sim_side = sim.index_select(0, group.edge)
    total = torch.zeros((), dtype=torch.float64, device=sim.device)
    for local, k in enumerate(group.images):
        depth = torch.exp(log_depth[local], out=work["depth"])
        cam = work["cam"]
        pixels = torch.sub(group.grid, group.pp[local], out=work["pixels"])  # (u - ppx, v - ppy)
        torch.mul(pixels, torch.div(depth, focals[k], out=work["scaled"]), out=cam[:2])
        cam[2] = depth
        points = torch.addmm(trans[k, :, None], rot[k], cam, out=work["points"])
        g_points = work["g_points"]
        for n_chunk, (start, stop) in enumerate(group.chunks[local]):
            q = group.data[start:stop]
            weight = q[:, 3:4]
            res = torch.mul(points, weight, out=work["res"][:stop - start])
            res.baddbmm_(sim_side[start:stop], q, alpha=-1)  # w r = w X - M [w p; w]
            norm = torch.mul(res[:, 0], res[:, 0], out=work["norm"][:stop - start])
            norm.addcmul_(res[:, 1], res[:, 1]).addcmul_(res[:, 2], res[:, 2]).sqrt_()
            total += norm.sum()
            if out is None:
                continue
            res.div_(norm.clamp_min_(1e-30).unsqueeze(1))  # unit residual; 0 where w = 0
            torch.bmm(res, q.transpose(1, 2), out=work["g_side"][start:stop])
            res.mul_(weight)
            if n_chunk == 0:
                torch.sum(res, 0, out=g_points)
            else:
                g_points += res.sum(0)
        if out is None:
            continue
        ray = points.sub_(trans[k, :, None])  # Y = R (d ray): what the depth scales
        g_log = torch.sum(torch.mul(g_points, ray, out=work["res"][0]), 0,
                          out=out["log_depth"][g][local])
        out["rot"][k] = (g_points @ ray.T) @ rot[k]
        out["trans"][k] = g_points.sum(1)
        out["focals"][k] = (rot[k, :, 2] @ (g_points @ depth) - g_log.sum()) / focals[k]
    if out is not None:
        out["sim"].index_add_(0, group.edge, work["g_side"], alpha=-1)
    return total
