"""ConfidenceMonitor's fused pass: every statistic of one model at once.

One float32 sum vector per model, updated by one `assign_add` per batch,
from which `derive` computes the statistics the monitor logs (the same
quantities the public `keras_ls.metrics` accumulate).
"""

import keras
import numpy as np
from keras import ops

from keras_ls._top_label import Batch
from keras_ls._top_label import binned_sums
from keras_ls._top_label import confidence_bins
from keras_ls._tracking import values as _values


class PassStatistics(keras.metrics.Metric):
    """Every monitored statistic of one model as one float32 sum vector.

    The ten public metrics would each recompute the softmax and carry their
    own variables through every compiled step; one vector updated with one
    `assign_add` keeps the pass as cheap as a plain `evaluate`. The layout
    is `SUMS` weighted sums followed by per-bin counts, confidence sums and
    correct sums, the same quantities the public metrics accumulate.
    """

    def __init__(self, num_bins, from_logits, name):
        super().__init__(name=name)
        self.num_bins = num_bins
        self.from_logits = from_logits
        self.sums = self.add_variable(
            shape=(len(SUMS) + 3 * num_bins,),
            initializer="zeros",
            dtype="float32",
            name="sums",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        batch = Batch(y_true, y_pred, sample_weight, self.from_logits)
        w, c, a = batch.weight, batch.confidence, batch.correct
        miss = 1.0 - a
        probs = batch.probs
        brier = ops.sum(probs * probs, axis=-1) - 2.0 * batch.label_prob()
        entropy = -ops.sum(probs * batch.log_probs, axis=-1)
        per_example = ops.stack(
            [
                w,
                w * c,
                w * a,
                -w * batch.label_log_prob(),
                w * (brier + 1.0),
                w * entropy,
                w * c * a,
                w * miss,
                w * c * miss,
            ],
            axis=0,
        )
        bins = confidence_bins(c, self.num_bins)
        binned = binned_sums(
            ops.stack([w, w * c, w * a], axis=0), bins, self.num_bins
        )
        self.sums.assign_add(
            ops.concatenate(
                [ops.sum(per_example, axis=1), ops.reshape(binned, (-1,))]
            )
        )

    def reset_state(self):
        self.sums.assign(ops.zeros(self.sums.shape, "float32"))

    def result(self):
        return ops.divide_no_nan(self.sums[1] - self.sums[2], self.sums[0])

    def statistics(self):
        """({statistic: float}, (bin counts, accuracy, confidence))."""
        return derive(
            np.asarray(_values.to_numpy(self.sums.value)), self.num_bins
        )


SUMS = (
    "weight",
    "confidence",
    "correct",
    "nll",
    "brier",
    "entropy",
    "confidence_correct",
    "incorrect",
    "confidence_incorrect",
)


def _ratio(numerator, denominator):
    return float(numerator / denominator) if denominator else 0.0


def derive(sums, num_bins):
    totals = dict(zip(SUMS, sums[: len(SUMS)].astype(np.float64)))
    binned = sums[len(SUMS) :].astype(np.float64).reshape(3, num_bins)
    counts = binned[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(counts > 0, binned[2] / counts, 0.0)
        confidence = np.where(counts > 0, binned[1] / counts, 0.0)
    gaps = np.abs(accuracy - confidence)
    n = totals["weight"]
    stats = {
        "ece": _ratio(np.sum(counts * gaps), n),
        "mce": float(gaps.max()),
        "nll": _ratio(totals["nll"], n),
        "brier": _ratio(totals["brier"], n),
        "entropy": _ratio(totals["entropy"], n),
        "confidence": _ratio(totals["confidence"], n),
        "confidence_gap": _ratio(totals["confidence"] - totals["correct"], n),
        "top1_accuracy": _ratio(totals["correct"], n),
        "confidence_correct": _ratio(
            totals["confidence_correct"], totals["correct"]
        ),
        "confidence_incorrect": _ratio(
            totals["confidence_incorrect"], totals["incorrect"]
        ),
    }
    return stats, (counts, accuracy, confidence)
