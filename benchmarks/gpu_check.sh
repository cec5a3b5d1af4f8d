#!/usr/bin/env bash
# One-shot GPU check for a lent CUDA machine with JAX but no Keras:
# installs the carried wheels (.whl/: keras, namex, optree for Python 3.12),
# runs the JAX test files given as arguments on the GPU, then the loss
# benchmark with the large GPU shape. Output goes to $OUT when set.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
if [ "$#" -gt 0 ]; then
  timeout 240 python3 -m pytest -q -p no:cacheprovider -x "$@" 2>&1 \
    | tee "$OUT/gpu_tests.txt" | tail -15
fi
timeout 240 python3 benchmarks/loss_benchmark.py --gpu-shapes --repeats 20 \
  2>&1 | grep -v "^WARNING" | tee "$OUT/gpu_loss_benchmark.txt"
