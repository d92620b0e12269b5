"""The alignment loss over all pairs, with a hand-written gradient that streams over the pairs.

For pair e = (i, j) and each of its two sides (image i, image j), with the pair's similarity
x -> s_e (R_e x + t_e) written as the 3x4 matrix M_e = [s_e R_e | s_e t_e]:

    loss = sum over sides, pixels of  w * | X_image(pixel) - M_e [p; 1] |

where p is the side's predicted point, X the image's current world point and w = log(conf)
divided by the total pixel count of that side over all pairs (the official normalisation).
Storing each side once as Q = [w p; w] (4 x pixels, about the size of the input itself)
turns the residual into one batched matrix product, w r = w X - M_e Q, with
|w r| = w |r| (w >= 0), and gives the gradients without any per-pixel autograd graph:

    d loss / d M_e = - sum unit(r) Q^T          d loss / d X = w unit(r)

Sides are processed in chunks whose temporaries fit a fixed byte budget (in cache on a CPU),
so the working memory does not grow with the number of pairs. The same code runs on any
torch device.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .inputs import Pairwise

# temporaries per chunk: small enough to stay in a CPU's cache, large enough to keep a GPU busy
CHUNK_BYTES = {"cpu": 8 << 20, "default": 512 << 20}


@dataclass
class SideGroup:
    """All pair sides whose image has one shape (H, W), sorted by image."""

    shape: tuple[int, int]
    images: list[int]  # global indices of the images of this shape
    data: torch.Tensor  # [S, 4, H*W]: rows 0-2 = w * point (planar), row 3 = w
    edge: torch.Tensor  # [S] int64: the pair of each side
    chunks: list[tuple[int, int, int]]  # (start, stop, index into `images`): one image per chunk
    work: dict = field(default_factory=dict)  # reusable buffers (no page faults per call)


@dataclass
class EdgeSides:
    """Every side of every pair, packed for the loss (see the module docstring)."""

    groups: list[SideGroup]
    n_edges: int

    @property
    def nbytes(self) -> int:
        return sum(g.data.numel() * g.data.element_size() for g in self.groups)


def pack_edges(pw: Pairwise) -> EdgeSides:
    """Pack both sides of every pair as [w p; w]; pixels with confidence <= 1 get no weight."""
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
        local = {k: n for n, k in enumerate(images)}
        mine = [s for s in sides if s[0] in local]
        hw = shape[0] * shape[1]
        data = torch.empty(len(mine), 4, hw, device=device)
        for row, (img, e, second) in enumerate(mine):
            pts = (pw.pts_j if second else pw.pts_i)[e].to(device).reshape(hw, 3)
            conf = (pw.conf_j if second else pw.conf_i)[e].to(device).reshape(hw)
            weight = torch.log(conf.clamp_min(1.0)) / (denom_j if second else denom_i)
            data[row, 3] = weight
            torch.mul(pts.T, weight, out=data[row, :3])
        size = max(1, budget // (3 * hw * 4))
        chunks = []
        for img in images:
            rows = [r for r, s in enumerate(mine) if s[0] == img]
            chunks += [(start, min(start + size, rows[-1] + 1), local[img])
                       for start in range(rows[0], rows[-1] + 1, size)]
        groups.append(SideGroup(shape, images, data, torch.tensor([s[1] for s in mine], device=device),
                                chunks))
    return EdgeSides(groups, len(pw.edges))


def edge_loss(sides: EdgeSides, sim: torch.Tensor, points: list[torch.Tensor]) -> torch.Tensor:
    """The loss (0-dim float32) for pair similarities `sim` [E, 3, 4] = [sR | st] and world
    points `points` (per group, [n_g, 3, H*W]); differentiable w.r.t. both."""
    return _EdgeLoss.apply(sides, sim, *points)


class _EdgeLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sides: EdgeSides, sim: torch.Tensor, *points: torch.Tensor):
        grads = any(ctx.needs_input_grad[1:])
        total = torch.zeros((), dtype=torch.float64, device=sim.device)
        g_sim = torch.zeros_like(sim) if grads else None
        g_points = [torch.zeros_like(p) for p in points] if grads else []
        for g, group in enumerate(sides.groups):
            total += _group(group, sim, points[g], g_sim, g_points[g] if grads else None)
        if grads:
            ctx.save_for_backward(g_sim, *g_points)
        return total.float()

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        g_sim, *g_points = ctx.saved_tensors
        return (None, g_sim * grad_loss, *(g * grad_loss for g in g_points))


def _group(group: SideGroup, sim: torch.Tensor, points: torch.Tensor,
           g_sim: torch.Tensor | None, g_points: torch.Tensor | None) -> torch.Tensor:
    """Loss of one group's sides; accumulates the gradients into g_sim, g_points when given."""
    n_sides, _, hw = group.data.shape
    size = max(stop - start for start, stop, _ in group.chunks)
    key = (size, n_sides, hw, points.device)
    if group.work.get("key") != key:
        group.work = {"key": key, "res": torch.empty(size, 3, hw, device=points.device),
                      "norm": torch.empty(size, hw, device=points.device),
                      "g_img": torch.empty(3, hw, device=points.device),
                      "g_side": torch.empty(n_sides, 3, 4, device=points.device)}
    sim_side = sim.index_select(0, group.edge)
    total = torch.zeros((), dtype=torch.float64, device=points.device)
    for start, stop, img in group.chunks:
        q = group.data[start:stop]
        weight = q[:, 3:4]
        res = torch.mul(points[img], weight, out=group.work["res"][:stop - start])
        res.baddbmm_(sim_side[start:stop], q, alpha=-1)  # w r = w X - M [w p; w]
        norm = torch.mul(res[:, 0], res[:, 0], out=group.work["norm"][:stop - start])
        norm.addcmul_(res[:, 1], res[:, 1]).addcmul_(res[:, 2], res[:, 2]).sqrt_()
        total += norm.sum()
        if g_sim is None:
            continue
        res.div_(norm.clamp_min_(1e-30).unsqueeze(1))  # unit residual; 0 where w = 0
        torch.bmm(res, q.transpose(1, 2), out=group.work["g_side"][start:stop])
        g_points[img] += torch.sum(res.mul_(weight), 0, out=group.work["g_img"])
    if g_sim is not None:
        g_sim.index_add_(0, group.edge, group.work["g_side"], alpha=-1)
    return total
