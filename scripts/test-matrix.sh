#!/usr/bin/env bash
# Every supported Blender release as a Python module, each with the whole suite and the demo
# (on demand; about 7 minutes a release on 2 cores). Prints the README's version table and
# keeps each run's output in out/matrix/<version>/.
# Usage: scripts/test-matrix.sh [VERSION...]   (default: every release below)
set -uo pipefail
cd "$(dirname "$0")/.."
VERSIONS=("$@")
[ ${#VERSIONS[@]} -eq 0 ] && VERSIONS=(4.2.23 4.5.15 5.0.1 5.1.2 5.2.4 5.3.0)
rows=()
status=0
for version in "${VERSIONS[@]}"; do
    out=out/matrix/$version
    rm -rf "$out" && mkdir -p "$out"
    if [ "$version" = 5.3.0 ]; then
        scripts/setup-dev.sh > "$out/setup.log" 2>&1 && venv=.venv
    else
        venv=$(scripts/blender-venv.sh "$version" 2> "$out/setup.log")
    fi || { rows+=("| $version | set-up failed (out/matrix/$version/setup.log) | |"); status=1; continue; }
    python=$("$venv/bin/python" -c "import sys; print('%d.%d' % sys.version_info[:2])")
    numpy=$("$venv/bin/python" -c "import numpy; print(numpy.__version__)")
    start=$(date +%s)
    timeout -k 30 3000 "$venv/bin/python" -m pytest -q -p no:cacheprovider > "$out/suite.log" 2>&1
    suite_rc=$?
    suite="$(tail -1 "$out/suite.log" | sed 's/=//g; s/ in [0-9.]*s .*//; s/^ *//'), $(( $(date +%s) - start )) s"
    start=$(date +%s)
    timeout -k 30 1800 "$venv/bin/python" -m demo --out "$out/demo" > "$out/demo.log" 2>&1
    demo_rc=$?
    worst=$(grep -E "^worst" "$out/demo.log" | awk '{print $2 " / " $3 " / " $4}')
    demo="$(( $(date +%s) - start )) s, worst camera ${worst:-none (exit $demo_rc)}"
    [ $suite_rc -eq 0 ] && [ $demo_rc -eq 0 ] || status=1
    rows+=("| $version | $python, numpy $numpy | $suite | $demo |")
done
echo "| bpy | Python | whole suite | demo (\`python -m demo\`) |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $status
