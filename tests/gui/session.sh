#!/usr/bin/env bash
# One real-window session, inside the GUI chroot (scripts/gui-chroot.sh), with the repository
# at /src (read-only) and the results going to /out. Run by tests/gui/test_real_window.py.
#   1. a fresh user folder with the first-start splash off (it stops the viewport drawing);
#   2. the demo's photos rendered by this Blender (blender -b, Cycles);
#   3. the extension zip built by this Blender (its Python has no bpy module);
#   4. Blender in a window on Xvfb, driven by tests/gui/driver.py; its console -> console.log.
set -euo pipefail
OUT=/out
export HOME=/tmp/dust3r-gui-home BLENDER_USER_RESOURCES=/tmp/dust3r-gui-user
rm -rf "$HOME" "$BLENDER_USER_RESOURCES" "$OUT"/*
mkdir -p "$HOME" "$OUT/dist"
blender -b --factory-startup --python-expr \
    "import bpy; bpy.context.preferences.view.show_splash = False; bpy.ops.wm.save_userpref()" \
    > "$OUT/setup.log" 2>&1
blender -b --factory-startup --python-expr \
    "import sys; sys.path.insert(0, '/src'); from demo.render import render_scene; \
render_scene('$OUT/photos', n_views=4, samples=2)" >> "$OUT/setup.log" 2>&1
python3 /src/scripts/build_extension.py build --source-dir /src --output-dir "$OUT/dist" \
    >> "$OUT/setup.log" 2>&1
zip=$(ls "$OUT"/dist/*.zip)

Xvfb :99 -screen 0 1600x900x24 -nolisten tcp > "$OUT/xvfb.log" 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true' EXIT
sleep 2
set +e
DISPLAY=:99 timeout -k 10 ${GUI_TIMEOUT:-600} blender --python /src/tests/gui/driver.py -- \
    "$zip" "$OUT/photos" "$OUT" > "$OUT/console.log" 2>&1
echo $? > "$OUT/blender.rc"
