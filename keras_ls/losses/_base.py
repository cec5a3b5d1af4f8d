"""The base of every keras_ls loss: inputs, ε, masks, reductions, config.

`standardize` turns `y_true` and `y_pred` into what a loss computes on:
class-last logits of a float dtype, int32 class ids checked against K (or
float32 dense targets), K, and ε as a float32 tensor. `SmoothingLoss`
holds the options every loss shares, ε in a `keras.Variable`, the one
`__call__` (the model that carries ε, the logits check, Keras' masks,
sample weights and reductions from `_reduction`, the cast to `dtype`) and
a `get_config` that lists every constructor argument.
"""

import inspect
from typing import NamedTuple

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


def _predictions_tensor(y_pred):
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


def _class_axis(axis, rank):
    """`axis` as a non-negative index into a tensor of rank `rank`."""
    if not -rank <= axis < rank:
        raise ValueError(
            f"`axis` must index a dimension of `y_pred`, which has rank "
            f"{rank}. Received: axis={axis}"
        )
    return axis % rank


def _resolve_sparse(y_true, y_pred, sparse, axis):
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


def _num_classes(y_pred):
    k = y_pred.shape[-1]
    if k is None or k < 2:
        raise ValueError(
            "`y_pred` must have at least 2 classes on its class axis (use "
            "BinaryLabelSmoothingCrossentropy for one sigmoid output). "
            f"Received: y_pred.shape={tuple(y_pred.shape)}"
        )
    return int(k)


def epsilon_tensor(label_smoothing, y_pred=None):
    """ε as a float32 tensor: a `keras.Variable`'s value for this step, a
    tensor as given, or a number (or anything else scalar) checked to lie
    in [0, 1)."""
    if isinstance(label_smoothing, keras.Variable):
        # A tensor read of the value here, not the variable inside the
        # loss: TensorFlow's custom_gradient refuses a trainable variable
        # read inside it (`cast(variable.value)` returned the tf.Variable).
        # Under an in-step schedule, the step's ε (see _tracking.state).
        return ops.cast(_state.epsilon(label_smoothing, y_pred), F32)
    if not ops.is_tensor(label_smoothing) and np.ndim(label_smoothing) == 0:
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


def _labels_tensor(y_true, y_pred, axis):
    """`y_true` as a tensor, after a check of concrete integers that int32
    cannot hold (no class id can be one). It comes before the conversion
    because JAX (without 64-bit mode) converts int64 to int32 by wrapping:
    2**40 would reach `_class_ids` as class 0."""
    if isinstance(y_true, (np.ndarray, np.generic, list, tuple, int)):
        values = np.asarray(y_true)
        if values.dtype.kind in "iu" and values.size:
            wide = (values < _INT32.min) | (values > _INT32.max)
            if wide.any():
                k = tuple(y_pred.shape)[_class_axis(axis, len(y_pred.shape))]
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


def _class_ids(labels, k, ignore_class=None):
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


# The `label_smoothing` of a loss (or a `standardize`) without ε.
WITHOUT_EPSILON = object()


class Inputs(NamedTuple):
    """What a loss computes on; see `standardize`."""

    logits: object
    labels: object
    targets: object
    num_classes: int
    epsilon: object
    valid: object


