"""global_align's input handling: layouts it accepts, bad input it refuses, callbacks."""
import numpy as np
import pytest
import torch

from align_synthetic import make_pairwise, make_scene
from core.align import global_align
from core.errors import AlignmentError, Cancelled, Dust3rError
from core.settings import AlignSettings


@pytest.fixture(scope="module")
def truth():
    return make_scene(3, seed=20)


@pytest.fixture
def pairwise(truth):
    return make_pairwise(truth, noise=0.01, pair_scale=2, seed=20)


def test_numpy_arrays_and_tensor_indices_give_the_same_scene(pairwise):
    as_numpy = {view: {k: (np.asarray(v) if torch.is_tensor(v) else v) for k, v in d.items()}
                for view, d in pairwise.items()}
    as_numpy["view1"]["idx"] = torch.tensor(pairwise["view1"]["idx"])
    a = global_align(pairwise, AlignSettings(niter=10))
    b = global_align(as_numpy, AlignSettings(niter=10))
    np.testing.assert_array_equal(a.c2w, b.c2w)
    np.testing.assert_array_equal(a.loss_trace, b.loss_trace)


def test_listed_per_pair_tensors_equal_the_stacked_layout(pairwise):
    listed = {view: {k: (list(v) if torch.is_tensor(v) else v) for k, v in d.items()}
              for view, d in pairwise.items()}
    a = global_align(pairwise, AlignSettings(niter=10))
    b = global_align(listed, AlignSettings(niter=10))
    np.testing.assert_array_equal(a.c2w, b.c2w)


def _edit(pairwise, view, key, e, value):
    pairwise[view][key] = list(pairwise[view][key])
    pairwise[view][key][e] = value
    return pairwise


@pytest.mark.parametrize("case, match", [
    ("missing", "pred2"),
    ("no pairs", "no image pairs"),
    ("gap in indices", "0..N-1"),
    ("negative index", "0..N-1"),
    ("pair count", "pairs"),
    ("nan", r"pair 2 \(1, 0\) has NaN or infinite values in the prediction of image 1"),
    ("inf conf", "NaN or infinite"),
    ("shape", "image 1 is 40x64 \\(HxW\\) in one pair but 48x64 in pair"),
    ("points vs conf", "do not match"),
    ("not connected", "do not connect all images"),
    ("no confident pixels", "image 2 has no pixel with confidence above"),
])
def test_bad_input_is_a_clear_alignment_error(pairwise, case, match):
    n_pairs = len(pairwise["view1"]["idx"])
    if case == "missing":
        del pairwise["pred2"]
    elif case == "no pairs":
        pairwise["view1"]["idx"] = pairwise["view2"]["idx"] = []
    elif case == "gap in indices":
        pairwise["view1"]["idx"] = [3 if i == 2 else i for i in pairwise["view1"]["idx"]]
        pairwise["view2"]["idx"] = [3 if i == 2 else i for i in pairwise["view2"]["idx"]]
    elif case == "negative index":
        pairwise["view1"]["idx"] = [-1] + list(pairwise["view1"]["idx"][1:])
    elif case == "pair count":
        pairwise["pred1"]["conf"] = pairwise["pred1"]["conf"][:-1]
    elif case == "nan":
        pairwise["pred1"]["pts3d"][2, 3, 4, 1] = float("nan")
    elif case == "inf conf":
        pairwise["pred2"]["conf"][0, 0, 0] = float("inf")
    elif case == "shape":
        e = pairwise["view2"]["idx"].index(1)
        _edit(pairwise, "pred2", "pts3d_in_other_view", e, torch.zeros(40, 64, 3))
        _edit(pairwise, "pred2", "conf", e, torch.ones(40, 64))
    elif case == "points vs conf":
        _edit(pairwise, "pred1", "conf", 0, torch.ones(48, 60))
    elif case == "not connected":
        keep = [e for e in range(n_pairs) if 2 not in (pairwise["view1"]["idx"][e], pairwise["view2"]["idx"][e])]
        keep += [len(keep)]  # add a self-pair (2, 2) so that image 2 still exists
        pairwise["view1"]["idx"] = [pairwise["view1"]["idx"][e] for e in keep[:-1]] + [2]
        pairwise["view2"]["idx"] = [pairwise["view2"]["idx"][e] for e in keep[:-1]] + [2]
        for pred in ("pred1", "pred2"):
            pairwise[pred] = {k: v[: len(keep)] for k, v in pairwise[pred].items()}
    elif case == "no confident pixels":
        for view, pred in (("view1", "pred1"), ("view2", "pred2")):
            for e, k in enumerate(pairwise[view]["idx"]):
                if k == 2:
                    pairwise[pred]["conf"][e] = 2.0
    with pytest.raises(AlignmentError, match=match):
        global_align(pairwise, AlignSettings(niter=5))


