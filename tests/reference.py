"""Independent numpy references for the tests (float64, dense targets)."""

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
