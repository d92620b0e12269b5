"""Prediction heads (linear and DPT) and the post-processing into point maps and confidences.

A head maps one view's list of decoder outputs (index 0 = encoder output, index l = decoder
block l, the last one after dec_norm) to a raw [B, 4, H, W] map: x, y, z and confidence.
A head computes in float32, or the DPT under autocast in its dtype (`Dust3R.predict`
decides); either way the layer that makes the raw map, and the post-processing, in float32:
rounding the raw log-depth and log-confidence to bfloat16 would be an error of up to 2^-9
of their value that the exponentials of the post-processing carry into every point.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def head_input(tokens: Tensor) -> Tensor:
    """Tokens as a head takes them: float32, or as they are under autocast (which casts)."""
    return tokens if torch.is_autocast_enabled(tokens.device.type) else tokens.float()


def in_float32(layer: nn.Module, x: Tensor) -> Tensor:
    """layer(x) computed in float32 whatever autocast says."""
    with torch.autocast(x.device.type, enabled=False):
        return layer(x.float())


def tokens_to_map(tokens: Tensor, h: int, w: int) -> Tensor:
    """[B, h*w, C] row-major tokens -> [B, C, h, w] in channels-last memory format.

    That is the tokens' own layout, but the convolutions only take it as channels-last when
    the batch stride fits too, which a batch of one need not have (it is then ignored): they
    would run channels-first, with reorders before and after each (a third of the DPT's
    time). So the (small) map is copied into a canonical channels-last tensor.
    """
    x = head_input(tokens).transpose(1, 2).unflatten(2, (h, w))
    return torch.empty_like(x, memory_format=torch.channels_last).copy_(x)


class LinearHead(nn.Module):
    """One linear layer per token to a 16x16 patch of 4 channels (pixel shuffle)."""

    def __init__(self, dec_dim: int, patch_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Linear(dec_dim, 4 * patch_size**2)

    def forward(self, tokens: list[Tensor], shape: tuple[int, int]) -> Tensor:
        p = self.patch_size
        x = in_float32(self.proj, tokens[-1])
        return F.pixel_shuffle(tokens_to_map(x, shape[0] // p, shape[1] // p), p)


def conv3x3(c_in: int, c_out: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias)


def upsample2(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class ResidualConvUnit(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = conv3x3(dim, dim)
        self.conv2 = conv3x3(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """Adds a skip level to the coarser path, refines, upsamples x2 (a DPT "refinenet")."""

    def __init__(self, dim: int):
        super().__init__()
        self.out_conv = nn.Conv2d(dim, dim, 1)
        self.resConfUnit1 = ResidualConvUnit(dim)  # unused by the coarsest block (no skip)
        self.resConfUnit2 = ResidualConvUnit(dim)

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        return self.out_conv(upsample2(self.resConfUnit2(x)))


class Scratch(nn.Module):
    """Per-level 3x3 projections to the common width, and the fusion blocks."""

    def __init__(self, layer_dims: list[int], feature_dim: int):
        super().__init__()
        convs = [conv3x3(d, feature_dim, bias=False) for d in layer_dims]
        for i, conv in enumerate(convs, 1):
            setattr(self, f"layer{i}_rn", conv)
        self.layer_rn = nn.ModuleList(convs)  # the same convs under their second official name
        for i in range(1, 5):
            setattr(self, f"refinenet{i}", FusionBlock(feature_dim))


class DPT(nn.Module):
    """Dense prediction decoder on four token maps at 1/16 resolution -> [B, 4, H, W]."""

    def __init__(self, in_dims: list[int], layer_dims: list[int], feature_dim: int,
                 last_dim: int):
        super().__init__()
        # Registration order = official state-dict order (scratch, head, act_postprocess).
        self.scratch = Scratch(layer_dims, feature_dim)
        self.head = nn.Sequential(
            conv3x3(feature_dim, last_dim),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            conv3x3(last_dim, last_dim),
            nn.ReLU(inplace=True),  # on the conv's output (or its float32 copy)
            nn.Conv2d(last_dim, 4, 1),
        )
        # Bring the four levels to 1/4, 1/8, 1/16 and 1/32 of the image size.
        d_in, d = in_dims, layer_dims
        self.act_postprocess = nn.ModuleList([
            nn.Sequential(nn.Conv2d(d_in[0], d[0], 1), nn.ConvTranspose2d(d[0], d[0], 4, 4)),
            nn.Sequential(nn.Conv2d(d_in[1], d[1], 1), nn.ConvTranspose2d(d[1], d[1], 2, 2)),
            nn.Sequential(nn.Conv2d(d_in[2], d[2], 1)),
            nn.Sequential(nn.Conv2d(d_in[3], d[3], 1), nn.Conv2d(d[3], d[3], 3, 2, 1)),
        ])

    def forward(self, maps: list[Tensor]) -> Tensor:
        s = self.scratch
        l1, l2, l3, l4 = (project(post(m)) for project, post, m
                          in zip(s.layer_rn, self.act_postprocess, maps))
        p4 = s.refinenet4(l4)[:, :, :l3.shape[2], :l3.shape[3]]  # odd grids: 1/32 rounds up
        p3 = s.refinenet3(p4, l3)
        p2 = s.refinenet2(p3, l2)
        # The head works at half and full resolution: one image at a time, so that a batch
        # needs no more memory for it than one image (128 channels at full resolution are
        # 100 MB in float32), at no cost in speed (its convolutions stay large).
        return torch.cat([self.raw_map(x) for x in s.refinenet1(p2, l1).split(1)])

    def raw_map(self, x: Tensor) -> Tensor:
        """The head on one image: in the head's precision up to the last 3x3 conv, then ReLU
        and the 1x1 conv to the raw map in float32 (from a lower precision on the CPU in
        strips of rows: there a float32 copy of the whole 128-channel map cost as much as the
        3x3 conv)."""
        x = self.head[:3](x)
        if x.dtype == torch.float32 or x.device.type != "cpu":
            return in_float32(self.head[3:], x)
        return torch.cat([in_float32(self.head[3:], strip) for strip in x.split(32, dim=2)], 2)


class DPTHead(nn.Module):
    """DPT on the encoder output and three decoder layers (hooks 0, D/2, 3D/4, D)."""

    def __init__(self, enc_dim: int, dec_dim: int, dec_depth: int, patch_size: int,
                 layer_dims: list[int], feature_dim: int, last_dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.hooks = [0, dec_depth * 2 // 4, dec_depth * 3 // 4, dec_depth]
        in_dims = [enc_dim if hook == 0 else dec_dim for hook in self.hooks]
        self.dpt = DPT(in_dims, layer_dims, feature_dim, last_dim)

    def forward(self, tokens: list[Tensor], shape: tuple[int, int]) -> Tensor:
        h, w = shape[0] // self.patch_size, shape[1] // self.patch_size
        return self.dpt([tokens_to_map(tokens[i], h, w) for i in self.hooks])


def postprocess(raw: Tensor) -> dict[str, Tensor]:
    """Raw head output [B, 4, H, W] -> {'pts3d' [B, H, W, 3], 'conf' [B, H, W]}, float32.

    depth_mode ('exp', -inf, inf): the xyz direction is kept and its norm d becomes e^d - 1;
    conf_mode ('exp', 1, inf): conf = 1 + e^c.
    """
    x = raw.float().permute(0, 2, 3, 1)
    xyz, c = x[..., :3], x[..., 3]
    d = xyz.norm(dim=-1, keepdim=True)
    return {"pts3d": xyz / d.clamp(min=1e-8) * torch.expm1(d), "conf": 1 + c.exp()}
