"""run_pairs equals the official per-pair forward, encodes each image once, batches, cancels."""
import numpy as np
import pytest
import torch
from PIL import Image

from checkpoints import FIXTURES, fixture_state_dict, fixture_tensors, tiny_config
from core.errors import Cancelled, Dust3rError, OutOfMemory
from core.images import Photo, load_images
from core.inference import run_pairs
from core.model import build_model
from core.pairs import make_pairs

TOL = 1e-5  # fixtures/README.md: thread noise < 5e-6, the smallest real mistake >= 2e-5
PRED_KEYS = {"pred1": ("pts3d", "conf"), "pred2": ("pts3d_in_other_view", "conf")}


@pytest.fixture(scope="module", params=FIXTURES)
def model(request):
    return build_model(tiny_config(request.param), fixture_state_dict(fixture_tensors(request.param)))


@pytest.fixture(scope="module")
def linear_model():
    return build_model(tiny_config("tiny_linear"), fixture_state_dict(fixture_tensors("tiny_linear")))


def photos(folder, sizes, seed=0):
    """Random photos of the given (W, H), loaded at size 64 (landscape 64x48, portrait 48x64)."""
    rng = np.random.default_rng(seed)
    paths = []
    for k, (w, h) in enumerate(sizes):
        paths.append(folder / f"{k}.png")
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(paths[-1])
    return load_images(paths, size=64)


def per_pair_forward(model, pairs):
    """The official driver with batch_size 1: model(view1, view2) for every pair."""
    with torch.no_grad():
        return [model(view1, view2) for view1, view2 in pairs]


def assert_matches(out, reference, pairs):
    for e, (view1, view2) in enumerate(pairs):
        for side, preds in zip(("pred1", "pred2"), reference[e]):
            for key in PRED_KEYS[side]:
                ours = out[side][key][e]
                assert ours.dtype == torch.float32 and ours.shape == preds[key].shape[1:]
                torch.testing.assert_close(ours, preds[key][0], atol=TOL, rtol=TOL)
        for side, view in (("view1", view1), ("view2", view2)):
            assert out[side]["idx"][e] == view["idx"]
            assert out[side]["instance"][e] == view["instance"]
            assert out[side]["photo"][e] is view["photo"]
            assert torch.equal(out[side]["img"][e], view["img"][0])
            assert out[side]["true_shape"][e].tolist() == view["true_shape"][0].tolist()


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_complete_graph_equals_per_pair_forward(model, tmp_path, batch_size):
    pairs = make_pairs(photos(tmp_path, [(80, 60)] * 4), "complete")
    out = run_pairs(model, pairs, batch_size=batch_size)
    assert_matches(out, per_pair_forward(model, pairs), pairs)
    # One shape everywhere: the official batched layout.
    assert out["view1"]["img"].shape == (12, 3, 48, 64)
    assert out["view2"]["true_shape"].dtype == torch.int32
    assert out["view2"]["true_shape"].tolist() == [[48, 64]] * 12
    assert out["pred2"]["pts3d_in_other_view"].shape == (12, 48, 64, 3)
    assert out["pred1"]["conf"].shape == (12, 48, 64)
    assert out["view1"]["idx"] == [1, 2, 2, 3, 3, 3, 0, 0, 1, 0, 1, 2]
    assert out["view2"]["instance"] == ["0", "0", "1", "0", "1", "2", "1", "2", "2", "3", "3", "3"]
    assert all(isinstance(p, Photo) for p in out["view1"]["photo"])


@pytest.mark.parametrize("batch_size", [1, 3])
def test_landscape_and_portrait_mixed(model, tmp_path, batch_size):
    views = photos(tmp_path, [(80, 60), (60, 80), (80, 60), (60, 80)])
    pairs = make_pairs(views, "complete")
    out = run_pairs(model, pairs, batch_size=batch_size)
    assert_matches(out, per_pair_forward(model, pairs), pairs)
    # Shapes differ between pairs: per-pair lists without the batch dimension, in pair order.
    for side, key in (("pred1", "pts3d"), ("pred2", "pts3d_in_other_view"), ("view1", "img")):
        assert isinstance(out[side][key], list) and len(out[side][key]) == 12
    for e, (view1, view2) in enumerate(pairs):
        assert out["pred1"]["pts3d"][e].shape == (*view1["img"].shape[-2:], 3)
        assert out["pred2"]["conf"][e].shape == view2["img"].shape[-2:]
        assert out["view1"]["true_shape"][e].dtype == torch.int32


def count_calls(monkeypatch, model):
    calls = {"encode": [], "predict": []}
    encode, predict = model.encode, model.predict

    def counting_encode(img):
        calls["encode"].append(img.clone())
        return encode(img)

    def counting_predict(*args):
        calls["predict"].append(len(args[0]))
        return predict(*args)

    monkeypatch.setattr(model, "encode", counting_encode)
    monkeypatch.setattr(model, "predict", counting_predict)
    return calls


