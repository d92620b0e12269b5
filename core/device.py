"""Which torch device a run uses, with a clear message when the asked-for one is missing."""
from __future__ import annotations

from typing import Union

import torch

from .errors import Dust3rError


def resolve_device(name: Union[str, torch.device]) -> torch.device:
    """"auto" (CUDA when available, else CPU), "cpu", "cuda[:N]" or "mps" -> a usable device."""
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise Dust3rError(f"Unknown device {name!r}: use 'auto', 'cuda' or 'cpu'") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise Dust3rError(
                f"No CUDA GPU was found (torch {torch.__version__}, CUDA build: "
                f"{torch.version.cuda or 'no'}). Choose the device 'cpu' (much slower) or "
                "'auto', which falls back to the CPU.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise Dust3rError(f"There is no CUDA GPU {device.index}: this machine has "
                              f"{torch.cuda.device_count()} (numbered from 0)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise Dust3rError("Apple's MPS GPU backend is not available here; choose 'cpu'")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise Dust3rError(f"Unsupported device {name!r}: use 'auto', 'cuda' or 'cpu'")
    return device
