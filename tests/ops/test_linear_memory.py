"""Memory of the fused head at Gemma-2 2B shapes, measured without running.

XLA compiles the value and gradient at N = 8,192 tokens, D = 2,304 and
V = 256,000 from shapes alone, and reports its temporary buffers (JAX) or
the optimized HLO (TensorFlow): no (N, V) buffer may appear, and the
fused temporaries stay under 1/20 of the dense ones (in bfloat16, plus the
one float32 copy of the weight that XLA:CPU makes of a bfloat16 array a
loop slices). PyTorch's CPU peak is measured in a subprocess at N = 4,096,
V = 32,000 (benchmarks/fused_loss_benchmark.py).
"""

import re

import keras
import pytest

import keras_ls
from keras_ls.ops import linear_label_smoothing_crossentropy as fused_loss
from tests.testing import requires_jax
from tests.testing import requires_tf
from tests.testing import requires_torch

N, D, V = 8192, 2304, 256000


def _has_logits_buffer(hlo):
    return bool(re.search(rf"\[({N},{V}|{V},{N})\]", hlo))


def _dense_loss(h, w, y):
    logits = keras.ops.matmul(h, keras.ops.transpose(w))
    values = keras_ls.label_smoothing_crossentropy(y, logits, 0.1)
    return keras.ops.mean(values)


def _fused(h, w, y):
    return fused_loss(h, w, y, 0.1)


def _jax_compiled(fn, dtype):
    import jax
    import jax.numpy as jnp

    specs = (
        jax.ShapeDtypeStruct((N, D), dtype),
        jax.ShapeDtypeStruct((V, D), dtype),
        jax.ShapeDtypeStruct((N,), jnp.int32),
    )
    grad = jax.value_and_grad(fn, argnums=(0, 1))
    return jax.jit(grad).lower(*specs).compile()


def _old_xla():
    import jax

    return tuple(int(p) for p in jax.__version__.split(".")[:2]) < (0, 7)


@requires_jax
@pytest.mark.skipif(
    keras.backend.backend() == "jax" and _old_xla(),
    reason="the XLA of JAX < 0.7 stacks the weight's chunk slices of the "
    "inner loop into one hoisted copy: 3.0 GB of temporaries in float32 "
    "(dense: 25.2 GB), 1/8 instead of 1/20",
)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_jax_temporaries_are_a_twentieth_of_dense(dtype):
    fused = _jax_compiled(_fused, dtype)
    dense = _jax_compiled(_dense_loss, dtype)
    fused_temp = fused.memory_analysis().temp_size_in_bytes
    dense_temp = dense.memory_analysis().temp_size_in_bytes
    allowance = 0 if dtype == "float32" else 4 * V * D  # one float32 copy
    assert fused_temp <= dense_temp / 20 + allowance, (fused_temp, dense_temp)
    assert not _has_logits_buffer(fused.as_text())
    assert _has_logits_buffer(dense.as_text())  # the check sees them


@requires_tf
def test_tensorflow_optimized_hlo_has_no_logits_buffer():
    import tensorflow as tf

    def compiled(fn):
        @tf.function(jit_compile=True)
        def step(h, w, y):
            with tf.GradientTape() as tape:
                tape.watch([h, w])
                loss = fn(h, w, y)
            return loss, tape.gradient(loss, [h, w])

        specs = (
            tf.TensorSpec((N, D), tf.float32),
            tf.TensorSpec((V, D), tf.float32),
            tf.TensorSpec((N,), tf.int32),
        )
        return step.experimental_get_compiler_ir(*specs)(stage="optimized_hlo")

    assert not _has_logits_buffer(compiled(_fused))
    assert _has_logits_buffer(compiled(_dense_loss))


def _torch_peak_mib(which):
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    script = os.path.join(root, "benchmarks", "fused_loss_benchmark.py")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    env["PYTHONPATH"] = os.path.abspath(root)
    done = subprocess.run(
        [sys.executable, script, "--child", f"peak:{which}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_MiB"]


@requires_torch
def test_torch_cpu_peak_is_four_times_lower_than_dense():
    # N = 4,096, D = 256, V = 32,000, each in a fresh process.
    dense, fused = _torch_peak_mib("dense"), _torch_peak_mib("fused")
    assert fused * 4 <= dense, (fused, dense)
