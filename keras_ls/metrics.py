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
"""

import abc

import keras
import numpy as np
from keras import ops

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls._tracking import logits as _logits
from keras_ls._tracking import values as _values

_F32 = "float32"
NORMS = ("l1", "l2", "max")
_NORM_NAMES = {"l1": "ece", "l2": "rmsce", "max": "mce"}
SUBSETS = (None, "correct", "incorrect")


def _is_float_dtype(dtype):
    return "float" in str(dtype)


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


class _Batch:
    """Float32 per-example statistics of one batch, computed on demand.

    Everything is flattened to one row per prediction; `weight` already
    combines `sample_weight` with that flattening.
    """

    def __init__(self, y_true, y_pred, sample_weight, from_logits):
        y_pred = ops.convert_to_tensor(y_pred)
        k = _num_classes(y_pred)
        labels = ops.reshape(_class_ids(y_true, y_pred), (-1,))
        scores = ops.reshape(ops.cast(y_pred, _F32), (-1, k))
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
        self.correct = ops.cast(ops.equal(predicted, labels), _F32)
        ones = ops.ones_like(self.confidence)
        if sample_weight is None:
            self.weight = ones
        else:
            weight = ops.cast(ops.convert_to_tensor(sample_weight), _F32)
            # Broadcast (batch,), (batch, 1) or a scalar to every position
            # before flattening; `ones` has no static-shape requirement.
            target_rank = len(y_pred.shape) - 1
            while len(weight.shape) > target_rank and weight.shape[-1] == 1:
                weight = ops.squeeze(weight, axis=-1)
            while 0 < len(weight.shape) < target_rank:
                weight = ops.expand_dims(weight, axis=-1)
            weight = ops.reshape(
                weight * ops.ones(ops.shape(y_pred)[:-1], _F32), (-1,)
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
    membership = ops.one_hot(bins, num_bins, dtype=_F32)
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
    scaled = ops.cast(confidence, _F32) * ops.cast(num_bins, _F32)
    return ops.cast(ops.minimum(ops.floor(scaled), num_bins - 1), "int32")


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
        batch = _Batch(y_true, y_pred, sample_weight, self.from_logits)
        if _logits.check_needed(self, y_pred):
            _logits.check(self, y_pred)
        return batch

    def _zeros_variable(self, name, shape=()):
        return self.add_variable(
            shape=shape, initializer="zeros", dtype=_F32, name=name
        )

    def reset_state(self):
        for variable in self.variables:
            variable.assign(ops.zeros(variable.shape, _F32))

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
        dtype: Floating dtype of the result (state and arithmetic
            are float32; the result is cast). Defaults to `None`
            (`keras.config.floatx()`).

    Raises:
        ValueError: for an argument outside what is listed above,
            including a non-floating `dtype`; with `from_logits=True`, for
            a model whose output layer applies softmax or sigmoid (before
            the first step of `fit` or `evaluate`).

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
        dtype: Floating dtype of the result (state and arithmetic
            are float32; the result is cast). Defaults to `None`
            (`keras.config.floatx()`).

    Raises:
        ValueError: for an argument outside what is listed above,
            including a non-floating `dtype`; with `from_logits=True`, for
            a model whose output layer applies softmax or sigmoid (before
            the first step of `fit` or `evaluate`).

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
        dtype: Floating dtype of the result (state and arithmetic
            are float32; the result is cast). Defaults to `None`
            (`keras.config.floatx()`).

    Raises:
        ValueError: for an argument outside what is listed above,
            including a non-floating `dtype`; with `from_logits=True`, for
            a model whose output layer applies softmax or sigmoid (before
            the first step of `fit` or `evaluate`).

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
        dtype: Floating dtype of the result (state and arithmetic
            are float32; the result is cast). Defaults to `None`
            (`keras.config.floatx()`).

    Raises:
        ValueError: for an argument outside what is listed above,
            including a non-floating `dtype`; with `from_logits=True`, for
            a model whose output layer applies softmax or sigmoid (before
            the first step of `fit` or `evaluate`).

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
        dtype: Floating dtype of the result (state and arithmetic
            are float32; the result is cast). Defaults to `None`
            (`keras.config.floatx()`).

    Raises:
        ValueError: for an argument outside what is listed above,
            including a non-floating `dtype`; with `from_logits=True`, for
            a model whose output layer applies softmax or sigmoid (before
            the first step of `fit` or `evaluate`).

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
        dtype: Floating dtype of the result (state and arithmetic
            are float32; the result is cast). Defaults to `None`
            (`keras.config.floatx()`).

    Raises:
        ValueError: for an argument outside what is listed above,
            including a non-floating `dtype`; with `from_logits=True`, for
            a model whose output layer applies softmax or sigmoid (before
            the first step of `fit` or `evaluate`).

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
        dtype: Floating dtype of the result (state and arithmetic
            are float32; the result is cast). Defaults to `None`
            (`keras.config.floatx()`).

    Raises:
        ValueError: for an argument outside what is listed above,
            including a non-floating `dtype`; with `from_logits=True`, for
            a model whose output layer applies softmax or sigmoid (before
            the first step of `fit` or `evaluate`).

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


# ConfidenceMonitor's pass ----------------------------------------------


class _PassStatistics(keras.metrics.Metric):
    """Every monitored statistic of one model as one float32 sum vector.

    The ten public metrics would each recompute the softmax and carry their
    own variables through every compiled step; one vector updated with one
    `assign_add` keeps the pass as cheap as a plain `evaluate`. The layout
    is `_SUMS` weighted sums followed by per-bin counts, confidence sums and
    correct sums, the same quantities the public metrics accumulate.
    """

    def __init__(self, num_bins, from_logits, name):
        super().__init__(name=name)
        self.num_bins = num_bins
        self.from_logits = from_logits
        self.sums = self.add_variable(
            shape=(len(_SUMS) + 3 * num_bins,),
            initializer="zeros",
            dtype="float32",
            name="sums",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        batch = _Batch(y_true, y_pred, sample_weight, self.from_logits)
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
        return _derive(
            np.asarray(_values.to_numpy(self.sums.value)), self.num_bins
        )


_SUMS = (
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


def _derive(sums, num_bins):
    totals = dict(zip(_SUMS, sums[: len(_SUMS)].astype(np.float64)))
    binned = sums[len(_SUMS) :].astype(np.float64).reshape(3, num_bins)
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


__all__ = public_names(__name__)
