#!/usr/bin/env bash
# The add-on in a real Blender window: builds (or reuses) the Debian chroot with its Blender,
# Xvfb and Mesa (scripts/gui-chroot.sh), then runs tests/gui: a session driven like a user
# (tests/gui/driver.py), whose screenshots and console land in out/gui/. Needs root.
# Extra arguments go to pytest. GUI_CHROOT picks the chroot folder (SUITE=trixie: Blender 4.3).
set -euo pipefail
cd "$(dirname "$0")/.."
export GUI_CHROOT=${GUI_CHROOT:-/var/tmp/dust3r-gui/${SUITE:-sid}}
scripts/gui-chroot.sh "$GUI_CHROOT"
[ -x .venv/bin/python ] || scripts/setup-dev.sh
DUST3R_REAL_WINDOW=1 exec .venv/bin/python -m pytest tests/gui -p no:cacheprovider "$@"
