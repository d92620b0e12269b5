#!/usr/bin/env bash
# Set up the venv (if needed) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-dev.sh
exec timeout 3000 .venv/bin/python -m pytest "$@"
