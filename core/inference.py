"""Run the network over all image pairs: encoder reuse, batching, precision, progress, cancel.

The official driver calls `model(view1, view2)` per batch of pairs and so encodes every image
again for every pair it is in: with the complete graph about half of all the work. Here each
image is encoded once per run and its tokens are reused by every pair; only the decoders and
heads run per pair. The result is the official `inference()` layout, on the CPU.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from .device import check_dtype, resolve_device
from .errors import OutOfMemory, raise_if_cancelled
from .progress import Cancel, Progress

Pair = tuple[dict, dict]
Shape = tuple[int, int]

OUT_OF_MEMORY_ADVICE = (
    "Try fewer photos, a sparser pair graph (swin-3 or oneref instead of complete), the "
    "224_linear model, bf16 precision, or a smaller batch size.")


def run_pairs(model: torch.nn.Module, pairs: Sequence[Pair],
              device: Union[str, torch.device] = "cpu", batch_size: int = 8,
              dtype: torch.dtype = torch.float32, progress: Optional[Progress] = None,
              cancel: Optional[Cancel] = None) -> dict:
    """The network's predictions for every (view1, view2) pair, in the official layout.

    Returns {'view1', 'view2', 'pred1': {'pts3d', 'conf'}, 'pred2': {'pts3d_in_other_view',
    'conf'}} on the CPU in float32, pairs in the given order. Views are collated: `img`
    [P,3,H,W], `true_shape` int32 [P,2], and lists of the other keys (`idx`, `instance`,
    `photo`). When the pairs do not all share one image shape per side, every tensor entry is
    instead a list of per-pair tensors without the batch dimension, so `x[e]` is pair e either
    way. The model is moved to `device`. bf16/fp16 run the transformer under autocast (the
    model keeps its heads in float32). `progress(done, total)` is called after the encoding
    and after every batch; `cancel()` is checked between batches (raises `Cancelled`).
    """
    device = resolve_device(device)
    check_dtype(dtype, device)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if not pairs:
        raise ValueError("No image pairs to run")
    try:
        return _run(model.to(device), pairs, device, batch_size, dtype, progress, cancel)
    except torch.cuda.OutOfMemoryError:
        pass  # leave the handler first: its traceback holds the tensors we want freed
    torch.cuda.empty_cache()
    raise OutOfMemory(f"Out of GPU memory while running the network on {len(pairs)} image "
                      f"pairs (batch size {batch_size}). " + OUT_OF_MEMORY_ADVICE)


@contextmanager
def _network_mode(device: torch.device, dtype: torch.dtype):
    """No autograd, and autocast for bf16/fp16 (the model keeps its heads in float32)."""
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype,
                                                enabled=dtype != torch.float32):
        yield


def _run(model, pairs, device, batch_size, dtype, progress, cancel) -> dict:
    # The network runs under inference_mode; its outputs are copied out into ordinary tensors,
    # which (unlike inference tensors) the aligner can combine with parameters that need grad.
    tokens = _encode_once(model, pairs, device, dtype, batch_size, cancel)
    total = len(pairs)
    if progress is not None:
        progress(0, total)

    groups: dict[tuple[Shape, Shape], list[int]] = {}  # pairs by image shapes, in pair order
    for e, (view1, view2) in enumerate(pairs):
        groups.setdefault((_shape(view1), _shape(view2)), []).append(e)
    uniform = len(groups) == 1
    preds: dict[str, dict] = {"pred1": {}, "pred2": {}}
    done = 0
    for (shape1, shape2), members in groups.items():
        for k in range(0, len(members), batch_size):
            raise_if_cancelled(cancel)
            batch = members[k:k + batch_size]
            with _network_mode(device, dtype):
                feat1, pos1 = (torch.cat(t) for t in zip(*(tokens[pairs[e][0]["idx"]] for e in batch)))
                feat2, pos2 = (torch.cat(t) for t in zip(*(tokens[pairs[e][1]["idx"]] for e in batch)))
                pred1, pred2 = model.predict(feat1, pos1, feat2, pos2, shape1, shape2)
            for side, pred in (("pred1", pred1), ("pred2", pred2)):
                for key, value in pred.items():
                    _store(preds[side], key, value, batch, total, uniform)
            done += len(batch)
            if progress is not None:
                progress(done, total)
    return {
        "view1": collate_views([view1 for view1, _ in pairs], uniform),
        "view2": collate_views([view2 for _, view2 in pairs], uniform),
        **preds,
    }


def _store(out: dict, key: str, value: Tensor, batch: list[int], total: int, uniform: bool) -> None:
    """Copy one batch's output into the result, float32 on the CPU, at its pairs' positions.

    All pairs of one shape: one [P, ...] tensor (its batches come in pair order); otherwise
    a list of per-pair tensors without the batch dimension.
    """
    if uniform:
        if key not in out:
            out[key] = torch.empty((total, *value.shape[1:]), dtype=torch.float32)
        out[key][batch[0]:batch[-1] + 1] = value
    else:
        items = out.setdefault(key, [None] * total)
        for e, item in zip(batch, value):
            items[e] = item.to("cpu", torch.float32, copy=True)


def _encode_once(model, pairs, device, dtype, batch_size, cancel) -> dict[int, tuple[Tensor, Tensor]]:
    """Encoder tokens and patch positions ([1,S,C], [1,S,2]) of every distinct image, by idx."""
    images: dict[int, Tensor] = {}
    for view in (view for pair in pairs for view in pair):
        images.setdefault(view["idx"], view["img"])
    by_shape: dict[Shape, list[int]] = {}
    for idx, img in images.items():
        by_shape.setdefault(tuple(img.shape[-2:]), []).append(idx)
    tokens = {}
    for members in by_shape.values():
        for k in range(0, len(members), batch_size):
            raise_if_cancelled(cancel)
            batch = members[k:k + batch_size]
            with _network_mode(device, dtype):
                feat, pos = model.encode(torch.cat([images[idx] for idx in batch]).to(device))
            tokens.update(zip(batch, zip(feat.split(1), pos.split(1))))
    return tokens


def _shape(view: dict) -> Shape:
    return tuple(view["img"].shape[-2:])


def collate_views(views: list[dict], uniform: bool) -> dict:
    """One side's views as the official collation: tensors batched, everything else in lists."""
    imgs = [view["img"] for view in views]
    shapes = [torch.as_tensor(view.get("true_shape", [_shape(view)])).to(torch.int32).reshape(1, 2)
              for view in views]
    batch = {"img": torch.cat(imgs) if uniform else [img[0] for img in imgs],
             "true_shape": torch.cat(shapes) if uniform else [shape[0] for shape in shapes]}
    keys = [key for key in views[0] if key not in batch and all(key in view for view in views)]
    batch.update({key: [view[key] for view in views] for key in keys})
    return batch
