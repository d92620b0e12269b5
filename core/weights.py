"""Checkpoints: configs, the official file layouts, and downloads from the Hugging Face hub.

Layouts (dust3r-spec section 1):
* `.pth` from the official training code: a dict with `model` (the state dict, DPT aliases
  under both names) and `args` (an `argparse.Namespace` whose `.model` is the constructor
  string), plus optimizer state in training checkpoints;
* hub folder (`PyTorchModelHubMixin`): `config.json` (with `Infinity` literals) and
  `model.safetensors` (DPT aliases stored once).

Weights are never held twice: the network is built on the meta device and takes the loaded
tensors as its parameters (memory-mapped for `.pth`), then moves to the device.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import pickle
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import torch

from .device import resolve_device
from .errors import CheckpointError
from .model import Dust3R, build_model, normalize_config

PathLike = Union[str, os.PathLike]
Progress = Optional[Callable[[int, int], None]]  # (done_bytes, total_bytes)

RELEASED = {
    "512_dpt": "naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt",
    "512_linear": "naver/DUSt3R_ViTLarge_BaseDecoder_512_linear",
    "224_linear": "naver/DUSt3R_ViTLarge_BaseDecoder_224_linear",
}
_VIT_LARGE_BASE_DECODER = {"pos_embed": "RoPE100", "enc_embed_dim": 1024, "enc_depth": 24,
                           "enc_num_heads": 16, "dec_embed_dim": 768, "dec_depth": 12,
                           "dec_num_heads": 12}
RELEASED_CONFIGS = {
    name: normalize_config({**_VIT_LARGE_BASE_DECODER, "img_size": [size, size], "head_type": head})
    for name, size, head in (("512_dpt", 512, "dpt"), ("512_linear", 512, "linear"),
                             ("224_linear", 224, "linear"))
}
HUB_FILES = ("config.json", "model.safetensors")
MODEL_CLASS = "AsymmetricCroCo3DStereo"
_REPO_ID = re.compile(r"[\w.-]+/[\w.-]+")


# ---------------------------------------------------------------------------------- configs

def parse_config(spec: Union[str, Mapping[str, Any]]) -> dict:
    """Normalized network config from a released name ("512_dpt"), a `.pth` constructor
    string (`AsymmetricCroCo3DStereo(...)`, training or inference spelling) or a config dict."""
    if isinstance(spec, Mapping):
        return normalize_config(spec)
    if not isinstance(spec, str):
        raise CheckpointError(
            f"a model config must be a string or a dict, got {type(spec).__name__}")
    if spec in RELEASED_CONFIGS:
        return dict(RELEASED_CONFIGS[spec])
    return normalize_config(_constructor_kwargs(spec))


def _constructor_kwargs(text: str) -> dict:
    """Keyword arguments of `AsymmetricCroCo3DStereo(k=v, ...)`, read with ast, never eval."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise CheckpointError(f"cannot parse the model constructor {text!r}: {exc.msg}") from exc
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        raise CheckpointError(f"not a model constructor: {text!r}")
    if call.func.id != MODEL_CLASS:
        raise CheckpointError(f"the checkpoint is a {call.func.id}, not a DUSt3R "
                              f"{MODEL_CLASS}; this add-on runs DUSt3R checkpoints only")
    if call.args or any(kw.arg is None for kw in call.keywords):
        raise CheckpointError(f"the model constructor may only have keyword arguments: {text!r}")
    return {kw.arg: _literal(kw.value, text) for kw in call.keywords}


def _literal(node: ast.AST, text: str) -> Any:
    """A constant, tuple or list of them, with `inf` allowed (the official strings use it)."""
    if isinstance(node, ast.Name) and node.id == "inf":
        return math.inf
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _literal(node.operand, text)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value
    if isinstance(node, (ast.Tuple, ast.List)):
        return [_literal(element, text) for element in node.elts]
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool,
                                                                  type(None))):
        return node.value
    raise CheckpointError(
        f"unsupported value {ast.unparse(node)!r} in the model constructor {text!r}")


# ---------------------------------------------------------------------------------- files

