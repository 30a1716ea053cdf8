#!/usr/bin/env bash
# Run the end-to-end suite: real SDKs against `turnout serve --demo`.
#
#   e2e/run.sh [pytest args...]
#
# Creates/reuses the venv at <repo>/.venv, installs e2e/requirements.txt, builds the gateway
# with `cargo build -p turnout` unless TURNOUT_BIN points at a binary, and runs pytest from the
# repo root. Exits with pytest's status. Needs python3 (3.11+) and cargo.
# The OpenAPI checks read ../shared/spec/openrouter-openapi.json (shared/ beside the repo).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"

if [ ! -x "$VENV/bin/python" ]; then
    echo "e2e: creating venv at $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r e2e/requirements.txt

if [ -z "${TURNOUT_BIN:-}" ]; then
    echo "e2e: cargo build -p turnout" >&2
    cargo build --quiet -p turnout
fi

set +e
"$VENV/bin/python" -m pytest -q e2e "$@"
status=$?
set -e
exit "$status"
