"""The streamed loss with its hand-written gradient against a plain autograd version of spec 7.3."""
import numpy as np
import pytest
import torch

from align_synthetic import make_pairwise, make_scene
from core.align import edge_loss as edge_loss_module
from core.align.edge_loss import edge_loss, pack_edges
from core.align.inputs import read_pairwise


def reference_loss(pw, sim, points):
    """Spec 7.3 written directly: per pair, both sides, log-confidence weights, L1 distances."""
    area = [h * w for h, w in pw.shapes]
    denom_i = sum(area[i] for i, _ in pw.edges)
    denom_j = sum(area[j] for _, j in pw.edges)
    total = 0
    for e, (i, j) in enumerate(pw.edges):
        for img, pts, conf, denom in ((i, pw.pts_i[e], pw.conf_i[e], denom_i),
                                      (j, pw.pts_j[e], pw.conf_j[e], denom_j)):
            aligned = pts.double().reshape(-1, 3) @ sim[e, :, :3].T + sim[e, :, 3]
            dist = (points[img] - aligned).norm(dim=-1)
            total = total + (torch.log(conf.double().clamp_min(1)).reshape(-1) * dist).sum() / denom
    return total


def _problem(shapes, masks=None, seed=0):
    scene = make_scene(len(shapes), shapes=shapes, seed=seed)
    edges = [(0, 1), (1, 0), (1, 2), (2, 1), (0, 2), (2, 0), (2, 2)][: 2 * len(shapes) + 1]
    edges = [(i, j) for i, j in edges if max(i, j) < len(shapes)]
    pw = read_pairwise(make_pairwise(scene, edges, noise=0.05, pair_scale=2, seed=seed),
                       torch.device("cpu"), masks=masks)
    gen = torch.Generator().manual_seed(seed)
    sim = torch.randn(len(pw.edges), 3, 4, generator=gen, dtype=torch.float64)
    points = [torch.randn(h * w, 3, generator=gen, dtype=torch.float64) * 3 for h, w in pw.shapes]
    return pw, sim, points


def _fast(pw, sim, points, chunk_bytes=None, monkeypatch=None):
    if chunk_bytes is not None:
        monkeypatch.setitem(edge_loss_module.CHUNK_BYTES, "cpu", chunk_bytes)
    sides = pack_edges(pw)
    sim32 = sim.float().requires_grad_(True)
    pts32 = [p.float().requires_grad_(True) for p in points]
    grouped = [torch.stack([pts32[k].T for k in g.images]) for g in sides.groups]
    loss = edge_loss(sides, sim32, grouped)
    loss.backward()
    return loss, sim32.grad, [p.grad for p in pts32], sides


@pytest.mark.parametrize("shapes", [[(6, 8)] * 3, [(6, 8), (8, 6), (6, 8)]], ids=["same", "mixed"])
@pytest.mark.parametrize("chunk_bytes", [None, 1], ids=["default-chunks", "one-side-chunks"])
def test_loss_and_gradients_match_the_autograd_reference(shapes, chunk_bytes, monkeypatch):
    pw, sim, points = _problem(shapes)
    sim_ref = sim.clone().requires_grad_(True)
    pts_ref = [p.clone().requires_grad_(True) for p in points]
    ref = reference_loss(pw, sim_ref, pts_ref)
    ref.backward()
    loss, g_sim, g_pts, sides = _fast(pw, sim, points, chunk_bytes, monkeypatch)
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    torch.testing.assert_close(g_sim.double(), sim_ref.grad, rtol=1e-4, atol=1e-6)
    for mine, theirs in zip(g_pts, pts_ref):
        torch.testing.assert_close(mine.double(), theirs.grad, rtol=1e-4, atol=1e-7)
    if chunk_bytes == 1:
        assert all(stop - start == 1 for g in sides.groups for start, stop, _ in g.chunks)


def test_masked_pixels_have_no_weight_and_no_gradient():
    mask = np.ones((6, 8), bool)
    mask[2:4, 3:7] = False
    pw, sim, points = _problem([(6, 8)] * 3, masks={1: mask})
    _, _, g_pts, _ = _fast(pw, sim, points)
    g1 = g_pts[1].reshape(6, 8, 3)
    assert bool((g1[~torch.from_numpy(mask)] == 0).all())
    assert bool((g1[torch.from_numpy(mask)].abs().sum(-1) > 0).all())


def test_packed_sides_take_about_the_size_of_the_inputs():
    pw, _, _ = _problem([(6, 8)] * 3)
    sides = pack_edges(pw)
    inputs = sum(t.numel() * 4 for t in pw.pts_i + pw.pts_j + pw.conf_i + pw.conf_j)
    assert sides.nbytes == inputs
