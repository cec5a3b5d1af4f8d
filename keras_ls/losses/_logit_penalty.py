"""Cross-entropy plus a penalty on the logits: the shared part of the family.

`MaxSuppression`, `MarginLabelSmoothing` and `ConfidencePenalty` are each
the plain cross-entropy of `label_smoothing_crossentropy` at ε = 0 (closed
form, no one-hot, float32 accumulation) plus a per-position term computed
from the logits alone. This module holds what they share: the `sparse`
option and a `call` that adds the two terms; options, masks, reductions
and config are `SmoothingLoss`'s.
"""

import keras
from keras import ops

from keras_ls.losses._base import F32
from keras_ls.losses._base import SmoothingLoss
from keras_ls.losses._base import standardize
from keras_ls.losses.crossentropy import label_smoothing_crossentropy


class LogitPenaltyLoss(SmoothingLoss):
    """Cross-entropy plus `penalty(z)`, z the float32 class-last logits.

    Subclasses implement `penalty(z)`, or override `call`. One that passes
    `label_smoothing` keeps it in a `label_smoothing_variable`, tracked as
    model state (see `keras_ls.track_label_smoothing`) and scheduled by
    `LabelSmoothingScheduler`.
    """

    def penalty(self, z):
        raise NotImplementedError

    def call(self, y_true, y_pred):
        ce = label_smoothing_crossentropy(
            y_true,
            y_pred,
            0.0,
            from_logits=self.from_logits,
            sparse=self.sparse,
            axis=self.axis,
        )
        logits = standardize(None, y_pred, axis=self.axis).logits
        return ce + self.penalty(self._float32_logits(logits))

    def _float32_logits(self, y_pred):
        """float32 logits (log-probabilities when `from_logits=False`:
        penalties on logit differences are unchanged by the per-row shift
        between the two)."""
        z = ops.cast(y_pred, F32)
        if not self.from_logits:
            clip = keras.config.epsilon()
            z = z / ops.sum(z, axis=-1, keepdims=True)
            z = ops.log(ops.clip(z, clip, 1.0 - clip))
        return z
