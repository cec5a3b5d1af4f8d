#!/usr/bin/env bash
# Sets up and runs the whole keras_ls test suite, once per Keras backend.
# Usage: bash scripts/test.sh [extra pytest args]
set -uo pipefail
cd "$(dirname "$0")/.."

# Real Fashion-MNIST for the tests that need it (Debian/Ubuntu package).
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -q && apt-get install -y -q dataset-fashion-mnist) \
      >/tmp/keras_ls_apt.log 2>&1 \
      || echo "note: dataset-fashion-mnist not installed; real-data tests skip"
  else
    echo "note: run as root (or sudo apt-get install dataset-fashion-mnist)"
    echo "      to run the real-data tests"
  fi
fi

python -m pip install -q -c ci/constraints.txt -e ".[all,test]" || exit 1

status=0
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend python -m pytest -q "$@" || status=1
done
exit $status
