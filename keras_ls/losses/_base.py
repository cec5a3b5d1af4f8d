"""The base of the keras_ls losses: inputs, ε, masks, reductions, config.

The input helpers turn `y_true` and `y_pred` into what every loss computes
on: class-last logits (a float dtype), class ids checked against K or dense
targets, and ε as a float32 tensor. `SmoothingLoss` holds the ε variable
and the `__call__` that applies Keras' masks, sample weights and
reductions (`_reduction`).
"""

import keras
import numpy as np
from keras import ops

from keras_ls import _validation
from keras_ls._tracking import logits as _logits
from keras_ls._tracking import state as _state
from keras_ls._tracking import values as _values
from keras_ls.losses._reduction import REDUCTIONS
from keras_ls.losses._reduction import keras_mask_of
from keras_ls.losses._reduction import reduce_weighted

F32 = "float32"


def predictions_tensor(y_pred):
    """`y_pred` as a tensor, also when logits are held in a variable.

    Keras' TensorFlow `convert_to_tensor` returns a `tf.Variable` or a
    `keras.Variable` (logits differentiated in a custom loop) unchanged:
    `ops.moveaxis` then fails on the `ndim` a `tf.Variable` lacks, and
    `tf.custom_gradient` refuses a trainable variable read inside it.
    Keras' own losses accept both.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(y_pred, (tf.Variable, keras.Variable)):
            y_pred = tf.convert_to_tensor(y_pred)
    return y_pred


def _is_integer(x):
    return "int" in keras.backend.standardize_dtype(x.dtype)


def class_axis(axis, rank):
    """`axis` as a non-negative index into a tensor of rank `rank`."""
    if not -rank <= axis < rank:
        raise ValueError(
            f"`axis` must index a dimension of `y_pred`, which has rank "
            f"{rank}. Received: axis={axis}"
        )
    return axis % rank


def resolve_sparse(y_true, y_pred, sparse, axis):
    """Decides whether `y_true` holds class ids, and checks its shape.

    Both tensors are still in the caller's layout, with the classes of
    `y_pred` on `axis` (non-negative), so dense targets are checked against
    `y_pred` before either is moved to class-last.
    """
    pred_shape = tuple(y_pred.shape)
    true_shape = tuple(y_true.shape)
    if sparse is None:
        if len(true_shape) == len(pred_shape) - 1:
            sparse = True
        elif len(true_shape) == len(pred_shape):
            # (batch, 1) integer ids against (batch, K) logits, as Keras'
            # sparse losses accept; K == 1 is rejected elsewhere.
            sparse = (
                _is_integer(y_true)
                and true_shape[axis] == 1 != (pred_shape[axis])
            )
        else:
            sparse = False
    if sparse:
        if len(true_shape) == len(pred_shape) and true_shape[axis] == 1:
            y_true = ops.squeeze(y_true, axis=axis)
            true_shape = true_shape[:axis] + true_shape[axis + 1 :]
        expected = pred_shape[:axis] + pred_shape[axis + 1 :]
    else:
        expected = pred_shape
    compatible = len(true_shape) == len(expected) and all(
        a is None or b is None or a == b for a, b in zip(true_shape, expected)
    )
    if not compatible:
        kind = "class ids" if sparse else "one-hot or soft targets"
        raise ValueError(
            f"`y_true` does not fit `y_pred`: for {kind} with `y_pred` of "
            f"shape {pred_shape} (classes on axis {axis}), `y_true` must "
            f"have shape {expected}. Received: y_true.shape={true_shape}"
        )
    return y_true, sparse


def num_classes_of(y_pred):
    k = y_pred.shape[-1]
    if k is None or k < 2:
        raise ValueError(
            "`y_pred` must have at least 2 classes on its class axis (use "
            "BinaryLabelSmoothingCrossentropy for one sigmoid output). "
            f"Received: y_pred.shape={tuple(y_pred.shape)}"
        )
    return int(k)


def epsilon_tensor(label_smoothing, y_pred=None):
    if isinstance(label_smoothing, keras.Variable):
        # A tensor read of the value here, not the variable inside the
        # loss: TensorFlow's custom_gradient refuses a trainable variable
        # read inside it (`cast(variable.value)` returned the tf.Variable).
        # Under an in-step schedule, the step's ε (see _tracking.state).
        return ops.cast(_state.epsilon(label_smoothing, y_pred), F32)
    if _validation._is_real_number(label_smoothing):
        label_smoothing = _validation.check_label_smoothing(label_smoothing)
    return ops.cast(label_smoothing, F32)


_INT32 = np.iinfo(np.int32)
# Dtypes whose values int32 cannot all hold: ids in them are checked or
# clipped before the cast, which would wrap 2**32 + 3 to 3.
_WIDE_IDS = ("int64", "uint32", "uint64")


def _out_of_range(k, bad, ignore_class=None):
    allowed = f"[0, {k}) for {k} classes"
    if ignore_class is not None:
        allowed += f", or equal ignore_class={ignore_class}"
    return ValueError(
        f"Class ids must lie in {allowed}. "
        f"Received: ids {sorted(set(np.asarray(bad).tolist()))[:5]}"
    )


def labels_tensor(y_true, y_pred, axis):
    """`y_true` as a tensor, after a check of concrete integers that int32
    cannot hold (no class id can be one). It comes before the conversion
    because JAX (without 64-bit mode) converts int64 to int32 by wrapping:
    2**40 would reach `class_ids` as class 0."""
    if isinstance(y_true, (np.ndarray, np.generic, list, tuple, int)):
        values = np.asarray(y_true)
        if values.dtype.kind in "iu" and values.size:
            wide = (values < _INT32.min) | (values > _INT32.max)
            if wide.any():
                k = tuple(y_pred.shape)[class_axis(axis, len(y_pred.shape))]
                raise _out_of_range(k, values[wide])
    return ops.convert_to_tensor(y_true)


def not_ignored(labels, ignore_class):
    """Boolean mask of the ids that differ from `ignore_class`, compared
    in the ids' own dtype (an int32 cast would wrap int64 ids onto it)."""
    dtype = keras.backend.standardize_dtype(labels.dtype)
    if "int" in dtype:
        info = np.iinfo(dtype)
        if not info.min <= ignore_class <= info.max:
            # -100 in uint8: no id can equal it.
            return ops.ones_like(labels, dtype="bool")
    return ops.not_equal(labels, ops.cast(ignore_class, dtype))


