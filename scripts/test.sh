#!/usr/bin/env bash
# Set up the venvs (if needed) and run the tests; this is what CI runs.
#   1. the whole suite with bpy 5.0.1 (.venv);
#   2. the Blender tests (tests/blender: import, operators, packaging, CLI, demo) with the
#      Blender 4.2 LTS, bpy 4.2.23 (.venv-blender-4.2).
# Extra arguments go to pytest in both runs (instead of tests/blender in the second).
# LTS=0 skips the second run.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${LTS:-1}" = 0 ]; then scripts/setup-dev.sh; else scripts/setup-dev.sh --lts; fi || exit

echo "=== bpy 5.0.1: the whole suite ==="
timeout -k 30 3000 .venv/bin/python -m pytest "$@"
latest=$?
[ "${LTS:-1}" = 0 ] && exit $latest

echo "=== bpy 4.2 LTS: the Blender tests ==="
if [ $# -eq 0 ]; then
    timeout -k 30 1500 .venv-blender-4.2/bin/python -m pytest tests/blender
    lts=$?
else
    timeout -k 30 1500 .venv-blender-4.2/bin/python -m pytest "$@"
    lts=$?
    [ $lts -eq 5 ] && lts=0  # your arguments selected no test to run there
fi
[ $latest -ne 0 ] && exit $latest  # the first failure wins
exit $lts
