"""Camera accuracy after a similarity alignment, as the fixture README measures it."""
from __future__ import annotations

import numpy as np

from demo.compare import similarity


def rotation_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between rotations [..., 3, 3], accurate near zero: 2 asin(|A - B|_F / (2 sqrt 2))."""
    d = np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=(-2, -1))
    return np.degrees(2 * np.arcsin(np.clip(d / (2 * np.sqrt(2)), 0, 1)))


def camera_errors(c2w, focals, ref_c2w, ref_focals, depth=None, ref_depth=None) -> dict:
    """Max errors of cameras (and mean depth abs-rel) against a reference, after a similarity
    fitted on the camera centres; positions relative to the reference cameras' spread."""
    c2w, ref_c2w = np.asarray(c2w, np.float64), np.asarray(ref_c2w, np.float64)
    sim = similarity(c2w[:, :3, 3], ref_c2w[:, :3, 3])
    scale, rot, trans = sim.scale, sim.rotation, sim.translation
    centres = scale * c2w[:, :3, 3] @ rot.T + trans
    spread = np.linalg.norm(ref_c2w[:, :3, 3] - ref_c2w[:, :3, 3].mean(0), axis=1).mean()
    n = len(c2w)
    rel = [rotation_deg(c2w[a, :3, :3].T @ c2w[b, :3, :3], ref_c2w[a, :3, :3].T @ ref_c2w[b, :3, :3])
           for a in range(n) for b in range(a + 1, n)]
    out = {"scale": scale,
           "rot_deg": float(rotation_deg(rot @ c2w[:, :3, :3], ref_c2w[:, :3, :3]).max()),
           "rel_rot_deg": float(max(rel)) if rel else 0.0,
           "pos_rel": float((np.linalg.norm(centres - ref_c2w[:, :3, 3], axis=1) / spread).max()),
           "focal_pct": float((np.abs(np.asarray(focals) - ref_focals) / ref_focals).max() * 100)}
    if depth is not None:
        out["depth_absrel"] = float(np.mean([np.mean(np.abs(scale * np.asarray(d) - r) / r)
                                             for d, r in zip(depth, ref_depth)]))
    return out
