"""What kind of value a loss was called with: concrete, traced, compiling.

Code inside a loss behaves differently on concrete values (eager steps,
standalone calls: it can read them, check them and raise), on traced ones
(TensorFlow graphs, XLA, JAX, Keras' symbolic build: Python runs once per
trace) and inside `torch.compile` (Python must stay out of the graph).
"""

import keras
import numpy as np


def kind(x):
    """ "concrete", "traced" (a trace or Keras' shape inference) or
    "compiling" (inside torch.compile)."""
    if isinstance(x, keras.KerasTensor):
        return "traced"
    if isinstance(x, (np.ndarray, np.generic, list, tuple, float, int)):
        return "concrete"
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        if torch.compiler.is_compiling():
            return "compiling"
        return "traced" if getattr(x, "is_meta", False) else "concrete"
    if backend == "jax":
        import jax

        return (
            "traced" if isinstance(primal(x), jax.core.Tracer) else "concrete"
        )
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.is_symbolic_tensor(x):
            return "traced"
    return "concrete"


def primal(x):
    """The value under JAX's autodiff tracers: `fit` without jit runs each
    step under `jax.value_and_grad` alone, whose tracers wrap real arrays."""
    if keras.backend.backend() != "jax":
        return x
    import jax

    while isinstance(x, jax.core.Tracer) and hasattr(x, "primal"):
        x = x.primal
    return x


def is_jax_tracer(x):
    if keras.backend.backend() != "jax":
        return False
    import jax

    return isinstance(x, jax.core.Tracer)


def to_numpy(x):
    """A numpy copy of a tensor or `keras.Variable`, on the host.

    Not `ops.convert_to_numpy`: for a variable it calls `np.array` on it,
    and for torch tensors and TensorFlow variables on the value, whose
    `__array__` takes no `copy` argument, which numpy 2 deprecates with a
    warning on every call.
    """
    if isinstance(x, keras.Variable):
        x = x.value
    if isinstance(x, (np.ndarray, np.generic)):
        return np.array(x)
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu()
            if x.dtype == torch.bfloat16:
                x = x.float()
            return x.numpy().copy()
    if backend == "tensorflow" and hasattr(x, "numpy"):
        return np.array(x.numpy())
    return np.asarray(x).copy()