@pytest.mark.parametrize("kwargs, match", [
    (dict(known_poses=[np.eye(4), None]), "2 entries for 3 images"),
    (dict(known_poses={0: np.diag([2.0, 2, 2, 1])}), "not a rigid transform"),
    (dict(known_poses={5: np.eye(4)}), r"not in 0\.\.2"),
    (dict(known_poses={0: "abc"}), r"known_poses\[0\] must be a 4x4"),
    (dict(known_focals={1: -3.0}), r"known_focals\[1\] must be a positive number"),
    (dict(known_focals={1: "abc"}), r"known_focals\[1\] must be a number"),
    (dict(known_focals={1: []}), r"known_focals\[1\] must be a number"),
    (dict(known_focals={1: True}), r"known_focals\[1\] must be a number"),
    (dict(known_focals={1: 1e30}), "not a plausible focal length"),
    (dict(known_pp={1: (1.0, 2.0, 3.0)}), r"known_pp\[1\] must be two numbers"),
    (dict(known_pp={1: "ab"}), r"known_pp\[1\] must be two numbers"),
    (dict(known_pp={1: (1e6, 2.0)}), "far outside"),
    (dict(known_focals={0: 70.0, 1: 90.0}, shared_focal=True), "known focals differ"),
    (dict(masks={0: np.ones((64, 48), bool)}), "mask of image 0"),
])
def test_bad_options_are_clear_alignment_errors(pairwise, kwargs, match):
    with pytest.raises(AlignmentError, match=match):
        global_align(pairwise, AlignSettings(niter=5), **kwargs)


@pytest.mark.parametrize("settings, match", [
    (dict(schedule="step"), "schedule must be one of"), (dict(niter=-1), "iterations"),
    (dict(lr=0.0), "learning rate"), (dict(min_conf_thr=float("nan")), "confidence threshold"),
    (dict(early_stop_patience=2.5), "early stop"), (dict(clean="yes"), "clean"),
])
def test_alignment_settings_no_alignment_could_use_are_refused_when_made(settings, match):
    with pytest.raises(Dust3rError, match=match):
        AlignSettings(**settings)


def test_progress_reports_every_iteration_and_cancel_stops(pairwise):
    seen = []
    scene = global_align(pairwise, AlignSettings(niter=7),
                         progress=lambda k, n: seen.append((k, n)))
    assert seen == [(k, 7) for k in range(1, 8)]
    assert len(scene.loss_trace) == 7 and np.isfinite(scene.loss_trace).all()
    done = []
    with pytest.raises(Cancelled):  # stops within one iteration of the request
        global_align(pairwise, AlignSettings(niter=50), progress=lambda k, n: done.append(k),
                     cancel=lambda: len(done) >= 3)
    assert done == [1, 2, 3]
    with pytest.raises(Cancelled):  # and before any work at all
        global_align(pairwise, cancel=lambda: True)


def test_early_stop_ends_once_the_loss_stops_improving(pairwise):
    full = global_align(pairwise, AlignSettings(niter=300))
    early = global_align(pairwise, AlignSettings(niter=300, early_stop_patience=10))
    assert 10 < len(early.loss_trace) < 300
    np.testing.assert_array_equal(early.loss_trace, full.loss_trace[: len(early.loss_trace)])
    best = np.minimum.accumulate(early.loss_trace)
    assert best[-1] >= best[-11] * (1 - 1e-4)  # the last 10 did not improve by 0.01 %


def test_linear_schedule_and_zero_iterations(pairwise):
    none = global_align(pairwise, AlignSettings(niter=0))
    assert len(none.loss_trace) == 0
    np.testing.assert_array_equal(none.c2w, none.init.c2w)
    linear = global_align(pairwise, AlignSettings(niter=20, schedule="linear"))
    cosine = global_align(pairwise, AlignSettings(niter=20))
    assert linear.loss_trace[0] == cosine.loss_trace[0] and linear.loss_trace[-1] != cosine.loss_trace[-1]


def test_outputs_are_finite_even_for_an_untrained_network():
    rng = torch.Generator().manual_seed(0)
    n_pairs = 6  # three images, garbage points around the camera (some behind it)
    pairwise = {"view1": {"idx": [0, 1, 0, 2, 1, 2]}, "view2": {"idx": [1, 0, 2, 0, 2, 1]},
                "pred1": {"pts3d": torch.randn(n_pairs, 48, 64, 3, generator=rng),
                          "conf": 1 + 5 * torch.rand(n_pairs, 48, 64, generator=rng)},
                "pred2": {"pts3d_in_other_view": torch.randn(n_pairs, 48, 64, 3, generator=rng),
                          "conf": 1 + 5 * torch.rand(n_pairs, 48, 64, generator=rng)}}
    scene = global_align(pairwise, AlignSettings(niter=20))
    for field in (scene.c2w, scene.focals, scene.depthmaps, scene.pts3d):
        assert np.isfinite(field).all()
    assert (scene.focals > 0).all()
