"""Estimated cameras against the ground truth, after the similarity that best aligns them.

A reconstruction from photos alone is only defined up to a similarity (rotation, translation,
scale), so the estimated cameras are first mapped onto the true ones (Umeyama on the camera
centres, through roma) and then compared camera by camera.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import roma
import torch


@dataclass(frozen=True)
class Similarity:
    """x -> scale * rotation @ x + translation."""

    scale: float
    rotation: np.ndarray  # [3, 3]
    translation: np.ndarray  # [3]

    def apply(self, points: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(points) @ self.rotation.T + self.translation

    def invert(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points) - self.translation) @ self.rotation / self.scale


@dataclass(frozen=True)
class CameraErrors:
    """Per-camera errors of an estimate against the truth, after `similarity`."""

    rotation_deg: np.ndarray  # [N] angle between the aligned and the true camera rotation
    position: np.ndarray  # [N] centre distance / the true cameras' spread (RMS from their mean)
    focal: np.ndarray  # [N] |f_est / f_true - 1|
    similarity: Similarity  # estimated world -> true world

    def table(self, names: list[str]) -> str:
        rows = [f"{'photo':<16}{'rotation':>10}{'position':>10}{'focal':>9}"]
        rows += [f"{name:<16}{r:>9.3f}°{100 * p:>9.2f}%{100 * f:>8.2f}%"
                 for name, r, p, f in zip(names, self.rotation_deg, self.position, self.focal)]
        rows.append(f"{'worst':<16}{self.rotation_deg.max():>9.3f}°{100 * self.position.max():>9.2f}%"
                    f"{100 * self.focal.max():>8.2f}%")
        return "\n".join(rows)


def similarity(source: np.ndarray, target: np.ndarray) -> Similarity:
    """The least-squares similarity mapping points `source` [M, 3] onto `target` [M, 3]."""
    rotation, translation, scale = roma.rigid_points_registration(
        torch.as_tensor(source, dtype=torch.float64), torch.as_tensor(target, dtype=torch.float64),
        compute_scaling=True)
    return Similarity(float(scale), rotation.numpy(), translation.numpy())


def camera_errors(true_c2w: np.ndarray, true_focals: np.ndarray, c2w: np.ndarray,
                  focals: np.ndarray, sim: Similarity | None = None) -> CameraErrors:
    """Compare cameras (OpenCV c2w [N,4,4], focal lengths [N] in pixels of the same photos)
    after `sim` (estimate -> truth; default: the one that best aligns the camera centres)."""
    true_c2w, c2w = np.asarray(true_c2w, np.float64), np.asarray(c2w, np.float64)
    sim = sim or similarity(c2w[:, :3, 3], true_c2w[:, :3, 3])
    rotations = sim.rotation @ c2w[:, :3, :3]
    relative = np.einsum("nji,njk->nik", true_c2w[:, :3, :3], rotations)
    cos = np.clip((np.trace(relative, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
    centres = true_c2w[:, :3, 3]
    spread = np.sqrt(((centres - centres.mean(0)) ** 2).sum(1).mean())
    position = np.linalg.norm(sim.apply(c2w[:, :3, 3]) - centres, axis=1) / spread
    focal = np.abs(np.asarray(focals, np.float64) / np.asarray(true_focals, np.float64) - 1)
    return CameraErrors(np.degrees(np.arccos(cos)), position, focal, sim)


def scene_similarity(scene, truth, world: np.ndarray | None = None, keep=None) -> Similarity:
    """Reconstruction -> true world, fitted to the points of every pixel in the scene's masks
    (and in `keep[n]`, bool [H, W] per network image, when given: e.g. only what stood still).

    Hundreds of thousands of pixels pin the similarity down far better than a few camera
    centres, so camera errors then measure the cameras, not the alignment. `world` (4x4) is
    applied to the scene's points first (e.g. the import's Z-up, scaled Blender world).
    """
    world = np.eye(4) if world is None else np.asarray(world, np.float64)
    source, target = [], []
    for n in range(scene.n_images):
        photo = scene.photo(n)
        k = truth.index_of(photo.path)
        rays, depth = truth.network_rays(k, photo, scene.image_size(n))
        use = np.asarray(scene.masks[n], bool) & np.isfinite(depth)
        if keep is not None:
            use &= keep[n]
        c2w = truth.cameras[k].c2w
        target.append((rays[use] * depth[use, None]) @ c2w[:3, :3].T + c2w[:3, 3])
        source.append(np.asarray(scene.pts3d[n], np.float64)[use] @ world[:3, :3].T + world[:3, 3])
    return similarity(np.concatenate(source), np.concatenate(target))
