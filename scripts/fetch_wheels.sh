#!/usr/bin/env bash
# Re-download the wheels bundled in wheels/ (listed in blender_manifest.toml), unmodified from
# PyPI: roma and huggingface_hub with its pure-Python dependency tree. Only py3-none-any wheels
# are bundled, because Blender's wheel selection differs between releases (4.2.0 ignores the
# Python tag, 4.3 the stable ABI) while a pure wheel installs alike on all of them. Binary
# packages (torch, scipy, pillow, safetensors, pyyaml, av) are installed by the add-on's
# "Install Dependencies" button, with pip and Blender's own Python (core/dependencies.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
rm -f wheels/*.whl
$PY -m pip download -q --no-deps --only-binary=:all: -d wheels \
    roma==1.8.0 huggingface_hub==2.4.0 filelock==4.2.12 fsspec==2026.9.0 packaging==26.3 \
    tqdm==4.70.1 typing_extensions==4.16.0 click==8.5.1 httpx2==2.16.2 httpcore2==2.16.2 \
    h11==0.16.0 anyio==4.16.0 idna==3.20 truststore==0.10.5 colorama==0.4.6
if ls wheels/*.whl | grep -v -- '-none-any\.whl$'; then
    echo "error: the wheels above are not pure Python (py3-none-any)" >&2
    exit 1
fi
ls wheels