def standardize(
    y_true,
    y_pred,
    label_smoothing=WITHOUT_EPSILON,
    *,
    sparse=None,
    axis=-1,
    ignore_class=None,
    check_classes=None,
):
    """`y_true`, `y_pred` and ε as a categorical loss computes on them.

    Args:
        y_true: Class ids shaped like `y_pred` without its class axis (or
            with a 1 there), dense targets shaped like `y_pred`, or `None`
            for the logits alone.
        y_pred: Logits or probabilities, classes on `axis`.
        label_smoothing: ε (a number, a tensor or a `keras.Variable`).
            Defaults to none: `epsilon` is then `None`.
        sparse: `True` for class ids, `False` for dense targets, `None` to
            infer from rank and dtype. Defaults to `None`.
        axis: The class axis of `y_pred`. Defaults to `-1`.
        ignore_class: Optional class id whose positions are left out (class
            ids only): their labels and logits become 0, and `valid` marks
            the others. Defaults to `None`.
        check_classes: Optional `f(logits)`, called with the class-last
            logits once K is known, before the labels are read (a loss's
            own checks of K). Defaults to `None`.

    Returns:
        An `Inputs`: `logits` class-last, of a float dtype (integers become
        float32, floats keep theirs); `labels`, int32 class ids in [0, K),
        or `targets`, float32 dense targets, class-last (the other is
        `None`, and both are without `y_true`); `num_classes`, K;
        `epsilon`, ε as a float32 tensor (or `None`); `valid`, the boolean
        mask of the positions not ignored (or `None`).

    Raises:
        ValueError: For ε outside [0, 1), an `axis` outside `y_pred`,
            `y_true` that does not fit `y_pred`, fewer than 2 classes,
            `ignore_class` with dense targets, and, where values are
            concrete, a class id outside [0, K) that is not `ignore_class`.
    """
    eps = None
    if label_smoothing is not WITHOUT_EPSILON:
        eps = epsilon_tensor(label_smoothing, y_pred)
    y_pred = _predictions_tensor(y_pred)
    if not keras.backend.is_float_dtype(y_pred.dtype):
        y_pred = ops.cast(y_pred, F32)
    rank = len(y_pred.shape)
    if y_true is None:
        axis, sparse = _class_axis(axis, rank), True
    else:
        y_true = _labels_tensor(y_true, y_pred, axis)
        axis = _class_axis(axis, rank)
        y_true, sparse = _resolve_sparse(y_true, y_pred, sparse, axis)
    if axis != rank - 1:
        y_pred = ops.moveaxis(y_pred, axis, -1)
        if not sparse:
            y_true = ops.moveaxis(y_true, axis, -1)
    k = _num_classes(y_pred)
    if check_classes is not None:
        check_classes(y_pred)
    if y_true is None:
        return Inputs(y_pred, None, None, k, eps, None)
    if not sparse:
        if ignore_class is not None:
            raise ValueError(
                "`ignore_class` needs sparse integer labels. Received: "
                f"ignore_class={ignore_class!r} with dense targets of shape "
                f"{tuple(y_true.shape)}"
            )
        return Inputs(y_pred, None, ops.cast(y_true, F32), k, eps, None)
    # In their own dtype until `_class_ids` has checked them.
    labels, valid = y_true, None
    if ignore_class is not None:
        valid = not_ignored(labels, int(ignore_class))
        labels = ops.where(valid, labels, ops.zeros_like(labels))
        # Logits at ignored positions never reach the loss, so a NaN
        # there gives a zero gradient, as in Keras' SCCE.
        y_pred = ops.where(
            ops.expand_dims(valid, -1), y_pred, ops.zeros_like(y_pred)
        )
    labels = _class_ids(labels, k, ignore_class)
    return Inputs(y_pred, labels, None, k, eps, valid)


# The options every keras_ls loss shares. A subclass spells them out in
# its own signature (Keras' style, so that `inspect.signature`, the docs and
# `get_config` show them) and hands them on with
# `super().__init__(**base_options(locals()))`.
BASE_OPTIONS = (
    "label_smoothing",
    "from_logits",
    "sparse",
    "axis",
    "reduction",
    "name",
    "dtype",
    "check_logits",
)


def base_options(arguments):
    """The shared options among a constructor's `locals()`."""
    return {k: arguments[k] for k in BASE_OPTIONS if k in arguments}


