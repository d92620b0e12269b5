#!/usr/bin/env bash
# Install Dependencies executed for real: a venv with only bpy (5.3.0, Python 3.13, numpy as
# bpy's own dependency) stands for a new user's Blender; the built zip is installed, the
# button pressed (pip from PyPI into the extension's user folder: PyPI's torch, 4.7 GB on
# Linux), then a reconstruction runs on what it installed (scripts/check_install_dependencies.py).
# Needs the network to PyPI; about 3 minutes here. Usage: scripts/check-install-dependencies.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh
system_libraries
version=${BLENDER_VERSION:-5.3.0}
venv=.venv-install-check
work=$(mktemp -d /tmp/dust3r-install-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
rm -rf "$venv"
"$(python_for "$version")" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "bpy==$version"
mkdir -p "$work/dist"
"$venv/bin/python" scripts/build_extension.py build --source-dir . --output-dir "$work/dist"
"$venv/bin/python" scripts/check_install_dependencies.py "$work"/dist/*.zip "$work"