def class_ids(labels, k, ignore_class=None):
    """`labels` as int32 class ids in [0, K), or a ValueError.

    Ids are checked (or clipped) in their own dtype and only then cast to
    int32, which would wrap int64 ids (2**32 + 3 to 3); they are compared
    and gathered in int32 whatever their dtype: an `arange` in uint8 would
    wrap. Where the values are concrete (eager steps, standalone calls) an
    id outside [0, K) raises, as PyTorch's and Keras' cross-entropies do;
    `ignore_class` (already replaced) is only named in the message. Inside
    compiled code, where values cannot be read, such ids are clipped into
    [0, K): the value and the gradient are then both those of the nearest
    class (0 or K - 1).
    """
    if _values.kind(labels) != "concrete":
        dtype = keras.backend.standardize_dtype(labels.dtype)
        if dtype in _WIDE_IDS or keras.backend.is_float_dtype(dtype):
            labels = ops.clip(labels, 0, k - 1)
        return ops.clip(ops.cast(labels, "int32"), 0, k - 1)
    # One host copy of the ids (batch-sized), checked in numpy: cheaper
    # per eager step than three backend ops and a sync.
    ids = np.asarray(_values.to_numpy(labels))
    if ids.size and (ids.min() < 0 or ids.max() >= k):
        raise _out_of_range(k, ids[(ids < 0) | (ids >= k)], ignore_class)
    return ops.cast(labels, "int32")


class SmoothingLoss(keras.losses.Loss):
    """Shared ε variable, `__call__` and config for keras_ls losses."""

    def __init__(
        self, label_smoothing, *, reduction, name, dtype, check_logits=True
    ):
        eps = _validation.check_label_smoothing(label_smoothing)
        _validation.check_choice(reduction, "reduction", REDUCTIONS)
        _validation.check_bool(check_logits, "check_logits")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._dtype_arg = dtype
        self.check_logits = bool(check_logits)
        # ε lives in a float32 variable, never in a Python float, so that a
        # callback can change it after compile without a retrace and ε = 0
        # stays a live value. Compiled train steps read state, not Python
        # attributes; LabelSmoothingScheduler makes this variable part of
        # the state the model passes into its compiled step.
        self.label_smoothing_variable = keras.Variable(
            eps,
            dtype=F32,
            trainable=False,
            name="label_smoothing",
        )

    @property
    def label_smoothing(self):
        """ε as a Python float; assigning validates and sets the variable.

        Both are live during `fit` on every backend: on JAX they first
        bring the fit loop's state back into the variables (as Keras'
        `Callback.model` does), so a callback holding the loss reads and
        sets the ε the next step uses.
        """
        return float(_state.read(self.label_smoothing_variable))

    @label_smoothing.setter
    def label_smoothing(self, value):
        value = _validation.check_label_smoothing(value)
        _state.assign(self.label_smoothing_variable, value)

    def _ignored_positions_mask(self, y_true, values):
        """Boolean mask of positions to keep, or None (no ignore_class)."""
        return None

    # Whether probabilities reach this loss as sigmoid outputs (binary) or
    # softmax rows (categorical); see `_tracking.logits`.
    _binary = False

    def __call__(self, y_true, y_pred, sample_weight=None):
        mask = keras_mask_of(y_pred)
        _state.track_calling_model(self, y_pred)
        values = self.call(y_true, y_pred)
        if _logits.check_needed(self, y_pred):
            _logits.check(self, y_pred, binary=self._binary, axis=self.axis)
        valid = self._ignored_positions_mask(y_true, values)
        if valid is not None:
            mask = (
                valid
                if mask is None
                else ops.logical_and(ops.cast(mask, "bool"), valid)
            )
        loss = reduce_weighted(
            values, sample_weight, mask=mask, reduction=self.reduction
        )
        if self.dtype != F32:
            loss = ops.cast(loss, self.dtype)
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(
            label_smoothing=self.label_smoothing,
            dtype=self._dtype_arg,
            check_logits=self.check_logits,
        )
        return config
