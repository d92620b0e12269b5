"""Reading and checking the aligner's inputs: the pairwise network outputs and per-image options.

The pairwise dict is the official `inference()` layout (view1, view2, pred1, pred2). Every
tensor entry is either stacked over pairs ([P, H, W, 3], ...) or, when the images differ in
shape, a list of per-pair tensors; `x[e]` is pair e either way. Torch tensors or numpy
arrays are accepted. Problems a user can cause raise `AlignmentError` naming the pair or image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch

from ..errors import AlignmentError
from ..images import Photo


@dataclass
class Pairwise:
    """The network's pairwise predictions, checked, as float32 tensors where they came from.

    They stay there (usually the CPU): the steps that read them move one pair at a time to
    the working `device` (see `edge`), so the pairwise data is never held twice on a GPU.

    Edge e = (i, j): `pts_i[e]` [H_i, W_i, 3] is image i and `pts_j[e]` [H_j, W_j, 3] is
    image j, both in camera i's frame; `conf_i[e]`, `conf_j[e]` their raw confidences (>= 1).
    Pixels outside the user's masks get confidence 0: no weight anywhere, never in the cloud.
    """

    edges: list[tuple[int, int]]
    pts_i: list[torch.Tensor]
    pts_j: list[torch.Tensor]
    conf_i: list[torch.Tensor]
    conf_j: list[torch.Tensor]
    shapes: list[tuple[int, int]]  # (H, W) per image
    im_conf: list[torch.Tensor]  # [H, W] per image: max of every confidence map of that image
    colors: Optional[list[np.ndarray]]  # [H, W, 3] sRGB in [0, 1] per image, None without images
    photos: list[Optional[Photo]]
    device: torch.device

    @property
    def n_images(self) -> int:
        return len(self.shapes)

    def edge(self, e: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pts_i, conf_i, pts_j, conf_j) of pair e on the working device."""
        return tuple(x[e].to(self.device)
                     for x in (self.pts_i, self.conf_i, self.pts_j, self.conf_j))

    def edge_score(self, e: int) -> float:
        """The official edge strength: mean confidence of one side times that of the other."""
        return float(self.conf_i[e].mean() * self.conf_j[e].mean())


def _item(x: Any, e: int, ndim: int, what: str) -> torch.Tensor:
    """Pair e of a stacked or listed entry as a float32 tensor with `ndim` dimensions."""
    t = torch.as_tensor(np.asarray(x[e]) if not torch.is_tensor(x[e]) else x[e])
    while t.ndim > ndim and t.shape[0] == 1:  # a list of batch-1 tensors
        t = t[0]
    if t.ndim != ndim:
        raise AlignmentError(f"{what} of pair {e} has shape {tuple(t.shape)}, "
                             f"expected {ndim} dimensions")
    return t


def _indices(x: Any, what: str) -> list[int]:
    try:
        if torch.is_tensor(x) or isinstance(x, np.ndarray):
            return [int(v) for v in np.asarray(torch.as_tensor(x).cpu()).reshape(-1)]
        return [int(np.asarray(v.cpu() if torch.is_tensor(v) else v).reshape(-1)[0]) for v in x]
    except (TypeError, ValueError, IndexError) as err:
        raise AlignmentError(f"{what} must be a list of image indices ({err})") from None


def _get(d: Mapping, key: str, where: str):
    if not isinstance(d, Mapping) or key not in d:
        raise AlignmentError(f"the pairwise predictions lack '{where}{key}' (expected the "
                             "layout of inference(): view1, view2, pred1, pred2)")
    return d[key]


