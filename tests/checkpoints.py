"""Test helpers: the official tiny-model fixtures, and checkpoint files in the official layouts."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_model

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


# --------------------------------------------------------------------- files in official layouts

def shared_aliases(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict with each DPT `layer_rn.N` entry the same tensor as `layer{N+1}_rn`, as
    in the official model (torch.save keeps both names and the sharing)."""
    sd = dict(state_dict)
    for key in state_dict:
        head, sep, rest = key.partition(".scratch.layer_rn.")
        if sep:
            n = int(rest.split(".")[0])
            sd[key] = sd[f"{head}.scratch.layer{n + 1}_rn.weight"]
    return sd


def constructor(name: str, spelling: str = "kwargs") -> str:
    """The fixture's constructor string; for tiny_dpt with its reduced DPT widths appended
    (the official fixture set them after construction; real checkpoints use the defaults)."""
    text = fixture_metadata(name)[spelling]
    overrides = json.loads(fixture_metadata(name)["dpt_overrides"]) or {}
    extra = "".join(f", dpt_{key}={value!r}" for key, value in overrides.items())
    return text[:-1] + extra + ")"


def write_pth(path: Path, name: str, spelling: str = "kwargs", training: bool = False) -> Path:
    """An official `.pth`: `model` + `args` (constructor string in the fixture's `kwargs`
    (training) or `kwargs_inference` spelling); `training` adds optimizer/scaler/epoch."""
    sd = shared_aliases(fixture_state_dict(fixture_tensors(name)))
    ckpt = {"model": sd, "args": argparse.Namespace(model=constructor(name, spelling),
                                                     batch_size=4, lr=1e-4, output_dir="out")}
    if training:
        ckpt.update(
            optimizer={"state": {i: {"step": torch.tensor(10.0), "exp_avg": torch.zeros_like(v),
                                     "exp_avg_sq": torch.zeros_like(v)}
                                 for i, v in enumerate(sd.values())},
                       "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.95), "params": list(range(len(sd)))}]},
            scaler={"scale": 65536.0, "growth_factor": 2.0, "_growth_tracker": 0},
            epoch=7, best_so_far=0.25)
    torch.save(ckpt, path)
    return path


def write_hub_folder(folder: Path, name: str) -> Path:
    """`save_pretrained` layout: config.json (Infinity literals, keys sorted) and a
    model.safetensors written by safetensors' save_model as the hub mixin does (aliases once)."""
    from core.model import build_model

    folder.mkdir(parents=True, exist_ok=True)
    config = tiny_config(name)
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    model = build_model(config, fixture_state_dict(fixture_tensors(name)))
    save_model(model, str(folder / "model.safetensors"))
    return folder
