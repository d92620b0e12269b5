"""Checkpoints: `load_model` from a released name, a hub repo id, a hub folder or an official
`.pth`, one module per concern:

    config  the released models and configs; model constructor strings (read, never run)
    files   reading .pth files and hub folders, refusing anything else by name
    hub     local copies of hub models, downloads, and why the hub could not be reached

Weights are never held twice: the network is built on the meta device and takes the loaded
tensors as its parameters (memory-mapped for `.pth`), then moves to the device.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import torch

from ..device import resolve_device
from ..errors import CheckpointError
from ..model import Dust3R, build_model
from ..paths import PathLike
from ..progress import Progress
from .config import MODEL_CLASS, RELEASED, RELEASED_CONFIGS, parse_config
from .files import HUB_FILES, read_hub, read_pth
from .hub import default_model_dir, download, find_local, repo_id

__all__ = ["HUB_FILES", "MODEL_CLASS", "RELEASED", "RELEASED_CONFIGS", "default_model_dir",
           "download", "find_local", "load_model", "parse_config", "read_hub", "read_pth",
           "repo_id"]


def load_model(source: PathLike, device: Union[str, torch.device] = "cpu", *,
               model_dir: Optional[PathLike] = None, progress: Optional[Progress] = None,
               allow_download: bool = True, trust_pickle: bool = False) -> Dust3R:
    """The network with its weights, in eval mode on `device`.

    `source`: a released name (512_dpt, 512_linear, 224_linear), a hub repo id
    ("owner/name"; both are downloaded into `model_dir` on first use unless
    `allow_download` is False or HF_HUB_OFFLINE is set), a hub folder, a `.safetensors` file
    with config.json beside it, or an official `.pth` (restricted unpickling unless
    `trust_pickle`). `progress(done, total)` reports download bytes.
    Raises CheckpointError for anything wrong with the source, Dust3rError for the device.
    """
    device = resolve_device(device)
    path = Path(source).expanduser()
    if not path.exists():
        local = find_local(os.fspath(source), model_dir)
        if local is None and repo_id(os.fspath(source)) is None:
            raise CheckpointError(f"no such model file or folder: {path} (models by name: "
                                  f"{', '.join(RELEASED)}, or a Hugging Face repo id owner/name)")
        path = local or download(os.fspath(source), model_dir, progress,
                                 allow_download=allow_download)
    if path.is_dir() or path.suffix == ".safetensors":
        config, state_dict = read_hub(path)
    else:
        config, state_dict = read_pth(path, trust_pickle=trust_pickle)
    try:
        model = build_model(config, state_dict)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    return model.to(device)
