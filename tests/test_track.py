"""A plate's camera track: keyframes by the full aligner, every other frame solved on its own
against the fixed keyframes, one focal, one per frame or the user's lens.

The shot is synthetic with exact truth (tests/track_synthetic.py: a dolly with a pan through
a box room). Exact predictions make the aligner's starting point exact, so most tests run no
iterations (`niter=0`: the cameras are what the keyframe chain and the known-camera
machinery make of the predictions); one test runs the full optimisation on noisy ones.
"""
from dataclasses import replace

import numpy as np
import pytest

from core.errors import Cancelled, Dust3rError
from core.pairs import COMPLETE_UP_TO, graph_string, pair_indices, parse_graph, sequence_graph
from core.settings import AlignSettings, SequenceOptions
from core.track import (BATCH_FRAMES, alignment_bytes, keyframe_positions, plan_keyframes,
                        solve_track)
from demo.compare import camera_errors, similarity
from track_synthetic import make_shot, rotation

INIT_ONLY = AlignSettings(niter=0)
NETWORK = (32, 64)  # (H, W) of the 64x36 plate's network images


def sequence(**changes) -> SequenceOptions:
    """The shot's sequence options: a keyframe every 4th frame unless `changes` say otherwise."""
    return replace(SequenceOptions(keyframe_step=4), **changes)


def errors(shot, track):
    """Per frame: rotation (degrees), position (fraction of the path length) and focal
    (relative) errors after the similarity that best maps the track's centres on the truth."""
    sim = similarity(track.c2w[:, :3, 3], shot.c2w[:, :3, 3])
    err = camera_errors(shot.c2w, shot.focals, track.c2w, track.focals, sim)
    position = np.linalg.norm(sim.apply(track.c2w[:, :3, 3]) - shot.c2w[:, :3, 3], axis=1)
    return err.rotation_deg, position / shot.path_length, err.focal


def assert_on_truth(shot, track):
    rotation_deg, position, focal = errors(shot, track)
    assert rotation_deg.max() < 0.5, rotation_deg
    assert position.max() < 0.01, position
    assert focal.max() < 0.01, focal


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_shot(tmp_path_factory.mktemp("plate"), 14)


# --- the pair graph -------------------------------------------------------------------------

