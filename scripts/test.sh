#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the whole test suite: lint, unit, loopback cluster,
# and namespace-cluster tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== pytest"
.venv/bin/pytest "$@"
