"""The proof of the camera track (the CI version of `scripts/demo.sh --clip`): a rendered shot
-> plate reader -> keyframe and in-between alignment -> one animated Blender camera.

The ground-truth predictor (1 % noise, a random scale per pair) stands in for the network;
everything else is the real pipeline through `importer.reconstruct`. Every frame of the shot,
read as an image sequence and as a lossless movie, must be within 0.5 deg rotation, 1 % of the
path length in position, 1 % focal and 1 px reprojection at plate resolution, and the imported
camera at frame f must project like the camera solved for frame f.
"""
import importlib

import bpy
import numpy as np
import pytest
from blender_helpers import projected

from demo.clip import FIRST_FRAME, render_clip
from demo.compare import TRACK_LIMITS
from demo.truth import load_ground_truth

pytestmark = pytest.mark.slow  # renders 12 frames, aligns them twice
FRAMES, W, H = 12, 192, 108
NITER, KEYFRAME_STEP = 100, 3
PLATES = {"image sequence": ("plate.####.png", FIRST_FRAME), "movie": ("plate.mkv", 1)}


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shot")
    render_clip(folder, n_frames=FRAMES, width=W, height=H, samples=2, movie=True)
    return load_ground_truth(folder)


@pytest.fixture(scope="module", params=sorted(PLATES))
def outcome(request, addon, shot):
    """Solve and import one plate of the shot; measure everything before the next test
    empties the file."""
    demo = importlib.import_module(f"{addon.__name__}.demo.main")
    oracle = importlib.import_module(f"{addon.__name__}.demo.oracle")
    name, first = PLATES[request.param]
    truth = shot.renumbered(first)
    bpy.ops.wm.read_homefile(use_empty=True)
    params = addon.core.settings.JobParams(
        photos=str(shot.folder / name), niter=NITER, image_size=W,
        sequence=addon.core.settings.SequenceOptions(keyframe_step=KEYFRAME_STEP))
    imported, errors = demo.solve_clip(params, truth, oracle.GroundTruthPredictor(
        truth, noise=0.01, seed=0))

    scene = bpy.context.scene
    (camera,) = imported.cameras
    track = imported.result.track
    compare = importlib.import_module(f"{addon.__name__}.demo.compare")
    world = addon.core.cameras.world_matrix(imported.scale)
    rng = np.random.default_rng(0)
    offsets = []  # per frame: the largest pixel distance between the two projections
    for k, frame in enumerate(track.frames):
        scene.frame_set(frame)
        c2w = track.c2w[k]
        points = rng.uniform([-2, -1, 1], [2, 1, 6], (40, 3)) @ c2w[:3, :3].T + c2w[:3, 3]
        uv = projected(camera, addon.core.cameras.transform_points(world, points))
        expected = compare.track_camera(track, k).project(points)[:, :2]
        offsets.append(float(np.abs(uv - expected).max()))
    return dict(first=first, errors=errors, track=track, offsets=offsets,
                camera=camera.name, cameras=len(imported.cameras),
                frame_range=(scene.frame_start, scene.frame_end), active=scene.camera.name,
                resolution=(scene.render.resolution_x, scene.render.resolution_y),
                animated=camera.animation_data is not None and camera.animation_data.action
                is not None)


def test_the_plate_becomes_one_animated_camera_over_its_frame_range(outcome):
    first = outcome["first"]
    assert outcome["cameras"] == 1 and outcome["animated"]
    assert outcome["active"] == outcome["camera"]
    assert outcome["track"].frames == tuple(range(first, first + FRAMES))  # every frame solved
    assert outcome["frame_range"] == (first, first + FRAMES - 1)
    assert outcome["resolution"] == (W, H)


def test_every_frame_is_within_the_limits(outcome):
    errors = outcome["errors"]
    assert errors.frames == outcome["track"].frames
    assert errors.failures() == [], "\n" + errors.table()
    assert TRACK_LIMITS == {"rotation_deg": 0.5, "position": 0.01, "focal": 0.01,
                            "reprojection_px": 1.0}  # issue 11


def test_the_camera_at_frame_f_projects_like_the_solved_camera_of_frame_f(outcome):
    assert max(outcome["offsets"]) < 0.01, outcome["offsets"]
