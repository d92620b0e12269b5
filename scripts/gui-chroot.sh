#!/usr/bin/env bash
# Build (or reuse) the Debian chroot in which scripts/gui-test.sh runs a real Blender window:
# Debian's own Blender (sid: 5.2, Python 3.14; SUITE=trixie: 4.3, Python 3.13) with Xvfb,
# Mesa's software GL, xdotool and ImageMagick, and the add-on's compiled dependencies from
# Debian (Debian's Blender runs on the system Python, so they import inside it).
# Needs root, debootstrap and the Debian mirror. Usage: scripts/gui-chroot.sh [DIR]
set -euo pipefail
SUITE=${SUITE:-sid}
DIR=${1:-${GUI_CHROOT:-/var/tmp/dust3r-gui/$SUITE}}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PACKAGES=(
    blender xvfb xauth xdotool imagemagick
    libgl1-mesa-dri libegl1 libegl-mesa0  # software GL for the window and for blender -b
    python3-cattr  # Blender's Extensions add-on needs it, else no "Install from Disk"
    python3-torch python3-numpy python3-scipy python3-pil python3-safetensors
    python3-huggingface-hub python3-av
)

if [ -f "$DIR/.dust3r-ready" ]; then echo "chroot ready: $DIR"; exit 0; fi
command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap >/dev/null; }
mkdir -p "$DIR"
if [ ! -x "$DIR/usr/bin/apt-get" ]; then
    debootstrap --variant=minbase "$SUITE" "$DIR" "$MIRROR"
fi
cp /etc/apt/apt.conf.d/99* "$DIR/etc/apt/apt.conf.d/" 2>/dev/null || true
cp /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true
"$(dirname "$0")/gui-chroot-mount.sh" "$DIR"
trap '"$(dirname "$0")/gui-chroot-mount.sh" --umount "$DIR"' EXIT
chroot "$DIR" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
chroot "$DIR" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${PACKAGES[@]}" >/dev/null
chroot "$DIR" apt-get clean
chroot "$DIR" blender --version | head -1
touch "$DIR/.dust3r-ready"