def test_sequence_graph_is_complete_for_few_frames_then_a_window_with_long_links():
    assert sequence_graph(COMPLETE_UP_TO) == "complete"
    assert parse_graph(sequence_graph(COMPLETE_UP_TO + 1)) == ("sequence", 3, True)
    n, k = 100, 3
    pairs = pair_indices(n, "sequence-3")
    unordered = {(i, j) for i, j in pairs if i < j}
    assert pairs == pairs[:len(pairs) // 2] + [(j, i) for i, j in pairs[:len(pairs) // 2]]
    assert {(i, i + d) for d in range(1, k + 1) for i in range(n - d)} <= unordered
    long_offsets = {j - i for i, j in unordered if j - i > k}
    assert long_offsets == {6, 12, 24, 48, 96}  # 2K, 4K, ... below n
    assert {(0, 6), (0, 96), (99 - 96, 99)} <= unordered  # from the first frame and to the last
    assert len(unordered) <= n * k + 2 * n // k + 2 * len(long_offsets)  # O(n), not O(n log n)


def test_sequence_graph_string():
    assert graph_string("sequence", window=5) == "sequence-5"
    assert len(pair_indices(12, "sequence-20")) == 12 * 11  # a window past the end: all pairs
    with pytest.raises(ValueError):
        parse_graph("sequence-0")


# --- the plan -------------------------------------------------------------------------------

def test_given_keyframe_step_keeps_the_last_frame_and_batches_every_other_frame():
    plan = plan_keyframes(18, NETWORK, keyframe_step=4)
    assert plan.keyframes == (0, 4, 8, 12, 16, 17) == keyframe_positions(18, 4)
    inbetween = [f for batch in plan.batches for f in batch]
    assert sorted(inbetween) == sorted(set(range(18)) - set(plan.keyframes))
    assert all(len(batch) <= BATCH_FRAMES for batch in plan.batches)
    assert [plan.neighbours(f) for f in (1, 3, 13)] == [(0, 4), (0, 4), (12, 16)]
    assert plan.graph == "complete"  # 6 keyframes
    assert len(plan.keyframe_pairs) == 6 * 5
    assert plan.decoder_passes == 30 + 4 * len(inbetween)


@pytest.mark.parametrize("budget_mb", [100, 400, 1500])
def test_automatic_keyframe_step_is_the_smallest_that_fits_the_budget(budget_mb):
    budget = budget_mb << 20
    n, shape = 240, (288, 512)
    plan = plan_keyframes(n, shape, budget=budget)
    assert plan.keyframe_bytes <= budget
    denser = plan_keyframes(n, shape, keyframe_step=plan.step - 1)
    assert denser.keyframe_bytes > budget
    assert plan.keyframe_bytes == alignment_bytes(len(plan.keyframes), len(plan.keyframe_pairs),
                                                  shape)


def test_automatic_step_without_memory_pressure_makes_every_frame_a_keyframe():
    plan = plan_keyframes(14, NETWORK)
    assert plan.step == 1 and plan.keyframes == tuple(range(14)) and plan.batches == ()


def test_automatic_step_under_any_budget_keeps_the_first_and_last_frames():
    assert plan_keyframes(240, (288, 512), budget=1).keyframes == (0, 239)


def test_user_graph_overrides_the_automatic_one_and_bad_input_is_named():
    plan = plan_keyframes(40, NETWORK, keyframe_step=2, pair_graph="swin-2-noncyclic")
    assert plan.graph == "swin-2-noncyclic"
    assert list(plan.keyframe_pairs) == pair_indices(21, "swin-2-noncyclic")
    with pytest.raises(Dust3rError, match="oneref-30"):
        plan_keyframes(40, NETWORK, keyframe_step=4, pair_graph="oneref-30")
    with pytest.raises(Dust3rError, match="pair graph"):
        plan_keyframes(40, NETWORK, pair_graph="ring")
    with pytest.raises(Dust3rError, match="two frames"):
        plan_keyframes(1, NETWORK)


# --- the solve ------------------------------------------------------------------------------

def test_shared_focal_track_matches_the_truth(shot):
    predictor = shot.predictor()
    track = solve_track(shot.views[::-1], predictor, INIT_ONLY, sequence())  # any order in
    assert track.frames == tuple(shot.frames)
    assert track.keyframes == (1001, 1005, 1009, 1013, 1014)
    assert track.size == (64, 36) and track.c2w.shape == (14, 4, 4)
    assert_on_truth(shot, track)
    assert len(set(track.focals)) == 1  # one focal for the shot
    np.testing.assert_allclose(track.pp, [[31.5, 17.5]] * 14)  # the 64x36 plate's centre
    np.testing.assert_allclose(track.confidence, predictor.confidence)
    plan = plan_keyframes(14, NETWORK, keyframe_step=4)
    assert sum(predictor.calls) == plan.decoder_passes  # the plan counts what is predicted
    assert len(predictor.calls) == 1 + len(plan.batches)
    assert track.scene.n_images == len(track.keyframes)


def test_zoom_solves_a_focal_per_frame(tmp_path):
    shot = make_shot(tmp_path, 10, focals=np.linspace(0.7, 1.0, 10))
    track = solve_track(shot.views, shot.predictor(), INIT_ONLY, sequence(zoom=True))
    assert_on_truth(shot, track)
    assert np.all(np.diff(track.focals) > 0)


def test_known_lens_is_kept_exactly(tmp_path):
    """(A known lens with zoom is refused when the settings are made: test_frames.py.)"""
    lens_mm, sensor_mm = 30.0, 36.0
    shot = make_shot(tmp_path, 10, focals=lens_mm / sensor_mm)
    track = solve_track(shot.views, shot.predictor(), INIT_ONLY,
                        sequence(lens_mm=lens_mm, sensor_mm=sensor_mm))
    assert np.all(track.focals == lens_mm / sensor_mm * 64)
    assert_on_truth(shot, track)


def test_an_in_between_frame_follows_its_own_prediction_not_its_neighbours(tmp_path):
    jolt = 6  # between keyframes 4 and 8: a 2 degree shake of the camera on this frame only
    shot = make_shot(tmp_path, 10, shake={jolt: 2.0})
    track = solve_track(shot.views, shot.predictor(), INIT_ONLY, sequence())
    assert shot.frames[jolt] not in track.keyframes
    assert_on_truth(shot, track)
    rotation_deg = errors(shot, track)[0]
    smooth = shot.c2w[jolt] @ np.linalg.inv(rotation("x", 2.0)) @ np.linalg.inv(
        rotation("y", 2.0))  # on the smooth path: where an interpolation would put it
    sim = similarity(track.c2w[:, :3, 3], shot.c2w[:, :3, 3])
    relative = smooth[:3, :3].T @ sim.rotation @ track.c2w[jolt, :3, :3]
    from_smooth = np.degrees(np.arccos((np.trace(relative) - 1) / 2))
    assert rotation_deg[jolt] < 0.5 < 2.0 < from_smooth


def test_progress_counts_frames_and_cancel_stops_between_batches(shot):
    seen = []
    solve_track(shot.views, shot.predictor(), INIT_ONLY, sequence(),
                progress=lambda stage, done, total: seen.append((stage, done, total)))
    frames = [(done, total) for stage, done, total in seen if stage == "frames"]
    assert frames[0] == (0, 14) and frames[-1] == (14, 14)
    assert [done for done, _ in frames] == sorted(done for done, _ in frames)
    assert {"pairs", "frames"} <= {stage for stage, _, _ in seen}

    predictor = shot.predictor()
    with pytest.raises(Cancelled):
        solve_track(shot.views, predictor, INIT_ONLY, sequence(keyframe_step=2),
                    cancel=lambda: len(predictor.calls) >= 2)
    assert len(predictor.calls) == 2  # the keyframes and one batch: then it stopped


@pytest.mark.slow
def test_optimised_track_of_noisy_predictions_matches_the_truth(tmp_path):
    shot = make_shot(tmp_path, 12)
    track = solve_track(shot.views, shot.predictor(noise=0.01), AlignSettings(), sequence())
    assert_on_truth(shot, track)
