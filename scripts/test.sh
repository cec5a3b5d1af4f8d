#!/usr/bin/env bash
# Sets up and runs the whole keras_ls test suite, once per Keras backend.
# Usage: bash scripts/test.sh [extra pytest args]
#
# It uses the project environment .venv (the one the README's first
# command makes), creating it when missing, and installs the package with
# its `all` and `test` extras into it (scripts/setup.sh; that also installs
# the real Fashion-MNIST files where apt can, else the tests needing them
# skip). No `python` on PATH is needed, and nothing is installed into a
# system Python.
#
# Lint runs first and fails the run: `ruff format --check` and `ruff check`
# (ruff comes with the `test` extra; settings in ruff.toml). Fix with
# `.venv/bin/ruff format . && .venv/bin/ruff check --fix .`.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh all,test || exit 1

echo "=== ruff format --check && ruff check"
.venv/bin/ruff format --check . || exit 1
.venv/bin/ruff check . || exit 1

status=0
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend .venv/bin/python -m pytest -q "$@" || status=1
done
exit $status
