"""The static-world predictor (demo.oracle.StaticWorldPredictor) of a scene where one object
moves between the shots: every photo's own points are the truth, but in the pair (i, j) the
object seen in photo j is placed where photo i saw it. The scene is the analytic ground plane
of test_demo_oracle with a disc on it that slides to another place in every shot."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from test_demo_oracle import LANDSCAPE, expected_points, plane_depth, plane_scene

from core.images import load_images
from core.pairs import make_pairs
from demo.oracle import GroundTruthPredictor, StaticWorldPredictor
from demo.truth import load_ground_truth, write_ground_truth

CENTRES = np.array([[0.3, 0.2, 0.0], [-0.4, 0.1, 0.0], [0.1, -0.5, 0.0]])  # the disc per shot
RADIUS = 0.6


@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    folder = tmp_path_factory.mktemp("moving")
    truth = plane_scene(folder, LANDSCAPE)
    cameras = []
    for k, cam in enumerate(truth.cameras):
        grid = np.stack(np.meshgrid(np.arange(cam.width), np.arange(cam.height)), -1)
        z = plane_depth(cam, grid.astype(np.float64))
        rays = np.stack([(grid[..., 0] - cam.cx) / cam.fx, (grid[..., 1] - cam.cy) / cam.fy,
                         np.ones_like(z)], -1)
        with np.errstate(invalid="ignore"):
            world = (rays * z[..., None]) @ cam.c2w[:3, :3].T + cam.c2w[:3, 3]
            disc = np.linalg.norm(world - CENTRES[k], axis=-1) < RADIUS
        pose = np.eye(4)
        pose[:3, 3] = CENTRES[k]
        (folder / "masks").mkdir(exist_ok=True)
        cam = replace(cam, mask_file=f"masks/{k}.png", object_pose=pose)
        Image.fromarray(np.where(disc, 0, 255).astype(np.uint8)).save(folder / cam.mask_file)
        cameras.append(cam)
    write_ground_truth(folder, cameras)
    truth = load_ground_truth(folder)
    return truth, make_pairs(load_images(truth.folder))


def test_the_ground_truth_records_the_moving_object(moving):
    truth, _ = moving
    for k, cam in enumerate(truth.cameras):
        np.testing.assert_array_equal(cam.object_pose[:3, 3], CENTRES[k])
        assert 0.01 < truth.moving_object(k).mean() < 0.5


def test_the_second_photos_object_is_placed_where_the_first_photo_saw_it(moving):
    truth, pairs = moving
    kwargs = dict(scale_range=(1.0, 1.0), seed=3)
    static = StaticWorldPredictor(truth, **kwargs)(pairs)
    plain = GroundTruthPredictor(truth, **kwargs)(pairs)
    torch.testing.assert_close(static["pred1"]["pts3d"], plain["pred1"]["pts3d"])
    for side in ("pred1", "pred2"):
        torch.testing.assert_close(static[side]["conf"], plain[side]["conf"])
    for e, (view1, view2) in enumerate(pairs):
        i, j = (truth.index_of(v["photo"].path) for v in (view1, view2))
        got = static["pred2"]["pts3d_in_other_view"][e].numpy().astype(np.float64)
        true = plain["pred2"]["pts3d_in_other_view"][e].numpy().astype(np.float64)
        # The pair's scale, from photo i's own points against the exact ones.
        exact_i, _ = expected_points(truth, view1)
        seen = np.isfinite(exact_i[..., 2])
        pred1 = plain["pred1"]["pts3d"][e].numpy().astype(np.float64)
        scale = np.median(np.linalg.norm(pred1[seen], axis=-1) /
                          np.linalg.norm(exact_i[seen], axis=-1))
        # Where photo j's pixels see the disc (a band at its rim left out: pixel sampling).
        exact_j, c2w_j = expected_points(truth, view2)
        with np.errstate(invalid="ignore"):
            distance = np.linalg.norm(exact_j @ c2w_j[:3, :3].T + c2w_j[:3, 3] - CENTRES[j],
                                      axis=-1)
        disc, elsewhere = distance < RADIUS - 0.05, ~(distance < RADIUS + 0.05)
        assert disc.mean() > 0.01
        np.testing.assert_allclose(got[elsewhere], true[elsewhere], atol=1e-5)
        # The disc of photo j is moved by its motion from shot j back to shot i, seen in
        # camera i, at the pair's scale.
        shift = scale * np.linalg.inv(truth.cameras[i].c2w)[:3, :3] @ (CENTRES[i] - CENTRES[j])
        np.testing.assert_allclose(got[disc] - true[disc],
                                   np.broadcast_to(shift, got[disc].shape), atol=1e-4)
