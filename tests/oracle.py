"""The tests' numpy oracles: independent float64 references.

Written out from the definitions (the smoothed target and dense
cross-entropy; PyTorch's documented CrossEntropyLoss; Guo et al. 2017 for
ECE), so the tests never take an expected value from the code under test.
"""

import numpy as np


def log_softmax(z):
    z = np.asarray(z, np.float64)
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def smoothed_targets(labels, k, eps, convention="uniform", prior=None):
    labels = np.asarray(labels)
    onehot = np.zeros(labels.shape + (k,))
    np.put_along_axis(onehot, labels[..., None], 1.0, axis=-1)
    if convention == "others":
        return onehot * (1 - eps) + (1 - onehot) * eps / (k - 1)
    u = np.full(k, 1.0 / k) if prior is None else np.asarray(prior)
    return onehot * (1 - eps) + eps * u


def dense_ce(targets, logits):
    """Per-position −Σ q log softmax(z)."""
    return -(np.asarray(targets, np.float64) * log_softmax(logits)).sum(-1)


def torch_formula(labels, logits, eps, ignore_index=None):
    """PyTorch CrossEntropyLoss(label_smoothing=eps, ignore_index=...),
    mean reduction, written out from its documentation."""
    labels = np.asarray(labels)
    logp = log_softmax(logits)
    valid = np.ones(labels.shape, bool)
    if ignore_index is not None:
        valid = labels != ignore_index
    safe = np.where(valid, labels, 0)
    nll = -np.take_along_axis(logp, safe[..., None], -1)[..., 0]
    smooth = -logp.mean(-1)
    per = ((1 - eps) * nll + eps * smooth) * valid
    return per.sum() / max(valid.sum(), 1), per


def softmax(logits):
    return np.exp(log_softmax(logits))


def smoothed_loss(labels, logits, eps, k=None):
    """Per-example uniform label-smoothing cross-entropy."""
    logits = np.asarray(logits, np.float64)
    k = k or logits.shape[-1]
    targets = smoothed_targets(labels, k, eps)
    return dense_ce(targets, logits)


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
