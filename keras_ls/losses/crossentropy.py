"""Label-smoothing cross-entropy losses with a variable-backed ε.

The categorical loss uses the closed form

    loss = (1 - ε) · (lse - z_y) + ε · (lse - Σ_k u_k · z_k),

with ``lse = logsumexp(z)`` and ``u`` the smoothing distribution, so no
one-hot or smoothed-target tensor of the logits' shape is ever built. All
accumulation is float32, also for float16/bfloat16 logits, and the logits are
only cast inside the reductions so XLA can fuse the casts away.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls._tracking import logits as _logits
from keras_ls._tracking import state as _state
from keras_ls._tracking import values as _values
from keras_ls.losses import _closed_form
from keras_ls.losses._reduction import REDUCTIONS
from keras_ls.losses._reduction import keras_mask_of
from keras_ls.losses._reduction import reduce_weighted

CONVENTIONS = ("uniform", "others")
_F32 = "float32"


@keras_ls_export("keras_ls.losses.minimum_loss", "keras_ls.minimum_loss")
def minimum_loss(label_smoothing, num_classes, convention="uniform"):
    """The lowest value the smoothed cross-entropy can reach, in nats.

    It is the entropy of the smoothed target, reached when the predicted
    distribution equals that target. A smoothed loss that "never drops below
    0.5" at ε = 0.1 with 10 classes is sitting on this floor.

    Args:
        label_smoothing: ε in [0, 1).
        num_classes: K, at least 2.
        convention: `"uniform"` (true class gets 1 - ε + ε/K) or `"others"`
            (true class gets 1 - ε). Defaults to `"uniform"`.

    Returns:
        A Python float.

    Raises:
        ValueError: For ε outside [0, 1), fewer than 2 classes or an
            unknown `convention`.

    Examples:

    >>> import keras_ls
    >>> round(keras_ls.minimum_loss(0.1, 10), 3)
    0.5
    >>> keras_ls.minimum_loss(0.0, 10)
    0.0
    """
    eps = _validation.check_label_smoothing(label_smoothing)
    k = _validation.check_int(num_classes, "num_classes", minimum=2)
    _validation.check_choice(convention, "convention", CONVENTIONS)
    if convention == "uniform":
        top, rest = 1.0 - eps + eps / k, eps / k
    else:
        top, rest = 1.0 - eps, eps / (k - 1)

    def xlogx(p):
        return p * math.log(p) if p > 0 else 0.0

    return -(xlogx(top) + (k - 1) * xlogx(rest)) + 0.0


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


def _epsilon_tensor(label_smoothing, y_pred=None):
    if isinstance(label_smoothing, keras.Variable):
        # A tensor read of the value here, not the variable inside the
        # loss: TensorFlow's custom_gradient refuses a trainable variable
        # read inside it (`cast(variable.value)` returned the tf.Variable).
        # Under an in-step schedule, the step's ε (see _tracking.state).
        return ops.cast(_state.epsilon(label_smoothing, y_pred), _F32)
    if _validation._is_real_number(label_smoothing):
        label_smoothing = _validation.check_label_smoothing(label_smoothing)
    return ops.cast(label_smoothing, _F32)


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


def _not_ignored(labels, ignore_class):
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


def _check_prior_convention(convention, prior):
    _validation.check_choice(convention, "convention", CONVENTIONS)
    if prior is not None and convention == "others":
        raise ValueError(
            "`prior` replaces the uniform distribution of convention="
            '"uniform"; convention="others" spreads ε over the other '
            "classes and has no use for it. Received: "
            'convention="others" with a prior'
        )


def _use_tf_fused_kernel(y_pred, labels):
    if keras.backend.backend() != "tensorflow" or labels is None:
        return False
    from keras_ls.losses import _tf_fused

    return _tf_fused.supports(y_pred, labels, from_logits=True)


@keras_ls_export(
    "keras_ls.losses.label_smoothing_crossentropy",
    "keras_ls.label_smoothing_crossentropy",
)
def label_smoothing_crossentropy(
    y_true,
    y_pred,
    label_smoothing=0.1,
    *,
    from_logits=True,
    sparse=None,
    convention="uniform",
    prior=None,
    ignore_class=None,
    axis=-1,
):
    """Per-position label-smoothing cross-entropy, without reduction.

    loss = (1 - ε)·CE(y, p) + ε·CE(u, p), where u is the smoothing
    distribution (uniform, the other classes, or `prior`).

    Args:
        y_true: Integer class ids shaped like `y_pred` without its class
            axis (sparse), or one-hot/soft targets shaped like `y_pred`.
        y_pred: Logits (or probabilities with `from_logits=False`).
        label_smoothing: ε in [0, 1): a float, a scalar tensor or a
            `keras.Variable`. Defaults to `0.1`.
        from_logits: Whether `y_pred` holds logits. Defaults to `True`.
        sparse: `True` for class ids, `False` for dense targets, `None` to
            infer from rank and dtype. Defaults to `None`.
        convention: `"uniform"` or `"others"`. Defaults to `"uniform"`.
        prior: Optional length-K probability vector used instead of the
            uniform distribution. Defaults to `None`.
        ignore_class: Optional class id (sparse labels only) whose positions
            get exactly 0. Defaults to `None`.
        axis: The class axis. Defaults to `-1`.

    Returns:
        A float32 tensor shaped like `y_pred` without its class axis.

    Raises:
        ValueError: For an invalid option (`convention`, `prior`, ε outside
            [0, 1), `convention="others"` with a `prior`); for `y_true`
            that does not fit `y_pred`; and, where the values are concrete
            (eager or standalone calls), for a class id outside [0, K)
            that is not `ignore_class`. Inside compiled code such ids are
            clipped into [0, K), value and gradient alike.

    Examples:

    >>> import keras
    >>> import numpy as np
    >>> import keras_ls
    >>> values = keras_ls.label_smoothing_crossentropy(
    ...     np.array([0, 1]), np.array([[2.0, 0.0], [0.0, 2.0]]), 0.1)
    >>> [round(float(v), 4) for v in keras.ops.convert_to_numpy(values)]
    [0.2269, 0.2269]
    """
    _check_prior_convention(convention, prior)
    if prior is not None:
        prior = _validation.check_prior(prior)
    eps = _epsilon_tensor(label_smoothing, y_pred)
    y_pred = _predictions_tensor(y_pred)
    if not keras.backend.is_float_dtype(y_pred.dtype):
        y_pred = ops.cast(y_pred, _F32)
    y_true = _labels_tensor(y_true, y_pred, axis)
    rank = len(y_pred.shape)
    axis = _class_axis(axis, rank)
    y_true, sparse = _resolve_sparse(y_true, y_pred, sparse, axis)
    if axis != rank - 1:
        y_pred = ops.moveaxis(y_pred, axis, -1)
        if not sparse:
            y_true = ops.moveaxis(y_true, axis, -1)
    k = _num_classes(y_pred)
    if prior is not None and len(prior) != k:
        raise ValueError(
            f"`prior` must have one entry per class ({k}). "
            f"Received: prior of length {len(prior)}"
        )
    if ignore_class is not None and not sparse:
        raise ValueError(
            "`ignore_class` needs sparse integer labels. Received: "
            f"ignore_class={ignore_class!r} with dense targets of shape "
            f"{tuple(y_true.shape)}"
        )

    spec = _closed_form.SmoothingSpec(eps, k, convention, prior)
    labels = targets = valid = None
    if sparse:
        # In their own dtype until `_class_ids` has checked them.
        labels = y_true
        if ignore_class is not None:
            valid = _not_ignored(labels, int(ignore_class))
            labels = ops.where(valid, labels, ops.zeros_like(labels))
            # Logits at ignored positions never reach the loss, so a NaN
            # there gives a zero gradient, as in Keras' SCCE.
            y_pred = ops.where(
                ops.expand_dims(valid, -1), y_pred, ops.zeros_like(y_pred)
            )
        labels = _class_ids(labels, k, ignore_class)
    else:
        targets = ops.cast(y_true, _F32)
    if from_logits and _use_tf_fused_kernel(y_pred, labels):
        from keras_ls.losses import _tf_fused

        values = _tf_fused.sparse_from_logits(y_pred, labels, spec)
    elif from_logits and keras.backend.backend() == "torch":
        values = _closed_form.from_logits_eager(y_pred, spec, labels, targets)
    elif from_logits:
        values = _closed_form.from_logits(y_pred, spec, labels, targets)
    else:
        values = _closed_form.from_probabilities(
            y_pred, spec, labels, targets, clip=keras.config.epsilon()
        )
    if valid is not None:
        values = ops.where(valid, values, ops.zeros_like(values))
    return values


class _SmoothingLoss(keras.losses.Loss):
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
            dtype=_F32,
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
        if self.dtype != _F32:
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


@keras_ls_export(
    "keras_ls.losses.LabelSmoothingCrossentropy",
    "keras_ls.LabelSmoothingCrossentropy",
)
class LabelSmoothingCrossentropy(_SmoothingLoss):
    """Cross-entropy with label smoothing whose ε can change during training.

    loss = (1 - ε)·(lse - z_y) + ε·(lse - Σ_k u_k·z_k), with lse the
    logsumexp of the logits z and u the smoothing distribution. With
    `convention="uniform"` the target is (1 - ε)·y + ε/K, exactly
    `keras.losses.CategoricalCrossentropy(label_smoothing=ε)` and PyTorch's
    `CrossEntropyLoss(label_smoothing=ε)`. With `convention="others"` the
    true class keeps 1 - ε and each other class gets ε/(K - 1) (fairseq);
    ε_others = ε_uniform·(K - 1)/K gives the same targets.

    ε lives in `label_smoothing_variable`, a float32 non-trainable
    `keras.Variable`; `loss.label_smoothing` reads it as a float and
    assigning to it validates and assigns the variable. The lowest reachable
    value is `minimum_loss(ε, K)`, the entropy of the smoothed target.

    Args:
        label_smoothing: ε in [0, 1). Defaults to `0.1`.
        from_logits: Whether `y_pred` holds logits (the usual Keras model
            ends in softmax: then remove the activation, or pass `False`);
            probabilities are renormalised and clipped to [1e-7, 1 - 1e-7]
            like Keras. Defaults to `True`.
        sparse: `True` for integer class ids shaped like `y_pred` without
            its class axis, `False` for one-hot or soft targets, `None` to
            infer from rank and dtype. Integer ids are never cast to a float
            dtype. Defaults to `None`.
        convention: `"uniform"` or `"others"`. Defaults to `"uniform"`.
        prior: Optional length-K probability vector replacing the uniform
            distribution, e.g. class frequencies. Defaults to `None`.
        ignore_class: Optional class id (sparse labels) whose positions
            contribute 0 and are left out of the mean; may lie outside
            [0, K), e.g. -100. Defaults to `None`.
        axis: The class axis of `y_pred`, e.g. `1` for PyTorch-style
            channel-first outputs; dense `y_true` has `y_pred`'s layout,
            class ids lack that axis (or have a 1 there). Defaults to `-1`.
        reduction: One of `"sum_over_batch_size"`, `"sum"`, `"mean"`,
            `"mean_with_sample_weight"`, `"none"` or `None`, as in Keras.
            Defaults to `"sum_over_batch_size"`.
        name: Name of the loss. Defaults to
            `"label_smoothing_crossentropy"`.
        dtype: Dtype of the returned value; accumulation is always float32.
            Defaults to `None` (float32).
        check_logits: With `from_logits=True`, whether to check that
            `y_pred` are not probabilities: an error before the first step
            when the model ends in softmax or sigmoid and Keras' own steps
            pass its output to the loss, a warning when concrete values
            look like probabilities (see docs/schedules.md for what the
            check sees). Pass `False` when a custom `compute_loss` or
            `train_step` turns such outputs into logits. Defaults to
            `True`.

    Standalone usage:

    >>> import numpy as np
    >>> import keras_ls
    >>> loss = keras_ls.LabelSmoothingCrossentropy(0.1)
    >>> round(float(loss(np.array([0, 1]),
    ...                  np.array([[2.0, 0.0], [0.0, 2.0]]))), 4)
    0.2269
    >>> loss.label_smoothing = 0.0
    >>> round(float(loss(np.array([0]), np.array([[2.0, 0.0]]))), 4)
    0.1269

    Usage with the `compile()` API:

    ```python
    loss = keras_ls.LabelSmoothingCrossentropy(0.1)
    model.compile(optimizer="adam", loss=loss, jit_compile=True)
    model.fit(x, y, epochs=5)
    loss.label_smoothing = 0.0  # reaches the compiled step, no retrace
    model.fit(x, y, epochs=5)
    ```

    The loss makes ε part of the model's state the first time the model's
    step calls it, so an assigned ε (between fits, or from a callback)
    reaches compiled train and test steps on every backend; see
    `keras_ls.track_label_smoothing`.

    Raises:
        ValueError: For an invalid option (`convention="others"` with a
            `prior` included); for `y_true` that does not fit `y_pred`;
            for a class id outside [0, K) that is not `ignore_class`, where
            values are concrete (compiled steps clip it into [0, K));
            and, with `from_logits=True`, when the model that trains or
            evaluates with this loss ends in softmax or sigmoid (raised
            before the first step). Probabilities passed as logits where
            values are visible (eager or standalone calls) give a
            `UserWarning` instead, once.

    References:
        - Szegedy et al., 2016. Rethinking the Inception Architecture for
          Computer Vision. CVPR. https://arxiv.org/abs/1512.00567
        - Müller, Kornblith and Hinton, 2019. When Does Label Smoothing
          Help? NeurIPS. https://arxiv.org/abs/1906.02629
    """

    def __init__(
        self,
        label_smoothing=0.1,
        *,
        from_logits=True,
        sparse=None,
        convention="uniform",
        prior=None,
        ignore_class=None,
        axis=-1,
        reduction="sum_over_batch_size",
        name="label_smoothing_crossentropy",
        dtype=None,
        check_logits=True,
    ):
        _check_prior_convention(convention, prior)
        _validation.check_choice(sparse, "sparse", (None, True, False))
        _validation.check_bool(from_logits, "from_logits")
        _validation.check_int(axis, "axis")
        if ignore_class is not None:
            _validation.check_int(ignore_class, "ignore_class")
        prior = None if prior is None else _validation.check_prior(prior)
        super().__init__(
            label_smoothing,
            reduction=reduction,
            name=name,
            dtype=dtype,
            check_logits=check_logits,
        )
        self.from_logits = from_logits
        self.sparse = sparse
        self.convention = convention
        self.prior = None if prior is None else list(prior)
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self.axis = int(axis)

    def call(self, y_true, y_pred):
        return label_smoothing_crossentropy(
            y_true,
            y_pred,
            self.label_smoothing_variable,
            from_logits=self.from_logits,
            sparse=self.sparse,
            convention=self.convention,
            prior=self.prior,
            ignore_class=self.ignore_class,
            axis=self.axis,
        )

    def _ignored_positions_mask(self, y_true, values):
        # Ignored positions are excluded from the mean, as in Keras'
        # SparseCategoricalCrossentropy(ignore_class=...).
        if self.ignore_class is None:
            return None
        labels = ops.convert_to_tensor(y_true)
        if len(labels.shape) == len(values.shape) + 1:
            # Ids shaped like y_pred, with a 1 on its class axis.
            labels = ops.squeeze(labels, axis=self.axis)
        return _not_ignored(labels, self.ignore_class)

    def get_config(self):
        config = super().get_config()
        config.update(
            from_logits=self.from_logits,
            sparse=self.sparse,
            convention=self.convention,
            prior=self.prior,
            ignore_class=self.ignore_class,
            axis=self.axis,
        )
        return config


def _same_shape_targets(targets, logits):
    """`targets` shaped like `logits`, or a ValueError naming both shapes.

    As Keras' BinaryCrossentropy, a trailing 1 is added or removed to match
    ranks, and nothing else: broadcasting (3, 1) labels against (3, 3)
    outputs would silently score every label against every output.
    """
    true_shape, pred_shape = tuple(targets.shape), tuple(logits.shape)
    if len(true_shape) == len(pred_shape) - 1 and pred_shape[-1] in (1, None):
        targets = ops.expand_dims(targets, -1)
    elif len(true_shape) == len(pred_shape) + 1 and true_shape[-1] == 1:
        targets = ops.squeeze(targets, -1)
    shape = tuple(targets.shape)
    if len(shape) != len(pred_shape) or any(
        a is not None and b is not None and a != b
        for a, b in zip(shape, pred_shape)
    ):
        raise ValueError(
            "`y_true` and `y_pred` must have the same shape (up to a "
            f"trailing 1). Received: y_true.shape={true_shape}, "
            f"y_pred.shape={pred_shape}"
        )
    return targets


@keras_ls_export("keras_ls.losses.binary_label_smoothing_crossentropy")
def binary_label_smoothing_crossentropy(
    y_true, y_pred, label_smoothing=0.1, *, from_logits=True, axis=-1
):
    """Per-example binary cross-entropy with targets smoothed toward 0.5.

    target = y·(1 - ε) + ε/2 (Keras' convention), averaged over `axis`.

    Args:
        y_true: Binary or soft targets shaped like `y_pred` (a trailing 1
            may be added or missing, nothing else is broadcast).
        y_pred: Logits (or probabilities with `from_logits=False`).
        label_smoothing: ε in [0, 1): a float, tensor or `keras.Variable`.
            Defaults to `0.1`.
        from_logits: Whether `y_pred` holds logits. Defaults to `True`.
        axis: Axis to average over. Defaults to `-1`.

    Returns:
        A float32 tensor with `axis` reduced.

    Raises:
        ValueError: When `y_true` and `y_pred` differ in shape beyond a
            trailing 1, or ε is outside [0, 1).

    Examples:

    >>> import keras
    >>> import numpy as np
    >>> import keras_ls
    >>> values = keras_ls.losses.binary_label_smoothing_crossentropy(
    ...     np.array([[1.0, 0.0]]), np.array([[2.0, -2.0]]), 0.0)
    >>> [round(float(v), 4) for v in keras.ops.convert_to_numpy(values)]
    [0.1269]
    """
    eps = _epsilon_tensor(label_smoothing, y_pred)
    y_pred = ops.convert_to_tensor(y_pred)
    logits = ops.cast(y_pred, _F32)
    targets = ops.cast(ops.convert_to_tensor(y_true), _F32)
    targets = _same_shape_targets(targets, logits)
    targets = targets * (1.0 - eps) + 0.5 * eps
    if from_logits:
        # max(z, 0) - z·t + log(1 + exp(-|z|)): stable for any |z|.
        values = (
            ops.relu(logits)
            - logits * targets
            + ops.log1p(ops.exp(-ops.abs(logits)))
        )
    else:
        eps_clip = keras.config.epsilon()
        probs = ops.clip(logits, eps_clip, 1.0 - eps_clip)
        values = -(
            targets * ops.log(probs) + (1.0 - targets) * ops.log1p(-probs)
        )
    return ops.mean(values, axis=axis)


@keras_ls_export(
    "keras_ls.losses.BinaryLabelSmoothingCrossentropy",
    "keras_ls.BinaryLabelSmoothingCrossentropy",
)
class BinaryLabelSmoothingCrossentropy(_SmoothingLoss):
    """Binary cross-entropy with label smoothing and a variable-backed ε.

    target = y·(1 - ε) + ε/2, as `keras.losses.BinaryCrossentropy`, for
    sigmoid and multi-label outputs, with ε in `label_smoothing_variable`.

    Args:
        label_smoothing: ε in [0, 1). Defaults to `0.1`.
        from_logits: Whether `y_pred` holds logits rather than sigmoid
            outputs. Defaults to `True`.
        axis: Axis to average over. Defaults to `-1`.
        reduction: As in Keras. Defaults to `"sum_over_batch_size"`.
        name: Name of the loss. Defaults to
            `"binary_label_smoothing_crossentropy"`.
        dtype: Dtype of the returned value; accumulation is float32.
            Defaults to `None` (float32).
        check_logits: With `from_logits=True`, whether to check that
            `y_pred` are not sigmoid outputs (as in
            `LabelSmoothingCrossentropy`). Defaults to `True`.

    Standalone usage:

    >>> import numpy as np
    >>> import keras_ls
    >>> loss = keras_ls.BinaryLabelSmoothingCrossentropy(0.2)
    >>> round(float(loss(np.array([[1.0]]), np.array([[0.0]]))), 4)
    0.6931

    Usage with the `compile()` API:

    ```python
    model.compile(
        optimizer="adam",
        loss=keras_ls.BinaryLabelSmoothingCrossentropy(0.1),
    )
    ```

    Raises:
        ValueError: When `y_true` and `y_pred` differ in shape beyond a
            trailing 1 (Keras' rule: nothing is broadcast), and, with
            `from_logits=True`, when the model ends in sigmoid or softmax
            (before the first step; values that look like probabilities in
            an eager or standalone call warn once instead).

    References:
        - Szegedy et al., 2016. Rethinking the Inception Architecture for
          Computer Vision. CVPR. https://arxiv.org/abs/1512.00567
        - Müller, Kornblith and Hinton, 2019. When Does Label Smoothing
          Help? NeurIPS. https://arxiv.org/abs/1906.02629
    """

    def __init__(
        self,
        label_smoothing=0.1,
        *,
        from_logits=True,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_label_smoothing_crossentropy",
        dtype=None,
        check_logits=True,
    ):
        _validation.check_bool(from_logits, "from_logits")
        _validation.check_int(axis, "axis")
        super().__init__(
            label_smoothing,
            reduction=reduction,
            name=name,
            dtype=dtype,
            check_logits=check_logits,
        )
        self.from_logits = from_logits
        self.axis = int(axis)

    _binary = True

    def call(self, y_true, y_pred):
        return binary_label_smoothing_crossentropy(
            y_true,
            y_pred,
            self.label_smoothing_variable,
            from_logits=self.from_logits,
            axis=self.axis,
        )

    def get_config(self):
        config = super().get_config()
        config.update(from_logits=self.from_logits, axis=self.axis)
        return config


__all__ = public_names(__name__)
