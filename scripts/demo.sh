#!/usr/bin/env bash
# The README's first command: set up the venv (if needed), then render a scene with exact
# ground truth, reconstruct it, import it into Blender and compare (demo/main.py).
# Arguments go to the demo (--help lists them); outputs land in out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-dev.sh
exec .venv/bin/python -m demo "$@"