class SmoothingLoss(keras.losses.Loss):
    """The base of the keras_ls losses: one `__call__`, ε and the config.

    As with `keras.losses.Loss`, a subclass implements `call(y_true,
    y_pred)`, which returns float32 values per position, and `__call__`
    does the rest once: it finds the model whose step calls the loss (which
    then carries ε as state), checks that `y_pred` are logits
    (`check_logits`), leaves out masked positions (the Keras mask of
    `y_pred`, and those `_ignored_positions_mask` drops), applies
    `sample_weight` and the reduction, and casts to `dtype`. Unlike Keras'
    own, it never casts `y_true` to the loss dtype (integer label 997
    would become 996 in bfloat16).

    A loss constructed with `label_smoothing` keeps ε in
    `label_smoothing_variable`; `label_smoothing` reads and assigns it.
    `get_config` is the parent's (`name`, `reduction`) plus every other
    argument of the subclass's constructor, read from the attribute of the
    same name, as `keras.losses.CategoricalCrossentropy` stores them.

    Hooks: `_find_model` (the model carries ε; `OnlineLabelSmoothing`
    attaches its own state), `_ignored_positions_mask` (positions left out
    of the reduction, for `ignore_class`; none by default), `_prepare` and
    `_compute` (what is read from the inputs before the model is found,
    then the values computed from it; by default the inputs as given, and
    `call`) and `_accumulate` (state updated from a call's values; nothing
    by default). `OnlineLabelSmoothing` builds its state from K in
    `_prepare` and adds to its sums in `_accumulate`.
    """

    # Whether probabilities reach this loss as sigmoid outputs (binary) or
    # softmax rows (categorical); see `_tracking.logits`.
    _binary = False

    def __init__(
        self,
        *,
        label_smoothing=WITHOUT_EPSILON,
        from_logits=True,
        sparse=None,
        axis=-1,
        reduction="sum_over_batch_size",
        name=None,
        dtype=None,
        check_logits=True,
    ):
        if label_smoothing is not WITHOUT_EPSILON:
            eps = _validation.check_label_smoothing(label_smoothing)
        _validation.check_bool(from_logits, "from_logits")
        _validation.check_choice(sparse, "sparse", (None, True, False))
        _validation.check_bool(check_logits, "check_logits")
        _validation.check_int(axis, "axis")
        _validation.check_choice(reduction, "reduction", REDUCTIONS)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._dtype_arg = dtype
        self.from_logits = bool(from_logits)
        self.check_logits = bool(check_logits)
        self.sparse = sparse
        self.axis = int(axis)
        if label_smoothing is not WITHOUT_EPSILON:
            # ε lives in a float32 variable, never in a Python float, so
            # that a callback can change it after compile without a retrace
            # and ε = 0 stays a live value. Compiled train steps read
            # state, not Python attributes; the model whose step calls the
            # loss makes this variable part of the state it passes into its
            # compiled step (`_find_model`).
            self.label_smoothing_variable = keras.Variable(
                eps, dtype=F32, trainable=False, name="label_smoothing"
            )

    def _epsilon_variable(self):
        variable = getattr(self, "label_smoothing_variable", None)
        if variable is None:
            raise AttributeError(
                f"{type(self).__name__} has no `label_smoothing`."
            )
        return variable

    @property
    def label_smoothing(self):
        """ε as a Python float; assigning validates and sets the variable.

        Both are live during `fit` on every backend: on JAX they first
        bring the fit loop's state back into the variables (as Keras'
        `Callback.model` does), so a callback holding the loss reads and
        sets the ε the next step uses.
        """
        return float(_state.read(self._epsilon_variable()))

    @label_smoothing.setter
    def label_smoothing(self, value):
        variable = self._epsilon_variable()
        value = _validation.check_label_smoothing(value)
        _state.assign(variable, value)

    def __call__(self, y_true, y_pred, sample_weight=None):
        mask = keras_mask_of(y_pred)
        inputs = self._prepare(y_true, y_pred)
        self._find_model(y_pred)
        values = self._compute(inputs)
        if _logits.check_needed(self, y_pred):
            _logits.check(self, y_pred, binary=self._binary, axis=self.axis)
        valid = self._ignored_positions_mask(y_true, values)
        if valid is not None:
            mask = (
                valid
                if mask is None
                else ops.logical_and(ops.cast(mask, "bool"), valid)
            )
        self._accumulate(inputs, values, sample_weight, mask)
        loss = reduce_weighted(
            values, sample_weight, mask=mask, reduction=self.reduction
        )
        if self.dtype != F32:
            loss = ops.cast(loss, self.dtype)
        return loss

    def _prepare(self, y_true, y_pred):
        """What `_compute` needs, taken before the model is found: by
        default `(y_true, y_pred)` as given."""
        return y_true, y_pred

    def _compute(self, inputs):
        """Float32 values per position from `_prepare`'s result."""
        return self.call(*inputs)

    def _find_model(self, y_pred):
        """Makes the model whose step calls the loss carry ε (see
        `keras_ls.track_label_smoothing`)."""
        if hasattr(self, "label_smoothing_variable"):
            _state.track_calling_model(self, y_pred)

    def _ignored_positions_mask(self, y_true, values):
        """Boolean mask of positions to keep, or None (no ignore_class)."""
        return None

    def _accumulate(self, inputs, values, sample_weight, mask):
        """Updates state from one call's values (nothing by default)."""

    def get_config(self):
        config = super().get_config()
        for name, parameter in inspect.signature(
            type(self).__init__
        ).parameters.items():
            if name in ("self", "name", "reduction") or parameter.kind in (
                parameter.VAR_POSITIONAL,
                parameter.VAR_KEYWORD,
            ):
                continue
            config[name] = (
                self._dtype_arg if name == "dtype" else getattr(self, name)
            )
        return config
