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
from typing import Callable, Optional

import numpy as np
import torch

from ..errors import AlignmentError, CancelCheck, raise_if_cancelled
from .edge_loss import EdgeSides, edge_loss
from .geometry import pose_matrix, quat_to_rotation, rotation_to_quat, signed_expm1, signed_log1p
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
        self.pairs = torch.cat([rotation_to_quat(init.pw_rot), signed_log1p(init.pw_trans),
                                torch.log(init.pw_scale)[:, None]], 1).to(**f32)
        self.poses = torch.cat([rotation_to_quat(init.c2w[:, :3, :3]),
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
        rot = quat_to_rotation(self.pairs[:, :4])
        log_scale = self.pairs[:, 7]
        scale = self.scale_mean * torch.exp(log_scale - log_scale.mean())
        trans = signed_expm1(self.pairs[:, 4:7])
        return scale[:, None, None] * torch.cat([rot, trans[:, :, None]], 2)

    def c2w(self) -> torch.Tensor:
        decoded = pose_matrix(quat_to_rotation(self.poses[:, :4]), signed_expm1(self.poses[:, 4:7]))
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


def learning_rate(schedule: str, lr: float, k: int, niter: int) -> float:
    t = k / niter
    if schedule == "cosine":
        return LR_MIN + (lr - LR_MIN) * (1 + math.cos(math.pi * t)) / 2
    return lr + (LR_MIN - lr) * t


class Adam:
    """Adam exactly as torch.optim.Adam updates (no weight decay, no amsgrad).

    Written out because importing torch.optim costs about 2 s (it loads torch._dynamo).
    """

    def __init__(self, tensors: list[torch.Tensor], betas=BETAS, eps: float = 1e-8):
        self.tensors, self.betas, self.eps, self.step_count = tensors, betas, eps, 0
        self.avg = [torch.zeros_like(t) for t in tensors]
        self.avg_sq = [torch.zeros_like(t) for t in tensors]

    @torch.no_grad()
    def step(self, lr: float) -> None:
        self.step_count += 1
        beta1, beta2 = self.betas
        step_size = lr / (1 - beta1 ** self.step_count)
        correction2_sqrt = (1 - beta2 ** self.step_count) ** 0.5
        for t, avg, avg_sq in zip(self.tensors, self.avg, self.avg_sq):
            avg.lerp_(t.grad, 1 - beta1)
            avg_sq.mul_(beta2).addcmul_(t.grad, t.grad, value=1 - beta2)
            t.addcdiv_(avg, (avg_sq.sqrt() / correction2_sqrt).add_(self.eps), value=-step_size)
            t.grad = None


def optimize(params: SceneParameters, niter: int, lr: float, schedule: str,
             progress: Optional[Callable[[int, int, float], None]] = None,
             cancel: CancelCheck = None, early_stop_patience: Optional[int] = None) -> np.ndarray:
    """Adam over the parameters; returns the loss of every iteration (before its step)."""
    optimizer = Adam(params.trainable)
    trace = []
    best, since_best = math.inf, 0
    for k in range(niter):
        raise_if_cancelled(cancel)
        loss = params.loss()
        loss.backward()
        optimizer.step(learning_rate(schedule, lr, k, niter))
        value = float(loss.detach())
        if not math.isfinite(value):
            raise AlignmentError(f"the alignment diverged (loss {value} at iteration {k}); "
                                 "check the inputs or lower the learning rate")
        trace.append(value)
        if progress is not None:
            progress(k + 1, niter, value)
        if early_stop_patience is not None:
            if value < best * (1 - EARLY_STOP_RTOL):
                best, since_best = value, 0
            else:
                since_best += 1
                if since_best >= early_stop_patience:
                    break
    return np.array(trace, np.float32)
