#!/usr/bin/env bash
# Create (or update) the development venv in .venv from nothing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# bpy links a few X11/GL system libraries; install them only when missing (needs root + apt).
if ! ldconfig -p 2>/dev/null | grep -q libxkbcommon.so.0 && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq libx11-6 libxrender1 libxfixes3 libxi6 \
        libxkbcommon0 libsm6 libice6 libgl1 libxext6 >/dev/null
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
