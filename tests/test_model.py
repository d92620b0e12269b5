"""The network against the official code's outputs on the tiny random-weight fixtures."""
import copy
import re

import pytest
import torch

from core.errors import CheckpointError
from core.model import build_model
from checkpoints import FIXTURES, fixture_state_dict, fixture_tensors, fixture_views, tiny_config

TOL = 1e-5  # fixtures/README.md: thread noise < 5e-6, the smallest real mistake >= 2e-5


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape and a.dtype == b.dtype
    return (a - b).abs().max().item()


@pytest.fixture(scope="module", params=FIXTURES)
def fixture(request):
    """(name, fixture tensors, model loaded with the fixture's weights)."""
    tensors = fixture_tensors(request.param)
    return request.param, tensors, build_model(tiny_config(request.param),
                                               fixture_state_dict(tensors))


def official_outputs(tensors, prefix=""):
    return {k: tensors[f"{prefix}output.{k}"] for k in (
        "pred1.pts3d", "pred1.conf", "pred2.pts3d_in_other_view", "pred2.conf")}


def run(model, view1, view2):
    with torch.no_grad():
        pred1, pred2 = model(view1, view2)
    assert set(pred1) == {"pts3d", "conf"} and set(pred2) == {"pts3d_in_other_view", "conf"}
    return {**{f"pred1.{k}": v for k, v in pred1.items()},
            **{f"pred2.{k}": v for k, v in pred2.items()}}


@pytest.mark.parametrize("prefix", ["", "portrait."])
def test_outputs_match_official(fixture, prefix):
    _, tensors, model = fixture
    ours = run(model, *fixture_views(tensors, prefix))
    for key, expected in official_outputs(tensors, prefix).items():
        assert max_diff(ours[key], expected) <= TOL, key


def test_intermediates_match_official(fixture):
    _, t, model = fixture
    img1, img2 = t["input.view1.img"], t["input.view2.img"]
    with torch.no_grad():
        tokens, pos = model.patch_embed(torch.cat([img1, img2]))
        feat1, pos1 = model.encode(img1)
        feat2, pos2 = model.encode(img2)
        dec1, dec2 = model.decode(feat1, pos1, feat2, pos2)
        head1 = model.downstream_head1(dec1, (48, 64))
        head2 = model.downstream_head2(dec2, (48, 64))
    assert max_diff(tokens, t["debug.patch_embed.tokens"]) <= TOL
    assert torch.equal(pos, t["debug.patch_embed.pos"])
    assert torch.equal(torch.cat([pos1, pos2]), t["debug.patch_embed.pos"])
    assert max_diff(feat1, t["debug.enc.feat1"]) <= TOL
    assert max_diff(feat2, t["debug.enc.feat2"]) <= TOL
    depth = model.config["dec_depth"]
    assert len(dec1) == len(dec2) == depth + 1
    for i in range(depth + 1):
        assert max_diff(dec1[i], t[f"debug.dec1.{i}"]) <= TOL, i
        assert max_diff(dec2[i], t[f"debug.dec2.{i}"]) <= TOL, i
    assert max_diff(head1, t["raw.head1"]) <= TOL
    assert max_diff(head2, t["raw.head2"]) <= TOL


def test_forward_is_encode_twice_then_predict(fixture):
    _, t, model = fixture
    view1, view2 = fixture_views(t)
    with torch.no_grad():
        feat1, pos1 = model.encode(view1["img"])
        feat2, pos2 = model.encode(view2["img"])
        pred1, pred2 = model.predict(feat1, pos1, feat2, pos2, (48, 64))
    ours = run(model, view1, view2)
    assert torch.equal(pred1["pts3d"], ours["pred1.pts3d"])
    assert torch.equal(pred2["conf"], ours["pred2.conf"])


def test_batch_items_are_independent(fixture):
    _, t, model = fixture
    view1, view2 = fixture_views(t)
    both = run(model, view1, view2)
    for i in range(2):
        one = run(model, {"img": view1["img"][i:i + 1]}, {"img": view2["img"][i:i + 1]})
        for key, value in one.items():
            assert max_diff(value[0], both[key][i]) <= TOL, key


