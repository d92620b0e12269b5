"""Camera and point-map geometry shared by the initialisation, the optimiser and the pair case.

OpenCV conventions throughout: camera x right, y down, z forward; pixel (u, v) = (column,
row) with pixel centres at integer coordinates; `c2w` maps camera to world coordinates.
Point maps are [H, W, 3] torch tensors. Rotations and similarity fits come from roma.
"""
from __future__ import annotations

import roma
import torch


def signed_log1p(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def signed_expm1(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


def pose_matrix(rot: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
    """[..., 3, 3] rotation and [..., 3] translation -> [..., 4, 4] rigid transform."""
    out = torch.zeros(rot.shape[:-2] + (4, 4), dtype=rot.dtype, device=rot.device)
    out[..., :3, :3] = rot
    out[..., :3, 3] = trans
    out[..., 3, 3] = 1
    return out


def invert_pose(c2w: torch.Tensor) -> torch.Tensor:
    """Inverse of rigid [..., 4, 4] transforms (transpose, not a general inverse)."""
    rot_t = c2w[..., :3, :3].transpose(-1, -2)
    return pose_matrix(rot_t, -(rot_t @ c2w[..., :3, 3:])[..., 0])


def transform(pose: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """Apply a [4, 4] (or [3, 4]) transform to points [..., 3]."""
    return pts @ pose[:3, :3].T.to(pts.dtype) + pose[:3, 3].to(pts.dtype)


def pixel_grid(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """[H, W, 2] integer pixel centres (u, v) = (column, row)."""
    v, u = torch.meshgrid(torch.arange(h, device=device, dtype=dtype),
                          torch.arange(w, device=device, dtype=dtype), indexing="ij")
    return torch.stack([u, v], -1)


def default_pp(h: int, w: int) -> tuple[float, float]:
    """The official principal point (W/2, H/2): half a pixel right of/below the image centre."""
    return w / 2, h / 2


def unproject(depth: torch.Tensor, focal: float | torch.Tensor, pp,
              c2w: torch.Tensor) -> torch.Tensor:
    """Depth map [H, W] -> world points [H, W, 3] through the pinhole (focal, pp) and c2w."""
    h, w = depth.shape
    uv = pixel_grid(h, w, depth.device, depth.dtype)
    pp = torch.as_tensor(pp, dtype=depth.dtype, device=depth.device)
    cam = torch.cat([(uv - pp) / focal, torch.ones_like(uv[..., :1])], -1) * depth[..., None]
    return transform(c2w, cam)


def weighted_similarity(src: torch.Tensor, dst: torch.Tensor, weights: torch.Tensor):
    """(s, R, t) minimising sum w |s R src + t - dst|^2 (weighted Umeyama), in float64.

    src, dst [..., 3] point sets of the same shape, weights [...] >= 0. Returns float64
    tensors: s scalar, R [3, 3], t [3].
    """
    rot, trans, scale = roma.rigid_points_registration(
        src.reshape(-1, 3).double(), dst.reshape(-1, 3).double(),
        weights=weights.reshape(-1).double(), compute_scaling=True)
    return scale, rot, trans


FIT_POINTS = 16384  # 7 (or 6) parameters need no more points than this for a fit


def subsample(n: int, limit: int = FIT_POINTS) -> slice:
    """An evenly strided selection of at most `limit` of n items (deterministic)."""
    return slice(None, None, max(1, -(-n // limit)))


def sample_pixels(mask: torch.Tensor,
                  limit: int = FIT_POINTS) -> tuple[torch.Tensor, torch.Tensor]:
    """(flat index [M], pixel (u, v) [M, 2] float32) of at most `limit` pixels where `mask`
    [H, W] is True, on an even stride over the whole image (deterministic)."""
    h, w = mask.shape
    index = torch.arange(0, h * w, max(1, -(-h * w // limit)), device=mask.device)
    index = index[mask.reshape(-1)[index]]
    return index, torch.stack([index % w, index // w], -1).float()


def robust_similarity(src: torch.Tensor, dst: torch.Tensor, weights: torch.Tensor, iters: int = 3):
    """`weighted_similarity` reweighted a few times with Cauchy weights on the residuals, so
    that confident outliers (floaters) cannot drag the fit; the scale of the residuals is
    their weighted median. Large point sets are subsampled evenly (see FIT_POINTS)."""
    pick = subsample(src.numel() // 3)
    x, y, w = src.reshape(-1, 3)[pick], dst.reshape(-1, 3)[pick], weights.reshape(-1)[pick].double()
    fit = weighted_similarity(x, y, w)
    for _ in range(iters):
        scale, rot, trans = fit
        res = (scale * x.double() @ rot.T + trans - y.double()).norm(dim=1)
        sigma = _weighted_median(res, w).clamp_min(1e-12)
        fit = weighted_similarity(x, y, w / (1 + (res / (2 * sigma)) ** 2))
    return fit


def _weighted_median(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    order = torch.argsort(x)
    cum = torch.cumsum(w[order], 0)
    return x[order][torch.searchsorted(cum, cum[-1] / 2).clamp(max=len(x) - 1)]


def estimate_focal(pts: torch.Tensor, pp, mask: torch.Tensor | None = None,
                   iters: int = 10) -> float:
    """Focal length (pixels) that best projects a camera-frame point map onto its pixel grid.

    Weiszfeld: minimise sum |p - f r| over pixels p (relative to pp) and the points' image
    plane coordinates r = (x/z, y/z); start from the least-squares f, then reweight by the
    inverse residual (an L1 fit robust to outliers). `mask` [H, W] selects the pixels used;
    points behind the camera never are.
    """
    use = pts[..., 2] > 0
    if mask is not None:
        use &= mask
    index, pix = sample_pixels(use)
    pts = pts.reshape(-1, 3)[index].double()
    pix = pix.double() - torch.as_tensor(pp, dtype=torch.float64, device=pts.device)
    ratio = pts[:, :2] / pts[:, 2:]
    dot = (ratio * pix).sum(-1)
    norm2 = (ratio * ratio).sum(-1)
    focal = dot.mean() / norm2.mean()
    for _ in range(iters):
        inv_res = 1 / (pix - focal * ratio).norm(dim=-1).clamp_min(1e-8)
        focal = (inv_res * dot).mean() / (inv_res * norm2).mean()
    return float(focal)
