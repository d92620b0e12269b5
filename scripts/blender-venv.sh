#!/usr/bin/env bash
# A venv for one Blender release as a Python module: .venv-blender-VERSION (bpy==VERSION,
# the shared pins of requirements-common.txt, the Python that release needs). Idempotent.
# A release on the Python of .venv (3.13) installs only bpy and reuses .venv's other
# packages through a .pth file (the CUDA build of torch is 4.7 GB); .venv is set up first.
# Usage: scripts/blender-venv.sh VERSION  (e.g. 4.2.23, 5.2.4); prints the venv's folder.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pythons.sh
version=${1:?usage: scripts/blender-venv.sh VERSION}
dir=.venv-blender-$version
python=$(python_for "$version")
system_libraries
if [ "$python" = "$(python_for 5.3.0)" ]; then
    scripts/setup-dev.sh >&2
    [ -x "$dir/bin/python" ] || "$python" -m venv "$dir"
    base=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    own=$("$dir/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    echo "$base" > "$own/dust3r-dev-venv.pth"  # after the venv's own bpy on sys.path
    venv "$dir" "$python" "bpy==$version" >&2
else
    venv "$dir" "$python" -r requirements-common.txt "bpy==$version" >&2
fi
"$dir/bin/python" -c "import bpy; assert bpy.app.version_string.startswith('$version'.rsplit('.', 1)[0]), bpy.app.version_string" >&2
echo "$dir"
