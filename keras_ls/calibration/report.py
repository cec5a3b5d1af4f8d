"""Offline calibration tools in numpy: a reference report and temperature.

`calibration_report` computes, in float64 from predicted probabilities,
every statistic that the streaming metrics in `keras_ls.metrics` accumulate,
plus the per-bin counts, accuracies and confidences. It is the reference the
tests check the streaming metrics against, and a convenient one-call summary
for a finished model.

`fit_temperature` and `apply_temperature` implement temperature scaling
(Guo et al. 2017): one scalar T fitted on held-out NLL, logits divided by T.
The plotting helpers live in `keras_ls.plots` and are re-exported here;
matplotlib is imported only when they are called.
"""

import math

import numpy as np
from keras import ops

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names


def _as_2d_scores(values, name):
    values = np.asarray(values, dtype=np.float64)
    if values.ndim < 2 or values.shape[-1] < 2:
        raise ValueError(
            f"`{name}` must have shape (..., num_classes) with at least 2 "
            f"classes. Received: {name}.shape={values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"`{name}` must be finite. Received non-finite "
            f"values in {name} of shape {values.shape}"
        )
    return values.reshape(-1, values.shape[-1])


def _as_class_ids(y_true, scores_shape, name="y_true"):
    """Integer ids (one per row) from ids, (..., 1) ids or one-hot rows."""
    y_true = np.asarray(y_true)
    k = scores_shape[-1]
    if y_true.shape == tuple(scores_shape):
        ids = y_true.reshape(-1, k).argmax(axis=-1)
    else:
        if y_true.ndim == len(scores_shape) and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        if y_true.shape != tuple(scores_shape[:-1]):
            raise ValueError(
                f"`{name}` must hold class ids of shape "
                f"{tuple(scores_shape[:-1])} or one-hot rows of shape "
                f"{tuple(scores_shape)}. Received: {name}.shape={y_true.shape}"
            )
        ids = y_true.reshape(-1)
        if not np.all(ids == np.round(ids)):
            raise ValueError(f"`{name}` class ids must be integers.")
        ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= k):
        raise ValueError(
            f"`{name}` class ids must lie in [0, {k - 1}] for {k} classes. "
            f"Received ids from {ids.min()} to {ids.max()}"
        )
    return ids


