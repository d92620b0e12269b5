"""Device choice: auto falls back to the CPU; a missing GPU is a clear error. Precision:
auto is bf16 where the hardware has it; impossible precisions are clear errors."""
import pytest
import torch

import core.device
from core.device import (PRECISIONS, check_dtype, cpu_capabilities, native_bf16,
                         resolve_device, resolve_dtype)
from core.errors import Dust3rError


def test_resolve_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")
    for name in ("cuda", "cuda:0"):
        with pytest.raises(Dust3rError, match="No CUDA GPU was found"):
            resolve_device(name)
    with pytest.raises(Dust3rError, match="Unknown device 'gpu'"):
        resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda")
    with pytest.raises(Dust3rError, match="no CUDA GPU 1: this machine has 1"):
        resolve_device("cuda:1")


def fake_cpu(monkeypatch, **capabilities):
    monkeypatch.setattr(core.device, "cpu_capabilities", lambda: dict(capabilities))


def fake_cuda(monkeypatch, bf16: bool, emulated: bool = False):
    def is_bf16_supported(including_emulation=True):
        return bf16 or (emulated and including_emulation)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU")


@pytest.mark.parametrize("capabilities, expected", [
    ({"avx512_bf16": True, "amx_bf16": True}, torch.bfloat16),  # Sapphire Rapids and later
    ({"avx512_bf16": True, "amx_bf16": False}, torch.bfloat16),  # Zen 4, Cooper Lake
    ({"avx512_bf16": False, "amx_bf16": True}, torch.bfloat16),
    ({"avx512_f": True, "avx512_bf16": False}, torch.float32),  # AVX-512 without bf16
    ({"avx2": True}, torch.float32),
    ({}, torch.float32),  # torch could not say
])
def test_auto_precision_on_the_cpu(monkeypatch, capabilities, expected):
    fake_cpu(monkeypatch, **capabilities)
    cpu = torch.device("cpu")
    assert resolve_dtype("auto", cpu) == expected
    assert resolve_dtype("auto", "cpu") == expected
    assert resolve_dtype("fp32", cpu) == torch.float32
    assert resolve_dtype("bf16", cpu) == torch.bfloat16  # asked for: allowed, if emulated
    with pytest.raises(Dust3rError, match="float16 precision needs a GPU"):
        resolve_dtype("fp16", cpu)


@pytest.mark.parametrize("bf16, emulated, expected", [
    (True, False, torch.bfloat16),  # compute capability 8.0+
    (False, True, torch.float32),  # emulated bf16 is no faster
    (False, False, torch.float32),
])
def test_auto_precision_on_a_gpu(monkeypatch, bf16, emulated, expected):
    fake_cuda(monkeypatch, bf16, emulated)
    cuda = torch.device("cuda")
    assert resolve_dtype("auto", cuda) == expected
    assert resolve_dtype("fp16", cuda) == torch.float16
    assert resolve_dtype("fp32", cuda) == torch.float32


def test_bf16_on_a_gpu_without_it(monkeypatch):
    fake_cuda(monkeypatch, bf16=False)
    with pytest.raises(Dust3rError, match=r"This GPU \(Fake GPU\) does not support bfloat16"):
        resolve_dtype("bf16", torch.device("cuda"))
    with pytest.raises(Dust3rError, match="does not support bfloat16"):
        check_dtype(torch.bfloat16, torch.device("cuda"))


def test_auto_precision_elsewhere_and_unknown_names(monkeypatch):
    fake_cpu(monkeypatch, avx512_bf16=True)
    assert resolve_dtype("auto", torch.device("mps")) == torch.float32
    for bad in ("fp8", "float32", "", "AUTO"):
        with pytest.raises(Dust3rError, match="Unknown precision"):
            resolve_dtype(bad, torch.device("cpu"))
    with pytest.raises(ValueError, match="dtype must be"):
        check_dtype(torch.float64, torch.device("cpu"))
    assert set(PRECISIONS) == {"auto", "fp32", "bf16", "fp16"}


def test_cpu_capabilities_come_from_torch():
    capabilities = cpu_capabilities()
    assert isinstance(capabilities, dict)
    if hasattr(torch.cpu, "get_capabilities"):
        assert capabilities.get("avx512_bf16", False) == torch.cpu.get_capabilities().get(
            "avx512_bf16", False)


def test_cpu_capabilities_on_an_older_torch(monkeypatch):
    monkeypatch.delattr(torch.cpu, "get_capabilities", raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert cpu_capabilities() == {"avx512_bf16": True, "amx_bf16": False}
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert cpu_capabilities() == {}
    assert not native_bf16(torch.device("cpu"))
