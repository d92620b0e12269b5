"""The aligner against the official PointCloudOptimizer run in ga_fixture_n4.safetensors."""
import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file

from align_metrics import camera_errors
from core.align import global_align
from core.align.aligner import _decode
from core.align.edge_loss import pack_edges
from core.align.geometry import unproject
from core.align.init import mst_init, spanning_tree
from core.align.inputs import read_pairwise
from core.align.known import read_known
from core.align.optimizer import SceneParameters, learning_rate, optimize

# Float32 summation order alone moves the official result's errors against the ground truth
# by about 1 % (the official init run through this optimiser: 1.0 %), so "no worse than the
# official" allows that much; the agreement with the official result itself is far tighter.
TRAJECTORY_NOISE = 1.02


@pytest.fixture(scope="module")
def ga(official):
    path = official / "ga_fixture_n4.safetensors"
    with safe_open(str(path), "np") as f:
        result = json.loads(f.metadata()["result"])
    return load_file(str(path)), result


def pairwise_of(t):
    return {"view1": {"idx": t["input.view1.idx"]}, "view2": {"idx": t["input.view2.idx"]},
            "pred1": {"pts3d": t["input.pred1.pts3d"], "conf": t["input.pred1.conf"]},
            "pred2": {"pts3d_in_other_view": t["input.pred2.pts3d_in_other_view"],
                      "conf": t["input.pred2.conf"]}}


@pytest.fixture(scope="module")
def scene(ga):
    return global_align(pairwise_of(ga[0]))


def _parameters(t, prefix):
    """SceneParameters holding the official raw parameters `prefix`.param.*."""
    pw = read_pairwise(pairwise_of(t), torch.device("cpu"))
    known = read_known(None, None, None, False, pw.photos, pw.shapes)
    pp = torch.tensor([[32.0, 24.0]] * 4, dtype=torch.float64)
    params = SceneParameters(mst_init(pw, known, 3.0, False), known, pack_edges(pw, pp), False,
                             torch.device("cpu"))
    with torch.no_grad():
        params.pairs.copy_(torch.from_numpy(t[f"{prefix}.param.pw_poses"]))
        params.poses.copy_(torch.from_numpy(t[f"{prefix}.param.im_poses"]))
        params.focals.copy_(torch.from_numpy(t[f"{prefix}.param.im_focals"])[:, 0])
        params.depth[0].copy_(torch.from_numpy(t[f"{prefix}.param.im_depthmaps"]))
    return params, pw


def test_official_parameters_decode_to_the_official_outputs(ga):
    t = ga[0]
    params, pw = _parameters(t, "official.final")
    with torch.no_grad():
        c2w, focals, depth = _decode(params, pw)
        np.testing.assert_allclose(c2w.numpy(), t["official.final.c2w"], atol=1e-6)
        np.testing.assert_allclose(focals.numpy(), t["official.final.focals"], rtol=1e-6)
        np.testing.assert_allclose(torch.stack(depth).numpy(), t["official.final.depthmaps"], rtol=1e-6)
        pts = [unproject(d, f, (32.0, 24.0), pose) for d, f, pose in zip(depth, focals, c2w)]
        np.testing.assert_allclose(torch.stack(pts).numpy(), t["official.final.pts3d"], atol=1e-5)
        np.testing.assert_allclose(params.pair_similarities().numpy(),
                                   t["official.final.pw_poses"][:, :3], atol=1e-6)
        assert float(params.loss()) == pytest.approx(float(t["official.trace.loss"][-1]), rel=1e-4)


@pytest.mark.slow
def test_loss_lr_schedule_and_adam_follow_the_official_trace(ga):
    t = ga[0]
    params, _ = _parameters(t, "official.init")
    with torch.no_grad():
        assert float(params.loss()) == pytest.approx(float(t["official.init.loss"][0]), rel=1e-6)
    lrs = [learning_rate("cosine", 0.01, k, 300) for k in range(300)]
    np.testing.assert_allclose(lrs, t["official.trace.lr"], rtol=1e-12)
    trace = optimize(params, 300, 0.01, "cosine")
    # iteration by iteration while float32 rounding has not yet been amplified by Adam
    np.testing.assert_allclose(trace[:50], t["official.trace.loss"][:50], rtol=1e-4)
    assert trace[-1] == pytest.approx(float(t["official.trace.loss"][-1]), rel=1e-4)


def test_final_cameras_match_the_official_result(scene, ga):
    t = ga[0]
    err = camera_errors(scene.c2w, scene.focals, t["official.final.c2w"], t["official.final.focals"],
                        scene.depthmaps, t["official.final.depthmaps"])
    assert err["rot_deg"] < 0.05
    assert err["pos_rel"] < 0.002
    assert err["focal_pct"] < 0.2
    assert err["depth_absrel"] < 0.002
    assert scene.loss_trace.shape == (300,)
    assert scene.loss_trace[-1] == pytest.approx(float(t["official.final.loss"][0]), rel=1e-3)
    np.testing.assert_array_equal(scene.pp, t["official.final.pp"])


def test_errors_against_ground_truth_are_no_worse_than_the_official(scene, ga):
    t, result = ga
    gt = (t["gt.c2w"], t["gt.focal"], None, t["gt.depth"])
    mine = camera_errors(scene.c2w, scene.focals, gt[0], gt[1], scene.depthmaps, gt[3])
    theirs = camera_errors(t["official.final.c2w"], t["official.final.focals"], gt[0], gt[1],
                           t["official.final.depthmaps"], gt[3])
    for key in ("rot_deg", "rel_rot_deg", "pos_rel", "focal_pct", "depth_absrel"):
        assert mine[key] <= TRAJECTORY_NOISE * theirs[key], key
    official = result["metrics_final"]  # the same quantities as the fixture's metadata states them
    assert mine["pos_rel"] <= TRAJECTORY_NOISE * official["trans_err_rel_max"]
    assert mine["focal_pct"] <= TRAJECTORY_NOISE * official["focal_err_pct_max"]
    assert mine["depth_absrel"] <= TRAJECTORY_NOISE * official["depth_absrel_mean"]
    assert mine["rot_deg"] <= TRAJECTORY_NOISE * official["rot_err_deg_max"]


def test_initialisation_follows_the_official_spanning_tree(scene, ga):
    t = ga[0]
    pw = read_pairwise(pairwise_of(t), torch.device("cpu"))
    tree = [pw.edges[e] for e in spanning_tree(pw, [pw.edge_score(e) for e in range(len(pw.edges))])]
    assert tree == [tuple(e) for e in t["official.mst.edges"].tolist()]
    # Same walk, Umeyama and scale normalisation; the official PnP (OpenCV RANSAC) for camera 2
    # and its stale-focal quirk for cameras 0 and 1 differ at the noise level only.
    err = camera_errors(scene.init.c2w, scene.init.focals, t["official.init.c2w"], t["official.init.focals"],
                        scene.init.depthmaps, t["official.init.depthmaps"])
    assert err["rot_deg"] < 0.1 and err["pos_rel"] < 0.01 and err["focal_pct"] < 0.1
    assert err["scale"] == pytest.approx(1.0, abs=2e-3)  # the same base-scale normalisation
    assert err["depth_absrel"] < 0.01
    np.testing.assert_array_equal(scene.init.c2w[3], np.eye(4))  # world = the strongest edge's camera
    assert scene.init.focals[3] == pytest.approx(float(t["official.init.focals"][3]), rel=1e-5)
    assert scene.init.focals[2] == pytest.approx(float(t["official.init.focals"][2]), rel=1e-5)