@keras_ls_export("keras_ls.calibration.calibration_report")
def calibration_report(y_true, probs, num_bins=15):
    """All confidence and calibration statistics of predicted probabilities.

    Bins are equal-width over [0, 1]: bin b holds confidences in
    [b/B, (b+1)/B), and a confidence of exactly 1.0 goes in the last bin.
    The bin is ⌊c·B⌋ with c rounded to float32 and the product computed in
    float32, the streaming metrics' rule to the bit, so a confidence on an
    edge (float32(0.7) with 10 bins) lands in the same bin in both.
    With n_b, acc_b and conf_b the count, accuracy and mean confidence of
    bin b: ECE = Σ_b (n_b/n)·|acc_b - conf_b|, RMS = sqrt(Σ_b (n_b/n)·
    (acc_b - conf_b)²) and MCE = max over non-empty bins of |acc_b - conf_b|.
    Empty bins report an accuracy and confidence of 0.0, as do
    `confidence_correct` and `confidence_incorrect` when there are no
    correct or no incorrect predictions (the streaming metrics do the same).

    Args:
        y_true: Integer class ids shaped like `probs` without its class axis
            (or with a trailing 1), or one-hot rows shaped like `probs`.
        probs: Predicted probabilities, shape (..., num_classes), each row
            summing to 1.
        num_bins: Number of equal-width confidence bins. Defaults to `15`.

    Returns:
        A dict with Python floats `ece`, `mce`, `rmsce`, `accuracy`,
        `confidence`, `confidence_gap` (confidence - accuracy),
        `confidence_correct`, `confidence_incorrect`, `nll`, `brier`,
        `entropy`, the int `num_examples`, and float64 arrays `bin_edges`
        (num_bins + 1), `bin_counts`, `bin_accuracy` and `bin_confidence`.

    Raises:
        ValueError: when `num_bins` is not an integer >= 1, `probs` has a
            negative value or no row, or `y_true` does not match `probs`.

    Examples:

    >>> report = keras_ls.calibration.calibration_report(
    ...     np.array([0, 1, 1, 0]),
    ...     np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.65, 0.35]]),
    ...     num_bins=5)
    >>> round(report["ece"], 4), round(report["mce"], 4)
    (0.3375, 0.35)
    >>> [int(c) for c in report["bin_counts"]]
    [0, 0, 0, 2, 2]

    References:
        - Guo, Pleiss, Sun and Weinberger, 2017. [On Calibration of Modern
          Neural Networks](https://arxiv.org/abs/1706.04599). ICML 2017.
    """
    num_bins = _validation.check_int(num_bins, "num_bins", minimum=1)
    shape = np.shape(probs)
    p = _as_2d_scores(probs, "probs")
    if np.any(p < 0):
        raise ValueError("`probs` must be non-negative probabilities.")
    labels = _as_class_ids(y_true, shape)
    n = p.shape[0]
    if n == 0:
        raise ValueError(
            "`probs` must contain at least one prediction. "
            f"Received: probs.shape={shape}"
        )

    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    # The streaming metrics' rule, to the bit: ⌊c·B⌋ in float32. In float64,
    # float32(0.7)·10 = 6.99999988 would floor to 6 while the metric's
    # float32 product rounds to 7.0.
    scaled = confidence.astype(np.float32) * np.float32(num_bins)
    bins = np.minimum(np.floor(scaled), num_bins - 1).astype(np.int64)
    counts = np.zeros(num_bins)
    conf_sums = np.zeros(num_bins)
    correct_sums = np.zeros(num_bins)
    for b, c, ok in zip(bins, confidence, correct):
        counts[b] += 1
        conf_sums[b] += c
        correct_sums[b] += ok
    filled = counts > 0
    bin_accuracy = np.where(filled, correct_sums / np.maximum(counts, 1), 0.0)
    bin_confidence = np.where(filled, conf_sums / np.maximum(counts, 1), 0.0)
    gaps = np.abs(bin_accuracy - bin_confidence)
    share = counts / n

    onehot = np.zeros_like(p)
    onehot[np.arange(n), labels] = 1.0
    with np.errstate(divide="ignore"):
        nll = -np.log(p[np.arange(n), labels])
        plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)

    def mean_where(values, mask):
        return float(values[mask].mean()) if mask.any() else 0.0

    is_correct = correct.astype(bool)
    return {
        "ece": float(np.sum(share * gaps)),
        "mce": float(gaps[filled].max()),
        "rmsce": float(math.sqrt(np.sum(share * gaps**2))),
        "accuracy": float(correct.mean()),
        "confidence": float(confidence.mean()),
        "confidence_gap": float(confidence.mean() - correct.mean()),
        "confidence_correct": mean_where(confidence, is_correct),
        "confidence_incorrect": mean_where(confidence, ~is_correct),
        "nll": float(nll.mean()),
        "brier": float(np.sum((p - onehot) ** 2, axis=1).mean()),
        "entropy": float(-plogp.sum(axis=1).mean()),
        "num_examples": int(n),
        "bin_edges": edges,
        "bin_counts": counts,
        "bin_accuracy": bin_accuracy,
        "bin_confidence": bin_confidence,
    }


def _temperature_nll(logits, labels, log_temperature):
    z = logits * math.exp(-log_temperature)
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    return float(np.mean(lse - z[np.arange(z.shape[0]), labels]))


