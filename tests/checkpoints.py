"""Test helpers: the official tiny-model fixtures, and checkpoint files in the official layouts."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

OFFICIAL = Path(__file__).resolve().parent / "data" / "official"
FIXTURES = ("tiny_linear", "tiny_dpt")


def fixture_tensors(name: str) -> dict[str, torch.Tensor]:
    return load_file(OFFICIAL / f"{name}.safetensors")


def fixture_metadata(name: str) -> dict[str, str]:
    with safe_open(OFFICIAL / f"{name}.safetensors", "pt") as f:
        return f.metadata()


def fixture_state_dict(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The `model.*` entries: the official state dict, DPT aliases under both names."""
    return {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}


def tiny_config(name: str) -> dict:
    """The fixture model's config as the hub mixin would write it (fixtures/README.md)."""
    linear = name == "tiny_linear"
    config = {
        "output_mode": "pts3d", "head_type": "linear" if linear else "dpt",
        "depth_mode": ["exp", -float("inf"), float("inf")], "conf_mode": ["exp", 1, float("inf")],
        "freeze": "none", "landscape_only": False, "patch_embed_cls": "PatchEmbedDust3R",
        "pos_embed": "RoPE100", "img_size": [64, 64],
        "enc_embed_dim": 48 if linear else 32, "enc_depth": 2, "enc_num_heads": 4 if linear else 2,
        "dec_embed_dim": 32 if linear else 16, "dec_depth": 2 if linear else 10,
        "dec_num_heads": 4 if linear else 2,
    }
    overrides = json.loads(fixture_metadata(name)["dpt_overrides"]) or {}
    config.update({f"dpt_{key}": value for key, value in overrides.items()})
    return config


def fixture_views(tensors: dict[str, torch.Tensor], prefix: str = "") -> tuple[dict, dict]:
    """The fixture's input pairs as official view dicts (prefix "portrait." for portrait)."""
    views = []
    for i in (1, 2):
        img = tensors[f"{prefix}input.view{i}.img"]
        first = 0 if i == 1 else len(img)
        views.append({"img": img, "true_shape": tensors[f"{prefix}input.true_shape{i}"],
                      "idx": list(range(first, first + len(img))),
                      "instance": [str(j) for j in range(first, first + len(img))]})
    return views[0], views[1]
