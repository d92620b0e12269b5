"""The plate of a shot as movie files, encoded with PyAV (no bpy).

Two codecs, for two questions: FFV1 in Matroska stores the RGB frames losslessly (a movie
plate must give the same solve as the image sequence); H.264 in MP4 is what footage usually
arrives as. Its 4:4:4 chroma keeps colour edges, but the RGB -> YUV conversion (BT.601,
limited range, 8 bits) and the codec itself still change the pixels: on the demo plate at
192x108 by 1.6 levels on average at CRF 4 (0.4 at CRF 0, the conversion alone; 4:2:0 chroma
as most footage has: 3.3).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Codec:
    suffix: str  # the movie file's extension
    name: str  # FFmpeg encoder
    pix_fmt: str
    options: dict = field(default_factory=dict)


CODECS = {
    "ffv1": Codec(".mkv", "ffv1", "bgr0"),  # lossless RGB
    "h264": Codec(".mp4", "libx264", "yuv444p", {"crf": "4", "preset": "medium"}),
}


def encode_movie(frames: Sequence[str | Path], path: str | Path, codec: str = "ffv1",
                 fps: int = 24) -> Path:
    """Encode the image files `frames` (all one size, in order) as the movie `path` with
    `CODECS[codec]` at `fps` frames per second; returns `path`."""
    spec = CODECS[codec]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(spec.name, rate=Fraction(fps))
        stream.pix_fmt = spec.pix_fmt
        stream.options = dict(spec.options)
        for k, file in enumerate(frames):
            rgb = np.asarray(Image.open(file).convert("RGB"))
            if k == 0:
                stream.height, stream.width = rgb.shape[:2]
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())  # flush the encoder's delayed frames
    return Path(path)
