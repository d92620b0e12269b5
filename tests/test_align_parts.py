"""The aligner's building blocks: Umeyama, focal estimate, PnP, clean-up."""
import numpy as np
import pytest
import roma
import torch

from align_metrics import rotation_deg
from align_synthetic import look_at, make_scene
from core.align.clean import clean_pointcloud
from core.align.geometry import (estimate_focal, pixel_grid, robust_similarity, unproject,
                                 weighted_similarity)
from core.align.pnp import solve_pnp


def _random_rotations(n, seed=0):
    q = torch.randn(n, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return roma.unitquat_to_rotmat(q / q.norm(dim=-1, keepdim=True))


def _similar_points(n=2000, outliers=0.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randn(n, 3, dtype=torch.float64, generator=gen)
    rot = _random_rotations(1, seed)[0]
    dst = 2.5 * src @ rot.T + torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    bad = torch.rand(n, generator=gen) < outliers
    dst[bad] += 5 * torch.randn(int(bad.sum()), 3, dtype=torch.float64, generator=gen)
    return src, dst, rot


def test_weighted_similarity_is_exact_and_robust_similarity_ignores_outliers():
    src, dst, rot = _similar_points()
    s, r, t = weighted_similarity(src, dst, torch.rand(len(src), dtype=torch.float64))
    assert float(s) == pytest.approx(2.5) and torch.allclose(r, rot) and torch.allclose(t, torch.tensor([1.0, -2, 3], dtype=torch.float64))
    src, dst, rot = _similar_points(outliers=0.2)
    w = torch.ones(len(src))
    assert rotation_deg(weighted_similarity(src, dst, w)[1].numpy(), rot.numpy()) > 1
    s, r, _ = robust_similarity(src, dst, w)
    assert rotation_deg(r.numpy(), rot.numpy()) < 0.05 and float(s) == pytest.approx(2.5, rel=1e-3)


def test_focal_estimate_is_exact_off_centre_and_robust_to_depth_outliers():
    scene = make_scene(1, focals=[83.0], pp=[(35.0, 21.5)])
    pts = torch.tensor(scene.cam_points(0), dtype=torch.float32)
    assert estimate_focal(pts, (35.0, 21.5)) == pytest.approx(83.0, rel=1e-4)
    assert estimate_focal(pts, (32.0, 24.0)) != pytest.approx(83.0, rel=1e-3)  # pp matters
    flying = pts.clone()
    flying[::7, ::3] *= torch.tensor([1.3, 0.7, 2.0])  # off the pixel's ray
    assert estimate_focal(flying, (35.0, 21.5)) == pytest.approx(83.0, rel=2e-3)


def _view(c2w, focal, pp, shape=(48, 64), seed=0):
    """World points of a bumpy surface seen by the camera, and their pixels."""
    h, w = shape
    v, u = np.mgrid[:h, :w]
    depth = 4 + np.sin(u / 5.0) + np.cos(v / 4.0)  # not flat: DLT needs relief
    depth = torch.tensor(depth, dtype=torch.float64)
    world = unproject(depth, focal, pp, torch.tensor(c2w))
    return world.reshape(-1, 3), pixel_grid(h, w, dtype=torch.float64).reshape(-1, 2)


@pytest.mark.parametrize("start", ["near", "dlt"])
def test_pnp_recovers_the_pose_with_outliers(start):
    c2w = look_at(np.array([0.5, -0.3, -4.0]), np.array([0.1, 0.2, 0.0]), roll_deg=5)
    world, pixels = _view(c2w, 70.0, (30.0, 25.0))
    gen = torch.Generator().manual_seed(1)
    bad = torch.rand(len(world), generator=gen) < 0.15
    world[bad] += torch.randn(int(bad.sum()), 3, dtype=torch.float64, generator=gen)
    init = None
    if start == "near":
        init = torch.tensor(c2w) @ torch.tensor(look_at(np.zeros(3), np.array([0.05, -0.04, 1.0])))
        init[:3, 3] += 0.2
    found = solve_pnp(world, pixels, 70.0, (30.0, 25.0), init_c2w=init)[0].numpy()
    assert rotation_deg(found[:3, :3], c2w[:3, :3]) < 0.05
    assert np.linalg.norm(found[:3, 3] - c2w[:3, 3]) < 0.01  # 0.25 % of the distance


def _wall_scene():
    """Two cameras looking at a wall; image 0 has a floating patch in front of it."""
    c2w = torch.tensor(np.stack([look_at(np.array([x, 0.0, -4.0]), np.array([x, 0.0, 0.0]))
                                 for x in (0.0, 0.3)]), dtype=torch.float32)
    depth = [torch.full((48, 64), 4.0), torch.full((48, 64), 4.0)]
    depth[0][20:30, 20:30] = 2.0  # floater, seen by camera 1 in front of its wall
    focals = torch.tensor([60.0, 60.0])
    pp = torch.tensor([[32.0, 24.0], [32.0, 24.0]])
    pts3d = [unproject(d, focals[k], pp[k], c2w[k]) for k, d in enumerate(depth)]
    return depth, pts3d, c2w, focals, pp


@pytest.mark.parametrize("floater_conf, expect_removed", [(2.0, True), (9.0, False)])
def test_clean_up_removes_less_confident_points_in_front_of_another_view(floater_conf, expect_removed):
    depth, pts3d, c2w, focals, pp = _wall_scene()
    conf = [torch.full((48, 64), 5.0), torch.full((48, 64), 5.0)]
    conf[0][20:30, 20:30] = floater_conf
    cleaned = clean_pointcloud(conf, depth, pts3d, c2w, focals, pp)
    assert bool((cleaned[0][20:30, 20:30] == 0).all()) == expect_removed
    assert bool((cleaned[0][:20] == 5.0).all())  # the wall itself stays
    assert bool((cleaned[1] == 5.0).all())  # a wall behind a floater is not "in front"
    assert bool((conf[0][20:30, 20:30] == floater_conf).all())  # inputs untouched
