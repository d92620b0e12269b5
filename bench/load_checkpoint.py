"""Peak memory and time of loading a full-size checkpoint (random ViT-L 512 DPT, 2.3 GB).

Writes the model once as an official `.pth` and as a hub folder into a temporary directory,
then loads each in a fresh process with core.weights.load_model and touches every weight.
Prints JSON: seconds and peak resident memory (GB) per layout, and the weights' size.
Usage: python bench/load_checkpoint.py [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONSTRUCTOR = ("AsymmetricCroCo3DStereo(pos_embed='RoPE100', patch_embed_cls='ManyAR_PatchEmbed', "
               "img_size=(512, 512), head_type='dpt', output_mode='pts3d', depth_mode=('exp', "
               "-inf, inf), conf_mode=('exp', 1, inf), enc_embed_dim=1024, enc_depth=24, "
               "enc_num_heads=16, dec_embed_dim=768, dec_depth=12, dec_num_heads=12)")


def peak_gb() -> float:
    """Peak resident memory of this process (Linux VmHWM; unlike ru_maxrss it resets on exec)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 2**20  # KiB -> GiB


def write(folder: Path) -> int:
    import torch
    from safetensors.torch import save_model

    from core.model import build_model
    from core.weights import parse_config

    model = build_model(parse_config("512_dpt"))
    torch.save({"model": model.state_dict(), "args": argparse.Namespace(model=CONSTRUCTOR)},
               folder / "checkpoint.pth")
    hub = folder / "hub"
    hub.mkdir()
    (hub / "config.json").write_text(json.dumps(model.config))
    save_model(model, str(hub / "model.safetensors"))
    return sum(p.numel() * p.element_size() for p in model.parameters())


def load(path: str) -> None:
    """Child process: load, touch every weight, print seconds and peak memory."""
    import torch

    from core.weights import load_model

    before = peak_gb()
    start = time.perf_counter()
    model = load_model(path)
    loaded = time.perf_counter() - start
    after_load = peak_gb()
    with torch.no_grad():
        checksum = sum(float(p.sum()) for p in model.parameters())
    print(json.dumps({"load_s": round(loaded, 2), "load_and_touch_s": round(time.perf_counter() - start, 2),
                      "peak_rss_gb_after_import": round(before, 2),
                      "peak_rss_gb_after_load": round(after_load, 2),
                      "peak_rss_gb_after_touching_all_weights": round(peak_gb(), 2),
                      "finite": checksum == checksum}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child")
    parser.add_argument("--keep")
    args = parser.parse_args()
    if args.child:
        return load(args.child)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        size = write(folder)
        result = {"weights_gb": round(size / 2**30, 2)}
        for layout, path in (("pth", folder / "checkpoint.pth"), ("hub_safetensors", folder / "hub")):
            out = subprocess.run([sys.executable, __file__, "--child", str(path)], check=True,
                                 capture_output=True, text=True).stdout
            result[layout] = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
