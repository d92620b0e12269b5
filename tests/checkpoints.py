"""Test helpers: the official tiny-model fixtures, checkpoint files in the official layouts, and
local servers that stand in for the Hugging Face hub (answering, silent, or absent)."""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_model

OFFICIAL = Path(__file__).resolve().parent / "data" / "official"
FIXTURES = ("tiny_linear", "tiny_dpt")


def fixture_tensors(name: str) -> dict[str, torch.Tensor]:
    return load_file(OFFICIAL / f"{name}.safetensors")


def fixture_metadata(name: str) -> dict[str, str]:
    with safe_open(OFFICIAL / f"{name}.safetensors", "pt") as f:
        return f.metadata()


def fixture_state_dict(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The `model.*` entries: the official state dict, DPT aliases under both names."""
    return {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}


def tiny_config(name: str) -> dict:
    """The fixture model's config as the hub mixin would write it (fixtures/README.md)."""
    linear = name == "tiny_linear"
    config = {
        "output_mode": "pts3d", "head_type": "linear" if linear else "dpt",
        "depth_mode": ["exp", -float("inf"), float("inf")], "conf_mode": ["exp", 1, float("inf")],
        "freeze": "none", "landscape_only": False, "patch_embed_cls": "PatchEmbedDust3R",
        "pos_embed": "RoPE100", "img_size": [64, 64],
        "enc_embed_dim": 48 if linear else 32, "enc_depth": 2, "enc_num_heads": 4 if linear else 2,
        "dec_embed_dim": 32 if linear else 16, "dec_depth": 2 if linear else 10,
        "dec_num_heads": 4 if linear else 2,
    }
    overrides = json.loads(fixture_metadata(name)["dpt_overrides"]) or {}
    config.update({f"dpt_{key}": value for key, value in overrides.items()})
    return config


def fixture_views(tensors: dict[str, torch.Tensor], prefix: str = "") -> tuple[dict, dict]:
    """The fixture's input pairs as official view dicts (prefix "portrait." for portrait)."""
    views = []
    for i in (1, 2):
        img = tensors[f"{prefix}input.view{i}.img"]
        first = 0 if i == 1 else len(img)
        views.append({"img": img, "true_shape": tensors[f"{prefix}input.true_shape{i}"],
                      "idx": list(range(first, first + len(img))),
                      "instance": [str(j) for j in range(first, first + len(img))]})
    return views[0], views[1]


# --------------------------------------------------------------------- files in official layouts

def shared_aliases(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict with each DPT `layer_rn.N` entry the same tensor as `layer{N+1}_rn`, as
    in the official model (torch.save keeps both names and the sharing)."""
    sd = dict(state_dict)
    for key in state_dict:
        head, sep, rest = key.partition(".scratch.layer_rn.")
        if sep:
            n = int(rest.split(".")[0])
            sd[key] = sd[f"{head}.scratch.layer{n + 1}_rn.weight"]
    return sd


def constructor(name: str, spelling: str = "kwargs") -> str:
    """The fixture's constructor string; for tiny_dpt with its reduced DPT widths appended
    (the official fixture set them after construction; real checkpoints use the defaults)."""
    text = fixture_metadata(name)[spelling]
    overrides = json.loads(fixture_metadata(name)["dpt_overrides"]) or {}
    extra = "".join(f", dpt_{key}={value!r}" for key, value in overrides.items())
    return text[:-1] + extra + ")"


def write_pth(path: Path, name: str, spelling: str = "kwargs", training: bool = False) -> Path:
    """An official `.pth`: `model` + `args` (constructor string in the fixture's `kwargs`
    (training) or `kwargs_inference` spelling); `training` adds optimizer/scaler/epoch."""
    sd = shared_aliases(fixture_state_dict(fixture_tensors(name)))
    ckpt = {"model": sd, "args": argparse.Namespace(model=constructor(name, spelling),
                                                     batch_size=4, lr=1e-4, output_dir="out")}
    if training:
        ckpt.update(
            optimizer={"state": {i: {"step": torch.tensor(10.0), "exp_avg": torch.zeros_like(v),
                                     "exp_avg_sq": torch.zeros_like(v)}
                                 for i, v in enumerate(sd.values())},
                       "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.95), "params": list(range(len(sd)))}]},
            scaler={"scale": 65536.0, "growth_factor": 2.0, "_growth_tracker": 0},
            epoch=7, best_so_far=0.25)
    torch.save(ckpt, path)
    return path


def write_hub_folder(folder: Path, name: str) -> Path:
    """`save_pretrained` layout: config.json (Infinity literals, keys sorted) and a
    model.safetensors written by safetensors' save_model as the hub mixin does (aliases once)."""
    from core.model import build_model

    folder.mkdir(parents=True, exist_ok=True)
    config = tiny_config(name)
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    model = build_model(config, fixture_state_dict(fixture_tensors(name)))
    save_model(model, str(folder / "model.safetensors"))
    return folder


# ------------------------------------------------------------------------------ a local hub

@contextlib.contextmanager
def serve_hub(repos: dict[str, Path]) -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that answers like the Hugging Face hub for the files of `repos`
    (repo id -> folder): HEAD and GET /<repo>/resolve/main/<file> with the hub's headers, 404
    with its error codes otherwise. Yields its endpoint and the requests it gets."""
    requests: list[str] = []

    class Hub(BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.reply(body=False)

        def do_GET(self):
            self.reply(body=True)

        def log_message(self, *args):
            pass

        def reply(self, body: bool) -> None:
            requests.append(f"{self.command} {self.path}")
            match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/main/(.+)", self.path)
            folder = repos.get(match[1]) if match else None
            file = folder / match[2] if folder else None
            if file is None or not file.is_file():
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound" if folder else "RepoNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = file.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("X-Repo-Commit", "0" * 40)
            self.end_headers()
            if body:
                self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """An endpoint that accepts connections and never answers; yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:  # the 0.1 s accept timeout: look at `stop` again
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def closed_port() -> int:
    """A local TCP port that nothing listens on (bound, then closed)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]
