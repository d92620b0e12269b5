#!/usr/bin/env bash
# Bind /proc, /sys and /dev into the GUI chroot (idempotent), or undo it with --umount.
# Usage: scripts/gui-chroot-mount.sh [--umount] DIR
set -euo pipefail
if [ "$1" = "--umount" ]; then
    for m in dev/pts dev sys proc; do
        mountpoint -q "$2/$m" && umount -l "$2/$m"
    done
    exit 0
fi
for m in proc sys dev dev/pts; do
    mkdir -p "$1/$m"
    mountpoint -q "$1/$m" || mount --bind "/$m" "$1/$m"
done
