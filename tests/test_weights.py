"""Checkpoints in every official layout, configs, downloads, and the errors for bad files."""
import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import time
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from core import weights
from core.errors import CheckpointError, Dust3rError
from core.model import build_model
from core.weights import (RELEASED, RELEASED_CONFIGS, find_local, load_model, parse_config,
                          read_pth)
from checkpoints import (OFFICIAL, closed_port, fixture_metadata, fixture_state_dict,
                         fixture_tensors, fixture_views, serve_hub, silent_server, tiny_config,
                         write_hub_folder, write_pth)

TOL = 1e-5
FORMATS = json.loads((OFFICIAL / "checkpoint_formats.json").read_text())
OFFICIAL_NAMES = {name: f"DUSt3R_ViTLarge_BaseDecoder_{name}" for name in RELEASED}


def assert_matches_fixture(model, name):
    tensors = fixture_tensors(name)
    with torch.no_grad():
        pred1, pred2 = model(*fixture_views(tensors))
    for key, ours in (("pred1.pts3d", pred1["pts3d"]), ("pred1.conf", pred1["conf"]),
                      ("pred2.pts3d_in_other_view", pred2["pts3d_in_other_view"]),
                      ("pred2.conf", pred2["conf"])):
        assert (ours - tensors[f"output.{key}"]).abs().max().item() <= TOL, key


# ------------------------------------------------------------------------------------ configs

@pytest.mark.parametrize("name", RELEASED)
def test_released_configs_match_every_official_spelling(name):
    formats = FORMATS[OFFICIAL_NAMES[name]]
    expected = RELEASED_CONFIGS[name]
    assert parse_config(formats["train_kwargs"]) == expected
    assert parse_config(formats["inference_kwargs_after_load_model_rewrite"]) == expected
    assert parse_config(formats["hub_config_json_as_mixin_writes_it"]) == expected
    # The official load_model rewrite strips the spaces of strings with landscape_only.
    assert parse_config(formats["train_kwargs"].replace(" ", "")) == expected
    assert parse_config(name) == expected
    assert RELEASED[name] == f"naver/{OFFICIAL_NAMES[name]}"


@pytest.mark.parametrize("name", RELEASED)
def test_released_networks_have_the_official_state_dict(name):
    """Keys, order, shapes and DPT aliases of the real checkpoints (built on meta: no 2 GB)."""
    rows = [line.split("\t") for line in
            (OFFICIAL / f"state_dict_{OFFICIAL_NAMES[name]}.tsv").read_text().splitlines()]
    with torch.device("meta"):
        model = build_model(parse_config(name))
    sd = model.state_dict()
    assert [(k, json.loads(s), d) for k, s, d in rows] == \
        [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in sd.items()]
    formats = FORMATS[OFFICIAL_NAMES[name]]
    assert len(sd) == formats["n_state_dict_entries"]
    assert sum(p.numel() for p in model.parameters()) == formats["n_parameters"]
    assert not list(model.buffers())
    aliases = (OFFICIAL / f"state_dict_aliases_{OFFICIAL_NAMES[name]}.tsv").read_text().split()
    ours = dict(zip(aliases[::2], aliases[1::2]))
    params = dict(model.named_parameters(remove_duplicate=False))
    assert all(params[a] is params[b] for a, b in ours.items())
    shared = {a for a in params for b in params if a != b and params[a] is params[b]}
    assert shared == set(ours) | set(ours.values())
    assert len(sd) - len(ours) == formats["n_entries_after_safetensors_dedup"]


@pytest.mark.parametrize("name", ["tiny_linear", "tiny_dpt"])
@pytest.mark.parametrize("spelling", ["kwargs", "kwargs_inference"])
def test_fixture_constructor_strings_build_the_fixture_model(name, spelling):
    config = parse_config(fixture_metadata(name)[spelling])
    overrides = json.loads(fixture_metadata(name)["dpt_overrides"]) or {}
    config.update({f"dpt_{k}": v for k, v in overrides.items()})  # not in the string (README)
    assert parse_config(config) == parse_config(tiny_config(name))
    model = build_model(config, fixture_state_dict(fixture_tensors(name)))
    assert_matches_fixture(model, name)


