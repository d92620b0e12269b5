"""Device choice: auto falls back to the CPU; a missing GPU is a clear error."""
import pytest
import torch

from core.device import resolve_device
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