def read_pth(path: PathLike, *, trust_pickle: bool = False) -> tuple[dict, dict]:
    """(config, state dict) of an official `.pth`, memory-mapped.

    Unpickling is restricted to tensors and plain containers plus `argparse.Namespace`
    (`weights_only=True`); `trust_pickle=True` lifts that for files from a trusted source.
    """
    path = Path(path)
    try:
        ckpt = _torch_load(path, trust_pickle)
    except pickle.UnpicklingError as exc:
        if trust_pickle:
            raise CheckpointError(f"{path} is not a valid torch checkpoint ({exc})") from exc
        found = re.search(r"GLOBAL (\S+)", str(exc))
        raise CheckpointError(
            f"{path} contains Python objects other than tensors and argparse.Namespace"
            f"{f' ({found[1]})' if found else ''}, which are not loaded by default because "
            "unpickling them can run arbitrary code. If the file comes from a source you "
            "trust, load it with trust_pickle=True.") from exc
    except (OSError, RuntimeError, ValueError, EOFError, AttributeError, ImportError) as exc:
        raise CheckpointError(f"{path} is not a readable torch checkpoint (truncated or "
                              f"corrupt?): {exc}") from exc
    if not isinstance(ckpt, dict) or "model" not in ckpt or "args" not in ckpt:
        found = sorted(map(str, ckpt)) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path} is not an official DUSt3R checkpoint: expected the "
                              f"entries 'model' and 'args', found {found}")
    args = ckpt["args"]
    constructor = args.get("model") if isinstance(args, dict) else getattr(args, "model", None)
    if not isinstance(constructor, str):
        raise CheckpointError(f"{path}: 'args' has no model constructor string (args.model)")
    if not isinstance(ckpt["model"], Mapping):
        raise CheckpointError(f"{path}: 'model' is a {type(ckpt['model']).__name__}, "
                              "not a state dict")
    try:
        config = parse_config(constructor)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    return config, dict(ckpt["model"])


def _torch_load(path: Path, trust_pickle: bool) -> Any:
    with torch.serialization.safe_globals([argparse.Namespace]):
        try:
            return torch.load(path, map_location="cpu", mmap=True, weights_only=not trust_pickle)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
        # Files in torch's legacy (pre-zip) format cannot be memory-mapped.
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)


def read_hub(path: PathLike) -> tuple[dict, dict]:
    """(config, state dict) of a hub folder, or of a `.safetensors` file with its config.json."""
    path = Path(path)
    folder, tensors = (path, path / HUB_FILES[1]) if path.is_dir() else (path.parent, path)
    config_path = folder / HUB_FILES[0]
    missing = [str(p) for p in (config_path, tensors) if not p.is_file()]
    if missing:
        raise CheckpointError(f"{path} is not a complete hub model: missing {', '.join(missing)}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))  # accepts Infinity
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{config_path} is not a valid config.json: {exc}") from exc
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path} is not a valid config.json: it holds a "
                              f"{type(config).__name__}, not an object")
    try:
        config = parse_config(config)
    except CheckpointError as exc:
        raise CheckpointError(f"{config_path}: {exc}") from exc
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        state_dict = load_file(tensors)
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{tensors} is not a readable safetensors file (truncated or "
                              f"corrupt?): {exc}") from exc
    return config, state_dict


# ---------------------------------------------------------------------------------- hub

def default_model_dir() -> Path:
    """Where downloads go: $DUST3R_MODEL_DIR, else ~/.cache/dust3r_blender/models."""
    return Path(os.environ.get("DUST3R_MODEL_DIR") or
                Path.home() / ".cache" / "dust3r_blender" / "models").expanduser()


def repo_id(source: str) -> Optional[str]:
    """The hub repo id of a released name or an "owner/name" id; None for anything else."""
    source = RELEASED.get(source, source)
    return source if _REPO_ID.fullmatch(source) else None


def _repo_folder(repo: str, model_dir: Optional[PathLike]) -> Path:
    return Path(model_dir or default_model_dir()).expanduser() / repo.replace("/", "--")


def find_local(source: str, model_dir: Optional[PathLike] = None) -> Optional[Path]:
    """The local copy of a released name or repo id (in `model_dir`, else in the Hugging Face
    cache), or the path itself for an existing file or folder; None if absent. No network."""
    path = Path(source).expanduser()
    if path.exists():
        return path
    repo = repo_id(source)
    if repo is None:
        return None
    folder = _repo_folder(repo, model_dir)
    if all((folder / name).is_file() for name in HUB_FILES):
        return folder
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    cached = [try_to_load_from_cache(repo, name) for name in HUB_FILES]
    if all(isinstance(p, str) for p in cached) and Path(cached[0]).parent == Path(cached[1]).parent:
        return Path(cached[1]).parent
    return None


