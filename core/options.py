"""Every choice a run offers, in one place: the released models, devices, precisions,
learning-rate schedules, pair graphs and known-camera modes, each with the label and the
one-line description the UI shows. The panel, the preferences, cli.py, the pipeline and the
aligner all take their lists from here. No torch: the UI imports it before the dependencies
are installed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Choice:
    id: str  # the value JobParams, the core functions and the command line use
    label: str
    description: str


@dataclass(frozen=True)
class ReleasedModel(Choice):
    repo: str  # Hugging Face repo id
    image_size: int  # the long side of the images it was trained on
    head: str  # "dpt" | "linear"


MODELS = (
    ReleasedModel("512_dpt", "512 DPT (best)",
                  "DUSt3R ViT-Large, 512 px, DPT head (about 2.2 GB)",
                  "naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt", 512, "dpt"),
    ReleasedModel("512_linear", "512 Linear",
                  "DUSt3R ViT-Large, 512 px, linear head (about 2.1 GB)",
                  "naver/DUSt3R_ViTLarge_BaseDecoder_512_linear", 512, "linear"),
    ReleasedModel("224_linear", "224 Linear (least memory)",
                  "DUSt3R ViT-Large, 224 px, linear head (about 2.1 GB)",
                  "naver/DUSt3R_ViTLarge_BaseDecoder_224_linear", 224, "linear"),
)
MODEL_LICENCE = "DUSt3R checkpoints: CC BY-NC-SA 4.0, non-commercial use only"

DEVICES = (
    Choice("auto", "Auto", "The CUDA GPU when there is one, else the CPU"),
    Choice("cuda", "CUDA GPU", "An NVIDIA GPU"),
    Choice("cpu", "CPU", "Works everywhere, slowly"),
)
PRECISIONS = (
    Choice("auto", "Auto", "bfloat16 where the hardware runs it natively (recent CUDA GPUs, "
                           "CPUs with AVX512-BF16 or AMX), else float32"),
    Choice("fp32", "Float32", "Full precision; slowest, most memory"),
    Choice("bf16", "BFloat16", "About 3x faster than float32 on CPUs with AVX512-BF16 or AMX "
                               "and on recent GPUs; about 1% point difference at most"),
    Choice("fp16", "Float16", "GPU only: for GPUs without bfloat16"),
)
SCHEDULES = (
    Choice("cosine", "Cosine", "Cosine learning-rate decay"),
    Choice("linear", "Linear", "Linear learning-rate decay"),
)
SCENE_GRAPHS = (  # the kinds of core.pairs' graph strings ("swin-3-noncyclic", ...)
    Choice("complete", "Complete", "Every photo with every other: best for up to ~20 photos"),
    Choice("swin", "Sliding Window", "Each photo with its K neighbours in order: video-like sets"),
    Choice("logwin", "Log Window", "Neighbours at distances 1, 2, 4, ... 2^(K-1)"),
    Choice("oneref", "One Reference", "Every photo with one reference photo: fewest pairs"),
    Choice("sequence", "Sequence", "Footage: each frame with its next K, plus links 2K, 4K, "
                                   "8K ... frames apart that close loops and stop drift"),
)
KEEP_CAMERAS = (  # what is kept of the user's cameras
    Choice("both", "Pose and Lens", "Keep position, rotation, focal length and shift"),
    Choice("pose", "Pose", "Keep position and rotation, solve the lens"),
    Choice("lens", "Lens", "Keep focal length and shift, solve the pose"),
)

MASK_SOURCES = (  # which pixels of each photo take part (core.masks)
    Choice("none", "None", "Every pixel of every photo"),
    Choice("alpha", "Alpha", "The photos' own alpha channel: transparent pixels are ignored"),
    Choice("folder", "Folder", "One mask image per photo, named after the photo (IMG_1.png "
                               "for IMG_1.jpg): white keeps a pixel, black ignores it"),
)

ORIGIN_SOURCES = (  # where Set Origin puts the world origin
    Choice("cursor", "3D Cursor", "The 3D cursor becomes the world origin"),
    Choice("selected", "Selected Points", "The centre of the selected points becomes the world "
                                          "origin"),
)
SCALE_SOURCES = (  # what Set Scale measures
    Choice("points", "Two Points", "The two selected points are the given distance apart"),
    Choice("camera", "Camera Height", "The active camera is the given height above the floor "
                                      "(Z = 0: set the floor first)"),
)


def ids(choices: Iterable[Choice]) -> tuple[str, ...]:
    return tuple(choice.id for choice in choices)


def enum_items(choices: Iterable[Choice]) -> list[tuple[str, str, str]]:
    """Blender EnumProperty items (id, label, description) of `choices`."""
    return [(c.id, c.label, c.description) for c in choices]


def released(name: str) -> ReleasedModel | None:
    """The released model called `name` ("512_dpt", ...), or None."""
    return next((m for m in MODELS if m.id == name), None)
