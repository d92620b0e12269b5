"""The ground-truth predictor gives what a perfect network would, in run_pairs' layout.

The scene here is analytic (a ground plane under a sky, seen by cameras with different photo
sizes, a portrait, a 3:2 photo the loader crops and an EXIF-rotated one), so the expected
point of every network pixel is a ray-plane intersection, computed independently of the
predictor's depth-map sampling.
"""
import numpy as np
import pytest
import torch
from PIL import Image

from checkpoints import fixture_state_dict, fixture_tensors, tiny_config
from core.errors import Cancelled
from core.images import load_images
from core.inference import run_pairs
from core.model import build_model
from core.pairs import make_pairs
from demo.oracle import SKY_CONFIDENCE, GroundTruthPredictor
from demo.truth import TrueCamera, look_at, load_ground_truth, sample_depth, save_photo, write_ground_truth

# (width, height, focal, EXIF orientation) of the upright photos
LANDSCAPE = [(640, 480, 520.0, 1), (800, 600, 700.0, 1), (640, 480, 600.0, 6)]
MIXED = LANDSCAPE + [(480, 640, 450.0, 1), (600, 400, 480.0, 1)]
FAR = 50.0  # the plane ends here: beyond it the rays see sky


def plane_depth(cam: TrueCamera, uv: np.ndarray) -> np.ndarray:
    """z-depth of the plane z=0 at pixel coordinates uv [..., 2] (inf: sky)."""
    rays = np.stack([(uv[..., 0] - cam.cx) / cam.fx, (uv[..., 1] - cam.cy) / cam.fy,
                     np.ones(uv.shape[:-1])], -1)
    down = (rays @ cam.c2w[:3, :3].T)[..., 2]
    with np.errstate(divide="ignore"):
        t = -cam.c2w[2, 3] / down
    return np.where((t > 0) & (t < FAR), t, np.inf)


def plane_scene(folder, specs):
    rng = np.random.default_rng(0)
    cameras = []
    for k, (w, h, f, exif) in enumerate(specs):
        angle = 2 * np.pi * k / len(specs)
        centre = np.array([3 * np.cos(angle), 3 * np.sin(angle), 1.5])
        c2w = look_at(centre, np.array([0.0, 0.0, 0.9]), down=(0.0, 0.0, -1.0))  # horizon in view: sky on top
        cam = TrueCamera(f"photo_{k}.jpg", w, h, f, f, (w - 1) / 2, (h - 1) / 2, c2w, exif,
                         f"depth_{k}.npy")
        grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).astype(np.float64)
        np.save(folder / cam.depth_file, plane_depth(cam, grid).astype(np.float32))
        save_photo(Image.fromarray(rng.integers(0, 255, (h, w, 3), np.uint8)),
                   folder / cam.file, exif)
        cameras.append(cam)
    write_ground_truth(folder, cameras)
    return load_ground_truth(folder)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    truth = plane_scene(tmp_path_factory.mktemp("mixed"), MIXED)
    return truth, make_pairs(load_images(truth.folder))


@pytest.fixture(scope="module")
def landscape(tmp_path_factory):
    truth = plane_scene(tmp_path_factory.mktemp("landscape"), LANDSCAPE)
    return truth, make_pairs(load_images(truth.folder))


def expected_points(truth, view):
    """Network pixels of `view` -> exact plane points in its camera frame, and c2w."""
    cam = truth.cameras[truth.index_of(view["photo"].path)]
    h, w = view["img"].shape[-2:]
    uv = view["photo"].pixel_to_photo(np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1))
    z = plane_depth(cam, uv)
    rays = np.stack([(uv[..., 0] - cam.cx) / cam.fx, (uv[..., 1] - cam.cy) / cam.fy,
                     np.ones_like(z)], -1)
    return rays * z[..., None], cam.c2w


def structure(x):
    if isinstance(x, dict):
        return {k: structure(v) for k, v in x.items()}
    if isinstance(x, list):
        return [structure(item) for item in x]
    if torch.is_tensor(x):
        return ("tensor", tuple(x.shape), x.dtype)
    return type(x).__name__


@pytest.mark.slow
@pytest.mark.parametrize("photos", [(0, 2), (0, 3)], ids=["landscape", "mixed"])
def test_layout_is_run_pairs_layout(photos, mixed):
    truth, _ = mixed
    pairs = make_pairs(load_images([str(truth.photo_paths[k]) for k in photos]))
    model = build_model(tiny_config("tiny_linear"), fixture_state_dict(fixture_tensors("tiny_linear")))
    reference = run_pairs(model, pairs, batch_size=4)
    out = GroundTruthPredictor(truth)(pairs)
    assert structure(out) == structure(reference)
    assert isinstance(out["pred1"]["pts3d"], list if 3 in photos else torch.Tensor)
    for side in ("view1", "view2"):
        assert out[side]["idx"] == reference[side]["idx"]