def test_each_image_is_encoded_once(linear_model, tmp_path, monkeypatch):
    views = photos(tmp_path, [(80, 60), (60, 80), (80, 60), (60, 80), (80, 60)])
    pairs = make_pairs(views, "complete")  # 20 pairs, every image in 8 of them
    calls = count_calls(monkeypatch, linear_model)
    run_pairs(linear_model, pairs, batch_size=2)
    for view in views:  # found in exactly one encoder batch, once
        matches = [img for img in calls["encode"] if img.shape[1:] == view["img"].shape[1:]
                   and (img == view["img"]).all(dim=(1, 2, 3)).sum() == 1]
        assert len(matches) == 1
    assert sum(len(img) for img in calls["encode"]) == 5
    # Pairs grouped by (shape1, shape2): 6 LL, 6 LP, 6 PL, 2 PP -> batches of at most 2.
    assert sorted(calls["predict"]) == [2] * 10 and sum(calls["predict"]) == 20


def test_progress_after_encoding_and_every_batch(linear_model, tmp_path):
    pairs = make_pairs(photos(tmp_path, [(80, 60)] * 4), "complete")
    seen = []
    run_pairs(linear_model, pairs, batch_size=5, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 12), (5, 12), (10, 12), (12, 12)]


def test_cancel_between_batches(linear_model, tmp_path, monkeypatch):
    pairs = make_pairs(photos(tmp_path, [(80, 60)] * 4), "complete")
    calls = count_calls(monkeypatch, linear_model)
    seen = []
    with pytest.raises(Cancelled):
        run_pairs(linear_model, pairs, batch_size=2, progress=lambda d, t: seen.append(d),
                  cancel=lambda: len(seen) >= 3)
    assert seen == [0, 2, 4] and calls["predict"] == [2, 2]
    with pytest.raises(Cancelled):  # already cancelled: not even the encoder runs
        run_pairs(linear_model, pairs, cancel=lambda: True)


def test_single_image_pairs_with_itself(linear_model, tmp_path, monkeypatch):
    views = photos(tmp_path, [(80, 60)])
    calls = count_calls(monkeypatch, linear_model)
    out = run_pairs(linear_model, make_pairs(views))
    assert len(calls["encode"]) == 1 and calls["predict"] == [1]
    assert out["view1"]["idx"] == out["view2"]["idx"] == [0]
    assert out["pred1"]["pts3d"].shape == (1, 48, 64, 3)


def test_outputs_are_plain_tensors_the_aligner_can_differentiate_through(linear_model, tmp_path):
    out = run_pairs(linear_model, make_pairs(photos(tmp_path, [(80, 60)] * 2)))
    pts = out["pred1"]["pts3d"]
    assert not pts.is_inference() and pts.device.type == "cpu"
    scale = torch.ones((), requires_grad=True)
    (pts * scale).sum().backward()
    assert scale.grad is not None


def test_bf16_on_cpu_is_close_to_float32(linear_model, tmp_path):
    pairs = make_pairs(photos(tmp_path, [(80, 60)] * 3), "complete")
    ref = run_pairs(linear_model, pairs)
    out = run_pairs(linear_model, pairs, dtype=torch.bfloat16)
    for side, keys in PRED_KEYS.items():
        for key in keys:
            assert out[side][key].dtype == torch.float32
            err = (out[side][key] - ref[side][key]).abs().max() / ref[side][key].abs().max()
            assert 0 < err < 0.05, (side, key, err)  # bf16 really ran, and is close


def test_precision_and_device_errors(linear_model, tmp_path, monkeypatch):
    pairs = make_pairs(photos(tmp_path, [(80, 60)] * 2))
    with pytest.raises(Dust3rError, match="float16 precision needs a GPU"):
        run_pairs(linear_model, pairs, dtype=torch.float16)
    with pytest.raises(ValueError, match="dtype must be"):
        run_pairs(linear_model, pairs, dtype=torch.float64)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        run_pairs(linear_model, pairs, batch_size=0)
    with pytest.raises(ValueError, match="No image pairs"):
        run_pairs(linear_model, [])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(Dust3rError, match="No CUDA GPU was found.*'cpu'"):
        run_pairs(linear_model, pairs, device="cuda")


def test_out_of_gpu_memory_gives_advice(linear_model, tmp_path, monkeypatch):
    pairs = make_pairs(photos(tmp_path, [(80, 60)] * 2))

    def out_of_memory(*args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(linear_model, "predict", out_of_memory)
    with pytest.raises(OutOfMemory, match="Out of GPU memory .* 2 image pairs.*fewer photos.*"
                                          "sparser pair graph.*224_linear.*bf16.*smaller batch"):
        run_pairs(linear_model, pairs)
