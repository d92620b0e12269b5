#!/usr/bin/env bash
# Create (or update) the development venv in .venv from nothing. Idempotent.
# .venv runs the newest Blender as a Python module (requirements-dev.txt: bpy 5.3.0 on
# Python 3.13). Other releases get venvs of their own: scripts/blender-venv.sh VERSION.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh
system_libraries
venv .venv "$(python_for 5.3.0)" -r requirements-dev.txt
