#!/usr/bin/env bash
# Builds the sdist and wheel, checks their metadata, installs the wheel (not
# the checkout) into a fresh venv with JAX only, and smoke-tests it there:
# `import keras_ls` without TensorFlow, a fit with the loss, the scheduler
# and the monitor, and `keras-ls --help`.
# Usage: bash scripts/wheel_smoke.sh   (from a checkout with .venv set up)
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d /tmp/keras_ls_wheel.XXXXXX)"
.venv/bin/python -m build --outdir "$out/dist" . >"$out/build.log" 2>&1 \
  || { tail -20 "$out/build.log"; exit 1; }
.venv/bin/twine check --strict "$out"/dist/*
# The sdist carries the suite and the docs, for distribution packagers.
sdist_files="$(tar tzf "$out"/dist/keras_ls-*.tar.gz)"
for f in tests/losses/test_losses.py tests/distributed/multiprocess_worker.py conftest.py \
    docs/distributed.md LICENSE ci/constraints-floor.txt; do
  grep -q "/$f\$" <<<"$sdist_files" || { echo "sdist lacks $f"; exit 1; }
done
python3 -m venv "$out/venv"
"$out/venv/bin/pip" install -q -c ci/constraints.txt \
  "$out"/dist/keras_ls-*.whl jax 2>&1 | grep -v "^WARNING: Location" || true
cd "$out"  # away from the checkout, so only the installed wheel is found
KERAS_BACKEND=jax "$out/venv/bin/python" - <<'PY'
import sys

import keras
import numpy as np

import keras_ls

assert "tensorflow" not in sys.modules, "keras_ls imported TensorFlow"
assert keras_ls.__file__.startswith(sys.prefix), keras_ls.__file__
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
model.compile(
    optimizer="sgd",
    loss=keras_ls.LabelSmoothingCrossentropy(0.2),
    jit_compile=True,
)
x = np.random.default_rng(0).random((32, 4), dtype="float32")
y = np.arange(32) % 3
history = model.fit(
    x, y, epochs=2, verbose=0,
    callbacks=[
        keras_ls.LabelSmoothingScheduler(
            keras_ls.schedules.LinearDecay(0.2, 0.0, 1)),
        keras_ls.ConfidenceMonitor((x, y)),
    ],
)
assert history.history["label_smoothing"] == [0.2, 0.0], history.history
assert "val_ece" in history.history
print("wheel smoke test: fit with loss, scheduler and monitor OK")
PY
"$out/venv/bin/keras-ls" --help >/dev/null
echo "wheel smoke test passed ($out)"
