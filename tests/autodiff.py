"""Value and gradient of a scalar function w.r.t. one tensor, per backend."""

import keras
import numpy as np


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
