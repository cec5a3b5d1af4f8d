"""The logits check: probabilities passed where logits are expected.

keras_ls losses, metrics and ConfidenceMonitor default to logits
(`from_logits=True`), while a Keras user ends a classifier in softmax,
because Keras' own losses default to probabilities. Softmax outputs read as
logits train without an error but badly, so they are checked once per
object, in two ways:

- structurally, before the first step: where Keras' own `train_step`,
  `test_step`, `compute_loss` and `compute_metrics` pass the model's
  output to the loss or metric unchanged, a model whose output layer is a
  softmax or sigmoid (`Dense(activation=...)`, `Activation`, `Softmax`,
  `keras.ops.softmax` in a functional model, through nested models and
  wrappers) raises. Where the model overrides one of them, the loss gets
  whatever that code passes (`ops.log(probabilities)` is valid logits),
  so the structure says nothing and only the value check runs;
- by value, where values are concrete (eager steps, eager PyTorch,
  standalone calls): the first concrete call warns if every row of the
  first `_VALUE_ROWS` lies in [0, 1] and sums to 1.

What neither sees: a softmax applied by a custom `Layer`, a `Lambda` or a
subclassed model's `call`, in a compiled step (XLA, `jit_compile=True`)
whose code Keras does not expose as layers. Every keras_ls loss and metric
takes `check_logits=False` to turn the check off.

Keras itself detects probabilities only on TensorFlow, through an
attribute that its softmax attaches to TF tensors.
"""

import warnings

import keras
import numpy as np
from keras import ops

from keras_ls import _keras_compat
from keras_ls._tracking import state
from keras_ls._tracking import values

_SQUASHING = ("softmax", "sigmoid")
_CHECKED = "_keras_ls_logits_checked"
# Enough rows to tell probabilities from logits, few enough that copying
# them to the host once is free even for language-model logits.
_VALUE_ROWS = 256


def _squashing_activation(layer):
    """ "softmax" or "sigmoid" if `layer` ends in one, else None."""
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    if callable(activation) and name in _SQUASHING:
        return name
    # `keras.ops.softmax(x)` in a functional model is an op, not a layer.
    name = type(layer).__name__.lower()
    if name in _SQUASHING and isinstance(layer, keras.Operation):
        return name
    return None


def _output_layers(model):
    """[(operation producing an output, its shape or None)] of `model`."""
    if isinstance(model, keras.Sequential):
        return [(model.layers[-1], None)] if model.layers else []
    try:
        outputs = model.outputs
    except AttributeError:  # a subclassed model: `call` is arbitrary code
        return []
    found = []
    for tensor in keras.tree.flatten(outputs):
        history = _keras_compat.keras_history(tensor)
        found.append((history.operation, tuple(tensor.shape)))
    return found


def _final_layer(operation, depth=0):
    """The innermost operation producing `operation`'s output."""
    if isinstance(operation, keras.Model) and depth < 8:
        inner = _output_layers(operation)
        if len(inner) == 1:
            return _final_layer(inner[0][0], depth + 1)
    wrapped = getattr(operation, "layer", None)
    if isinstance(operation, keras.layers.Wrapper) and wrapped is not None:
        return _final_layer(wrapped, depth + 1)
    return operation


def _same_shape(a, b):
    return len(a) == len(b) and all(
        x is None or y is None or x == y for x, y in zip(a[1:], b[1:])
    )


def probability_output(model, y_pred_shape=None):
    """(activation, layer) if `model`'s output is softmax or sigmoid.

    With several outputs, only those shaped like `y_pred_shape` are
    candidates, and all of them must squash; a model whose structure is not
    known (subclassed) gives None.
    """
    outputs = _output_layers(model)
    if len(outputs) > 1 and y_pred_shape is not None:
        outputs = [
            (op, shape)
            for op, shape in outputs
            if shape is not None and _same_shape(shape, y_pred_shape)
        ]
    if not outputs:
        return None
    found = []
    for operation, _ in outputs:
        layer = _final_layer(operation)
        activation = _squashing_activation(layer)
        if activation is None:
            return None
        found.append((activation, layer))
    return found[0]


def probability_error(owner_name, activation, layer, of="the model"):
    return ValueError(
        f"The output layer {layer.name!r} of {of} applies {activation}, so "
        f"its outputs are probabilities, but {owner_name} has "
        "from_logits=True."
        " Remove the activation (recommended: the loss then applies it "
        "stably) or pass from_logits=False. If what reaches "
        f"{owner_name} are logits after all, pass check_logits=False."
    )


