#!/usr/bin/env bash
# One-shot GPU check for a lent CUDA machine with JAX but no Keras:
# installs the carried wheels (.whl/: keras, namex, optree for Python 3.12),
# runs the JAX test files given as arguments on the GPU, then the
# benchmarks named in $GPU_BENCHMARKS (default: loss). Output goes to $OUT.
#   GPU_BENCHMARKS="scheduler monitor" bash benchmarks/gpu_check.sh tests/x.py
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
if [ "$#" -gt 0 ]; then
  timeout 300 python3 -m pytest -q -p no:cacheprovider "$@" 2>&1 \
    | tee "$OUT/gpu_tests.txt" | tail -25
fi
for bench in ${GPU_BENCHMARKS:-loss}; do
  case $bench in
    loss) args="--gpu-shapes --repeats 20" ;;
    scheduler) args="--batch-size 128 --repeats 3" ;;
    monitor) args="--repeats 7" ;;
  esac
  echo "=== $bench benchmark"
  timeout 200 python3 "benchmarks/${bench}_benchmark.py" $args 2>&1 \
    | grep -v "^WARNING" | tee "$OUT/gpu_${bench}_benchmark.txt" | tail -20
done
