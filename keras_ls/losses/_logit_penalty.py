"""Cross-entropy plus a penalty on the logits: the shared part of the family.

`MaxSuppression`, `MarginLabelSmoothing` and `ConfidencePenalty` are each
the plain cross-entropy of `label_smoothing_crossentropy` at ε = 0 (closed
form, no one-hot, float32 accumulation) plus a per-position term computed
from the logits alone. This module holds what they share: the options
(`from_logits`, `sparse`, `axis`, `reduction`, `dtype`), the logits moved to
class-last in float32, and a `__call__` with Keras' masks, `sample_weight`
and reductions (`_reduction`), as `LabelSmoothingCrossentropy` has.
"""

import math

import keras
from keras import ops

from keras_ls import _validation
from keras_ls._tracking import logits as _logits
from keras_ls._tracking import state as _state
from keras_ls.losses._base import class_axis
from keras_ls.losses._base import num_classes_of
from keras_ls.losses._base import predictions_tensor
from keras_ls.losses._reduction import REDUCTIONS
from keras_ls.losses._reduction import keras_mask_of
from keras_ls.losses._reduction import reduce_weighted
from keras_ls.losses.crossentropy import label_smoothing_crossentropy

F32 = "float32"


def check_real(value, name, *, minimum=0.0):
    """Returns `value` as a finite Python float >= `minimum`."""
    if not _validation._is_real_number(value):
        raise ValueError(
            f"`{name}` must be a real number >= {minimum}. Received: "
            f"{name}={value!r} of type {type(value).__name__}"
        )
    value = float(value)
    if not math.isfinite(value) or value < minimum:
        raise ValueError(
            f"`{name}` must be a finite number >= {minimum}. "
            f"Received: {name}={value!r}"
        )
    return value


def class_last_logits(y_pred, *, from_logits, axis):
    """float32 logits with the classes last (log-probabilities when
    `from_logits=False`: penalties on logit differences are unchanged by
    the per-row shift between the two)."""
    y_pred = predictions_tensor(y_pred)
    rank = len(y_pred.shape)
    axis = class_axis(axis, rank)
    if axis != rank - 1:
        y_pred = ops.moveaxis(y_pred, axis, -1)
    num_classes_of(y_pred)
    z = ops.cast(y_pred, F32)
    if not from_logits:
        clip = keras.config.epsilon()
        z = z / ops.sum(z, axis=-1, keepdims=True)
        z = ops.log(ops.clip(z, clip, 1.0 - clip))
    return z


def cross_entropy(y_true, y_pred, *, from_logits, sparse, axis):
    """Per-position cross-entropy (class ids or dense targets), float32."""
    return label_smoothing_crossentropy(
        y_true,
        y_pred,
        0.0,
        from_logits=from_logits,
        sparse=sparse,
        axis=axis,
    )


class LogitPenaltyLoss(keras.losses.Loss):
    """Cross-entropy plus `penalty(z)`: options, masks, reductions, config.

    Subclasses implement `penalty(z)` on float32 class-last logits, or
    override `call`. A subclass that keeps a hyperparameter in a
    `label_smoothing_variable` gets it tracked as model state (see
    `keras_ls.track_label_smoothing`) and scheduled by
    `LabelSmoothingScheduler`.
    """

    # Softmax rows, not sigmoid outputs (see `_tracking.logits`).
    _binary = False

    def __init__(
        self,
        *,
        from_logits,
        sparse,
        axis,
        reduction,
        name,
        dtype,
        check_logits=True,
    ):
        _validation.check_bool(from_logits, "from_logits")
        _validation.check_bool(check_logits, "check_logits")
        _validation.check_choice(sparse, "sparse", (None, True, False))
        _validation.check_int(axis, "axis")
        _validation.check_choice(reduction, "reduction", REDUCTIONS)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._dtype_arg = dtype
        self.from_logits = bool(from_logits)
        self.check_logits = bool(check_logits)
        self.sparse = sparse
        self.axis = int(axis)

    def penalty(self, z):
        raise NotImplementedError

    def call(self, y_true, y_pred):
        ce = cross_entropy(
            y_true,
            y_pred,
            from_logits=self.from_logits,
            sparse=self.sparse,
            axis=self.axis,
        )
        z = class_last_logits(
            y_pred, from_logits=self.from_logits, axis=self.axis
        )
        return ce + self.penalty(z)

    def __call__(self, y_true, y_pred, sample_weight=None):
        mask = keras_mask_of(y_pred)
        if hasattr(self, "label_smoothing_variable"):
            _state.track_calling_model(self, y_pred)
        values = self.call(y_true, y_pred)
        if _logits.check_needed(self, y_pred):
            _logits.check(self, y_pred, binary=self._binary, axis=self.axis)
        loss = reduce_weighted(
            values, sample_weight, mask=mask, reduction=self.reduction
        )
        if self.dtype != F32:
            loss = ops.cast(loss, self.dtype)
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(
            from_logits=self.from_logits,
            sparse=self.sparse,
            axis=self.axis,
            dtype=self._dtype_arg,
            check_logits=self.check_logits,
        )
        return config