@keras_ls_export("keras_ls.calibration.fit_temperature")
def fit_temperature(logits, labels, *, bounds=(0.01, 100.0), tol=1e-6):
    """The temperature T that minimizes the NLL of softmax(logits / T).

    The NLL of softmax(β·z) is convex in β = 1/T, hence unimodal in log T;
    a golden-section search over log T in float64 finds the minimum to
    `tol`. T > 1 softens overconfident predictions, T < 1 sharpens
    underconfident ones (label-smoothed models usually need T < 1). Fit on
    held-out data, never on the training set.

    Args:
        logits: Array of shape (..., num_classes).
        labels: Integer class ids shaped like `logits` without its class
            axis, or one-hot rows shaped like `logits`.
        bounds: (lowest, highest) temperature searched, both > 0; a result
            on a bound means the optimum lies at or beyond it. Defaults to
            `(0.01, 100.0)`.
        tol: Width in log T at which the search stops. Defaults to `1e-6`.

    Returns:
        T as a Python float.

    Raises:
        ValueError: when `bounds` is not a pair with
            0 < lowest < highest < inf, `tol` is not in (0, 1), `logits`
            has no row, or `labels` does not match `logits`.

    Examples:

    >>> logits = np.array([[2.0, 0.0], [2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    >>> labels = np.array([0, 0, 1, 1])
    >>> t = keras_ls.calibration.fit_temperature(logits, labels)
    >>> round(t, 3)  # 3/4 right: 2/T = log 3
    1.82

    References:
        - Guo, Pleiss, Sun and Weinberger, 2017. [On Calibration of Modern
          Neural Networks](https://arxiv.org/abs/1706.04599). ICML 2017.
    """
    low, high = _check_bounds(bounds)
    tol = _validation.check_number(
        tol,
        "tol",
        minimum=0,
        maximum=1,
        exclusive_minimum=True,
        exclusive_maximum=True,
    )
    shape = np.shape(logits)
    z = _as_2d_scores(logits, "logits")
    ids = _as_class_ids(labels, shape, name="labels")
    if z.shape[0] == 0:
        raise ValueError("`logits` must contain at least one row.")
    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = _temperature_nll(z, ids, c), _temperature_nll(z, ids, d)
    while b - a > tol:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = _temperature_nll(z, ids, c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = _temperature_nll(z, ids, d)
    return float(min(max(math.exp((a + b) / 2.0), low), high))


def _check_bounds(bounds):
    """`bounds` as two floats with 0 < lowest < highest < inf."""
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise ValueError(
            "`bounds` must be a pair (lowest, highest) of "
            f"temperatures. Received: bounds={bounds!r}"
        ) from None
    context = f"bounds={bounds!r}"
    low = _validation.check_number(
        low, "bounds[0]", minimum=0, exclusive_minimum=True, context=context
    )
    high = _validation.check_number(
        high,
        "bounds[1]",
        minimum=low,
        exclusive_minimum=True,
        context=context,
    )
    return low, high


@keras_ls_export("keras_ls.calibration.apply_temperature")
def apply_temperature(logits, temperature):
    """Logits divided by `temperature`; the argmax never changes.

    Dividing every logit of a row by the same T > 0 keeps their order, so
    accuracy is unchanged by construction; only confidence moves.

    Args:
        logits: A numpy array (or list) or a backend tensor of logits.
        temperature: T > 0, e.g. from `fit_temperature`.

    Returns:
        A numpy array for numpy or list input, else a tensor of the input's
        float dtype.

    Raises:
        ValueError: when `temperature` is not a finite number > 0.

    Examples:

    >>> logits = np.array([[2.0, 0.0]])
    >>> scaled = keras_ls.calibration.apply_temperature(logits, 2.0)
    >>> [float(v) for v in scaled[0]]
    [1.0, 0.0]

    References:
        - Guo, Pleiss, Sun and Weinberger, 2017. [On Calibration of Modern
          Neural Networks](https://arxiv.org/abs/1706.04599). ICML 2017.
    """
    temperature = _validation.check_number(
        temperature, "temperature", minimum=0, exclusive_minimum=True
    )
    if isinstance(logits, (list, tuple, np.ndarray, np.generic)):
        logits = np.asarray(logits)
        if not np.issubdtype(logits.dtype, np.floating):
            logits = logits.astype(np.float32)
        return logits / np.asarray(temperature, dtype=logits.dtype)
    logits = ops.convert_to_tensor(logits)
    if "float" not in str(logits.dtype):
        logits = ops.cast(logits, "float32")
    return ops.divide(logits, ops.cast(temperature, logits.dtype))


__all__ = public_names(__name__)