def download(source: str, model_dir: Optional[PathLike] = None, progress: Progress = None) -> Path:
    """Download config.json and model.safetensors of a released name or repo id into
    `model_dir`/<owner>--<name>/ and return that folder. `progress(done, total)` in bytes."""
    repo = repo_id(source)
    if repo is None:
        raise CheckpointError(f"{source!r} is neither a released model "
                              f"({', '.join(RELEASED)}) nor a Hugging Face repo id (owner/name)")
    try:
        from huggingface_hub import errors, hf_hub_download
    except ImportError as exc:
        raise CheckpointError("downloading models needs the huggingface_hub package, which is "
                              "not installed") from exc
    folder = _repo_folder(repo, model_dir)
    bar = _progress_bar_class(progress) if progress else None
    try:
        for name in HUB_FILES:
            hf_hub_download(repo, name, local_dir=folder, tqdm_class=bar)
    except errors.GatedRepoError as exc:
        raise CheckpointError(f"{repo} is gated on the Hugging Face hub: accept its terms "
                              "there and log in (huggingface-cli login)") from exc
    except errors.RepositoryNotFoundError as exc:
        raise CheckpointError(f"{repo} was not found on the Hugging Face hub (misspelt, or "
                              "private)") from exc
    except errors.RemoteEntryNotFoundError as exc:
        raise CheckpointError(f"{repo} has no {name}: it is not a hub DUSt3R model") from exc
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled) as exc:
        raise CheckpointError(f"cannot download {repo}: the Hugging Face hub is unreachable "
                              "(offline?) and the model is not in "
                              f"{folder}") from exc
    except (errors.HfHubHTTPError, errors.HFValidationError, OSError) as exc:
        raise CheckpointError(f"downloading {repo} failed: {exc}") from exc
    return folder


def _progress_bar_class(progress: Callable[[int, int], None]) -> type:
    """A tqdm class for hf_hub_download's `tqdm_class` that reports bytes to `progress`
    (summed over the files of one download) and prints nothing."""
    from tqdm.auto import tqdm

    state = {"done": 0, "total": 0}

    class Bar(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "disable": True})
            state["total"] += kwargs.get("total") or 0
            state["done"] += kwargs.get("initial") or 0
            progress(state["done"], state["total"])

        def update(self, n=1):
            state["done"] += n or 0
            progress(state["done"], state["total"])

        def update_transfer(self, n=1):
            """Network bytes of Xet downloads; progress follows the bytes written (update)."""

        def set_transfer_postfix_str(self, *args, **kwargs):
            pass

    return Bar


# ---------------------------------------------------------------------------------- load

def load_model(source: PathLike, device: Union[str, torch.device] = "cpu", *,
               model_dir: Optional[PathLike] = None, progress: Progress = None,
               trust_pickle: bool = False) -> Dust3R:
    """The network with its weights, in eval mode on `device`.

    `source`: a released name (512_dpt, 512_linear, 224_linear), a hub repo id
    ("owner/name"; both are downloaded into `model_dir` on first use), a hub folder, a
    `.safetensors` file with config.json beside it, or an official `.pth` (restricted
    unpickling unless `trust_pickle`). `progress(done, total)` reports download bytes.
    Raises CheckpointError for anything wrong with the source, Dust3rError for the device.
    """
    device = resolve_device(device)
    path = Path(source).expanduser()
    if not path.exists():
        local = find_local(os.fspath(source), model_dir)
        if local is None and repo_id(os.fspath(source)) is None:
            raise CheckpointError(f"no such model file or folder: {path} (models by name: "
                                  f"{', '.join(RELEASED)}, or a Hugging Face repo id owner/name)")
        path = local or download(os.fspath(source), model_dir, progress)
    if path.is_dir() or path.suffix == ".safetensors":
        config, state_dict = read_hub(path)
    else:
        config, state_dict = read_pth(path, trust_pickle=trust_pickle)
    try:
        model = build_model(config, state_dict)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    return model.to(device)
