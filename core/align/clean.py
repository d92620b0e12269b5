"""Clean-up of the aligned point maps (the official `clean_pointcloud`).

A point of image i that another camera j sees clearly *in front of* what j itself recorded
at that pixel (j's depth map) is a floater, unless it is more confident than j there; such
points get confidence 0 so that the confidence threshold drops them.
"""
from __future__ import annotations

import torch

from .geometry import invert_pose


def clean_pointcloud(im_conf: list[torch.Tensor], depth: list[torch.Tensor],
                     pts3d: list[torch.Tensor], c2w: torch.Tensor, focals: torch.Tensor,
                     pp: torch.Tensor, tol: float = 0.001,
                     bad_conf: float = 0.0) -> list[torch.Tensor]:
    """Confidence maps [H, W] with the occluding floaters set to at most `bad_conf`.

    depth [H, W], pts3d [H, W, 3] (world) per image; c2w [N, 4, 4], focals [N], pp [N, 2].
    Pairs (i, j) are visited in order and see the confidences already lowered before them.
    """
    conf = [c.clone() for c in im_conf]
    w2c = invert_pose(c2w.double()).float()
    n = len(conf)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            cam = pts3d[i] @ w2c[j, :3, :3].T + w2c[j, :3, 3]
            z = cam[..., 2]
            u = torch.round(focals[j] * cam[..., 0] / z + pp[j, 0])
            v = torch.round(focals[j] * cam[..., 1] / z + pp[j, 1])
            h, w = depth[j].shape
            seen = (z > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
            flat = torch.where(seen, v * w + u, 0).long()
            other_depth = depth[j].reshape(-1)[flat]
            other_conf = conf[j].reshape(-1)[flat]
            bad = seen & (z < (1 - tol) * other_depth) & (conf[i] < other_conf)
            conf[i] = torch.where(bad, conf[i].clamp(max=bad_conf), conf[i])
    return conf
