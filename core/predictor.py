"""What turns image pairs into pairwise point maps: the network, or a stand-in.

The pipeline asks a `Predictor` for two things: the image size it works at, and the
pairwise predictions of a list of pairs in the official `inference()` layout. The DUSt3R
network is one (`NetworkPredictor`); the demo's ground-truth predictor and the tests' exact
predictors are others, and everything after them (alignment, import) runs the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Protocol

from .progress import Cancel, Progress

if TYPE_CHECKING:
    import torch


class Predictor(Protocol):
    image_size: int  # network input size (long side; 224 models: short side)

    def __call__(self, pairs: list, progress: Optional[Progress] = None,
                 cancel: Optional[Cancel] = None) -> dict:
        """Pairwise predictions of `pairs` (view dicts from `core.images.load_images`) in the
        layout of `core.inference.run_pairs`; `progress(done, total)` in pairs."""


@dataclass
class NetworkPredictor:
    """The DUSt3R network on a device, at a precision, `batch_size` pairs at a time."""

    model: "torch.nn.Module"
    device: "torch.device"
    dtype: "torch.dtype"
    batch_size: int = 8
    image_size: int = 512

    def __call__(self, pairs: list, progress: Optional[Progress] = None,
                 cancel: Optional[Cancel] = None) -> dict:
        from .inference import run_pairs

        return run_pairs(self.model, pairs, device=self.device, batch_size=self.batch_size,
                         dtype=self.dtype, progress=progress, cancel=cancel)


def trained_image_size(model) -> int:
    """The image size a network was trained at (its config's `img_size`), else 512."""
    size = getattr(model, "config", {}).get("img_size")  # [H, W]
    return int(max(size)) if size else 512