@pytest.mark.parametrize("text, message", [
    ("AsymmetricMASt3R(pos_embed='RoPE100', output_mode='pts3d+desc24')", "not a DUSt3R"),
    ("AsymmetricCroCo3DStereo(pos_embed=__import__('os').system('touch /tmp/x'))", "unsupported value"),
    ("AsymmetricCroCo3DStereo('RoPE100')", "keyword arguments"),
    ("AsymmetricCroCo3DStereo(**kw)", "keyword arguments"),
    ("AsymmetricCroCo3DStereo(pos_embed='RoPE100'", "cannot parse"),
    ("os.system('ls')", "not a model constructor"),
    ("AsymmetricCroCo3DStereo(pos_embed='RoPE100', enc_embed_dim=-'a')", "unsupported value"),
    ("AsymmetricCroCo3DStereo(pos_embed='RoPE100')", "missing enc_embed_dim"),
])
def test_bad_constructor_strings_are_checkpoint_errors(text, message):
    with pytest.raises(CheckpointError, match=message):
        parse_config(text)


# ------------------------------------------------------------------------------ file layouts

@pytest.mark.parametrize("name", ["tiny_linear", "tiny_dpt"])
@pytest.mark.parametrize("spelling, training", [("kwargs", False), ("kwargs_inference", False),
                                                ("kwargs", True)])
def test_pth_checkpoints_load(tmp_path, name, spelling, training):
    path = write_pth(tmp_path / "checkpoint.pth", name, spelling, training)
    model = load_model(path)
    assert model.config == parse_config(tiny_config(name))
    assert_matches_fixture(model, name)


@pytest.mark.parametrize("name", ["tiny_linear", "tiny_dpt"])
def test_hub_folder_and_file_load(tmp_path, name):
    folder = write_hub_folder(tmp_path / "hub", name)
    with safe_open(folder / "model.safetensors", "pt") as f:  # the hub layout: aliases once
        assert not any(".layer_rn." in k for k in f.keys())
        assert len(f.metadata() or {}) == (8 if name == "tiny_dpt" else 0)
    assert "Infinity" in (folder / "config.json").read_text()
    assert_matches_fixture(load_model(folder), name)
    assert_matches_fixture(load_model(str(folder / "model.safetensors")), name)


def test_loaded_weights_are_not_copied():
    """build_model takes the given tensors as parameters: no second copy of 2 GB."""
    sd = fixture_state_dict(fixture_tensors("tiny_linear"))
    model = build_model(tiny_config("tiny_linear"), sd)
    assert model.enc_blocks[1].mlp.fc2.weight.data_ptr() == sd["enc_blocks.1.mlp.fc2.weight"].data_ptr()


def test_pth_with_other_python_objects_is_refused_saying_what_loads(tmp_path):
    path = tmp_path / "pickled.pth"
    marker = tmp_path / "was_run"
    ckpt = {"model": fixture_state_dict(fixture_tensors("tiny_linear")),
            "args": argparse.Namespace(model=fixture_metadata("tiny_linear")["kwargs"],
                                       output_dir=Path("out"))}
    torch.save(ckpt, path)
    pickled_as = re.escape(f"{type(Path()).__module__}.{type(Path()).__qualname__}")
    with pytest.raises(CheckpointError, match=r"pickled.pth is not an official DUSt3R checkpoint"
                       rf".*\({pickled_as}\).*official .pth files .* and hub folders "
                       r"\(config.json and model.safetensors\) load as they are") as info:
        load_model(path)
    assert "trust_pickle" not in str(info.value)  # no UI or command line offers it
    # Python callers who trust the file may still load it.
    assert_matches_fixture(load_model(path, trust_pickle=True), "tiny_linear")

    class RunsCode:  # what a malicious pickle does on load
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({**ckpt, "payload": RunsCode()}, path)
    with pytest.raises(CheckpointError, match="could run any code"):
        load_model(path)
    assert not marker.exists()


def corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(bytes(range(256)) * 64)
    else:
        path.write_bytes(b"")


