"""Synthetic scenes with exact ground truth for the alignment tests and benchmark.

A room-like scene (the inside of a radius-12 sphere, a floor, a few balls) ray-cast from N
cameras on an arc around its centre, and the pairwise "network outputs" it implies: for
pair (i, j), image i's points and image j's points in camera i's frame, times a random
per-pair scale, with optional noise, outliers and per-pixel confidences. OpenCV axes: y is
down, so the floor is at y = +FLOOR.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from demo.truth import look_at  # noqa: F401  (the tests take it from here too)

FLOOR = 1.5
ROOM = 12.0


@dataclass
class SyntheticScene:
    c2w: np.ndarray  # [N, 4, 4] float64
    focals: np.ndarray  # [N]
    pp: np.ndarray  # [N, 2]
    depth: list  # [H, W] float64 per image
    balls: np.ndarray  # [B, 4]: centre, radius

    @property
    def n(self) -> int:
        return len(self.c2w)

    def cam_points(self, k: int) -> np.ndarray:
        """[H, W, 3] points of image k in its own camera frame."""
        h, w = self.depth[k].shape
        v, u = np.mgrid[:h, :w].astype(np.float64)
        rays = np.stack([(u - self.pp[k, 0]) / self.focals[k], (v - self.pp[k, 1]) / self.focals[k],
                         np.ones_like(u)], -1)
        return rays * self.depth[k][..., None]

    def world_points(self, k: int) -> np.ndarray:
        return self.cam_points(k) @ self.c2w[k, :3, :3].T + self.c2w[k, :3, 3]


def make_scene(n: int = 4, shapes: Optional[Sequence[tuple[int, int]]] = None,
               focals: Optional[Sequence[float]] = None, pp: Optional[Sequence] = None,
               arc_deg: float = 80.0, radius: float = 4.0, seed: int = 0) -> SyntheticScene:
    """N cameras on an arc of `arc_deg` around the room's centre; shapes (H, W) per image."""
    rng = np.random.default_rng(seed)
    shapes = list(shapes) if shapes is not None else [(48, 64)] * n
    focals = np.asarray(focals if focals is not None else [1.2 * max(s) for s in shapes], np.float64)
    pp = np.asarray(pp if pp is not None else [(w / 2, h / 2) for h, w in shapes], np.float64)
    angles = np.radians(np.linspace(-arc_deg / 2, arc_deg / 2, n))
    c2w = []
    for k, a in enumerate(angles):
        centre = np.array([radius * np.sin(a), -0.3 + 0.2 * rng.standard_normal(), -radius * np.cos(a)])
        target = rng.normal(0, 0.3, 3) * [1, 0.3, 1]
        c2w.append(look_at(centre, target, roll_deg=rng.normal(0, 3)))
    balls = np.concatenate([rng.uniform([-1.5, -0.5, -1.5], [1.5, 1.0, 1.5], (5, 3)),
                            rng.uniform(0.3, 0.7, (5, 1))], 1)
    scene = SyntheticScene(np.stack(c2w), focals, pp, [], balls)
    scene.depth = [_ray_cast(scene, k, shapes[k]) for k in range(n)]
    return scene


