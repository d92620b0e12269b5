#!/usr/bin/env bash
# Create (or update) the development venv in .venv from nothing. Idempotent.
#   --lts  also the Blender 4.2 LTS venv in .venv-blender-4.2 (bpy 4.2.23), which
#          scripts/test.sh runs the Blender tests in as well.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# bpy links a few X11/GL system libraries; install them only when missing (needs root + apt).
if ! ldconfig -p 2>/dev/null | grep -q libxkbcommon.so.0 && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq libx11-6 libxrender1 libxfixes3 libxi6 \
        libxkbcommon0 libsm6 libice6 libgl1 libxext6 >/dev/null
fi
venv() {  # venv DIR REQUIREMENTS
    [ -x "$1/bin/python" ] || "$PYTHON" -m venv "$1"
    "$1/bin/python" -m pip install -q --disable-pip-version-check -r "$2"
}
venv .venv requirements-dev.txt
if [ "${1:-}" = "--lts" ]; then
    venv .venv-blender-4.2 requirements-blender-4.2.txt
fi
