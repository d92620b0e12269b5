"""The global optimisation: the official parameters, loss and Adam loop, plus known cameras.

Parameters (float32, what Adam updates), exactly as the official `PointCloudOptimizer`:
  pairs    [E, 8]  quaternion (x, y, z, w), signed_log1p(t), log scale; the scales' geometric
                   mean is pinned: to BASE_SCALE, or with known poses to its initial value
                   (the official code unpins it there, which lets the L1 loss shrink the
                   scene by about the noise level: noise scales with the pairwise scale)
  depth    per image log depth (one [n, H*W] tensor per image shape)
  poses    [N, 7]  camera-to-world quaternion, signed_log1p(translation)
  focals   20 * log(focal), per image or one shared (in photo pixels when photos are known)
Principal points are fixed: (W/2, H/2) or the user's. Known poses and focals replace the
decoded values, so their parameters get no gradient and Adam leaves them alone.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import roma
import torch

from ..errors import AlignmentError, raise_if_cancelled
from ..progress import Cancel, Progress
from .edge_loss import EdgeSides, edge_loss
from .geometry import pose_matrix, signed_expm1, signed_log1p
from .init import BASE_SCALE, Initial
from .known import KnownCameras

FOCAL_BREAK = 20.0  # focal parameter = FOCAL_BREAK * log(focal)
LR_MIN = 1e-6
BETAS = (0.9, 0.9)
EARLY_STOP_RTOL = 1e-4  # "improving" = at least this relative decrease of the best loss


class SceneParameters:
    """The optimised quantities and the fixed ones, decoded on demand (differentiably)."""

    def __init__(self, init: Initial, known: KnownCameras, sides: EdgeSides, shared_focal: bool,
                 device: torch.device):
        f32 = dict(dtype=torch.float32, device=device)
        self.sides = sides
        self.scale_mean = (float(torch.exp(torch.log(init.pw_scale).mean())) if init.metric
                           else BASE_SCALE)
        self.pairs = torch.cat([roma.rotmat_to_unitquat(init.pw_rot), signed_log1p(init.pw_trans),
                                torch.log(init.pw_scale)[:, None]], 1).to(**f32)
        self.poses = torch.cat([roma.rotmat_to_unitquat(init.c2w[:, :3, :3]),
                                signed_log1p(init.c2w[:, :3, 3])], 1).to(**f32)
        self.known_pose = torch.tensor([p is not None for p in known.c2w], device=device)
        self.known_c2w = torch.stack([p if p is not None else torch.eye(4, dtype=torch.float64)
                                      for p in known.c2w]).to(**f32)
        self.focal_scale = torch.tensor(known.focal_scale if shared_focal
                                        else [1.0] * len(known.c2w), **f32)
        photo_focals = init.focals.to(**f32) / self.focal_scale
        self.focals = FOCAL_BREAK * torch.log(
            photo_focals.log().mean().exp()[None] if shared_focal else photo_focals)
        self.known_focal = torch.tensor([f is not None for f in known.focals], device=device)
        self.known_focals = torch.tensor([f or 1.0 for f in known.focals], **f32)
        self.depth = [torch.stack([init.depth[k].reshape(-1) for k in g.images]).log().to(**f32)
                      for g in sides.groups]
        self.trainable = [self.pairs, *self.depth]
        if not bool(self.known_pose.all()):
            self.trainable.append(self.poses)
        if not bool(self.known_focal.all()):
            self.trainable.append(self.focals)
        for t in self.trainable:
            t.requires_grad_(True)

    def pair_similarities(self) -> torch.Tensor:
        """[E, 3, 4] = [s R | s t] per pair."""
        rot = _rotation(self.pairs[:, :4])
        log_scale = self.pairs[:, 7]
        scale = self.scale_mean * torch.exp(log_scale - log_scale.mean())
        trans = signed_expm1(self.pairs[:, 4:7])
        return scale[:, None, None] * torch.cat([rot, trans[:, :, None]], 2)

    def c2w(self) -> torch.Tensor:
        decoded = pose_matrix(_rotation(self.poses[:, :4]), signed_expm1(self.poses[:, 4:7]))
        return torch.where(self.known_pose[:, None, None], self.known_c2w, decoded)

    def focal_lengths(self) -> torch.Tensor:
        n = len(self.focal_scale)
        decoded = torch.exp(self.focals / FOCAL_BREAK).expand(n) * self.focal_scale
        return torch.where(self.known_focal, self.known_focals, decoded)

    def depthmaps(self) -> list[torch.Tensor]:
        """Per group [n_g, H*W]."""
        return [d.exp() for d in self.depth]

    def loss(self) -> torch.Tensor:
        c2w = self.c2w()
        return edge_loss(self.sides, self.pair_similarities(), c2w[:, :3, :3], c2w[:, :3, 3],
                         self.focal_lengths(), self.depth)


def _rotation(quat: torch.Tensor) -> torch.Tensor:
    """Rotation matrices of (x, y, z, w) quaternions, normalised first as Adam moves them."""
    return roma.unitquat_to_rotmat(quat / quat.norm(dim=-1, keepdim=True))


def learning_rate(schedule: str, lr: float, k: int, niter: int) -> float:
    t = k / niter
    if schedule == "cosine":
        return LR_MIN + (lr - LR_MIN) * (1 + math.cos(math.pi * t)) / 2
    return lr + (LR_MIN - lr) * t


def optimize(params: SceneParameters, niter: int, lr: float, schedule: str,
             progress: Optional[Progress] = None,
             cancel: Optional[Cancel] = None, early_stop_patience: Optional[int] = None) -> np.ndarray:
    """Adam over the parameters; returns the loss of every iteration (before its step)."""
    optimizer = torch.optim.Adam(params.trainable, lr=lr, betas=BETAS, eps=1e-8)
    trace = []
    best, since_best = math.inf, 0
    for k in range(niter):
        raise_if_cancelled(cancel)
        optimizer.param_groups[0]["lr"] = learning_rate(schedule, lr, k, niter)
        optimizer.zero_grad(set_to_none=True)
        loss = params.loss()
        loss.backward()
        optimizer.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise AlignmentError(f"the alignment diverged (loss {value} at iteration {k}); "
                                 "check the inputs or lower the learning rate")
        trace.append(value)
        if progress is not None:
            progress(k + 1, niter)
        if early_stop_patience is not None:
            if value < best * (1 - EARLY_STOP_RTOL):
                best, since_best = value, 0
            else:
                since_best += 1
                if since_best >= early_stop_patience:
                    break
    return np.array(trace, np.float32)