def read_pairwise(pairwise: Mapping, device: torch.device, masks: Any = None) -> Pairwise:
    """Check the pairwise dict and convert it; raises AlignmentError on unusable input.

    `masks`: per image a bool [H, W] (True = use the pixel) or None, as a sequence or dict.
    """
    view1, view2 = _get(pairwise, "view1", ""), _get(pairwise, "view2", "")
    pred1, pred2 = _get(pairwise, "pred1", ""), _get(pairwise, "pred2", "")
    idx1 = _indices(_get(view1, "idx", "view1."), "view1['idx']")
    idx2 = _indices(_get(view2, "idx", "view2."), "view2['idx']")
    entries = {"pred1['pts3d']": _get(pred1, "pts3d", "pred1."),
               "pred1['conf']": _get(pred1, "conf", "pred1."),
               "pred2['pts3d_in_other_view']": _get(pred2, "pts3d_in_other_view", "pred2."),
               "pred2['conf']": _get(pred2, "conf", "pred2.")}
    n_pairs = len(idx1)
    if n_pairs == 0:
        raise AlignmentError("there are no image pairs to align")
    for name, value in [("view2['idx']", idx2)] + list(entries.items()):
        if len(value) != n_pairs:
            raise AlignmentError(f"{name} has {len(value)} pairs but view1['idx'] has {n_pairs}")
    n = max(idx1 + idx2) + 1
    missing = sorted(set(range(n)) - set(idx1 + idx2))
    if min(idx1 + idx2) < 0 or missing:
        raise AlignmentError("image indices must be exactly 0..N-1; got "
                             f"{sorted(set(idx1 + idx2))}")

    shapes: list[Optional[tuple[int, int]]] = [None] * n
    pts_i, pts_j, conf_i, conf_j = [], [], [], []
    for e, (i, j) in enumerate(zip(idx1, idx2)):
        pi = _item(entries["pred1['pts3d']"], e, 3, "pred1['pts3d']")
        ci = _item(entries["pred1['conf']"], e, 2, "pred1['conf']")
        pj = _item(entries["pred2['pts3d_in_other_view']"], e, 3, "pred2['pts3d_in_other_view']")
        cj = _item(entries["pred2['conf']"], e, 2, "pred2['conf']")
        for img, pts, conf in ((i, pi, ci), (j, pj, cj)):
            hw = tuple(conf.shape)
            if tuple(pts.shape) != hw + (3,):
                raise AlignmentError(f"pair {e} ({i}, {j}): points {tuple(pts.shape)} and "
                                     f"confidence {hw} of image {img} do not match")
            if shapes[img] is None:
                shapes[img] = hw
            elif shapes[img] != hw:
                raise AlignmentError(f"image {img} is {shapes[img][0]}x{shapes[img][1]} (HxW) in "
                                     f"one pair but {hw[0]}x{hw[1]} in pair {e} ({i}, {j})")
            if not (bool(torch.isfinite(pts).all()) and bool(torch.isfinite(conf).all())):
                raise AlignmentError(f"pair {e} ({i}, {j}) has NaN or infinite values in the "
                                     f"prediction of image {img}")
        pts_i.append(pi.float())
        pts_j.append(pj.float())
        conf_i.append(ci.float())
        conf_j.append(cj.float())

    for n_img, mask in enumerate(per_image(masks, n, "masks")):
        if mask is None:
            continue
        mask = torch.as_tensor(mask).bool()
        if tuple(mask.shape) != shapes[n_img]:
            raise AlignmentError(f"the mask of image {n_img} is {tuple(mask.shape)} but the image "
                                 f"is {shapes[n_img]} (H, W) in the network frame")
        for e, (i, j) in enumerate(zip(idx1, idx2)):
            if i == n_img:
                conf_i[e] = torch.where(mask.to(conf_i[e].device), conf_i[e], 0.0)
            if j == n_img:
                conf_j[e] = torch.where(mask.to(conf_j[e].device), conf_j[e], 0.0)

    im_conf: list[Optional[torch.Tensor]] = [None] * n
    for e, (i, j) in enumerate(zip(idx1, idx2)):
        for img, conf in ((i, conf_i[e]), (j, conf_j[e])):
            conf = conf.to(device)
            im_conf[img] = (conf.clone() if im_conf[img] is None
                            else torch.maximum(im_conf[img], conf))

    return Pairwise(list(zip(idx1, idx2)), pts_i, pts_j, conf_i, conf_j, shapes, im_conf,
                    _colors(view1, view2, idx1, idx2, shapes), _photos(view1, view2, idx1, idx2, n),
                    device)


def _first_of_each_image(idx1, idx2):
    """(view key, pair index) of the first view that shows each image."""
    first = {}
    for e, (i, j) in enumerate(zip(idx1, idx2)):
        first.setdefault(i, ("view1", e))
        first.setdefault(j, ("view2", e))
    return first


def _colors(view1, view2, idx1, idx2, shapes) -> Optional[list[np.ndarray]]:
    views = {"view1": view1, "view2": view2}
    if any("img" not in v for v in views.values()):
        return None
    colors = []
    for n, (key, e) in sorted(_first_of_each_image(idx1, idx2).items()):
        img = _item(views[key]["img"], e, 3, f"{key}['img']")
        if tuple(img.shape) != (3,) + shapes[n]:
            raise AlignmentError(f"{key}['img'] of pair {e} is {tuple(img.shape)} but the "
                                 f"prediction of image {n} is {shapes[n]}")
        colors.append(((img.float().permute(1, 2, 0).cpu().numpy() + 1) / 2).clip(0, 1))
    return colors


def _photos(view1, view2, idx1, idx2, n) -> list[Optional[Photo]]:
    views = {"view1": view1, "view2": view2}
    photos: list[Optional[Photo]] = [None] * n
    for img, (key, e) in _first_of_each_image(idx1, idx2).items():
        listed = views[key].get("photo")
        if listed is not None:
            photo = listed[e] if isinstance(listed, Sequence) else listed
            photos[img] = photo if isinstance(photo, Photo) else None
    return photos


def per_image(value: Any, n: int, what: str) -> list:
    """A per-image option given as a sequence (None = unknown) or a dict {image: value}."""
    if value is None:
        return [None] * n
    if isinstance(value, Mapping):
        bad = [k for k in value if not (isinstance(k, (int, np.integer)) and 0 <= k < n)]
        if bad:
            raise AlignmentError(f"{what}: image indices {bad} are not in 0..{n - 1}")
        return [value.get(k) for k in range(n)]
    items = list(value)
    if len(items) != n:
        raise AlignmentError(f"{what} has {len(items)} entries for {n} images")
    return items