@pytest.mark.slow
def test_points_are_the_true_geometry_up_to_one_scale_per_pair(mixed):
    truth, pairs = mixed
    out = GroundTruthPredictor(truth)(pairs)
    scales = []
    for e, (view1, view2) in enumerate(pairs):
        pts1, c2w1 = expected_points(truth, view1)
        pts2, c2w2 = expected_points(truth, view2)
        near1, near2 = pts1[..., 2] < 15, pts2[..., 2] < 15  # away from the horizon
        sky1, sky2 = ~np.isfinite(pts1[..., 2]), ~np.isfinite(pts2[..., 2])
        j_to_i = np.linalg.inv(c2w1) @ c2w2
        pts2 = np.where(sky2[..., None], 0, pts2) @ j_to_i[:3, :3].T + j_to_i[:3, 3]
        pred1 = out["pred1"]["pts3d"][e].numpy()
        pred2 = out["pred2"]["pts3d_in_other_view"][e].numpy()
        scale = np.median(pred1[near1][:, 2] / pts1[near1][:, 2])
        scales.append(scale)
        np.testing.assert_allclose(pred1[near1], scale * pts1[near1], rtol=0, atol=2e-3 * scale * 15)
        np.testing.assert_allclose(pred2[near2], scale * pts2[near2], rtol=0, atol=2e-3 * scale * 15)
        rel = np.linalg.norm(pred1[near1] - scale * pts1[near1], axis=-1) / pts1[near1][:, 2]
        assert np.median(rel) < 1e-4  # bilinear depth on a plane: nearly exact
        for conf, sky in ((out["pred1"]["conf"][e], sky1), (out["pred2"]["conf"][e], sky2)):
            # the horizon row may go either way: the depth map is sampled at photo pixels
            clear = (sky == np.roll(sky, 1, 0)) & (sky == np.roll(sky, -1, 0))
            assert sky[clear].any() and (~sky[clear]).any()
            np.testing.assert_array_equal(conf.numpy()[clear], np.where(
                sky, SKY_CONFIDENCE, 10.0).astype(np.float32)[clear])
    assert np.ptp(np.log(scales)) > 0.3  # every pair has its own scale


@pytest.mark.slow
def test_scale_noise_and_outliers(landscape):
    truth, pairs = landscape
    clean = GroundTruthPredictor(truth, scale_range=(1.0, 1.0))(pairs)
    noisy = GroundTruthPredictor(truth, noise=0.02, outliers=0.05, seed=3)(pairs)
    assert torch.equal(noisy["pred1"]["pts3d"],
                       GroundTruthPredictor(truth, noise=0.02, outliers=0.05, seed=3)(pairs)["pred1"]["pts3d"])
    norms = []
    for e in range(len(pairs)):
        ref = clean["pred1"]["pts3d"][e].numpy()
        got = noisy["pred1"]["pts3d"][e].numpy()
        geometry = clean["pred1"]["conf"][e].numpy() > SKY_CONFIDENCE
        ref, got = ref[geometry], got[geometry]
        assert np.linalg.norm(ref, axis=-1).mean() == pytest.approx(1.0, rel=1e-5)
        scale = np.median(got[:, 2] / ref[:, 2])
        norms.append(np.linalg.norm(got, axis=-1).mean())
        error = (got / scale - ref) / ref[:, 2:]  # relative to depth, per axis
        outlier = np.abs(error).max(-1) > 0.1
        assert outlier.mean() == pytest.approx(0.05, abs=0.01)
        assert error[~outlier].std(0) == pytest.approx(np.full(3, 0.02), rel=0.1)
    assert 0.5 <= min(norms) and max(norms) <= 2.0 and np.ptp(norms) > 0.2


def test_progress_and_cancel(landscape):
    truth, pairs = landscape
    calls = []
    GroundTruthPredictor(truth)(pairs, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, len(pairs)) and calls[-1] == (len(pairs), len(pairs))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    done = []
    with pytest.raises(Cancelled):
        GroundTruthPredictor(truth)(pairs, progress=lambda d, total: done.append(d),
                                    cancel=lambda: len(done) >= 3)
    assert done[-1] == 2 < len(pairs)


def test_photo_that_is_not_in_the_scene_is_named(landscape, tmp_path):
    truth, _ = landscape
    Image.new("RGB", (64, 48)).save(tmp_path / "stranger.png")
    pairs = make_pairs(load_images([str(truth.photo_paths[0]), str(tmp_path / "stranger.png")]))
    with pytest.raises(KeyError, match="stranger.png"):
        GroundTruthPredictor(truth)(pairs)


def test_sample_depth_is_bilinear_on_surfaces_and_nearest_at_edges():
    depth = np.array([[1.0, 1.02, 5.0], [1.0, 1.02, 5.0], [np.inf, np.inf, np.inf]])
    uv = np.array([[0.5, 0.5], [1.5, 0.5], [0.25, 1.75], [0.0, 0.0], [1.9, 0.9]])
    np.testing.assert_allclose(sample_depth(depth, uv), [1.01, 5.0, np.inf, 1.0, 5.0])
