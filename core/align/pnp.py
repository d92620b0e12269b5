"""Camera pose from 3-D points and their pixels (perspective-n-point), without OpenCV.

A robust Gauss-Newton on the reprojection error (Cauchy weights) refines a starting pose:
the caller's (usually a weighted Procrustes fit of the image's own point map onto the
world points, which never degenerates on flat scenes) or, without one, a linear DLT on
calibrated rays. Dense point maps give thousands of correspondences, so no RANSAC is needed
to get into the basin; the Cauchy weights then discount the outliers.
"""
from __future__ import annotations

from typing import Optional

import torch

from .geometry import invert_pose, pose_matrix, subsample

ROBUST_PX = 2.0  # the Cauchy loss's scale: residuals much beyond it hardly count


def solve_pnp(world: torch.Tensor, pixels: torch.Tensor, focal: float, pp,
              init_c2w: Optional[torch.Tensor] = None, weights: Optional[torch.Tensor] = None,
              refine_focal: bool = False, iters: int = 20) -> tuple[torch.Tensor, float]:
    """(c2w [4, 4] float64, focal) of the camera that sees `world` [M, 3] at `pixels` [M, 2].

    `focal` and `pp` are the intrinsics (pixels), the focal only a starting guess with
    `refine_focal` (the points must then have relief); `weights` [M] >= 0 scale each point.
    Large point sets are subsampled evenly: seven parameters need no more.
    """
    pick = subsample(world.numel() // 3)
    world = world.reshape(-1, 3)[pick].double()
    pixels = pixels.reshape(-1, 2)[pick].double()
    pp = torch.as_tensor(pp, dtype=torch.float64, device=world.device)
    weights = (torch.ones(len(world), dtype=torch.float64, device=world.device) if weights is None
               else weights.reshape(-1)[pick].double())
    if init_c2w is None:
        w2c = _dlt(world, pixels, focal, pp, weights)
    else:
        w2c = invert_pose(init_c2w.double())
    rot, trans = w2c[:3, :3], w2c[:3, 3]
    if not bool(torch.isfinite(w2c).all()):
        rot, trans = torch.eye(3, dtype=torch.float64, device=world.device), torch.zeros_like(trans)
    for _ in range(iters):
        cam = world @ rot.T + trans
        z = cam[:, 2]
        front = z > 1e-9 * z.abs().max()
        zs = torch.where(front, z, 1.0)
        proj = focal * cam[:, :2] / zs[:, None] + pp
        res = proj - pixels
        w = weights * front / (1 + (res.norm(dim=1) / ROBUST_PX) ** 2)
        if int((w > 0).sum()) < 6:  # nothing in front of the camera to fit: keep the estimate
            break
        # d proj / d cam (2x3) times d cam / d (rotation increment, translation increment) (3x6)
        jp = torch.zeros(len(world), 2, 3, dtype=torch.float64, device=world.device)
        jp[:, 0, 0] = jp[:, 1, 1] = focal / zs
        jp[:, :, 2] = -proj.sub(pp) / zs[:, None]
        skew = torch.zeros(len(world), 3, 3, dtype=torch.float64, device=world.device)
        skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = cam[:, 2], -cam[:, 1], cam[:, 0]
        skew = skew - skew.transpose(1, 2)  # -[cam]_x: d (R cam) / d (left rotation increment)
        columns = [jp @ skew, jp] + ([(proj - pp)[:, :, None] / focal] if refine_focal else [])
        jac = torch.cat(columns, dim=2)  # [M, 2, 6 or 7]
        hess = torch.einsum("m,mki,mkj->ij", w, jac, jac)
        grad = torch.einsum("m,mki,mk->i", w, jac, res)
        damping = 1e-6 * hess.diagonal().mean() * torch.eye(len(grad)).to(hess)
        step = -torch.linalg.lstsq(hess + damping, grad[:, None]).solution[:, 0]
        if not bool(torch.isfinite(step).all()) or (refine_focal and focal + float(step[6]) <= 0):
            break
        delta = _so3_exp(step[:3])
        rot, trans = delta @ rot, delta @ trans + step[3:6]
        if refine_focal:
            focal += float(step[6])
        if float(step.abs().max()) < 1e-10:
            break
    return invert_pose(pose_matrix(rot, trans)), focal


def _so3_exp(omega: torch.Tensor) -> torch.Tensor:
    return torch.linalg.matrix_exp(torch.tensor([[0.0, -omega[2], omega[1]],
                                                 [omega[2], 0.0, -omega[0]],
                                                 [-omega[1], omega[0], 0.0]],
                                                dtype=omega.dtype, device=omega.device))


def _dlt(world: torch.Tensor, pixels: torch.Tensor, focal: float, pp: torch.Tensor,
         weights: torch.Tensor) -> torch.Tensor:
    """World-to-camera [4, 4] from the linear system ray x (R X + t) = 0 (needs relief)."""
    centre = (weights[:, None] * world).sum(0) / weights.sum()
    spread = float((weights * (world - centre).norm(dim=1)).sum() / weights.sum())
    xn = torch.cat([(world - centre) / spread, torch.ones_like(world[:, :1])], 1)  # [M, 4]
    ray = (pixels - pp) / focal
    zero = torch.zeros_like(xn)
    rows = torch.cat([torch.cat([xn, zero, -ray[:, :1] * xn], 1),
                      torch.cat([zero, xn, -ray[:, 1:] * xn], 1)])
    w = weights.sqrt().repeat(2)[:, None]
    proj = torch.linalg.svd(w * rows, full_matrices=False).Vh[-1].reshape(3, 4)
    if float(((xn @ proj[2]) * weights).sum()) < 0:  # the sign that puts the points in front
        proj = -proj
    u, s, vh = torch.linalg.svd(proj[:, :3])
    fix = torch.diag(torch.tensor([1.0, 1.0, float(torch.det(u @ vh))], dtype=torch.float64,
                                  device=world.device))
    rot = u @ fix @ vh
    lam = float(s.mean()) / spread  # proj = lam * [spread R | R centre + t]
    return pose_matrix(rot, proj[:, 3] / lam - rot @ centre)
