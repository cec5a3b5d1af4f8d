"""Top-label statistics of one batch of predictions, and the binning rule.

What `keras_ls.metrics` and `ConfidenceMonitor`'s fused pass accumulate
per batch: class ids from class ids or one-hot labels, probabilities and
log-probabilities in float32, the confidence, whether the prediction is
right and the example weights; and the equal-width confidence bins.
"""

import keras
from keras import ops

F32 = "float32"


def _num_classes(y_pred):
    k = y_pred.shape[-1]
    if k is None or k < 2:
        raise ValueError(
            "`y_pred` must have at least 2 classes on its last axis. "
            f"Received: y_pred.shape={tuple(y_pred.shape)}"
        )
    return int(k)


def _class_ids(y_true, y_pred):
    """Integer class ids shaped like `y_pred` without its class axis."""
    y_true = ops.convert_to_tensor(y_true)
    pred_rank, true_rank = len(y_pred.shape), len(y_true.shape)
    k = y_pred.shape[-1]
    if true_rank == pred_rank and y_true.shape[-1] == k:
        return ops.cast(ops.argmax(y_true, axis=-1), "int32")
    if true_rank == pred_rank and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    elif true_rank != pred_rank - 1:
        raise ValueError(
            "`y_true` must hold class ids shaped like `y_pred` without its "
            "class axis (optionally with a trailing 1), or one-hot targets "
            f"shaped like `y_pred`. Received: y_true.shape="
            f"{tuple(y_true.shape)} with y_pred.shape={tuple(y_pred.shape)}"
        )
    return ops.cast(y_true, "int32")


class Batch:
    """Float32 per-example statistics of one batch, computed on demand.

    Everything is flattened to one row per prediction; `weight` already
    combines `sample_weight` with that flattening.
    """

    def __init__(self, y_true, y_pred, sample_weight, from_logits):
        y_pred = ops.convert_to_tensor(y_pred)
        k = _num_classes(y_pred)
        labels = ops.reshape(_class_ids(y_true, y_pred), (-1,))
        scores = ops.reshape(ops.cast(y_pred, F32), (-1, k))
        if from_logits:
            shifted = scores - ops.stop_gradient(
                ops.max(scores, axis=-1, keepdims=True)
            )
            self.log_probs = shifted - ops.log(
                ops.sum(ops.exp(shifted), axis=-1, keepdims=True)
            )
            self.probs = ops.exp(self.log_probs)
        else:
            # As Keras' crossentropy does for probabilities: renormalise,
            # then clip only inside the logarithm.
            self.probs = scores / ops.sum(scores, axis=-1, keepdims=True)
            eps = keras.config.epsilon()
            self.log_probs = ops.log(ops.clip(self.probs, eps, 1.0 - eps))
        self.labels = labels
        # Given probabilities are binned as given, not renormalised: a
        # float32 renormalisation moves a confidence such as 0.7 by an ulp,
        # across its bin edge, away from `calibration_report`'s value.
        self.confidence = ops.max(
            self.probs if from_logits else scores, axis=-1
        )
        predicted = ops.cast(ops.argmax(self.probs, axis=-1), "int32")
        self.correct = ops.cast(ops.equal(predicted, labels), F32)
        ones = ops.ones_like(self.confidence)
        if sample_weight is None:
            self.weight = ones
        else:
            weight = ops.cast(ops.convert_to_tensor(sample_weight), F32)
            # Broadcast (batch,), (batch, 1) or a scalar to every position
            # before flattening; `ones` has no static-shape requirement.
            target_rank = len(y_pred.shape) - 1
            while len(weight.shape) > target_rank and weight.shape[-1] == 1:
                weight = ops.squeeze(weight, axis=-1)
            while 0 < len(weight.shape) < target_rank:
                weight = ops.expand_dims(weight, axis=-1)
            weight = ops.reshape(
                weight * ops.ones(ops.shape(y_pred)[:-1], F32), (-1,)
            )
            self.weight = weight * ones

    def label_log_prob(self):
        return ops.squeeze(
            ops.take_along_axis(
                self.log_probs, ops.expand_dims(self.labels, -1), axis=-1
            ),
            axis=-1,
        )

    def label_prob(self):
        return ops.squeeze(
            ops.take_along_axis(
                self.probs, ops.expand_dims(self.labels, -1), axis=-1
            ),
            axis=-1,
        )


def binned_sums(values, bins, num_bins):
    """Per-bin sums of each row of `values` (rows, n) by bin ids (n,).

    A static-shaped one-hot replaces `bincount`, which JAX cannot compile.
    The products are summed elementwise rather than with a matrix product,
    because GPUs run float32 matrix products in TF32 (10-bit mantissa) by
    default, which measurably moved ECE on an H100.
    """
    membership = ops.one_hot(bins, num_bins, dtype=F32)
    return ops.sum(
        ops.expand_dims(values, -1) * ops.expand_dims(membership, 0), axis=1
    )


def confidence_bins(confidence, num_bins):
    """Bin ids of confidences: b = min(⌊c·B⌋, B - 1), computed in float32.

    The one binning rule of keras_ls (also in `calibration_report` and
    ConfidenceMonitor): the confidence is rounded to float32 and multiplied
    by B in float32, so float32(0.7)·10 = 7.0 puts 0.7 in [0.7, 0.8) on
    every backend and in the float64 report alike, and a confidence of
    exactly 1.0 joins the last bin.
    """
    scaled = ops.cast(confidence, F32) * ops.cast(num_bins, F32)
    return ops.cast(ops.minimum(ops.floor(scaled), num_bins - 1), "int32")
