"""Streaming confidence and calibration metrics with fixed memory.

Every metric here is a stateful ``keras.metrics.Metric`` whose state is a
handful of float32 sums (per-bin sums for the calibration errors), so it
works in ``model.compile(metrics=[...])`` inside compiled/XLA ``fit`` and
``evaluate`` on TensorFlow, JAX and PyTorch. Labels may be integer class ids
(shaped like the predictions without their class axis, or with a trailing 1)
or one-hot targets (the argmax is taken as the class). Predictions are logits
by default (``from_logits=True``), unlike Keras' default of probabilities: a
metric with ``from_logits=True`` refuses a model whose output layer applies
softmax or sigmoid (a ValueError before the first step of ``fit`` or
``evaluate``), and warns once if concrete values look like probabilities.
All statistics are computed in float32.
``sample_weight`` weights examples; a weight of 0 removes an example, which is
how a padded last batch is made exact. (Keras passes sample weights only to
metrics given as ``compile(weighted_metrics=...)``, not ``metrics=``.)

Per-bin sums use a static-shaped one-hot matrix product rather than
``bincount``, which JAX cannot compile.

Every metric takes ``from_logits``, ``name`` and ``dtype``: the floating
dtype of the result (state and arithmetic are float32; the result is
cast), ``keras.config.floatx()`` by default. Each raises a ValueError for
an argument outside what its docstring lists, including a non-floating
``dtype``, and, with ``from_logits=True``, for a model whose output layer
applies softmax or sigmoid (before the first step of ``fit`` or
``evaluate``).
"""

import abc

import keras
from keras import ops

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls._top_label import F32
from keras_ls._top_label import Batch
from keras_ls._top_label import binned_sums
from keras_ls._top_label import confidence_bins
from keras_ls._tracking import logits as _logits

NORMS = ("l1", "l2", "max")
_NORM_NAMES = {"l1": "ece", "l2": "rmsce", "max": "mce"}
SUBSETS = (None, "correct", "incorrect")


def _is_float_dtype(dtype):
    return "float" in str(dtype)


class _TopLabelMetric(keras.metrics.Metric):
    """Base class: holds `from_logits` and builds the per-batch statistics.

    State and arithmetic are float32 whatever `dtype` is; `result()` casts
    the float32 value to `dtype` (the metric's compute dtype), as Keras'
    own metrics return their result in `self.dtype`.
    """

    def __init__(self, *, from_logits, name, dtype):
        from_logits = _validation.check_bool(from_logits, "from_logits")
        super().__init__(name=name, dtype=dtype)
        if not _is_float_dtype(self.dtype):
            raise ValueError(
                "`dtype` must be a floating dtype (the dtype of the result; "
                f"state is always float32). Received: dtype={dtype!r}"
            )
        self.from_logits = from_logits

    def _batch(self, y_true, y_pred, sample_weight):
        batch = Batch(y_true, y_pred, sample_weight, self.from_logits)
        if _logits.check_needed(self, y_pred):
            _logits.check(self, y_pred)
        return batch

    def _zeros_variable(self, name, shape=()):
        return self.add_variable(
            shape=shape, initializer="zeros", dtype=F32, name=name
        )

    def reset_state(self):
        for variable in self.variables:
            variable.assign(ops.zeros(variable.shape, F32))

    def result(self):
        return ops.cast(self._result(), self.dtype)

    def get_config(self):
        config = super().get_config()
        config["from_logits"] = self.from_logits
        return config


class _WeightedMean(_TopLabelMetric, metaclass=abc.ABCMeta):
    """Weighted mean of one per-example float32 statistic, `_values`."""

    def __init__(self, *, from_logits, name, dtype):
        super().__init__(from_logits=from_logits, name=name, dtype=dtype)
        self.total = self._zeros_variable("total")
        self.count = self._zeros_variable("count")

    @abc.abstractmethod
    def _values(self, batch):
        """The float32 statistic of each prediction of `batch`, (n,)."""

    def _values_and_weights(self, batch):
        return self._values(batch), batch.weight

    def update_state(self, y_true, y_pred, sample_weight=None):
        batch = self._batch(y_true, y_pred, sample_weight)
        values, weight = self._values_and_weights(batch)
        self.total.assign_add(ops.sum(values * weight))
        self.count.assign_add(ops.sum(weight))

    def _result(self):
        return ops.divide_no_nan(self.total, self.count)


