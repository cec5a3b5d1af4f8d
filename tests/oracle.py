"""Independent numpy statistics for the distribution and precision tests.

Written out from the definitions (Guo et al. 2017 for ECE), float64, so the
tests never take an expected value from the code under test.
"""

import numpy as np

from tests import reference


def softmax(logits):
    return np.exp(reference.log_softmax(logits))


def smoothed_loss(labels, logits, eps, k=None):
    """Per-example uniform label-smoothing cross-entropy."""
    logits = np.asarray(logits, np.float64)
    k = k or logits.shape[-1]
    targets = reference.smoothed_targets(labels, k, eps)
    return reference.dense_ce(targets, logits)


def confidence_bins(conf, num_bins):
    """keras_ls' one binning rule, written out: ⌊c·B⌋ with c rounded to
    float32 and the product rounded to float32 (IEEE round-to-nearest, as
    every backend multiplies), the last bin closed at 1.0."""
    product = np.asarray(conf, np.float32) * np.float32(num_bins)
    return np.minimum(np.floor(product), num_bins - 1).astype(int)


def calibration(labels, logits, num_bins):
    """`calibration_of_probabilities` of softmax(logits)."""
    return calibration_of_probabilities(labels, softmax(logits), num_bins)


def calibration_of_probabilities(labels, p, num_bins):
    """Every statistic of keras_ls.metrics and ConfidenceMonitor for given
    probabilities `p` (rows are predictions), float64 from definitions."""
    p = np.asarray(p, np.float64)
    labels = np.asarray(labels)
    n = len(labels)
    conf = p.max(-1)
    correct = (p.argmax(-1) == labels).astype(np.float64)
    bins = confidence_bins(conf, num_bins)
    ece, mce, squares = 0.0, 0.0, 0.0
    for b in range(num_bins):
        inside = bins == b
        if inside.any():
            gap = abs(correct[inside].mean() - conf[inside].mean())
            ece += inside.sum() / n * gap
            squares += inside.sum() / n * gap**2
            mce = max(mce, gap)
    onehot = np.eye(p.shape[-1])[labels]
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)

    def mean_where(values, mask):
        return float(values[mask].mean()) if mask.any() else 0.0

    return {
        "ece": ece,
        "mce": mce,
        "rmsce": float(np.sqrt(squares)),
        "nll": float(-np.log(p[np.arange(n), labels]).mean()),
        "confidence": float(conf.mean()),
        "confidence_gap": float(conf.mean() - correct.mean()),
        "top1_accuracy": float(correct.mean()),
        "confidence_correct": mean_where(conf, correct == 1),
        "confidence_incorrect": mean_where(conf, correct == 0),
        "brier": float(((p - onehot) ** 2).sum(-1).mean()),
        "entropy": float(-plogp.sum(-1).mean()),
    }


def mean_of_shard_ece(labels, logits, num_bins, batch, shards):
    """What averaging ECE per replica would give: the wrong aggregation."""
    labels, logits = np.asarray(labels), np.asarray(logits)
    values = []
    for start in range(0, len(labels), batch):
        per = batch // shards
        for s in range(shards):
            rows = slice(start + s * per, start + (s + 1) * per)
            values.append(
                calibration(labels[rows], logits[rows], num_bins)["ece"]
            )
    return float(np.mean(values))
