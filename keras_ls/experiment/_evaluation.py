"""Evaluation of the paired experiment, on the test set after training.

`evaluate_on_test` is the only place the test set reaches a model: the
statistics of `evaluate_predictions` from one prediction (per
temperature), and `penultimate_geometry` the tightness of the
penultimate-layer clusters.
"""

import math

import numpy as np

from keras_ls._api import keras_ls_export
from keras_ls._api import public_names

METRICS = (
    "accuracy",
    "nll",
    "ece",
    "confidence",
    "confidence_correct",
    "confidence_incorrect",
)


#: The three classes of ``penultimate.png`` (Fashion-MNIST: T-shirt/top,
#: trouser, pullover), as in Müller et al. (2019), Fig. 1.
PROJECTION_CLASSES = (0, 1, 2)


def softmax(logits):
    logits = np.asarray(logits, np.float32)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return np.exp(log_probs), log_probs


@keras_ls_export("keras_ls.experiment.evaluate_predictions")
def evaluate_predictions(y_true, probs, *, log_probs=None, num_bins=15):
    """Test-set statistics of one model, from `calibration_report`.

    Args:
        y_true: Integer labels, shape (N,).
        probs: Predicted probabilities, shape (N, K).
        log_probs: Optional log-probabilities (more accurate NLL for very
            confident predictions). Defaults to `None` (``log(probs)``).
        num_bins: Equal-width confidence bins of the ECE. Defaults to `15`.

    Returns:
        A dict of Python floats: ``accuracy``, ``nll`` (unsmoothed),
        ``ece`` (top-label, l1), ``confidence`` (mean max-probability),
        ``confidence_correct`` and ``confidence_incorrect`` (NaN when there
        is no such prediction).

    Examples:

    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    >>> labels = np.array([0, 1, 1])
    >>> stats = keras_ls.experiment.evaluate_predictions(labels, probs)
    >>> round(stats["accuracy"], 4), round(stats["confidence"], 4)
    (0.6667, 0.7333)
    """
    from keras_ls.calibration.report import calibration_report

    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    probs = np.asarray(probs, np.float32)
    stats = calibration_report(y, probs, num_bins=num_bins)
    if log_probs is not None:
        true_log_probs = np.take_along_axis(
            np.asarray(log_probs, np.float32), y[:, None], -1
        )
        stats["nll"] = float(-true_log_probs.mean())
    correct = probs.argmax(-1) == y
    # calibration_report gives 0.0 when there is no such prediction; a mean
    # over seeds must not count that as a confidence.
    if correct.all():
        stats["confidence_incorrect"] = math.nan
    if not correct.any():
        stats["confidence_correct"] = math.nan
    return {m: float(stats[m]) for m in METRICS}


@keras_ls_export("keras_ls.experiment.largest_confidence_drop")
def largest_confidence_drop(y_true, probs_baseline, probs_other):
    """The example both models get right whose confidence fell the most.

    Args:
        y_true: Integer labels, shape (N,).
        probs_baseline: Probabilities of the baseline, shape (N, K).
        probs_other: Probabilities of the smoothed model, shape (N, K).

    Returns:
        A dict with the example's ``index`` and ``label``, both models'
        ``confidence_*`` and full class probabilities ``probs_*`` (lists of
        floats), or `None` when no example is correct for both.

    Examples:

    >>> a = np.array([[0.99, 0.01], [0.9, 0.1], [0.2, 0.8]])
    >>> b = np.array([[0.74, 0.26], [0.8, 0.2], [0.6, 0.4]])
    >>> labels = np.array([0, 0, 1])
    >>> drop = keras_ls.experiment.largest_confidence_drop(labels, a, b)
    >>> drop["index"], round(drop["confidence_other"], 2)
    (0, 0.74)
    """
    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    a = np.asarray(probs_baseline, np.float32)
    b = np.asarray(probs_other, np.float32)
    both = (a.argmax(-1) == y) & (b.argmax(-1) == y)
    if not both.any():
        return None
    drop = np.where(both, a.max(-1) - b.max(-1), -np.inf)
    i = int(drop.argmax())
    return {
        "index": i,
        "label": int(y[i]),
        "confidence_baseline": float(a[i].max()),
        "confidence_other": float(b[i].max()),
        "probs_baseline": [float(p) for p in a[i]],
        "probs_other": [float(p) for p in b[i]],
    }


def evaluate_on_test(net, data, *, batch_size, num_bins, temperatures=(None,)):
    """The only place the test set is used: after training (and after any
    temperature is fitted on the validation split).

    Returns:
        ``[(stats, probs)]``, one per entry of `temperatures` (a T, or
        `None` for the unscaled logits), from one prediction. Defaults to
        the unscaled logits alone.
    """
    logits = net.predict(data.x_test, batch_size=batch_size, verbose=0)
    results = []
    for temperature in temperatures:
        scaled = logits if temperature is None else logits / temperature
        probs, log_probs = softmax(scaled)
        stats = evaluate_predictions(
            data.y_test, probs, log_probs=log_probs, num_bins=num_bins
        )
        results.append((stats, probs))
    return results


def penultimate_geometry(net, data, *, batch_size, project):
    """The tightness of `net`'s penultimate clusters on the test set, and
    (when `project`) the projection of `PROJECTION_CLASSES` for the plot.

    Returns ``(None, None)`` when the model has no last Dense layer whose
    input can be read (a user's model of another shape).
    """
    from keras_ls.calibration import geometry

    try:
        features, templates = geometry.penultimate_features(
            net, data.x_test, batch_size=batch_size
        )
    except (ValueError, TypeError):
        return None, None
    tightness = geometry.tightness_of_features(features, data.y_test)
    projection = None
    if project and data.num_classes >= len(PROJECTION_CLASSES):
        projection = geometry.template_plane_projection(
            features, data.y_test, templates, PROJECTION_CLASSES
        )
    return tightness, projection


__all__ = public_names(__name__)
