"""Helpers shared by the test files: backend, markers, oracles, data.

Expected values in tests come from numpy (float64) or analytic formulas,
never from keras_ls itself; the helpers here are the numpy side. As in
keras-rs' ``testing/test_case.py``, `assert_all_close` accepts backend
tensors, so a test can compare a keras_ls result to a numpy oracle without
converting by hand.
"""

import importlib.util
import os

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()

# `jit_compile=True` means XLA on TensorFlow and JAX. On PyTorch it means
# torch.compile, which takes minutes per model on the 2-core CI CPU, so
# tests that only need "a compiled step where one is cheap" use `JIT`.
JIT = BACKEND != "torch"
TORCH_COMPILE = os.environ.get("KERAS_LS_TORCH_COMPILE") == "1"

requires_tf = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="TensorFlow-specific path"
)
requires_jax = pytest.mark.skipif(BACKEND != "jax", reason="JAX-specific path")
requires_torch = pytest.mark.skipif(
    BACKEND != "torch", reason="PyTorch-specific path"
)


def requires_module(name):
    """Skips when the optional module `name` is not installed."""
    return pytest.mark.skipif(
        importlib.util.find_spec(name) is None, reason=f"needs {name}"
    )


# Eager and compiled; compiled on PyTorch (torch.compile: 20-50 s per
# training test on the 2-core CI CPU) only with KERAS_LS_TORCH_COMPILE=1.
JIT_MODES = [
    False,
    pytest.param(
        True,
        marks=pytest.mark.skipif(
            BACKEND == "torch" and not TORCH_COMPILE,
            reason="torch.compile training takes 20-50 s per test on the "
            "2-core CI CPU; set KERAS_LS_TORCH_COMPILE=1 to run it",
        ),
    ),
]


def to_numpy(x):
    """A numpy array from a numpy value or a backend tensor."""
    if isinstance(x, (np.ndarray, np.generic, float, int, list, tuple)):
        return np.asarray(x)
    return keras.ops.convert_to_numpy(x)


def assert_all_close(actual, expected, *, rtol=1e-6, atol=1e-6, msg=""):
    """`np.testing.assert_allclose` after converting backend tensors."""
    np.testing.assert_allclose(
        to_numpy(actual).astype(np.float64),
        to_numpy(expected).astype(np.float64),
        rtol=rtol,
        atol=atol,
        err_msg=msg,
    )


def softmax64(z, axis=-1):
    """Softmax in float64 numpy: the oracle for probabilities."""
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def classification_data(n=32, k=3, features=4, seed=0):
    """``(x, y)``: float32 features and int32 class ids in [0, k)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = rng.integers(0, k, size=n).astype("int32")
    return x, y


def logits_and_labels(n=16, k=4, seed=0, scale=2.0):
    """``(logits, labels)``: float32 logits and int32 class ids."""
    rng = np.random.default_rng(seed)
    logits = (scale * rng.normal(size=(n, k))).astype("float32")
    labels = rng.integers(0, k, size=n).astype("int32")
    return logits, labels


def value_and_grad(fn, x):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        value, grad = jax.value_and_grad(fn)(x)
    elif backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        grad = tape.gradient(value, x)
    else:
        import torch

        x = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
        value = fn(x)
        (grad,) = torch.autograd.grad(value, x)
    to_np = keras.ops.convert_to_numpy
    return (
        np.asarray(to_np(keras.ops.cast(value, "float32"))),
        np.asarray(to_np(keras.ops.cast(grad, "float32"))),
    )


def small_data(n_train=96, n_test=40, k=3, features=6, seed=0):
    """Features whose class is the largest of the first k, plus noise."""
    rng = np.random.default_rng(seed)

    def make(n):
        x = rng.normal(size=(n, features)).astype("float32")
        return x, x[:, :k].argmax(-1).astype("int32")

    return make(n_train), make(n_test)
