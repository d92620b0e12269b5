#!/usr/bin/env bash
# Re-download the wheels bundled in wheels/ (listed in blender_manifest.toml), unmodified from
# PyPI. Pure-Python: roma and huggingface_hub with its dependency tree. Binary but small:
# safetensors (one abi3 wheel per platform) and pyyaml (per platform, for cp311 = Blender
# 4.2-5.0 and cp313 = Blender 5.1+). torch, scipy and pillow are large, per-platform and (torch)
# per-CUDA-version: the add-on's "Install dependencies" button installs those with pip.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DL="$PY -m pip download -q --no-deps --only-binary=:all: -d wheels"
rm -f wheels/*.whl
$DL roma==1.8.0 huggingface_hub==2.4.0 filelock==4.2.12 fsspec==2026.9.0 packaging==26.3 \
    tqdm==4.70.1 typing_extensions==4.16.0 click==8.5.1 httpx2==2.16.2 httpcore2==2.16.2 \
    h11==0.16.0 anyio==4.16.0 idna==3.20 truststore==0.10.5 colorama==0.4.6
for plat in win_amd64 macosx_11_0_arm64 manylinux_2_17_x86_64; do
    $DL --platform "$plat" --python-version 3.11 safetensors==0.8.0
    for py in 3.11 3.13; do $DL --platform "$plat" --python-version "$py" pyyaml==6.0.4; done
done
ls wheels