@pytest.mark.parametrize("how", ["truncated", "garbage", "empty"])
def test_corrupt_files_are_checkpoint_errors(tmp_path, how):
    pth = write_pth(tmp_path / "c.pth", "tiny_linear")
    corrupt(pth, how)
    with pytest.raises(CheckpointError, match="c.pth"):
        load_model(pth)
    folder = write_hub_folder(tmp_path / "hub", "tiny_dpt")
    corrupt(folder / "model.safetensors", how)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_model(folder)


def zip_without_torch_data(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weights/readme.txt", "not a torch archive")


def truncated_torch_zip(path: Path) -> None:
    write_pth(path, "tiny_linear")
    path.write_bytes(path.read_bytes()[:1000])


def renamed_safetensors(path: Path) -> None:
    shutil.copy(write_hub_folder(path.parent / "hub", "tiny_linear") / "model.safetensors", path)


@pytest.mark.parametrize("make, says", [
    (lambda p: p.write_text("model weights: see the website\n"), "it is a text file"),
    (lambda p: p.write_text('{"model": "512_dpt"}'), "it is a text file"),
    (lambda p: p.write_bytes(b""), "the file is empty"),
    (zip_without_torch_data, r"it is a zip archive, but not one torch.save wrote \(no data.pkl\)"),
    (truncated_torch_zip, "it is a truncated or damaged zip archive"),
    (renamed_safetensors, "it is a safetensors file: load it as a hub model"),
    (lambda p: p.write_bytes(bytes(range(1, 256)) * 4), "neither a zip archive nor a pickle"),
    (lambda p: p.write_bytes(b"\x80\x02" + bytes(range(256)) * 4), "truncated or corrupt"),
])
def test_files_that_are_not_torch_checkpoints_are_named(tmp_path, make, says):
    path = tmp_path / "x.pth"
    make(path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=rf"x.pth is not a (DUSt3R|readable torch) "
                                              rf"checkpoint.*{says}") as info:
        load_model(path)
    assert "weights_only" not in str(info.value)  # torch's advice, not an option for users
    assert path.read_bytes() == before  # left as it was


def test_a_folder_named_like_a_checkpoint_is_named(tmp_path):
    (tmp_path / "x.pth").mkdir()
    with pytest.raises(CheckpointError, match="x.pth is not a DUSt3R checkpoint: a hub model is "
                                              "a folder with config.json and model.safetensors"):
        load_model(tmp_path / "x.pth")
    with pytest.raises(CheckpointError, match="x.pth is not a DUSt3R checkpoint: it is a folder"):
        read_pth(tmp_path / "x.pth")


@contextlib.contextmanager
def blocking_fails(seconds: float = 5):
    """Fail with TimeoutError instead of blocking forever (opening a FIFO waits for a writer)."""
    def alarm(signum, frame):
        raise TimeoutError("blocked on a file")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_named_pipes_are_refused_without_opening_them(tmp_path):
    os.mkfifo(tmp_path / "x.pth")
    folder = write_hub_folder(tmp_path / "hub", "tiny_linear")
    (folder / "model.safetensors").unlink()
    os.mkfifo(folder / "model.safetensors")
    with blocking_fails():
        with pytest.raises(CheckpointError, match=r"x.pth is not a DUSt3R checkpoint: it is a "
                                                  r"named pipe \(FIFO\), not a file"):
            load_model(tmp_path / "x.pth")
        with pytest.raises(CheckpointError, match=r"model.safetensors is a named pipe"):
            load_model(folder)


def test_pth_entries_are_checked(tmp_path):
    sd = fixture_state_dict(fixture_tensors("tiny_linear"))
    constructor = fixture_metadata("tiny_linear")["kwargs"]
    cases = [
        ({"model": sd}, r"expected the entries 'model' and 'args', found \['model'\]"),
        (sd, "expected the entries 'model' and 'args'"),
        ({"model": sd, "args": argparse.Namespace(batch_size=2)}, "no model constructor"),
        ({"model": [1, 2], "args": argparse.Namespace(model=constructor)}, "not a state dict"),
        ({"model": sd, "args": argparse.Namespace(model=constructor.replace("RoPE100", "cosine"))},
         "pos_embed"),
        ({"model": {k: v for k, v in sd.items() if k != "dec_norm.bias"},
          "args": argparse.Namespace(model=constructor)}, "missing keys: dec_norm.bias"),
        ({"model": {**sd, "enc_norm.weight": torch.zeros(47)},
          "args": argparse.Namespace(model=constructor)}, r"enc_norm.weight \[47\]"),
    ]
    for i, (ckpt, message) in enumerate(cases):
        path = tmp_path / f"case{i}.pth"
        torch.save(ckpt, path)
        with pytest.raises(CheckpointError, match=message) as info:
            load_model(path)
        assert str(path) in str(info.value)


def test_hub_folder_problems_are_checkpoint_errors(tmp_path):
    folder = write_hub_folder(tmp_path / "hub", "tiny_linear")
    shutil.copy(folder / "model.safetensors", tmp_path / "alone.safetensors")
    with pytest.raises(CheckpointError, match="missing .*config.json"):
        load_model(tmp_path / "alone.safetensors")
    (folder / "config.json").write_text('{"head_type": "linear",')
    with pytest.raises(CheckpointError, match="not a valid config.json"):
        load_model(folder)
    (folder / "config.json").write_text(json.dumps({**tiny_config("tiny_linear"), "dec_depth": 3}))
    with pytest.raises(CheckpointError, match="missing keys: dec_blocks.2"):
        load_model(folder)
    (folder / "config.json").write_text(json.dumps([1, 2]))
    with pytest.raises(CheckpointError, match="config.json is not a valid config.json: it holds a list"):
        load_model(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing .*model.safetensors"):
        load_model(folder)


def test_unknown_sources_are_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such model file"):
        load_model(tmp_path / "nothing.pth")
    with pytest.raises(CheckpointError, match="512_dpt"):
        load_model("DUSt3R")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is absent")
def test_cuda_without_cuda_is_a_clear_error(tmp_path):
    with pytest.raises(Dust3rError, match="CUDA"):
        load_model(write_pth(tmp_path / "c.pth", "tiny_linear"), device="cuda")
    with pytest.raises(Dust3rError, match="Unknown device 'gpu0'"):
        load_model("512_dpt", device="gpu0")


# ---------------------------------------------------------------------------------- downloads

REPO = RELEASED["512_dpt"]
FOLDER = "naver--DUSt3R_ViTLarge_BaseDecoder_512_dpt"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A local stand-in for the Hugging Face hub (HF_ENDPOINT) that serves the tiny DPT model
    as the released 512_dpt; yields the requests it gets. The Hugging Face cache is empty."""
    from huggingface_hub import constants

    remote = write_hub_folder(tmp_path / "remote", "tiny_dpt")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    with serve_hub({REPO: remote}) as (endpoint, requests):
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        yield requests


@pytest.fixture
def network(monkeypatch):
    """Every attempt to look up a name or open a connection, recorded and refused."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("this test allows no network")

    for owner, name in ((socket, "getaddrinfo"), (socket, "create_connection"),
                        (socket.socket, "connect"), (socket.socket, "connect_ex")):
        monkeypatch.setattr(owner, name, refuse)
    return attempts


def test_released_model_downloads_into_model_dir_and_loads(tmp_path, hub):
    model_dir = tmp_path / "models"
    assert find_local("512_dpt", model_dir) is None
    reports = []
    model = load_model("512_dpt", model_dir=model_dir, progress=lambda *a: reports.append(a))
    folder = model_dir / FOLDER
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["config.json", "model.safetensors"]
    assert [r for r in hub if r.startswith("GET")] == [
        f"GET /{REPO}/resolve/main/config.json", f"GET /{REPO}/resolve/main/model.safetensors"]
    assert all("/resolve/main/" in r for r in hub)  # no telemetry or other requests
    total = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert reports[-1] == (total, total) and len(reports) > 2
    assert all(d1 <= d2 for (d1, _), (d2, _) in zip(reports, reports[1:]))
    assert_matches_fixture(model, "tiny_dpt")

    assert find_local("512_dpt", model_dir) == folder
    assert find_local(REPO, model_dir) == folder
    requests = len(hub)
    load_model(REPO, model_dir=model_dir)  # present: no second download
    assert len(hub) == requests


def test_default_model_dir_comes_from_the_environment(tmp_path, hub, monkeypatch):
    monkeypatch.setenv("DUST3R_MODEL_DIR", str(tmp_path / "env_models"))
    assert weights.default_model_dir() == tmp_path / "env_models"
    assert weights.download("512_dpt") == tmp_path / "env_models" / FOLDER


def test_hugging_face_cache_copy_is_found_without_network(tmp_path, hub, network):
    from huggingface_hub import constants

    snapshot = Path(constants.HF_HUB_CACHE) / \
        "models--naver--DUSt3R_ViTLarge_BaseDecoder_512_dpt" / "snapshots" / ("a" * 40)
    write_hub_folder(snapshot, "tiny_dpt")
    refs = snapshot.parent.parent / "refs"
    refs.mkdir()
    (refs / "main").write_text("a" * 40)
    assert find_local("512_dpt", tmp_path / "models") == snapshot
    assert_matches_fixture(load_model("512_dpt", model_dir=tmp_path / "models"), "tiny_dpt")
    assert hub == [] and network == []


def test_unknown_repos_are_checkpoint_errors(tmp_path, hub):
    with pytest.raises(CheckpointError, match="someone/dust3r-finetune was not found on the "
                                              "Hugging Face hub"):
        load_model("someone/dust3r-finetune", model_dir=tmp_path / "models")
    with pytest.raises(CheckpointError, match="neither a released model"):
        weights.download("not a repo", tmp_path)


def expect_copy_by_hand(message: str, folder: Path) -> None:
    """The error names the folder and the two files to copy there."""
    assert f"copy its config.json and model.safetensors (from https://huggingface.co/{REPO}/" \
           f"tree/main) into {folder}" in message


@pytest.mark.parametrize("how, says", [("allow_download", "online access is off"),
                                       ("HF_HUB_OFFLINE", "HF_HUB_OFFLINE is set")])
def test_no_network_at_all_when_downloads_are_off(tmp_path, monkeypatch, network, how, says):
    kwargs = {"allow_download": False} if how == "allow_download" else {}
    if how == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match=f"{REPO} is not in .* and {says}, so it cannot "
                                              "be downloaded") as info:
        load_model("512_dpt", model_dir=tmp_path / "models", **kwargs)
    expect_copy_by_hand(str(info.value), tmp_path / "models" / FOLDER)
    # Copied there by hand, it loads, still without network.
    write_hub_folder(tmp_path / "models" / FOLDER, "tiny_dpt")
    assert_matches_fixture(load_model("512_dpt", model_dir=tmp_path / "models", **kwargs),
                           "tiny_dpt")
    assert weights.download("512_dpt", tmp_path / "models", **kwargs) == \
        tmp_path / "models" / FOLDER
    assert network == []


def failure_seconds(tmp_path, says: str) -> float:
    """Seconds until loading 512_dpt fails with `says` and the advice to copy it by hand."""
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=f"cannot download {REPO}: {says}. Download it "
                                              "later, or copy") as info:
        load_model("512_dpt", model_dir=tmp_path / "models")
    expect_copy_by_hand(str(info.value), tmp_path / "models" / FOLDER)
    return time.perf_counter() - start


def test_a_hub_that_never_answers_fails_within_the_timeout(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_ETAG_TIMEOUT", 1)  # what $HF_HUB_ETAG_TIMEOUT sets
    with silent_server() as endpoint:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        seconds = failure_seconds(tmp_path, f"{endpoint[len('http://'):]} did not answer "
                                            "within 1 s")
    assert seconds < 4  # one request: no retries, no second request of its own


def test_a_closed_port_fails_at_once(tmp_path, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert failure_seconds(tmp_path, f"127.0.0.1:{port} refused the connection") < 2


def test_no_network_connection_fails_at_once(tmp_path, monkeypatch):
    """Offline, the name lookup fails at once (EAI_AGAIN): no retries after it."""
    def offline(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", offline)
    assert failure_seconds(tmp_path, "the name huggingface.co cannot be looked up "
                                     r"\(no network connection, or no DNS\)") < 2


def test_a_present_model_is_kept_when_the_hub_is_unreachable(tmp_path, monkeypatch):
    folder = write_hub_folder(tmp_path / "models" / FOLDER, "tiny_dpt")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    assert weights.download("512_dpt", tmp_path / "models") == folder
