"""The DUSt3R network: `build_model(config, state_dict)` -> `Dust3R` (see network.py).

    layers    patch embedding, 2D RoPE, attention and transformer blocks
    heads     linear and DPT heads, post-processing into point maps and confidences
    config    config validation and defaults
    network   the two-view model and build_model
"""
from .config import normalize_config
from .network import Dust3R, build_model

__all__ = ["Dust3R", "build_model", "normalize_config"]
