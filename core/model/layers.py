"""Transformer pieces of the CroCo/DUSt3R ViT: patch embedding, 2D RoPE, attention, blocks.

timm-style pre-norm blocks; every LayerNorm uses eps 1e-6 and the MLP the exact (erf) GELU,
as the official weights were trained with them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Rope = tuple[Tensor, Tensor]  # (cos, sin), each [B, 1, S, head_dim]


def layer_norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=1e-6)


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> tokens (row-major), with their (row, col) grid positions."""

    def __init__(self, embed_dim: int, patch_size: int = 16):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, embed_dim, patch_size, patch_size)

    def forward(self, img: Tensor) -> tuple[Tensor, Tensor]:
        B, _, H, W = img.shape
        p = self.patch_size
        if H % p or W % p:
            raise ValueError(f"image size {H}x{W} is not a multiple of the patch size {p}")
        tokens = self.proj(img).flatten(2).transpose(1, 2)
        rows, cols = torch.meshgrid(torch.arange(H // p, device=img.device),
                                    torch.arange(W // p, device=img.device), indexing="ij")
        pos = torch.stack([rows, cols], -1).reshape(1, -1, 2).repeat(B, 1, 1)
        return tokens, pos


def rope_tables(pos: Tensor, head_dim: int, base: float, dtype: torch.dtype = torch.float32
                ) -> Rope:
    """cos/sin tables of 2D rotary embeddings for integer positions pos [B, S, 2] = (y, x).

    The first half of each head's channels encodes y and the second half x; within a half of
    size D, channel k pairs with channel k + D/2 ("rotate half") at frequency base^(-2k/D).
    The sin table carries the rotation's sign (minus on channels k < D/2 of each half), so
    that `apply_rope` only swaps halves. Computed in float32, then given `dtype`.
    """
    d = head_dim // 2
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, device=pos.device).float() / d))
    angles = pos.float()[..., None] * inv_freq  # [B, S, 2, d/2]
    sin = angles.sin()
    angles = torch.cat([angles, angles], -1).flatten(-2)  # [B, S, head_dim]: y half, x half
    signed_sin = torch.cat([-sin, sin], -1).flatten(-2)
    return angles.cos()[:, None].to(dtype), signed_sin[:, None].to(dtype)


def apply_rope(x: Tensor, rope: Rope) -> Tensor:
    """Rotate x [B, heads, S, head_dim] by the angles of `rope` (tables in x's dtype).

    Per axis half, channel k becomes a_k cos - b_k sin and channel k + D/2 becomes
    b_k cos + a_k sin (a, b = the quarters of the half): x * cos + swapped(x) * signed sin.
    """
    cos, signed_sin = (t if t.dtype == x.dtype else t.to(x.dtype) for t in rope)
    swapped = x.unflatten(-1, (2, 2, -1)).flip(-2).flatten(-3)  # per axis half: b, a
    return torch.addcmul(x * cos, swapped, signed_sin)


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """[B, S, C] -> [B, heads, S, C / heads]."""
    return x.unflatten(-1, (num_heads, -1)).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """[B, heads, S, d] -> [B, S, heads * d]."""
    return x.transpose(1, 2).flatten(2)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, rope: Rope) -> Tensor:
        q, k, v = (split_heads(t, self.num_heads) for t in self.qkv(x).chunk(3, -1))
        x = F.scaled_dot_product_attention(apply_rope(q, rope), apply_rope(k, rope), v)
        return self.proj(merge_heads(x))


class CrossAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.projq = nn.Linear(dim, dim)
        self.projk = nn.Linear(dim, dim)
        self.projv = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, y: Tensor, rope_x: Rope, rope_y: Rope) -> Tensor:
        q = apply_rope(split_heads(self.projq(x), self.num_heads), rope_x)
        k = apply_rope(split_heads(self.projk(y), self.num_heads), rope_y)
        v = split_heads(self.projv(y), self.num_heads)
        return self.proj(merge_heads(F.scaled_dot_product_attention(q, k, v)))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


def residual(x: Tensor, branch: Tensor) -> Tensor:
    """x + branch, added into the branch's output (a fresh tensor) where it has x's dtype and
    shape: the same sum without allocating (and page-faulting in) one more token tensor."""
    if branch.dtype == x.dtype and branch.shape == x.shape and not branch.requires_grad:
        return branch.add_(x)
    return x + branch


class Block(nn.Module):
    """Encoder block: self-attention and MLP, both pre-norm with residuals."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = layer_norm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm2 = layer_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, rope: Rope) -> Tensor:
        x = residual(x, self.attn(self.norm1(x), rope))
        return residual(x, self.mlp(self.norm2(x)))


class DecoderBlock(nn.Module):
    """Decoder block of one view: self-attention, cross-attention to the other view, MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        # Registration order = official state-dict order.
        self.norm1 = layer_norm(dim)
        self.attn = Attention(dim, num_heads)
        self.cross_attn = CrossAttention(dim, num_heads)
        self.norm2 = layer_norm(dim)
        self.norm3 = layer_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm_y = layer_norm(dim)

    def forward(self, x: Tensor, y: Tensor, rope_x: Rope, rope_y: Rope) -> Tensor:
        x = residual(x, self.attn(self.norm1(x), rope_x))
        y = self.norm_y(y)
        x = residual(x, self.cross_attn(self.norm2(x), y, rope_x, rope_y))
        return residual(x, self.mlp(self.norm3(x)))
