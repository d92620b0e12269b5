"""pipeline.run: photos -> pairs -> predictions -> alignment, with a ground-truth predictor
for a scene of two planes (exact point maps), the tiny checkpoint for the network path,
known cameras in photo pixels, progress, cancel and errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core import pipeline
from core.settings import ImportOptions, JobParams, KnownCamera, notes
from core.errors import Cancelled, Dust3rError, OutOfMemory
from demo.oracle import PointMapPredictor
from demo.truth import look_at

PHOTO = (96, 72)  # photo W, H; the network sees 64x48 (image_size 64)
F0 = 80.0  # true focal in photo pixels
PLANES = [(np.array([0.0, 0.0, -1.0]), -6.0), (np.array([0.0, -1.0, 0.0]), -1.5)]  # n.X = d


POSES = [look_at(np.array(e), [0.0, 0.5, 6.0]) for e in
         ([0.0, 0.0, 0.0], [0.8, -0.1, 0.3], [-0.7, 0.2, 0.5])]


class PlanesPredictor(PointMapPredictor):
    """Exact pairwise point maps of the wall and the floor (one scale for all pairs), and
    the number of pairs of every call in `calls`."""

    def __init__(self, calls: list | None = None):
        super().__init__(scale_range=(1.0, 1.0), confidence=5.0)
        self.calls = calls

    def camera_rays(self, view: dict):
        photo, c2w = view["photo"], POSES[view["idx"]]
        f, pp = photo.intrinsics_to_network(F0, (np.array(PHOTO) - 1) / 2)
        w, h = photo.network_size
        v, u = np.mgrid[0:h, 0:w].astype(np.float64)
        rays = np.stack([(u - pp[0]) / f, (v - pp[1]) / f, np.ones_like(u)], -1)
        world = rays @ c2w[:3, :3].T
        hits = [(d - normal @ c2w[:3, 3]) / (world @ normal) for normal, d in PLANES]
        depth = np.minimum(*[np.where(t > 0, t, np.inf) for t in hits])
        return rays, depth, c2w

    def __call__(self, pairs, progress=None, cancel=None):
        if self.calls is not None:
            self.calls.append(len(pairs))
        return super().__call__(pairs, progress, cancel)


def truth_predictor(calls: list | None = None) -> PlanesPredictor:
    return PlanesPredictor(calls)


@pytest.fixture
def photos(tmp_path) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(len(POSES)):
        path = tmp_path / f"view{i}.png"
        Image.fromarray(rng.integers(0, 255, (PHOTO[1], PHOTO[0], 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def params(photos, **kwargs) -> JobParams:
    return JobParams(photos=photos, image_size=64, niter=kwargs.pop("niter", 30),
                              **kwargs)


def relative_rotation_deg(a: np.ndarray, b: np.ndarray) -> float:
    r = a[:3, :3].T @ b[:3, :3]
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))


@pytest.mark.slow
def test_ground_truth_predictions_give_the_true_cameras_on_the_photos(photos):
    stages = []
    result = pipeline.run(params(photos), progress=lambda s, d, t: stages.append((s, d, t)),
                          predictor=truth_predictor())
    scene = result.scene
    assert scene.n_images == 3 and result.n_pairs == 6
    np.testing.assert_array_equal(scene.photo_sizes, [PHOTO] * 3)
    np.testing.assert_allclose(scene.photo_focals, F0, rtol=0.02)
    np.testing.assert_allclose(scene.photo_pp, [(np.array(PHOTO) - 1) / 2] * 3, atol=1.0)
    # Relative rotations are scale free: they must match the truth.
    for i in range(1, 3):
        truth = relative_rotation_deg(POSES[0], POSES[i])
        got = relative_rotation_deg(scene.c2w[0], scene.c2w[i])
        assert got == pytest.approx(truth, abs=0.5)
    order = [s for s, _, _ in stages]
    assert order.index("images") < order.index("pairs") < order.index("align")
    assert ("pairs", 6, 6) in stages and ("align", 30, 30) in stages
    assert set(result.seconds) == {"model", "images", "pairs", "align"}
    assert result.import_options.scale == 0.0  # automatic: no known poses


def test_known_intrinsics_are_given_in_photo_pixels_of_any_resolution(photos):
    # A camera at twice the photo's resolution (e.g. a Blender camera's render size).
    known = {0: KnownCamera(focal=2 * 70.0, pp=(2 * 50.0 + 0.5, 2 * 35.5 + 0.5),
                                     image_size=(2 * PHOTO[0], 2 * PHOTO[1]))}
    scene = pipeline.run(params(photos, niter=5, known_cameras=known),
                         predictor=truth_predictor()).scene
    assert scene.photo_focals[0] == pytest.approx(70.0, rel=1e-4)
    np.testing.assert_allclose(scene.photo_pp[0], (50.0, 35.5), atol=1e-3)


@pytest.mark.slow
def test_known_poses_fix_the_cameras_and_the_import_scale(photos):
    known = {i: KnownCamera(c2w=POSES[i], focal=F0) for i in range(3)}
    result = pipeline.run(params(photos, niter=30, known_cameras=known),
                          predictor=truth_predictor())
    np.testing.assert_allclose(result.scene.c2w, np.stack(POSES), atol=1e-4)
    assert result.import_options.scale == 1.0  # the user's cameras set the units


def test_known_cameras_must_fit_the_photos(photos):
    with pytest.raises(Dust3rError, match="only 3 photos"):
        pipeline.run(params(photos, known_cameras={3: KnownCamera(focal=1.0)}),
                     predictor=truth_predictor())
    wrong_aspect = {1: KnownCamera(focal=80.0, image_size=(100, 100))}
    with pytest.raises(Dust3rError, match="view1.png is 100x100 but the photo is 96x72"):
        pipeline.run(params(photos, known_cameras=wrong_aspect), predictor=truth_predictor())


def test_cancel_stops_the_alignment(photos):
    seen = []

    def progress(stage, done, total):
        seen.append((stage, done))

    with pytest.raises(Cancelled):
        pipeline.run(params(photos, niter=10_000), progress=progress,
                     cancel=lambda: ("align", 3) in seen, predictor=truth_predictor())
    assert max(d for s, d in seen if s == "align") == 3  # stopped within one iteration


def test_a_pair_graph_that_does_not_fit_the_photos_is_a_clear_error(photos):
    with pytest.raises(Dust3rError, match="reference image 5 does not exist among 3"):
        pipeline.run(params(photos, scene_graph="oneref-5"), predictor=truth_predictor())


def test_settings_are_checked_before_any_work(photos):
    calls = []
    for bad, match in [(dict(precision="fp8"), "precision"), (dict(device="tpu"), "device"),
                       (dict(batch_size=0), "batch size"), (dict(schedule="step"), "schedule"),
                       (dict(photos=[]), "No photos")]:
        kwargs = dict(photos=photos) | bad
        with pytest.raises(Dust3rError, match=match):
            pipeline.run(params(**kwargs), predictor=truth_predictor(calls))
    assert calls == []


def test_out_of_gpu_memory_becomes_advice(photos):
    def predictor(pairs, progress, cancel):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")

    with pytest.raises(OutOfMemory, match="fewer photos.*224_linear"):
        pipeline.run(params(photos), predictor=predictor)


def test_the_network_path_runs_a_checkpoint_file(tmp_path):
    from checkpoints import write_pth

    ckpt = write_pth(tmp_path / "tiny.pth", "tiny_linear")
    # Smooth photos: the random-weight network then predicts smooth, alignable point maps.
    y, x = np.mgrid[0:PHOTO[1], 0:PHOTO[0]]
    photos = []
    for i in range(2):
        path = tmp_path / f"smooth{i}.jpg"
        Image.fromarray(np.stack([x * 2 + i * 9, y * 3, x + y], -1).astype(np.uint8)).save(path)
        photos.append(str(path))
    stages = []
    result = pipeline.run(JobParams(photos=photos, model=str(ckpt), device="cpu",
                                             niter=5), progress=lambda *a: stages.append(a))
    assert stages[:2] == [("model", 0, 1), ("model", 1, 1)]
    assert result.scene.n_images == 2 and result.n_pairs == 2
    assert result.scene.image_size(0) == (64, 48)  # the tiny model was trained at 64 px
    assert len(result.scene.point_cloud()) > 0


def test_a_corrupt_checkpoint_is_a_clear_error(photos, tmp_path):
    bad = Path(tmp_path / "broken.pth")
    bad.write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(Dust3rError, match="broken.pth"):
        pipeline.run(JobParams(photos=photos, model=str(bad), device="cpu"))


def test_a_download_reports_megabytes_under_the_model_stage(monkeypatch):
    import core.weights

    def fake_load(source, device, progress=None, **kwargs):
        progress(3 << 20, 2200 << 20)  # bytes: more than an int32 holds
        return "model"

    monkeypatch.setattr(core.weights, "load_model", fake_load)
    stages = []
    model = pipeline.load_model(JobParams(photos=["a.jpg"], device="cpu"),
                                lambda *a: stages.append(a))
    assert model == "model"
    assert stages == [("model", 0, 1), ("model", 3, 2200), ("model", 1, 1)]


@pytest.mark.parametrize("change, message", [
    (dict(niter=-1), "iterations"), (dict(niter=2.5), "iterations"),
    (dict(lr=float("nan")), "learning rate"), (dict(lr=0.0), "learning rate"),
    (dict(min_conf_thr=float("nan")), "confidence threshold"),
    (dict(batch_size=0), "batch size"), (dict(early_stop_patience=-1), "early stop"),
    (dict(image_size=17), "image size"), (dict(image_size=100_000), "image size"),
    (dict(device="gpu"), "device"), (dict(precision="int8"), "precision"),
    (dict(schedule="step"), "schedule"), (dict(scene_graph="swin-0"), "window"),
    (dict(import_options=dict(max_points=-1)), "Max points"),
    (dict(import_options=dict(scale=-1.0)), "Scale"),
    (dict(import_options=dict(scale=float("nan"))), "Scale"),
    (dict(import_options=dict(point_radius=float("inf"))), "Point radius"),
    (dict(known_cameras={0: KnownCamera(focal="abc")}), "focal must be a number"),
    (dict(known_cameras={0: KnownCamera(focal=True)}), "focal must be a number"),
    (dict(known_cameras={0: KnownCamera(focal=-5.0)}), "positive number"),
    (dict(known_cameras={0: KnownCamera(pp="ab")}), "two numbers"),
    (dict(known_cameras={0: KnownCamera(c2w=np.diag([1.0, 1, -1, 1]))}),
     "not a rigid transform"),
    (dict(known_cameras={0: KnownCamera(focal=50.0, image_size=(0, 10))}),
     "image size must be two whole numbers"),
    (dict(known_cameras={"0": KnownCamera()}), "keyed by '0'"),
])
def test_settings_no_run_could_use_are_refused_up_front(change, message):
    """Checked when they are made (a JobParams is always one a run can use)."""
    with pytest.raises(Dust3rError, match=message):
        if "import_options" in change:
            change = dict(change, import_options=ImportOptions(**change["import_options"]))
        JobParams(**{"photos": ["a.jpg"], **change})


def test_a_run_without_photos_is_refused_before_anything_is_opened():
    with pytest.raises(Dust3rError, match="No photos given"):
        pipeline.prepare(JobParams(photos=[]))


def test_a_known_focal_must_be_plausible_for_its_photo(photos):
    for focal, ok in ((80.0, True), (1e30, False), (0.5, False)):
        p = params(photos, known_cameras={1: KnownCamera(focal=focal)}, niter=0)
        if ok:
            pipeline.run(p, predictor=truth_predictor())
        else:
            calls = []
            with pytest.raises(Dust3rError, match="not a plausible focal length for an image "
                                                  "96 pixels long"):
                pipeline.run(p, predictor=truth_predictor(calls))
            assert calls == []  # refused before the network ran


def test_notes_say_what_the_settings_do_that_is_not_obvious():
    assert notes_of("complete", 2)[0].startswith("Two photos are solved directly")
    assert notes_of("complete", 2, known_poses=True) == []  # then the loop runs
    assert notes_of("complete", 5) == []
    [note] = notes_of("swin-100", 3)
    assert "swin-100 with 3 photos pairs photos with themselves: swin-2 is used" in note
    assert notes_of("swin-100-noncyclic", 3) == []


def notes_of(graph, n, known_poses=False):
    return notes(graph, n, known_poses)


@pytest.mark.slow
def test_a_cyclic_window_wider_than_the_photos_pairs_no_photo_with_itself(photos):
    calls = []
    result = pipeline.run(params(photos, scene_graph="swin-7", niter=5),
                          predictor=truth_predictor(calls))
    assert calls == [6] and result.n_pairs == 6  # swin-2 on 3 photos: every ordered pair
    assert any("swin-2 is used" in note for note in result.notes)


def test_photos_smaller_than_the_network_input_are_named_in_a_note(photos):
    """96x72 photos become 128x96 network images here (512x384 for the released models):
    the result says so; photos at least that large get no note."""
    big = JobParams(photos=photos, image_size=128, niter=5)
    result = pipeline.run(big, predictor=truth_predictor())
    assert result.notes[-1] == (
        "3 of 3 photos are smaller than the network's input and were enlarged up to 1.3x: "
        "view0.png (96x72), view1.png (96x72), view2.png (96x72); the detail in between is "
        "interpolated, not seen")
    result = pipeline.run(params(photos, niter=5), predictor=truth_predictor())  # 64 px
    assert not any("enlarged" in note for note in result.notes)
