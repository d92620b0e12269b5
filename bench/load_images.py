"""Peak memory of `core.images.load_images` for one large EXIF-rotated JPEG (12 and 108 MP).

Writes each photo once (a smooth gradient with noise, stored landscape with EXIF Orientation 6,
as a phone held upright writes it), then loads it in a fresh process and prints JSON: the
process's peak resident memory (Linux VmHWM) after importing and after `load_images`, the
difference, and that difference in decoded RGB copies of the photo (Pillow keeps RGB at 4 bytes
per pixel).
Usage: python bench/load_images.py [--keep DIR] [--orientation 6]
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

SIZES = {"12MP": (4000, 3000), "108MP": (12000, 9000)}


def peak_mib() -> float:
    """Peak resident memory of this process (Linux VmHWM; unlike ru_maxrss it resets on exec)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024  # KiB -> MiB


def write(path: Path, size: tuple[int, int], orientation: int) -> None:
    import numpy as np
    from PIL import Image

    w, h = size
    rows = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    cols = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    noise = np.random.default_rng(0).integers(0, 16, (h, w), dtype=np.uint8)
    pixels = np.dstack([(rows + noise).clip(0, 255), (cols + noise).clip(0, 255),
                        ((rows + cols) / 2 + noise).clip(0, 255)]).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, quality=90, exif=exif)


def load(path: str) -> None:
    """Child process: load the photo as the pipeline does, print the peaks."""
    from core.images import load_images

    before = peak_mib()
    start = time.perf_counter()
    view, = load_images([path])
    seconds = time.perf_counter() - start
    after = peak_mib()
    w, h = view["photo"].size
    print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mib_after_import": round(before),
                      "peak_rss_mib_after_load": round(after), "extra_mib": round(after - before),
                      "extra_in_rgb_copies": round((after - before) * 2**20 / (w * h * 4), 2)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child")
    parser.add_argument("--keep")
    parser.add_argument("--orientation", type=int, default=6)
    args = parser.parse_args()
    if args.child:
        return load(args.child)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        result = {}
        for name, size in SIZES.items():
            path = folder / f"{name}_orientation{args.orientation}.jpg"
            if not path.exists():
                write(path, size, args.orientation)
            out = subprocess.run([sys.executable, __file__, "--child", str(path)], check=True,
                                 capture_output=True, text=True).stdout
            result[name] = {"file_mib": round(path.stat().st_size / 2**20, 1),
                            **json.loads(out.strip().splitlines()[-1])}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
