"""Validate a network config (the hub `config.json` content) and fill in the defaults.

The normalized config is a plain JSON-serialisable dict in the hub's spelling. Both the
training (`ManyAR_PatchEmbed`, `landscape_only=True`) and inference spellings are accepted
and normalized to the inference one, which is what this network implements: portrait
images are embedded in their own orientation (the two give identical outputs).
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

from ..errors import CheckpointError

INF = math.inf
REQUIRED = ("pos_embed", "enc_embed_dim", "enc_depth", "enc_num_heads",
            "dec_embed_dim", "dec_depth", "dec_num_heads")
DEFAULTS: dict[str, Any] = {
    "output_mode": "pts3d",
    "head_type": "linear",
    "depth_mode": ["exp", -INF, INF],
    "conf_mode": ["exp", 1, INF],
    "freeze": "none",  # training only
    "img_size": [224, 224],  # CroCo's default; informs the image loader, not the weights
    "patch_size": 16,
    "mlp_ratio": 4,
    "norm_im2_in_dec": True,
}
DPT_DEFAULTS: dict[str, Any] = {"dpt_feature_dim": 256, "dpt_last_dim": 128,
                                "dpt_layer_dims": [96, 192, 384, 768]}
IGNORED = ("mask_ratio",)  # pretraining only
PATCH_EMBEDS = ("PatchEmbedDust3R", "ManyAR_PatchEmbed")


def _int(cfg: dict, key: str, minimum: int = 1) -> int:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CheckpointError(f"config: {key} must be an integer >= {minimum}, got {value!r}")
    return value


def _mode(value: Any) -> tuple:
    try:
        name, lo, hi = value
        return str(name), float(lo), float(hi)
    except (TypeError, ValueError):
        return (value,)


def rope_base(pos_embed: str) -> float:
    """'RoPE100' -> 100.0."""
    return float(pos_embed[len("RoPE"):])


def normalize_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Checked config with defaults filled in; CheckpointError on what the network cannot build."""
    if not isinstance(config, Mapping):
        raise CheckpointError(f"config must be a dict, got {type(config).__name__}")
    known = set(DEFAULTS) | set(DPT_DEFAULTS) | set(REQUIRED) | set(IGNORED) | {
        "landscape_only", "patch_embed_cls"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise CheckpointError(f"config: unknown setting(s) {', '.join(unknown)}")
    missing = [key for key in REQUIRED if key not in config]
    if missing:
        raise CheckpointError(f"config: missing {', '.join(missing)}")

    cfg = {**DEFAULTS, **{k: v for k, v in config.items() if k not in IGNORED}}
    for key in ("enc_embed_dim", "enc_depth", "enc_num_heads", "dec_embed_dim", "dec_depth",
                "dec_num_heads"):
        _int(cfg, key)
    for dim, heads in (("enc_embed_dim", "enc_num_heads"), ("dec_embed_dim", "dec_num_heads")):
        head_dim, rest = divmod(cfg[dim], cfg[heads])
        if rest or head_dim % 4:  # 2D RoPE rotates pairs within a y half and an x half
            raise CheckpointError(f"config: {dim}={cfg[dim]} must split into {heads}="
                                  f"{cfg[heads]} heads of a size divisible by 4")

    def unsupported(key: str, supported: str) -> CheckpointError:
        return CheckpointError(f"config: {key}={config.get(key, cfg.get(key))!r} is not "
                               f"supported (this network implements {supported})")

    if cfg["output_mode"] != "pts3d":
        raise unsupported("output_mode", "'pts3d'")
    if _mode(cfg["depth_mode"]) != ("exp", -INF, INF):
        raise unsupported("depth_mode", "('exp', -inf, inf)")
    if _mode(cfg["conf_mode"]) != ("exp", 1.0, INF):
        raise unsupported("conf_mode", "('exp', 1, inf)")
    pos_embed = cfg["pos_embed"]
    if not (isinstance(pos_embed, str) and re.fullmatch(r"RoPE\d+(\.\d*)?", pos_embed)):
        raise unsupported("pos_embed", "rotary embeddings such as 'RoPE100'")
    if cfg.get("patch_embed_cls", PATCH_EMBEDS[0]) not in PATCH_EMBEDS:
        raise unsupported("patch_embed_cls", " or ".join(PATCH_EMBEDS))
    if not isinstance(cfg.get("landscape_only", False), bool):
        raise unsupported("landscape_only", "True or False")
    if cfg["patch_size"] != 16:
        raise unsupported("patch_size", "16")
    if cfg["norm_im2_in_dec"] is not True:
        raise unsupported("norm_im2_in_dec", "True")
    if isinstance(cfg["mlp_ratio"], bool) or not isinstance(cfg["mlp_ratio"], (int, float)) \
            or cfg["mlp_ratio"] <= 0:
        raise unsupported("mlp_ratio", "a positive number")
    if cfg["head_type"] == "dpt":
        if cfg["dec_depth"] <= 9:  # the official DPT head asserts it
            raise unsupported("dec_depth", "dec_depth > 9 with head_type 'dpt'")
        cfg = {**DPT_DEFAULTS, **cfg}
        for key in ("dpt_feature_dim", "dpt_last_dim"):
            _int(cfg, key)
        dims = cfg["dpt_layer_dims"]
        if not (isinstance(dims, (list, tuple)) and len(dims) == 4
                and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims)):
            raise unsupported("dpt_layer_dims", "four positive integers")
        cfg["dpt_layer_dims"] = list(dims)
    elif cfg["head_type"] == "linear":
        extra = sorted(set(DPT_DEFAULTS) & set(cfg))
        if extra:
            raise CheckpointError(f"config: {', '.join(extra)} only apply to head_type 'dpt'")
    else:
        raise unsupported("head_type", "'linear' and 'dpt'")

    img_size = cfg["img_size"]
    img_size = [img_size, img_size] if isinstance(img_size, int) else list(img_size)
    if len(img_size) != 2 or not all(isinstance(s, int) and s > 0 for s in img_size):
        raise unsupported("img_size", "an int or (height, width)")
    cfg.update(img_size=img_size, depth_mode=list(DEFAULTS["depth_mode"]),
               conf_mode=list(DEFAULTS["conf_mode"]),
               patch_embed_cls="PatchEmbedDust3R", landscape_only=False)
    return cfg
