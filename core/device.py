"""Which torch device a run uses, with a clear message when the asked-for one is missing."""
from __future__ import annotations

from typing import Union

import torch

from . import options
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


PRECISIONS = options.ids(options.PRECISIONS)  # "auto" and the names of _DTYPES
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_dtype(precision: str, device: Union[str, torch.device]) -> torch.dtype:
    """The dtype the network runs in for a precision setting on a (resolved) device.

    "fp32", "bf16" and "fp16" name theirs (checked against the device, see `check_dtype`);
    "auto" is bfloat16 where the hardware computes it natively (`native_bf16`), else float32:
    on such a CPU (AVX512-BF16 + AMX) run_pairs ran 3.4x faster in bfloat16, with points
    within 1.1 % of the largest float32 value (0.14 % median; random weights, bench/pairs.py).
    """
    device = torch.device(device)
    if precision == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    if precision not in _DTYPES:
        raise Dust3rError(f"Unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    dtype = _DTYPES[precision]
    check_dtype(dtype, device)
    return dtype


def check_dtype(dtype: torch.dtype, device: torch.device) -> None:
    """Dust3rError for a precision the device cannot run: float16 on the CPU (no autocast
    kernels worth having), bfloat16 on a GPU without it."""
    if dtype not in _DTYPES.values():
        raise ValueError(
            f"dtype must be torch.float32, torch.bfloat16 or torch.float16, not {dtype}")
    if dtype == torch.float16 and device.type == "cpu":
        raise Dust3rError("float16 precision needs a GPU; on the CPU use float32 (or bfloat16)")
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise Dust3rError(f"This GPU ({torch.cuda.get_device_name(device)}) does not support "
                          "bfloat16; use float16 or float32")


def native_bf16(device: torch.device) -> bool:
    """Whether the device computes bfloat16 matrix products in hardware: CUDA GPUs of compute
    capability 8.0 or newer, and x86 CPUs with AVX512-BF16 or AMX-BF16 instructions (which
    torch's oneDNN uses). Not ARM CPUs nor Apple's MPS: unmeasured, so float32 there."""
    if device.type == "cuda":
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch < 2.4 has no emulation to leave out
            return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        capabilities = cpu_capabilities()
        return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))
    return False


def cpu_capabilities() -> dict:
    """The CPU's instruction set extensions as torch detects them ({} if it cannot say)."""
    get = getattr(torch.cpu, "get_capabilities", None)
    if get is not None:
        return dict(get())
    legacy = {"avx512_bf16": "_is_avx512_bf16_supported", "amx_bf16": "_is_amx_tile_supported"}
    return {key: bool(getattr(torch.cpu, name)()) for key, name in legacy.items()
            if hasattr(torch.cpu, name)}
