"""Stand-ins for the network that know the answer: pairwise point maps from ground truth.

`PointMapPredictor` makes the pairwise outputs from what each view sees (its subclass says
that); `GroundTruthPredictor` takes it from a rendered scene, the tests from analytic ones.
For every pair (i, j) it gives what a perfect DUSt3R would: image i's points in camera i's
frame (`pred1.pts3d`) and image j's points in camera i's frame (`pred2.pts3d_in_other_view`),
on the exact network images `load_images` made (each view's `photo` maps network pixels to
photo pixels, where the rendered depth is sampled). Like the network, every pair gets its own
unknown scale, and optionally noise (relative to depth) and outliers. Pixels that see no
geometry (the sky) get a point far behind the scene and a confidence below any threshold.
Its output is `core.inference.run_pairs`'s layout, so the pipeline takes it as `predictor=`
and everything after the network (alignment, intrinsics, import) runs for real.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

try:  # inside the add-on package (Blender, tests/blender): the pipeline's own classes
    from ..core.errors import raise_if_cancelled
    from ..core.inference import collate_views
    from ..core.progress import Cancel, Progress
except ImportError:  # the repository root on sys.path (scripts, tests)
    from core.errors import raise_if_cancelled
    from core.inference import collate_views
    from core.progress import Cancel, Progress

from .truth import GroundTruth

SKY_CONFIDENCE = 1.01  # raw network confidence is 1 + exp(x) > 1; log(1.01) weighs ~nothing


@dataclass(kw_only=True)
class PointMapPredictor:
    """`predictor(pairs, progress, cancel) -> pairwise dict` from known geometry: a subclass
    says what every view sees (`camera_rays`), this class makes the pairwise outputs.

    noise: standard deviation of a 3D Gaussian added to every point, relative to its depth.
    outliers: fraction of the pixels of every prediction moved by a gross error (0.3 of
    their depth), with the same confidence as the rest (the network is confidently wrong
    at times). scale_range: each pair's scale is log-uniform in it, on top of a
    normalisation to a mean point distance of 1 as the network's output has.
    confidence: the raw confidence of pixels with geometry. Seeded: the same pairs give the
    same output.
    """

    noise: float = 0.0
    outliers: float = 0.0
    scale_range: tuple[float, float] = (0.5, 2.0)
    confidence: float = 10.0
    seed: int = 0
    image_size: int = 512  # network image size to predict at (`core.predictor.Predictor`)

    def camera_rays(self, view: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the network image of `view` sees: its pixels' rays [H,W,3] (z = 1, camera
        frame), their z-depth [H,W] (inf where they hit nothing) and the camera-to-world."""
        raise NotImplementedError

    def camera_points(self, view: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(points [H,W,3] in the camera frame, sky mask, c2w): pixels that see nothing get a
        point far behind the scene and, later, a confidence below any threshold, as the
        network gives the sky."""
        rays, depth, c2w = self.camera_rays(view)
        sky = ~np.isfinite(depth)
        depth = np.where(sky, 2 * depth[~sky].max() if (~sky).any() else 1.0, depth)
        return rays * depth[..., None], sky, c2w

    def __call__(self, pairs: Sequence[tuple[dict, dict]],
                 progress: Optional[Progress] = None,
                 cancel: Optional[Cancel] = None) -> dict:
        rng = np.random.default_rng(self.seed)
        cached: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        outputs = []
        for e, (view1, view2) in enumerate(pairs):
            raise_if_cancelled(cancel)
            if progress is not None:
                progress(e, len(pairs))
            for view in (view1, view2):
                if view["idx"] not in cached:
                    cached[view["idx"]] = self.camera_points(view)
            outputs.append(self._pair(cached[view1["idx"]], cached[view2["idx"]], rng))
        if progress is not None:
            progress(len(pairs), len(pairs))
        shapes = {(tuple(v1["img"].shape[-2:]), tuple(v2["img"].shape[-2:])) for v1, v2 in pairs}
        uniform = len(shapes) == 1
        collect = torch.stack if uniform else list

        def field(k):
            return collect([torch.from_numpy(out[k]) for out in outputs])

        return {"view1": collate_views([v1 for v1, _ in pairs], uniform),
                "view2": collate_views([v2 for _, v2 in pairs], uniform),
                "pred1": {"pts3d": field(0), "conf": field(1)},
                "pred2": {"pts3d_in_other_view": field(2), "conf": field(3)}}

    def _pair(self, first, second, rng) -> tuple[np.ndarray, ...]:
        """pred1 pts3d, conf; pred2 pts3d_in_other_view, conf of one pair, float32."""
        (pts_i, sky_i, c2w_i), (pts_j, sky_j, c2w_j) = first, second
        low, high = np.log(self.scale_range)
        mean_distance = np.linalg.norm(pts_i[~sky_i], axis=-1).mean() if (~sky_i).any() else 1.0
        scale = np.exp(rng.uniform(low, high)) / mean_distance
        j_to_i = np.linalg.inv(c2w_i) @ c2w_j
        pred1 = self._corrupt(pts_i, rng)
        pred2 = self._corrupt(pts_j, rng) @ j_to_i[:3, :3].T + j_to_i[:3, 3]
        return tuple(a.astype(np.float32) for a in (
            pred1 * scale, np.where(sky_i, SKY_CONFIDENCE, self.confidence),
            pred2 * scale, np.where(sky_j, SKY_CONFIDENCE, self.confidence)))

    def _corrupt(self, pts: np.ndarray, rng) -> np.ndarray:
        """Noise and outliers in the points' own camera frame, relative to their depth."""
        depth = pts[..., 2:]
        if self.noise:
            pts = pts + rng.standard_normal(pts.shape, np.float32) * (self.noise * depth)
        if self.outliers:
            bad = rng.random(depth.shape, np.float32) < self.outliers
            gross = rng.standard_normal(pts.shape, np.float32) * (0.3 * depth)
            pts = np.where(bad, pts + gross, pts)
        return pts


@dataclass
class GroundTruthPredictor(PointMapPredictor):
    """What a perfect network gives for the photos of a rendered scene (`demo.truth`): their
    rendered depth sampled at the network image's pixels."""

    truth: GroundTruth

    def index(self, view: dict) -> int:
        """The truth camera of a network view: by its photo's file name or, for the frames
        of a shot (views with a "frame" key: a plate's file or a movie), by frame number."""
        return self.truth.index_of(view["photo"].path, view.get("frame"))

    def camera_rays(self, view: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self.index(view)
        h, w = view["img"].shape[-2:]
        rays, depth = self.truth.network_rays(n, view["photo"], (w, h))
        return rays, depth, self.truth.cameras[n].c2w


@dataclass
class StaticWorldPredictor(GroundTruthPredictor):
    """The ground-truth predictor of a scene where one object moves between the shots
    (`demo.render --moving NAME`), predicting it as a network that assumes a static world.

    Each photo's depth is the truth, the moving object where it really is in that photo;
    but in the pair (i, j) the object seen in photo j is placed where photo i saw it (its
    motion between the two shots folded into view j's points), as if it had stood still.
    So photo j's object points differ from pair to pair: the inconsistency a moving object
    brings into DUSt3R's pairwise predictions, which masks keep out. (`GroundTruthPredictor`
    on the same photos stays consistent: every pair shows photo j's object where photo j saw
    it, so it would not disturb the cameras.) The object's pixels come from the scene's
    masks (`GroundTruth.moving_object`), nearest pixel, as the depth at edges.
    """

    def camera_points(self, view: dict) -> tuple:
        """(points, sky, c2w) as the base class, plus the object's pixels on the network
        image and its 4x4 world pose in that shot."""
        pts, sky, c2w = super().camera_points(view)
        n = self.index(view)
        h, w = view["img"].shape[-2:]
        grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).astype(np.float64)
        uv = np.rint(view["photo"].pixel_to_photo(grid)).astype(np.int64)
        moving = self.truth.moving_object(n)
        u = np.clip(uv[..., 0], 0, moving.shape[1] - 1)
        v = np.clip(uv[..., 1], 0, moving.shape[0] - 1)
        return pts, sky, c2w, moving[v, u], self.truth.cameras[n].object_pose

    def _pair(self, first, second, rng) -> tuple[np.ndarray, ...]:
        (pts_i, sky_i, c2w_i, _, pose_i), (pts_j, sky_j, c2w_j, moving_j, pose_j) = first, second
        # Photo j's object moved back to where it stood in shot i, in camera j's frame.
        motion = np.linalg.inv(c2w_j) @ pose_i @ np.linalg.inv(pose_j) @ c2w_j
        static = np.where(moving_j[..., None], pts_j @ motion[:3, :3].T + motion[:3, 3], pts_j)
        return super()._pair((pts_i, sky_i, c2w_i), (static, sky_j, c2w_j), rng)