def _ray_cast(scene: SyntheticScene, k: int, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    v, u = np.mgrid[:h, :w].astype(np.float64)
    rays = np.stack([(u - scene.pp[k, 0]) / scene.focals[k], (v - scene.pp[k, 1]) / scene.focals[k],
                     np.ones_like(u)], -1) @ scene.c2w[k, :3, :3].T  # world directions with z_cam = 1
    o = scene.c2w[k, :3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = (FLOOR - o[1]) / rays[..., 1]
    t = np.where(t_floor > 0, t_floor, np.inf)
    a = (rays ** 2).sum(-1)
    for c, r, far in [(np.zeros(3), ROOM, True)] + [(b[:3], b[3], False) for b in scene.balls]:
        oc = o - c
        half_b = (rays * oc).sum(-1)
        disc = half_b ** 2 - a * ((oc ** 2).sum() - r ** 2)
        root = np.sqrt(np.maximum(disc, 0))
        hit = ((-half_b + root) if far else (-half_b - root)) / a
        t = np.where((disc > 0) & (hit > 0) & (hit < t), hit, t)
    return t  # the ray's z in the camera frame is 1, so t is the depth


def complete_edges(n: int) -> list[tuple[int, int]]:
    """The symmetrised complete graph."""
    return [(i, j) for i in range(n) for j in range(n) if i != j]


def make_pairwise(scene: SyntheticScene, edges: Optional[Sequence[tuple[int, int]]] = None, *,
                  noise: float = 0.0, outliers: float = 0.0, pair_scale: float = 1.0,
                  images: bool = False, seed: int = 0) -> dict:
    """The `inference()` output this scene implies (stacked, or listed when shapes differ).

    noise: sigma of a Gaussian on every coordinate, relative to the point's depth; outliers:
    fraction of pixels per map whose depth along the pixel's ray is wrong by a factor in
    [1/3, 3] (the network's typical failure: floaters), with ordinary confidence;
    pair_scale: each pair's points are scaled by a random factor in [1/pair_scale, pair_scale].
    images: add `img` [3, H, W] in [-1, 1] whose colour encodes the pixel (see pixel_colors).
    """
    rng = np.random.default_rng(seed)
    edges = list(edges) if edges is not None else complete_edges(scene.n)
    out = {k: [] for k in ("pts1", "conf1", "pts2", "conf2", "img1", "img2")}
    for i, j in edges:
        w2c = np.linalg.inv(scene.c2w[i])
        scale = np.exp(rng.uniform(-np.log(pair_scale), np.log(pair_scale)))
        for side, k in (("1", i), ("2", j)):
            bad = rng.random(scene.depth[k].shape) < outliers
            wrong = np.exp(rng.uniform(-np.log(3), np.log(3), bad.shape)) * bad + ~bad
            pts = scene.cam_points(k) * wrong[..., None] @ scene.c2w[k, :3, :3].T + scene.c2w[k, :3, 3]
            pts = (pts @ w2c[:3, :3].T + w2c[:3, 3]) * scale
            pts = pts + rng.standard_normal(pts.shape) * noise * np.abs(pts[..., 2:])
            conf = 1 + np.exp(rng.normal(2.0, 0.4, pts.shape[:2]))
            out["pts" + side].append(torch.tensor(pts, dtype=torch.float32))
            out["conf" + side].append(torch.tensor(conf, dtype=torch.float32))
            out["img" + side].append(torch.tensor(pixel_colors(scene, k) * 2 - 1, dtype=torch.float32).permute(2, 0, 1))
    same = len({tuple(d.shape) for d in scene.depth}) == 1
    pack = (lambda xs: torch.stack(xs)) if same else (lambda xs: xs)
    pairwise = {"view1": {"idx": [i for i, _ in edges]}, "view2": {"idx": [j for _, j in edges]},
                "pred1": {"pts3d": pack(out["pts1"]), "conf": pack(out["conf1"])},
                "pred2": {"pts3d_in_other_view": pack(out["pts2"]), "conf": pack(out["conf2"])}}
    if images:
        pairwise["view1"]["img"] = pack(out["img1"])
        pairwise["view2"]["img"] = pack(out["img2"])
    return pairwise


def pixel_colors(scene: SyntheticScene, k: int) -> np.ndarray:
    """[H, W, 3] colours in [0, 1] that identify image k and the pixel."""
    h, w = scene.depth[k].shape
    v, u = np.mgrid[:h, :w]
    return np.stack([u / max(w - 1, 1), v / max(h - 1, 1), np.full(u.shape, (k + 1) / (scene.n + 1))], -1)
