#!/usr/bin/env bash
# Set up the venvs (if needed) and run the tests; this is what CI runs.
#   1. the whole suite on the newest Blender: bpy 5.3.0, Python 3.13 (.venv);
#   2. the Blender tests (tests/blender: import, operators, packaging, CLI, demo) on the oldest
#      supported release, 4.2.23 LTS (Python 3.11), and on the current LTS, 5.2.4
#      (scripts/blender-venv.sh);
#   3. the add-on in a real Blender window (scripts/gui-test.sh: Debian's Blender 5.2 in a
#      chroot on Xvfb), whose chroot is built in the background meanwhile.
# Extra arguments go to pytest in 1. and 2. (instead of tests/blender), and skip 3.
# BLENDERS="4.2.23 5.2.4" picks the releases of 2. (BLENDERS= none); GUI=0 skips 3.
# The whole matrix (every release from 4.2 to 5.3, with the demo): scripts/test-matrix.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
BLENDERS=${BLENDERS-4.2.23 5.2.4}
GUI=${GUI:-$([ $# -eq 0 ] && echo 1 || echo 0)}
mkdir -p out
if [ "$GUI" != 0 ]; then  # downloads and unpacks while the CPU runs the suites
    scripts/gui-chroot.sh > out/gui-chroot.log 2>&1 &
    chroot_job=$!
fi
scripts/setup-dev.sh || exit
status=0
run() {  # run TITLE COMMAND...: the first failure's status wins; "no test selected" passes
    echo "=== $1 ==="
    shift
    timeout -k 30 3000 "$@"
    local rc=$?
    [ $rc -eq 5 ] && rc=0
    [ $status -eq 0 ] && status=$rc
}
run "bpy 5.3.0: the whole suite" .venv/bin/python -m pytest "$@"
for version in $BLENDERS; do
    venv=$(scripts/blender-venv.sh "$version") || { status=1; continue; }
    run "bpy $version: the Blender tests" "$venv/bin/python" -m pytest "${@:-tests/blender}"
done
if [ "$GUI" != 0 ]; then
    if wait "$chroot_job"; then
        run "a real Blender window" scripts/gui-test.sh
    else
        echo "=== the GUI chroot could not be built ===" && tail -20 out/gui-chroot.log
        status=1
    fi
fi
exit $status
