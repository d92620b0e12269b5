"""Estimated cameras against the ground truth, after the similarity that best aligns them.

A reconstruction from photos alone is only defined up to a similarity (rotation, translation,
scale), so the estimated cameras are first mapped onto the true ones (Umeyama on the camera
centres, through roma) and then compared camera by camera. A solved camera track is compared
frame by frame the same way (`track_errors`), with its reprojection error in plate pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import roma
import torch

try:  # inside the add-on package (Blender, tests/blender)
    from ..core.cameras import PinholeCamera
except ImportError:  # the repository root on sys.path (scripts, tests)
    from core.cameras import PinholeCamera


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


# Acceptance limits of a solved camera track, per frame (issue 11): rotation, position as a
# fraction of the true path length, focal as a fraction, reprojection in plate pixels.
TRACK_LIMITS = {"rotation_deg": 0.5, "position": 0.01, "focal": 0.01, "reprojection_px": 1.0}


@dataclass(frozen=True)
class TrackErrors:
    """Per-frame errors of a solved camera track against the truth of its shot."""

    frames: tuple[int, ...]
    rotation_deg: np.ndarray  # [F] angle between the aligned and the true camera rotation
    position: np.ndarray  # [F] centre distance / the true path length
    focal: np.ndarray  # [F] |f_est / f_true - 1|
    reprojection_px: np.ndarray  # [F] RMS plate-pixel distance of the truth's points
    # projected through the solved camera from where the true camera sees them
    path_length: float  # of the true camera centres over the solved frames
    similarity: Similarity  # reconstruction world -> true world

    def failures(self, limits: dict = TRACK_LIMITS) -> list[int]:
        """The frames with any error over its limit."""
        bad = np.zeros(len(self.frames), bool)
        for name, limit in limits.items():
            bad |= getattr(self, name) > limit
        return [f for f, b in zip(self.frames, bad) if b]

    def table(self) -> str:
        header = f"{'frame':>6}{'rotation':>10}{'position':>10}{'focal':>9}{'reproj':>9}"
        rows = [f"{f:>6}{r:>9.3f}°{100 * p:>9.3f}%{100 * c:>8.3f}%{e:>6.2f} px"
                for f, r, p, c, e in zip(self.frames, self.rotation_deg, self.position,
                                          self.focal, self.reprojection_px)]
        worst = (f"{'worst':>6}{self.rotation_deg.max():>9.3f}°{100 * self.position.max():>9.3f}%"
                 f"{100 * self.focal.max():>8.3f}%{self.reprojection_px.max():>6.2f} px")
        limits = (f"{'limit':>6}{TRACK_LIMITS['rotation_deg']:>9.3f}°"
                  f"{100 * TRACK_LIMITS['position']:>9.3f}%{100 * TRACK_LIMITS['focal']:>8.3f}%"
                  f"{TRACK_LIMITS['reprojection_px']:>6.2f} px")
        return "\n".join([header, *rows, worst, limits])


def track_camera(track, k: int) -> PinholeCamera:
    """Frame `track.frames[k]` of a solved track (`core.track.Track`: c2w, focals, pp,
    size) as an OpenCV camera on the plate."""
    (w, h), f = track.size, float(track.focals[k])
    return PinholeCamera(int(w), int(h), f, f, float(track.pp[k][0]), float(track.pp[k][1]),
                         np.asarray(track.c2w[k], np.float64))


def track_errors(track, truth, sim: Similarity | None = None, step: int = 4) -> TrackErrors:
    """Compare a solved track (`core.track.Track`, read by its fields) with the truth of its
    shot (`demo.truth.GroundTruth` with frame numbers), frame by frame.

    `sim` (reconstruction -> true world) defaults to the least-squares similarity of the
    camera centres and, one path length ahead of each, a point on its optical axis: the
    centres alone do not fix the roll about a straight dolly track. The reprojection error
    takes every `step`-th pixel of each frame's true depth.
    """
    index = [truth.index_of(truth.folder, frame) for frame in track.frames]
    true = [truth.cameras[n] for n in index]
    if any((c.width, c.height) != tuple(track.size) for c in true):
        raise ValueError(f"the track's plate size {tuple(track.size)} is not the truth's "
                         f"{(true[0].width, true[0].height)}")
    true_c2w = np.stack([c.c2w for c in true])
    c2w = np.asarray(track.c2w, np.float64)
    centres = true_c2w[:, :3, 3]
    path_length = float(np.linalg.norm(np.diff(centres, axis=0), axis=1).sum())
    if sim is None:
        solved = c2w[:, :3, 3]
        solved_length = np.linalg.norm(np.diff(solved, axis=0), axis=1).sum()
        sim = similarity(np.concatenate([solved, solved + solved_length * c2w[:, :3, 2]]),
                         np.concatenate([centres, centres + path_length * true_c2w[:, :3, 2]]))
    cameras = camera_errors(true_c2w, [c.fx for c in true], c2w, track.focals, sim)
    position = np.linalg.norm(sim.apply(c2w[:, :3, 3]) - centres, axis=1) / path_length
    reprojection = np.empty(len(index))
    for k, n in enumerate(index):
        world, uv = truth.points(n)
        world, uv = world[::step], uv[::step]
        uv_solved = track_camera(track, k).project(sim.invert(world))[:, :2]
        reprojection[k] = np.sqrt(((uv_solved - uv) ** 2).sum(1).mean())
    return TrackErrors(tuple(track.frames), cameras.rotation_deg, position, cameras.focal,
                       reprojection, path_length, sim)
