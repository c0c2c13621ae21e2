#!/usr/bin/env bash
# Install what the tests need (Debian packages when missing, a venv with the test extras),
# then lint, type-check and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
