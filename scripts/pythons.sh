# Sourced by the set-up scripts: which Python each Blender release needs, and venvs from
# nothing. Blender 4.2-5.0 embed Python 3.11, 5.1 and newer 3.13; bpy wheels exist only
# for that Python. Python 3.13 is under pyenv on the machines this project runs on.

python_for() {  # python_for BLENDER_VERSION -> the Python executable for its bpy
    case "$1" in
        4.*|5.0.*) echo "${PYTHON311:-python3.11}" ;;
        *) if [ -n "${PYTHON313:-}" ]; then echo "$PYTHON313"
           elif [ -x "$HOME/.pyenv/versions/3.13.0/bin/python3.13" ]; then
               echo "$HOME/.pyenv/versions/3.13.0/bin/python3.13"  # pyenv's shim is off
           else echo python3.13; fi ;;
    esac
}

system_libraries() {  # bpy links a few X11/GL libraries: install them when missing (root, apt)
    if ! ldconfig -p 2>/dev/null | grep -q libxkbcommon.so.0 && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq libx11-6 libxrender1 libxfixes3 libxi6 \
            libxkbcommon0 libsm6 libice6 libgl1 libxext6 >/dev/null
    fi
}

venv() {  # venv DIR PYTHON PIP_ARGS...: create DIR with PYTHON unless it exists, then install
    local dir=$1 python=$2
    shift 2
    if [ ! -x "$dir/bin/python" ]; then
        command -v "$python" >/dev/null || { echo "$python is needed for $dir" >&2; return 1; }
        "$python" -m venv "$dir"
    fi
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 \
        | grep -v "^WARNING: Location 'file://" || true
    "$dir/bin/python" -c "import bpy, torch" 2>/dev/null \
        || { echo "the venv $dir does not import bpy and torch" >&2; return 1; }
}
