#!/usr/bin/env bash
# Runs the integration tests (real binaries, real clients) and prints:
#   integration: N passed, N failed
set -u
BUILD=${BUILD:-build}; PY=${PY:-/usr/bin/python3}
export RINGQ_BUILD=$(cd "$BUILD" && pwd)
export PYTHONPATH="$RINGQ_BUILD/gen/py:$(pwd)/tests/integration${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" tests/integration/runner.py "$@"
