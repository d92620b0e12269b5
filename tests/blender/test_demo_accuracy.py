"""End to end against ground truth: rendered photos -> loader -> alignment -> Blender import.

The ground-truth predictor (with noise, outliers and a random scale per pair) stands in for
the network; everything else is the real pipeline. The imported Blender cameras must match
the true ones (after the similarity that best aligns the imported points with the true
points) and the true 3D points must reproject, through the imported cameras at each photo's
own resolution, onto the pixels they came from.
"""
import importlib

import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from demo.render import render_scene
from demo.truth import load_ground_truth

pytestmark = pytest.mark.slow  # renders 4 photos and aligns 12 pairs at 512 px

NITER = 300
SAMPLES_PER_PHOTO = 300


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    folder = tmp_path_factory.mktemp("room")
    render_scene(folder, n_views=4, samples=1)  # 640x480; photo 1 portrait, 2 EXIF-rotated
    return load_ground_truth(folder)


@pytest.fixture(scope="module")
def outcome(addon, truth):
    """Run and import once; measure everything before the next test empties the file."""
    demo = importlib.import_module(f"{addon.__name__}.demo.main")
    oracle = importlib.import_module(f"{addon.__name__}.demo.oracle")
    bpy.ops.wm.read_homefile(use_empty=True)
    params = addon.core.settings.JobParams(photos=str(truth.folder), niter=NITER)
    created = addon.importer.reconstruct(params, predictor=oracle.GroundTruthPredictor(
        truth, noise=0.01, outliers=0.01, seed=0))
    errors = demo.imported_errors(created, truth)
    order = demo.imported_cameras(created, truth)[2]

    scene = bpy.context.scene
    rng = np.random.default_rng(0)
    reprojection, resolutions = [], []
    for obj, k in zip(created.cameras, order):
        addon.importer.cameras.activate_camera(scene, obj)  # the photo's resolution
        width, height = scene.render.resolution_x, scene.render.resolution_y
        resolutions.append((width, height))
        world, uv = truth.points(k)
        pick = rng.choice(len(world), SAMPLES_PER_PHOTO, replace=False)
        blender = errors.similarity.invert(world[pick])  # true world -> Blender world
        ndc = np.array([world_to_camera_view(scene, obj, Vector(p)) for p in blender])
        pixels = np.stack([ndc[:, 0] * width - 0.5, (1 - ndc[:, 1]) * height - 0.5], 1)
        reprojection.append(np.linalg.norm(pixels - uv[pick], axis=1))
    return dict(errors=errors, order=order, resolutions=resolutions,
                reprojection=np.array(reprojection), n_cameras=len(created.cameras))


def test_every_photo_got_a_camera_at_its_upright_resolution(outcome, truth):
    assert outcome["n_cameras"] == len(truth.cameras) == 4
    assert sorted(outcome["order"]) == [0, 1, 2, 3]
    assert outcome["resolutions"] == [(truth.cameras[k].width, truth.cameras[k].height)
                                      for k in outcome["order"]]
    assert (480, 640) in outcome["resolutions"]  # the portrait photo


def test_imported_cameras_match_the_true_cameras(outcome):
    errors = outcome["errors"]
    assert errors.rotation_deg.max() < 0.5
    assert errors.focal.max() < 0.01
    assert errors.position.max() < 0.01


def test_true_points_reproject_onto_their_pixels_within_one_pixel(outcome):
    assert outcome["reprojection"].max() < 1.0
