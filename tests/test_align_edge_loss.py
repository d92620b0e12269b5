"""The streamed loss with its hand-written gradient against a plain autograd version of spec 7.3."""
import numpy as np
import pytest
import torch

from align_synthetic import make_pairwise, make_scene
from core.align import edge_loss as edge_loss_module
from core.align.edge_loss import edge_loss, pack_edges
import roma
from core.align.inputs import read_pairwise


def reference_loss(pw, pp, sim, rot, trans, focals, log_depth):
    """Spec 7.3 written directly: world points from depth, then per pair and side the
    log-confidence weighted L1 distance, normalised by the pixel counts (float64 autograd)."""
    points = []
    for k, (h, w) in enumerate(pw.shapes):
        v, u = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                              indexing="ij")
        depth = log_depth[k].exp().reshape(h, w)
        cam = torch.stack([(u - pp[k][0]) / focals[k] * depth, (v - pp[k][1]) / focals[k] * depth, depth], -1)
        points.append((cam @ rot[k].T + trans[k]).reshape(-1, 3))
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
    n = len(shapes)
    args = {"sim": torch.randn(len(pw.edges), 3, 4, generator=gen, dtype=torch.float64),
            "rot": roma.unitquat_to_rotmat(roma.random_unitquat(n, generator=gen, dtype=torch.float64)),
            "trans": torch.randn(n, 3, generator=gen, dtype=torch.float64),
            "focals": 60 + 30 * torch.rand(n, generator=gen, dtype=torch.float64),
            "log_depth": [torch.log(3 + 10 * torch.rand(h * w, generator=gen, dtype=torch.float64))
                          for h, w in shapes]}
    pp = torch.tensor([(w / 2 + 1.5, h / 2 - 0.5) for h, w in shapes], dtype=torch.float64)
    return pw, pp, args


def _fast(pw, pp, args, chunk_bytes=None, monkeypatch=None):
    if chunk_bytes is not None:
        monkeypatch.setitem(edge_loss_module.CHUNK_BYTES, "cpu", chunk_bytes)
    sides = pack_edges(pw, pp)
    mine = {k: v.float().requires_grad_(True) for k, v in args.items() if k != "log_depth"}
    depth = [d.float().requires_grad_(True) for d in args["log_depth"]]
    grouped = [torch.stack([depth[k] for k in g.images]) for g in sides.groups]
    loss = edge_loss(sides, mine["sim"], mine["rot"], mine["trans"], mine["focals"], grouped)
    loss.backward()
    grads = {k: v.grad for k, v in mine.items()}
    grads["log_depth"] = [d.grad for d in depth]
    return loss, grads, sides


@pytest.mark.parametrize("shapes", [[(6, 8)] * 3, [(6, 8), (8, 6), (6, 8)]], ids=["same", "mixed"])
@pytest.mark.parametrize("chunk_bytes", [None, 1], ids=["default-chunks", "one-side-chunks"])
def test_loss_and_gradients_match_the_autograd_reference(shapes, chunk_bytes, monkeypatch):
    pw, pp, args = _problem(shapes)
    ref_args = {k: v.clone().requires_grad_(True) for k, v in args.items() if k != "log_depth"}
    ref_depth = [d.clone().requires_grad_(True) for d in args["log_depth"]]
    ref = reference_loss(pw, pp, **ref_args, log_depth=ref_depth)
    ref.backward()
    loss, grads, sides = _fast(pw, pp, args, chunk_bytes, monkeypatch)
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    for key, theirs in ref_args.items():
        torch.testing.assert_close(grads[key].double(), theirs.grad, rtol=1e-4, atol=1e-6, msg=key)
    for mine, theirs in zip(grads["log_depth"], ref_depth):
        torch.testing.assert_close(mine.double(), theirs.grad, rtol=1e-4, atol=1e-7)
    if chunk_bytes == 1:
        assert all(stop - start == 1 for g in sides.groups for chunks in g.chunks for start, stop in chunks)
    assert len(sides.groups) == len(set(shapes))


def test_masked_pixels_have_no_weight_and_no_gradient():
    mask = np.ones((6, 8), bool)
    mask[2:4, 3:7] = False
    pw, pp, args = _problem([(6, 8)] * 3, masks={1: mask})
    _, grads, _ = _fast(pw, pp, args)
    g1 = grads["log_depth"][1].reshape(6, 8)
    assert bool((g1[~torch.from_numpy(mask)] == 0).all())
    assert bool((g1[torch.from_numpy(mask)] != 0).all())


def test_packed_sides_take_about_the_size_of_the_inputs():
    pw, pp, _ = _problem([(6, 8)] * 3)
    sides = pack_edges(pw, pp)
    inputs = sum(t.numel() * 4 for t in pw.pts_i + pw.pts_j + pw.conf_i + pw.conf_j)
    assert sides.nbytes == inputs