def test_the_tolerance_catches_small_mistakes(fixture):
    """Negative controls: the smallest mistakes in fixtures/README.md must fail the comparison."""
    _, tensors, model = fixture
    view1, view2 = fixture_views(tensors)
    expected = official_outputs(tensors)

    def worst(m):
        ours = run(m, view1, view2)
        return max(max_diff(ours[k], expected[k]) for k in expected)

    assert worst(model) <= TOL
    perturbed = copy.deepcopy(model)
    with torch.no_grad():
        perturbed.enc_blocks[0].norm1.weight[0] += 1e-3
    assert worst(perturbed) > TOL
    wrong_eps = copy.deepcopy(model)
    for module in wrong_eps.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.eps = 1e-5
    assert worst(wrong_eps) > TOL


@pytest.mark.parametrize("dtype, dpt_dtype", [(torch.bfloat16, torch.bfloat16),
                                              (torch.float16, torch.float32)])
def test_head_precision_under_autocast(fixture, dtype, dpt_dtype):
    """bf16: a DPT head runs in bf16 too, but for its last layer; fp16 (could overflow): in
    float32. Linear heads always in float32. Raw maps and outputs always in float32."""
    name, t, model = fixture
    seen = {}

    def record(key):
        def hook(module, args, output):
            seen[key] = (args[0][-1].dtype if isinstance(args[0], list) else args[0].dtype,
                         output.dtype)
        return hook

    head = model.downstream_head1
    modules = {"head1": head, "block": model.dec_blocks[0]}
    if name == "tiny_dpt":
        modules.update(fusion=head.dpt.scratch.refinenet1, upsampled_conv=head.dpt.head[2],
                       last=head.dpt.head[-1])
    handles = [module.register_forward_hook(record(key)) for key, module in modules.items()]
    try:
        with torch.autocast("cpu", dtype=dtype):
            low = run(model, *fixture_views(t))
    finally:
        for handle in handles:
            handle.remove()
    assert seen["block"][1] == dtype  # the transformer did run in low precision
    assert seen["head1"] == (dtype, torch.float32)
    if name == "tiny_dpt":
        assert seen["fusion"][1] == dpt_dtype
        assert seen["last"] == (torch.float32, torch.float32)
        assert seen["upsampled_conv"][1] == dpt_dtype
    assert all(v.dtype == torch.float32 for v in low.values())
    reference = run(model, *fixture_views(t))
    rel = (low["pred1.pts3d"] - reference["pred1.pts3d"]).norm() / reference["pred1.pts3d"].norm()
    assert rel < 0.1


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dpt_convolutions_run_channels_last(batch, dtype):
    """The token maps' own layout: no reorders around every convolution, at any batch size
    (a batch of one used to fall back to channels-first)."""
    tensors = fixture_tensors("tiny_dpt")
    model = build_model(tiny_config("tiny_dpt"), fixture_state_dict(tensors))
    view1, view2 = fixture_views(tensors)
    view1, view2 = ({"img": view["img"][:batch]} for view in (view1, view2))
    formats = []

    def record(module, args, output):
        formats.append(output.is_contiguous(memory_format=torch.channels_last)
                       and not output.is_contiguous())

    handles = [m.register_forward_hook(record) for m in model.downstream_head1.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    try:
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            run(model, view1, view2)
    finally:
        for handle in handles:
            handle.remove()
    assert len(formats) > 20 and all(formats)


def test_model_attributes(fixture):
    name, _, model = fixture
    assert model.patch_size == 16
    assert not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model.config["head_type"] == ("linear" if name == "tiny_linear" else "dpt")
    assert model.config["landscape_only"] is False


def test_transposed_true_shape_is_refused(fixture):
    _, t, model = fixture
    view1, view2 = fixture_views(t)
    view1["true_shape"] = view1["true_shape"].flip(-1)
    with pytest.raises(ValueError, match="true_shape"):
        model(view1, view2)


def test_dpt_weights_load_under_either_alias_name():
    tensors = fixture_tensors("tiny_dpt")
    sd = fixture_state_dict(tensors)
    view1, view2 = fixture_views(tensors)
    expected = official_outputs(tensors)
    hub_names = {k: v for k, v in sd.items() if ".scratch.layer_rn." not in k}
    list_names = {k: v for k, v in sd.items() if not re.search(r"\.scratch\.layer\d_rn\.", k)}
    for subset in (hub_names, list_names):
        assert len(subset) == len(sd) - 8
        ours = run(build_model(tiny_config("tiny_dpt"), subset), view1, view2)
        assert max(max_diff(ours[k], expected[k]) for k in expected) <= TOL


def test_missing_second_decoder_is_copied_from_the_first():
    sd = fixture_state_dict(fixture_tensors("tiny_linear"))
    croco = {k: v for k, v in sd.items() if not k.startswith("dec_blocks2.")}
    model = build_model(tiny_config("tiny_linear"), croco)
    for (name1, p1), (name2, p2) in zip(model.dec_blocks.named_parameters(),
                                        model.dec_blocks2.named_parameters()):
        assert name1 == name2 and torch.equal(p1, p2)
    assert not torch.equal(model.dec_blocks2[0].attn.qkv.bias, sd["dec_blocks2.0.attn.qkv.bias"])


@pytest.mark.parametrize("change, message", [
    (lambda sd: sd.pop("enc_norm.weight"), "1 missing keys: enc_norm.weight"),
    (lambda sd: sd.update(extra=torch.zeros(1)), "1 unexpected keys: extra"),
    (lambda sd: sd.update({"decoder_embed.bias": torch.zeros(33)}),
     r"wrong shapes: decoder_embed.bias \[33\] float32 \(network: \[32\]\)"),
    (lambda sd: sd.update({"dec_norm.bias": torch.zeros(32, dtype=torch.int64)}),
     "wrong shapes: dec_norm.bias"),
    (lambda sd: sd.pop("dec_blocks2.1.norm_y.bias"), "missing keys: dec_blocks2.1.norm_y.bias"),
])
def test_state_dict_mismatch_is_a_checkpoint_error(change, message):
    sd = fixture_state_dict(fixture_tensors("tiny_linear"))
    change(sd)
    with pytest.raises(CheckpointError, match=message):
        build_model(tiny_config("tiny_linear"), sd)


def test_weights_of_another_config_are_refused():
    sd = fixture_state_dict(fixture_tensors("tiny_dpt"))
    with pytest.raises(CheckpointError, match=r"missing keys: downstream_head1.proj.weight.*"
                                               r"unexpected keys: .*wrong shapes"):
        build_model(tiny_config("tiny_linear"), sd)


@pytest.mark.parametrize("change, message", [
    ({"output_mode": "pts3d+desc24"}, "output_mode"),
    ({"depth_mode": ["square", -float("inf"), float("inf")]}, "depth_mode"),
    ({"depth_mode": ["exp", 0, float("inf")]}, "depth_mode"),
    ({"conf_mode": ["exp", 0, float("inf")]}, "conf_mode"),
    ({"pos_embed": "cosine"}, "pos_embed"),
    ({"head_type": "dpt", "dec_depth": 9}, "dec_depth"),
    ({"head_type": "conv"}, "head_type"),
    ({"patch_size": 14}, "patch_size"),
    ({"patch_embed_cls": "PatchEmbed"}, "patch_embed_cls"),
    ({"enc_num_heads": 5}, "enc_embed_dim"),
    ({"dec_depth": 0}, "dec_depth"),
    ({"enc_depth": "2"}, "enc_depth"),
    ({"dpt_last_dim": 6}, "only apply to head_type 'dpt'"),
    ({"landscape_only": "yes"}, "landscape_only"),
    ({"use_magic": True}, "unknown setting"),
])
def test_unsupported_configs_are_checkpoint_errors(change, message):
    config = {**tiny_config("tiny_linear"), **change}
    with pytest.raises(CheckpointError, match=message):
        build_model(config)


def test_missing_config_key_is_a_checkpoint_error():
    config = tiny_config("tiny_linear")
    del config["dec_num_heads"]
    with pytest.raises(CheckpointError, match="missing dec_num_heads"):
        build_model(config)


def test_config_spellings_and_defaults():
    """Tuples or lists, training or inference spelling, defaults filled in: one config."""
    hub = tiny_config("tiny_linear")
    training = {**hub, "patch_embed_cls": "ManyAR_PatchEmbed", "landscape_only": True,
                "depth_mode": ("exp", -float("inf"), float("inf")), "img_size": (64, 64)}
    bare = {k: v for k, v in hub.items() if k not in (
        "output_mode", "freeze", "landscape_only", "patch_embed_cls", "depth_mode", "conf_mode")}
    with torch.device("meta"):
        configs = [build_model(c).config for c in (hub, training, bare)]
    assert configs[0] == configs[1] == configs[2]
    assert configs[0]["patch_embed_cls"] == "PatchEmbedDust3R"
    assert configs[0]["mlp_ratio"] == 4 and configs[0]["patch_size"] == 16