def check_model_outputs(model, owner_name, y_pred_shape=None, of="the model"):
    """Raises the ValueError above if `model` ends in softmax or sigmoid."""
    found = probability_output(model, y_pred_shape)
    if found is not None:
        raise probability_error(owner_name, *found, of=of)


def check_needed(owner, y_pred):
    """Whether `check` has anything left to do for this call.

    False when the owner's `check_logits` is off; after the first concrete
    call, False for concrete values and inside `torch.compile`: so an eager
    PyTorch step pays one attribute read, and a compiled step nothing.
    """
    if not getattr(owner, "from_logits", True) or not getattr(
        owner, "check_logits", True
    ):
        return False
    if not getattr(owner, _CHECKED, False):
        return True
    return values.kind(y_pred) == "traced"


def _rows_look_like_probabilities(rows, binary):
    """Whether rows (class axis last) could be softmax/sigmoid outputs."""
    if rows.size == 0 or not np.all(np.isfinite(rows)):
        return False
    if rows.min() < 0.0 or rows.max() > 1.0:
        return False
    if binary:
        return bool(np.any((rows > 0.0) & (rows < 1.0)))
    # 1e-2 covers the rounding of a float16 or bfloat16 softmax.
    return bool(np.all(np.abs(rows.sum(axis=-1) - 1.0) < 1e-2))


def _first_rows(x, axis):
    """A float64 numpy copy of at most `_VALUE_ROWS` rows of `x`, with the
    class axis last; only those rows leave the device."""
    if not isinstance(x, np.ndarray):
        x = ops.convert_to_tensor(x)
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            # A tf.Variable (logits differentiated in a custom loop) comes
            # out of ops.convert_to_tensor unchanged, and ops.moveaxis
            # needs the `ndim` that variables lack: read it as a tensor.
            if isinstance(x, tf.Variable):
                x = tf.convert_to_tensor(x)
        if len(x.shape) > 1:
            x = ops.moveaxis(x, axis, -1)
            x = ops.reshape(x, (-1, x.shape[-1]))[:_VALUE_ROWS]
        x = values.to_numpy(ops.cast(x, "float32"))
    else:
        x = np.moveaxis(x, axis, -1) if x.ndim > 1 else x
        x = x.reshape(-1, x.shape[-1])[:_VALUE_ROWS] if x.ndim else x
    return np.asarray(x, dtype=np.float64)


def warn_if_probabilities(
    owner_name, x, *, binary=False, axis=-1, stacklevel=3
):
    """UserWarning if concrete `x` looks like probabilities."""
    rows = _first_rows(x, axis)
    if rows.ndim == 0 or not _rows_look_like_probabilities(rows, binary):
        return False
    kind = (
        "every value lies in [0, 1], like sigmoid probabilities"
        if binary
        else "every row lies in [0, 1] and sums to 1, like softmax "
        "probabilities"
    )
    warnings.warn(
        f"{owner_name} has from_logits=True, but {kind}. If these are "
        "probabilities, remove the output activation (recommended) or pass "
        "from_logits=False; if they are logits, pass check_logits=False.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return True


def check(owner, y_pred, *, binary=False, axis=-1):
    """Errors or warns if `owner` (from_logits=True) gets probabilities.

    Raises the structural ValueError where the model that calls `owner`
    passes its output unchanged (Keras' own steps) and ends in a
    squashing activation; warns on the first concrete call if the values
    look like probabilities. Call it only when `check_needed` says so.
    Inside `torch.compile` it does nothing: Keras' symbolic build has
    already run the structural check before `fit` or `evaluate` compiles.
    """
    kind = values.kind(y_pred)
    if kind == "compiling":
        return
    name = type(owner).__name__
    model = state.calling_model()
    if model is not None and _keras_compat.passes_outputs_unchanged(model):
        shape = getattr(y_pred, "shape", None)
        try:
            check_model_outputs(
                model, name, None if shape is None else tuple(shape)
            )
        except ValueError:
            # Keep checking: PyTorch's shape inference retries a failed
            # call with real tensors, which must fail the same way.
            setattr(owner, _CHECKED, False)
            raise
    if kind == "concrete":
        setattr(owner, _CHECKED, True)
        warn_if_probabilities(
            name, values.primal(y_pred), binary=binary, axis=axis, stacklevel=4
        )
