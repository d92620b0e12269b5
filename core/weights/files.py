"""Reading checkpoint files in the official layouts (dust3r-spec section 1):

* `.pth` from the official training code: a dict with `model` (the state dict, DPT aliases
  under both names) and `args` (an `argparse.Namespace` whose `.model` is the constructor
  string), plus optimizer state in training checkpoints;
* hub folder (`PyTorchModelHubMixin`): `config.json` (with `Infinity` literals) and
  `model.safetensors` (DPT aliases stored once).

Anything else is a CheckpointError naming the file, found from its first bytes where it can
be (before torch reads it): text, an empty file, a zip that is not a torch archive, a named
pipe. `.pth` tensors are memory-mapped, never copied.
"""
from __future__ import annotations

import argparse
import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from ..errors import CheckpointError
from ..paths import PathLike, special_kind
from .config import parse_config

HUB_FILES = ("config.json", "model.safetensors")
_ZIP = b"PK\x03\x04"
_SNIFF_BYTES = 512


def read_pth(path: PathLike, *, trust_pickle: bool = False) -> tuple[dict, dict]:
    """(config, state dict) of an official `.pth`, memory-mapped.

    Unpickling is restricted to tensors and plain containers plus `argparse.Namespace`
    (`weights_only=True`), which is all an official checkpoint holds; `trust_pickle=True`
    (Python callers only) lifts that for a file from a trusted source.
    """
    path = Path(path)
    problem = _not_torch(path)
    if problem:
        raise CheckpointError(f"{path} is not a DUSt3R checkpoint: {problem}")
    try:
        ckpt = _torch_load(path, trust_pickle)
    except MemoryError:
        raise
    except pickle.UnpicklingError as exc:
        found = None if trust_pickle else re.search(r"GLOBAL (\S+)", str(exc))
        if found is None:  # torch's own text would advise weights_only=False: not for users
            detail = re.search(r"WeightsUnpickler error:\s*(.+)", str(exc))
            raise CheckpointError(f"{path} is not a readable torch checkpoint (truncated or "
                                  f"corrupt?){f': {detail[1]}' if detail else ''}") from exc
        raise CheckpointError(
            f"{path} is not an official DUSt3R checkpoint: besides tensors it holds Python "
            f"objects ({found[1]}), which are not loaded because unpickling them could run "
            "any code. The official .pth files (entries 'model' and 'args') and hub folders "
            "(config.json and model.safetensors) load as they are.") from exc
    except Exception as exc:  # a damaged pickle stream raises anything: KeyError, struct.error...
        raise CheckpointError(f"{path} is not a readable torch checkpoint (truncated or "
                              f"corrupt?): {type(exc).__name__}: {exc}") from exc
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


def _not_torch(path: Path) -> Optional[str]:
    """Why `path` cannot be a file `torch.save` wrote, from what it is and its first bytes
    (a zip archive holding data.pkl, or a legacy pickle stream); None when it may be one."""
    kind = special_kind(path)
    if kind:
        return f"it is {kind}, not a file"
    with open(path, "rb") as file:
        head = file.read(_SNIFF_BYTES)
    if not head:
        return "the file is empty"
    if head.startswith(_ZIP):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return "it is a truncated or damaged zip archive"
        if not any(name.rsplit("/", 1)[-1] == "data.pkl" for name in names):
            return "it is a zip archive, but not one torch.save wrote (no data.pkl)"
        return None
    if head.startswith(b"\x80"):  # pickle protocol 2+: torch's legacy (pre-1.6) format
        return None
    if len(head) > 10 and head[8:10] == b'{"':  # 8-byte header length, then JSON
        return (f"it is a safetensors file: load it as a hub model, with {HUB_FILES[0]} "
                f"beside it named {HUB_FILES[1]}")
    if _is_text(head):
        return "it is a text file"
    return "it is neither a zip archive nor a pickle, the two formats torch.save writes"


def _is_text(head: bytes) -> bool:
    """UTF-8 without NUL bytes (the sniffed bytes may end inside a character)."""
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data"
    return True


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
    for file in (config_path, tensors):
        kind = special_kind(file)
        if kind:
            raise CheckpointError(f"{file} is {kind}, not a file")
    missing = [str(p) for p in (config_path, tensors) if not p.is_file()]
    if missing:
        raise CheckpointError(f"{path} is not a DUSt3R checkpoint: a hub model is a folder "
                              f"with {' and '.join(HUB_FILES)}; missing {', '.join(missing)}")
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