@keras_ls_export("keras_ls.metrics.ExpectedCalibrationError")
class ExpectedCalibrationError(_TopLabelMetric):
    """Top-label expected calibration error with equal-width bins.

    ECE = Σ_b (n_b / n) · |acc_b - conf_b|, where bin b holds the examples
    whose confidence c = max_k p_k lies in [b/B, (b+1)/B) (a confidence of
    exactly 1.0 goes in the last bin), acc_b is their accuracy and conf_b
    their mean confidence. The bin is ⌊c·B⌋ computed in float32 (see
    `confidence_bins`), exactly as `calibration_report` computes it.
    `norm="l2"` gives the RMS calibration error
    sqrt(Σ_b (n_b / n)·(acc_b - conf_b)²) and `norm="max"` the maximum
    calibration error max_b |acc_b - conf_b| over non-empty bins. State is
    three float32 vectors of length `num_bins`: weighted counts, confidence
    sums and correct-prediction sums.

    Args:
        num_bins: Number of equal-width confidence bins, at least 1.
            Defaults to `15`.
        norm: `"l1"` (ECE), `"l2"` (RMS calibration error) or `"max"` (MCE).
            Defaults to `"l1"`.
        from_logits: Whether predictions are logits (a softmax is applied)
            rather than probabilities. Defaults to `True`.
        name: Metric name; `None` gives `"ece"`, `"rmsce"` or `"mce"` by
            `norm`. Defaults to `None`.
        dtype: Floating dtype of the result (see `keras_ls.metrics`).
            Defaults to `None`.

    Raises:
        ValueError: for a bad argument or a softmax model, as every
            metric here (see `keras_ls.metrics`).

    Examples:

    Standalone usage:

    >>> import keras_ls
    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.65, 0.35]])
    >>> labels = np.array([0, 1, 1, 0])
    >>> ece = keras_ls.metrics.ExpectedCalibrationError(
    ...     num_bins=5, from_logits=False)
    >>> ece.update_state(labels, probs)
    >>> round(float(ece.result()), 4)
    0.3375

    Usage with the `compile()` API:

    ```python
    model.compile(optimizer="adam",
                  loss=keras_ls.LabelSmoothingCrossentropy(),
                  metrics=[keras_ls.metrics.ExpectedCalibrationError()],
                  jit_compile=True)
    ```

    References:
        - Guo, Pleiss, Sun, Weinberger, 2017. [On Calibration of Modern
          Neural Networks](https://arxiv.org/abs/1706.04599). ICML 2017.
        - Naeini, Cooper, Hauskrecht, 2015. [Obtaining Well Calibrated
          Probabilities Using Bayesian Binning](
          https://ojs.aaai.org/index.php/AAAI/article/view/9602). AAAI 2015.
    """

    def __init__(
        self,
        num_bins=15,
        norm="l1",
        *,
        from_logits=True,
        name=None,
        dtype=None,
    ):
        num_bins = _validation.check_int(num_bins, "num_bins", minimum=1)
        _validation.check_choice(norm, "norm", NORMS)
        super().__init__(
            from_logits=from_logits,
            name=name or _NORM_NAMES[norm],
            dtype=dtype,
        )
        self.num_bins = num_bins
        self.norm = norm
        self.bin_counts = self._zeros_variable("bin_counts", (num_bins,))
        self.bin_confidence_sums = self._zeros_variable(
            "bin_confidence_sums", (num_bins,)
        )
        self.bin_correct_sums = self._zeros_variable(
            "bin_correct_sums", (num_bins,)
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        batch = self._batch(y_true, y_pred, sample_weight)
        bins = confidence_bins(batch.confidence, self.num_bins)
        w = batch.weight
        sums = binned_sums(
            ops.stack([w, w * batch.confidence, w * batch.correct], axis=0),
            bins,
            self.num_bins,
        )
        self.bin_counts.assign_add(sums[0])
        self.bin_confidence_sums.assign_add(sums[1])
        self.bin_correct_sums.assign_add(sums[2])

    def bin_statistics(self):
        """Per-bin (weighted count, accuracy, mean confidence) tensors."""
        counts = ops.convert_to_tensor(self.bin_counts)
        accuracy = ops.divide_no_nan(self.bin_correct_sums, counts)
        confidence = ops.divide_no_nan(self.bin_confidence_sums, counts)
        return counts, accuracy, confidence

    def _result(self):
        counts, accuracy, confidence = self.bin_statistics()
        gaps = ops.abs(accuracy - confidence)
        if self.norm == "max":
            # Empty bins have a gap of exactly 0, so they never win the max.
            return ops.max(gaps)
        share = ops.divide_no_nan(counts, ops.sum(counts))
        if self.norm == "l2":
            return ops.sqrt(ops.sum(share * gaps * gaps))
        return ops.sum(share * gaps)

    def get_config(self):
        config = super().get_config()
        config.update(num_bins=self.num_bins, norm=self.norm)
        return config


@keras_ls_export("keras_ls.metrics.MeanConfidence")
class MeanConfidence(_WeightedMean):
    """Mean top-label confidence, max_k p_k, optionally on a subset.

    conf = Σ_i w_i · max_k p_ik / Σ_i w_i, over all predictions, only the
    correct ones (`subset="correct"`) or only the wrong ones
    (`subset="incorrect"`). Label smoothing lowers it: a model fitted
    perfectly with ε cannot exceed 1 - ε + ε/K.

    Args:
        subset: `None` (all predictions), `"correct"` or `"incorrect"`.
            Defaults to `None`.
        from_logits: Whether predictions are logits. Defaults to `True`.
        name: Metric name; `None` gives `"confidence"`,
            `"confidence_correct"` or `"confidence_incorrect"`. Defaults to
            `None`.
        dtype: Floating dtype of the result (see `keras_ls.metrics`).
            Defaults to `None`.

    Raises:
        ValueError: for a bad argument or a softmax model, as every
            metric here (see `keras_ls.metrics`).

    Examples:

    Standalone usage:

    >>> import keras_ls
    >>> import numpy as np
    >>> metric = keras_ls.metrics.MeanConfidence(from_logits=False)
    >>> metric.update_state(np.array([0, 1]), np.array([[0.9, 0.1],
    ...                                                 [0.7, 0.3]]))
    >>> round(float(metric.result()), 4)
    0.8

    Usage with the `compile()` API:

    ```python
    model.compile(loss=keras_ls.LabelSmoothingCrossentropy(0.1),
                  metrics=[keras_ls.metrics.MeanConfidence(),
                           keras_ls.metrics.MeanConfidence(subset="correct")])
    ```

    References:
        - Müller, Kornblith, Hinton, 2019. [When Does Label Smoothing
          Help?](https://arxiv.org/abs/1906.02629) NeurIPS 2019.
    """

    def __init__(self, subset=None, *, from_logits=True, name=None, dtype=None):
        _validation.check_choice(subset, "subset", SUBSETS)
        default = "confidence" if subset is None else f"confidence_{subset}"
        super().__init__(
            from_logits=from_logits, name=name or default, dtype=dtype
        )
        self.subset = subset

    def _values(self, batch):
        return batch.confidence

    def _values_and_weights(self, batch):
        weight = batch.weight
        if self.subset == "correct":
            weight = weight * batch.correct
        elif self.subset == "incorrect":
            weight = weight * (1.0 - batch.correct)
        return self._values(batch), weight

    def get_config(self):
        config = super().get_config()
        config["subset"] = self.subset
        return config


@keras_ls_export("keras_ls.metrics.TopLabelAccuracy")
class TopLabelAccuracy(_WeightedMean):
    """Top-1 accuracy that accepts class ids or one-hot labels alike.

    acc = Σ_i w_i · [argmax_k p_ik = y_i] / Σ_i w_i. It is the accuracy
    that `ExpectedCalibrationError` and `ConfidenceGap` compare confidence
    with.

    Args:
        from_logits: Whether predictions are logits. Defaults to `True`.
        name: Metric name. Defaults to `"top1_accuracy"`.
        dtype: Floating dtype of the result (see `keras_ls.metrics`).
            Defaults to `None`.

    Raises:
        ValueError: for a bad argument or a softmax model, as every
            metric here (see `keras_ls.metrics`).

    Examples:

    Standalone usage:

    >>> import keras_ls
    >>> import numpy as np
    >>> metric = keras_ls.metrics.TopLabelAccuracy()
    >>> metric.update_state(np.array([0, 1]), np.array([[2.0, 0.0],
    ...                                                 [3.0, 1.0]]))
    >>> round(float(metric.result()), 4)
    0.5

    Usage with the `compile()` API:

    ```python
    model.compile(loss="sparse_categorical_crossentropy",
                  metrics=[keras_ls.metrics.TopLabelAccuracy()])
    ```

    References:
        - Guo, Pleiss, Sun, Weinberger, 2017. [On Calibration of Modern
          Neural Networks](https://arxiv.org/abs/1706.04599). ICML 2017.
    """

    def __init__(self, *, from_logits=True, name="top1_accuracy", dtype=None):
        super().__init__(from_logits=from_logits, name=name, dtype=dtype)

    def _values(self, batch):
        return batch.correct


@keras_ls_export("keras_ls.metrics.ConfidenceGap")
class ConfidenceGap(_TopLabelMetric):
    """Signed gap between mean confidence and accuracy.

    gap = Σ_i w_i · (max_k p_ik - [argmax_k p_ik = y_i]) / Σ_i w_i.
    Positive means overconfident, negative underconfident; label smoothing
    typically pushes it below zero. Unlike ECE it does not bin, so errors of
    opposite sign in different bins cancel.

    Args:
        from_logits: Whether predictions are logits. Defaults to `True`.
        name: Metric name. Defaults to `"confidence_gap"`.
        dtype: Floating dtype of the result (see `keras_ls.metrics`).
            Defaults to `None`.

    Raises:
        ValueError: for a bad argument or a softmax model, as every
            metric here (see `keras_ls.metrics`).

    Examples:

    Standalone usage:

    >>> import keras_ls
    >>> import numpy as np
    >>> metric = keras_ls.metrics.ConfidenceGap(from_logits=False)
    >>> metric.update_state(np.array([0, 0]), np.array([[0.9, 0.1],
    ...                                                 [0.3, 0.7]]))
    >>> round(float(metric.result()), 4)
    0.3

    Usage with the `compile()` API:

    ```python
    model.compile(loss=keras_ls.LabelSmoothingCrossentropy(0.1),
                  metrics=[keras_ls.metrics.ConfidenceGap()])
    ```

    References:
        - Guo, Pleiss, Sun, Weinberger, 2017. [On Calibration of Modern
          Neural Networks](https://arxiv.org/abs/1706.04599). ICML 2017.
    """

    def __init__(self, *, from_logits=True, name="confidence_gap", dtype=None):
        super().__init__(from_logits=from_logits, name=name, dtype=dtype)
        self.confidence_sum = self._zeros_variable("confidence_sum")
        self.correct_sum = self._zeros_variable("correct_sum")
        self.count = self._zeros_variable("count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        batch = self._batch(y_true, y_pred, sample_weight)
        w = batch.weight
        self.confidence_sum.assign_add(ops.sum(w * batch.confidence))
        self.correct_sum.assign_add(ops.sum(w * batch.correct))
        self.count.assign_add(ops.sum(w))

    def _result(self):
        return ops.divide_no_nan(
            self.confidence_sum - self.correct_sum, self.count
        )


@keras_ls_export("keras_ls.metrics.NegativeLogLikelihood")
class NegativeLogLikelihood(_WeightedMean):
    """Mean negative log-likelihood of the true class, without smoothing.

    nll = -Σ_i w_i · log p_i,y_i / Σ_i w_i. The smoothed training loss has a
    floor that grows with ε, so it cannot be compared across ε; this
    unsmoothed cross-entropy can (fairseq logs it next to the smoothed loss
    for the same reason).

    Args:
        from_logits: Whether predictions are logits (then log p is an exact
            log-softmax); probabilities are clipped to
            [`keras.config.epsilon()`, 1 - epsilon] as Keras does. Defaults
            to `True`.
        name: Metric name. Defaults to `"nll"`.
        dtype: Floating dtype of the result (see `keras_ls.metrics`).
            Defaults to `None`.

    Raises:
        ValueError: for a bad argument or a softmax model, as every
            metric here (see `keras_ls.metrics`).

    Examples:

    Standalone usage:

    >>> import keras_ls
    >>> import numpy as np
    >>> metric = keras_ls.metrics.NegativeLogLikelihood()
    >>> metric.update_state(np.array([0]), np.array([[0.0, 0.0]]))
    >>> round(float(metric.result()), 4)
    0.6931

    Usage with the `compile()` API:

    ```python
    model.compile(loss=keras_ls.LabelSmoothingCrossentropy(0.1),
                  metrics=[keras_ls.metrics.NegativeLogLikelihood()])
    ```

    References:
        - Ott et al., 2019. [fairseq: A Fast, Extensible Toolkit for
          Sequence Modeling](https://arxiv.org/abs/1904.01038). NAACL 2019.
    """

    def __init__(self, *, from_logits=True, name="nll", dtype=None):
        super().__init__(from_logits=from_logits, name=name, dtype=dtype)

    def _values(self, batch):
        return -batch.label_log_prob()


@keras_ls_export("keras_ls.metrics.BrierScore")
class BrierScore(_WeightedMean):
    """Mean multi-class Brier score.

    brier = Σ_i w_i · Σ_k (p_ik - [k = y_i])² / Σ_i w_i, which lies in
    [0, 2]; computed as Σ_k p_ik² - 2·p_i,y_i + 1, with no one-hot tensor.

    Args:
        from_logits: Whether predictions are logits. Defaults to `True`.
        name: Metric name. Defaults to `"brier"`.
        dtype: Floating dtype of the result (see `keras_ls.metrics`).
            Defaults to `None`.

    Raises:
        ValueError: for a bad argument or a softmax model, as every
            metric here (see `keras_ls.metrics`).

    Examples:

    Standalone usage:

    >>> import keras_ls
    >>> import numpy as np
    >>> metric = keras_ls.metrics.BrierScore(from_logits=False)
    >>> metric.update_state(np.array([0]), np.array([[0.75, 0.25]]))
    >>> round(float(metric.result()), 4)
    0.125

    Usage with the `compile()` API:

    ```python
    model.compile(loss="sparse_categorical_crossentropy",
                  metrics=[keras_ls.metrics.BrierScore()])
    ```

    References:
        - Brier, 1950. [Verification of Forecasts Expressed in Terms of
          Probability](https://doi.org/10.1175/1520-0493(1950)078%3C0001:VOFEIT%3E2.0.CO;2).
          Monthly Weather Review.
    """

    def __init__(self, *, from_logits=True, name="brier", dtype=None):
        super().__init__(from_logits=from_logits, name=name, dtype=dtype)

    def _values(self, batch):
        squares = ops.sum(batch.probs * batch.probs, axis=-1)
        return squares - 2.0 * batch.label_prob() + 1.0


@keras_ls_export("keras_ls.metrics.PredictiveEntropy")
class PredictiveEntropy(_WeightedMean):
    """Mean entropy of the predicted distribution, in nats.

    H = -Σ_i w_i · Σ_k p_ik log p_ik / Σ_i w_i. Label smoothing raises it;
    it needs no labels, but accepts them for a uniform metric signature.

    Args:
        from_logits: Whether predictions are logits. Defaults to `True`.
        name: Metric name. Defaults to `"entropy"`.
        dtype: Floating dtype of the result (see `keras_ls.metrics`).
            Defaults to `None`.

    Raises:
        ValueError: for a bad argument or a softmax model, as every
            metric here (see `keras_ls.metrics`).

    Examples:

    Standalone usage:

    >>> import keras_ls
    >>> import numpy as np
    >>> metric = keras_ls.metrics.PredictiveEntropy()
    >>> metric.update_state(np.array([0]), np.zeros((1, 4)))
    >>> round(float(metric.result()), 4)
    1.3863

    Usage with the `compile()` API:

    ```python
    model.compile(loss=keras_ls.LabelSmoothingCrossentropy(0.1),
                  metrics=[keras_ls.metrics.PredictiveEntropy()])
    ```

    References:
        - Pereyra et al., 2017. [Regularizing Neural Networks by Penalizing
          Confident Output Distributions](https://arxiv.org/abs/1701.06548).
          ICLR 2017 workshop.
    """

    def __init__(self, *, from_logits=True, name="entropy", dtype=None):
        super().__init__(from_logits=from_logits, name=name, dtype=dtype)

    def _values(self, batch):
        return -ops.sum(batch.probs * batch.log_probs, axis=-1)


__all__ = public_names(__name__)
