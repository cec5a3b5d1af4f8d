"""ConfidenceMonitor: calibration statistics of one or more models per epoch.

One compiled, streaming `evaluate` pass over the validation data computes
the `keras_ls.metrics` statistics for the trained model and for every model
in `compare=` at once. The pass runs on a cached wrapper model that holds the
models as sublayers, so it shares their variables and always sees the
current weights; its batches all have one shape (the last one is padded with
zero-weight examples), so it is traced once per training run, not per epoch.
"""

import math
import os
import warnings

import keras
import numpy as np
from keras import ops

from keras_ls import _tracking
from keras_ls import _validation
from keras_ls import metrics as ls_metrics
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names

#: Statistic names, in table order; keys are `prefix + name`.
STATISTICS = (
    "ece",
    "mce",
    "nll",
    "brier",
    "entropy",
    "confidence",
    "confidence_gap",
    "top1_accuracy",
    "confidence_correct",
    "confidence_incorrect",
)
_DEFAULT_BATCH_SIZE = 32


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
        batch = ls_metrics._Batch(
            y_true, y_pred, sample_weight, self.from_logits
        )
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
        bins = ls_metrics.confidence_bins(c, self.num_bins)
        binned = ls_metrics.binned_sums(
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
            np.asarray(ops.convert_to_numpy(self.sums)), self.num_bins
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


class _Stack(keras.Model):
    """Calls several single-output models on one input, without training.

    Holding the models as sublayers makes their variables this model's
    variables, so each `evaluate` reads their current values on every
    backend (on JAX, after the callback's `self.model` access has synced
    the training state back into the variables).
    """

    def __init__(self, members):
        super().__init__(name="keras_ls_confidence_monitor")
        self.members = list(members)

    def call(self, inputs, training=False):
        return tuple(m(inputs, training=False) for m in self.members)

    def compute_loss(self, *args, **kwargs):
        # Only metrics are wanted; Keras' compile refuses to evaluate with
        # no loss on TensorFlow and PyTorch.
        return ops.zeros((), dtype="float32")


def _is_tf_dataset(data):
    return type(data).__module__.startswith("tensorflow") and hasattr(
        data, "element_spec"
    )


def _leading_size(structure):
    return int(np.shape(keras.tree.flatten(structure)[0])[0])


def _pad_rows(structure, size):
    def pad(array):
        array = np.asarray(array)
        missing = size - array.shape[0]
        if missing <= 0:
            return array
        filler = np.zeros((missing,) + array.shape[1:], dtype=array.dtype)
        return np.concatenate([array, filler], axis=0)

    return keras.tree.map_structure(pad, structure)


def _no_labels_error(kind):
    return ValueError(
        "`validation_data` must provide labels: (x, y) or (x, y, "
        f"sample_weight). Received: {kind} without labels"
    )


class _PaddedPyDataset(keras.utils.PyDataset):
    """Pads every batch of a PyDataset to one size with zero weights."""

    def __init__(self, source, batch_size):
        super().__init__(
            workers=getattr(source, "workers", 1),
            use_multiprocessing=getattr(source, "use_multiprocessing", False),
            max_queue_size=getattr(source, "max_queue_size", 10),
        )
        self.source = source
        self.batch_size = batch_size
        self.num_outputs = 1

    def __len__(self):
        return len(self.source)

    def __getitem__(self, index):
        x, y, weight = _pad_batch(self.source[index], self.batch_size)
        n = self.num_outputs
        return x, (y,) * n, (weight,) * n

    def on_epoch_end(self):
        self.source.on_epoch_end()


def _split_batch(batch):
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise _no_labels_error("a PyDataset batch")
    if len(batch) > 3:
        raise ValueError(
            "`validation_data` batches must be (x, y) or (x, y, "
            f"sample_weight). Received a batch of {len(batch)} elements"
        )
    x, y = batch[0], batch[1]
    weight = batch[2] if len(batch) == 3 else None
    return x, y, weight


def _pad_batch(batch, batch_size):
    x, y, weight = _split_batch(batch)
    n = _leading_size(x)
    if n > batch_size:
        raise ValueError(
            f"`validation_data` has a batch of {n} examples, more than the "
            f"batch size {batch_size} fixed by its first batch or by "
            "`batch_size`. Pass a larger `batch_size` to ConfidenceMonitor."
        )
    weight = (
        np.ones((n,), "float32")
        if weight is None
        else np.asarray(weight, "float32").reshape(n)
    )
    return (
        _pad_rows(x, batch_size),
        _pad_rows(y, batch_size),
        _pad_rows(weight, batch_size),
    )


def _tf_padded(dataset, batch_size):
    import tensorflow as tf

    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise _no_labels_error(
            "a tf.data.Dataset whose elements are not (x, y) tuples"
        )

    def pad(*element):
        x, y = element[0], element[1]
        n = tf.shape(tf.nest.flatten(x)[0])[0]
        weight = element[2] if len(element) > 2 else tf.ones((n,))
        weight = tf.reshape(tf.cast(weight, tf.float32), (n,))
        check = tf.debugging.assert_less_equal(
            n,
            batch_size,
            message=f"a validation batch is larger than {batch_size}; pass "
            "a larger `batch_size` to ConfidenceMonitor",
        )

        def to_size(t):
            with tf.control_dependencies([check]):
                paddings = [[0, batch_size - n]] + [[0, 0]] * (len(t.shape) - 1)
                padded = tf.pad(t, paddings)
            return tf.ensure_shape(padded, [batch_size] + t.shape[1:])

        return (
            tf.nest.map_structure(to_size, x),
            tf.nest.map_structure(to_size, y),
            to_size(weight),
        )

    return dataset.map(pad)


class _ValidationData:
    """`validation_data` in the one form the compiled pass consumes.

    Numpy arrays are padded once to a multiple of the batch size; a
    tf.data.Dataset and a PyDataset are padded batch by batch. Padding rows
    have sample weight 0, so they change no statistic and every batch has
    the same shape (one trace per training run).
    """

    def __init__(self, data, batch_size):
        self.batch_size = batch_size
        self._repeated = None
        if _is_tf_dataset(data):
            first = next(iter(data))
            if not isinstance(first, tuple) or len(first) < 2:
                raise _no_labels_error(
                    "a tf.data.Dataset whose elements are not (x, y) tuples"
                )
            self.batch_size = batch_size or _leading_size(first[0])
            self.first_x = keras.tree.map_structure(np.asarray, first[0])
            self.first_y = np.asarray(first[1])
            self._dataset = _tf_padded(data, self.batch_size)
            self.kind = "tf.data.Dataset"
        elif isinstance(data, keras.utils.PyDataset):
            x, y, _ = _split_batch(data[0])
            self.batch_size = batch_size or _leading_size(x)
            self.first_x, self.first_y = x, np.asarray(y)
            self._dataset = _PaddedPyDataset(data, self.batch_size)
            self.kind = "PyDataset"
        elif isinstance(data, (tuple, list)):
            if len(data) < 2:
                raise _no_labels_error(
                    f"a {type(data).__name__} of {len(data)} element"
                )
            if len(data) > 3:
                raise ValueError(
                    "`validation_data` must be (x, y) or (x, y, "
                    f"sample_weight). Received {len(data)} elements"
                )
            x, y = data[0], np.asarray(data[1])
            n = _leading_size(x)
            if y.shape[:1] != (n,):
                raise ValueError(
                    "`validation_data` x and y must have the same number of "
                    f"examples. Received: {n} inputs and labels of shape "
                    f"{y.shape}"
                )
            weight = (
                np.ones((n,), "float32")
                if len(data) == 2
                else np.asarray(data[2], "float32").reshape(n)
            )
            self.batch_size = batch_size or _DEFAULT_BATCH_SIZE
            size = -(-n // self.batch_size) * self.batch_size
            self._arrays = (
                _pad_rows(x, size),
                _pad_rows(y, size),
                _pad_rows(weight, size),
            )
            self.first_x = keras.tree.map_structure(
                lambda a: np.asarray(a)[: self.batch_size], x
            )
            self.first_y = y
            self._dataset = None
            self.kind = "arrays"
        else:
            raise TypeError(
                "`validation_data` must be a tuple (x, y[, sample_weight]) "
                "of arrays, a tf.data.Dataset or a keras.utils.PyDataset. "
                f"Received: validation_data of type {type(data).__name__}"
            )

    def evaluate(self, model, num_outputs):
        """`model.evaluate` with the labels repeated for each output."""
        kwargs = {"verbose": 0, "return_dict": True}
        if self._dataset is None:
            x, y, weight = self._arrays
            return model.evaluate(
                x,
                (y,) * num_outputs,
                sample_weight=(weight,) * num_outputs,
                batch_size=self.batch_size,
                **kwargs,
            )
        if self._repeated is None or self._repeated[0] != num_outputs:
            self._repeated = (num_outputs, self._repeat_labels(num_outputs))
        return model.evaluate(self._repeated[1], **kwargs)

    def _repeat_labels(self, num_outputs):
        if self.kind == "PyDataset":
            self._dataset.num_outputs = num_outputs
            return self._dataset
        return self._dataset.map(
            lambda x, y, w: (x, (y,) * num_outputs, (w,) * num_outputs)
        )


def _check_labels(labels, num_classes, name):
    labels = np.asarray(labels)
    if labels.ndim >= 2 and labels.shape[-1] not in (1, num_classes):
        raise ValueError(
            f"`validation_data` labels have {labels.shape[-1]} classes but "
            f"{name} outputs {num_classes}. Received labels of shape "
            f"{labels.shape}"
        )
    if labels.ndim < 2 or labels.shape[-1] == 1:
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f"`validation_data` class ids range from {labels.min()} to "
                f"{labels.max()}, but {name} outputs {num_classes} classes "
                f"(ids 0 to {num_classes - 1})"
            )


def _output_classes(model, x, name, from_logits=False):
    if from_logits:
        _tracking.check_model_outputs(model, "ConfidenceMonitor", of=name)
    output = model(x, training=False)
    if isinstance(output, (list, tuple, dict)):
        raise ValueError(
            f"{name} must have a single output. Received "
            f"{type(output).__name__} of outputs"
        )
    k = output.shape[-1]
    if k is None or k < 2:
        raise ValueError(
            f"{name} must output at least 2 classes (logits "
            f"or probabilities). Received output shape "
            f"{tuple(output.shape)}"
        )
    return int(k), output


@keras_ls_export(
    "keras_ls.callbacks.ConfidenceMonitor",
    "keras_ls.ConfidenceMonitor",
)
class ConfidenceMonitor(keras.callbacks.Callback):
    """Logs calibration statistics of the model, and of others, per epoch.

    At the end of every `every`-th epoch it makes one compiled, streaming
    pass over `validation_data` and writes Python floats into `logs` under
    `prefix + name` for each name in `STATISTICS`: `ece`, `mce`, `nll`
    (unsmoothed), `brier`, `entropy`, `confidence`, `confidence_gap`
    (confidence - accuracy: > 0 overconfident), `top1_accuracy`,
    `confidence_correct` and `confidence_incorrect` (0.0 when there are no
    such predictions), e.g. `val_ece`. History, CSVLogger, TensorBoard and
    `EarlyStopping(monitor="val_ece", mode="min")` see them.

    Accuracy is logged as `top1_accuracy`, never `accuracy`, so that it
    cannot overwrite the `val_accuracy` that Keras writes for a compiled
    `"accuracy"` metric; if one of the keys is already in `logs`, a warning
    says so and the monitor's value wins.

    With `compare={"baseline": other_model}` the other models run in the
    same pass on the same batches. Their statistics are logged as
    `baseline_val_ece`, ..., and the differences monitored - other as
    `delta_val_ece`, ... (with several models, `delta_baseline_val_ece`).
    So `delta_val_confidence < 0` means the trained model is less confident
    than the baseline.

    Place it before `TensorBoard` (and `CSVLogger`) in the callbacks list:
    callbacks share one `logs` dict in list order, and later callbacks only
    see keys that earlier ones wrote.

    Predictions must be logits (`from_logits`) or probabilities of a single
    softmax output. With `from_logits=True`, a model (or `compare=` model)
    whose output layer applies softmax or sigmoid is refused with a
    ValueError at train begin, and a first batch of outputs that looks like
    probabilities gives a UserWarning.

    The pass calls the models with `training=False`. Its batches have one
    fixed size: the last, partial batch is padded with zero-weight examples,
    so nothing retraces from epoch to epoch. Epochs that are not logged have
    no such keys; CSVLogger fixes its columns at the first epoch, so keep
    `every=1` when using it. Keras' TensorBoard callback needs TensorFlow
    installed, on every backend; CSVLogger and History do not.

    Args:
        validation_data: `(x, y)` or `(x, y, sample_weight)` numpy arrays, a
            batched `tf.data.Dataset` or a `keras.utils.PyDataset`, with
            class ids or one-hot labels.
        compare: Optional dict mapping a name to another model to evaluate
            alongside. Defaults to `None`.
        num_bins: Equal-width bins for ECE and MCE. Defaults to `15`.
        every: Log at the end of epochs every, 2·every, ... Defaults to `1`.
        prefix: Prefix of the logged keys. Defaults to `"val_"`.
        log_dir: Optional folder for a reliability-diagram PNG per logged
            epoch (`reliability_epoch_001.png`, ...; needs matplotlib).
            Defaults to `None`.
        verbose: `1` prints a side-by-side table of the last logged
            statistics at train end (rich). Defaults to `0`.
        from_logits: Whether the models output logits. Defaults to `True`.
        batch_size: Batch size of the pass. `None` uses 32 for arrays and
            the first batch's size for a dataset (later batches must not be
            larger). Defaults to `None`.
        jit_compile: Whether the pass is XLA-compiled; `"auto"` compiles on
            TensorFlow and JAX and not on PyTorch. Defaults to `"auto"`.

    Examples:

    ```python
    monitor = keras_ls.callbacks.ConfidenceMonitor(
        (x_val, y_val), compare={"baseline": baseline_model}, verbose=1)
    history = model.fit(x, y, epochs=10, callbacks=[
        monitor,
        keras.callbacks.EarlyStopping(monitor="val_ece", mode="min"),
        keras.callbacks.CSVLogger("history.csv"),  # after the monitor
    ])
    history.history["val_ece"], history.history["delta_val_confidence"]
    ```

    References:
        Guo, Pleiss, Sun, Weinberger. On Calibration of Modern Neural
        Networks. ICML 2017.
        Müller, Kornblith, Hinton. When Does Label Smoothing Help?
        NeurIPS 2019.
    """

    def __init__(
        self,
        validation_data,
        *,
        compare=None,
        num_bins=15,
        every=1,
        prefix="val_",
        log_dir=None,
        verbose=0,
        from_logits=True,
        batch_size=None,
        jit_compile="auto",
    ):
        super().__init__()
        self.num_bins = _validation.check_int(num_bins, "num_bins", 1)
        self.every = _validation.check_int(every, "every", 1)
        self.verbose = _validation.check_int(verbose, "verbose", 0)
        if batch_size is not None:
            batch_size = _validation.check_int(batch_size, "batch_size", 1)
        if not isinstance(prefix, str):
            raise ValueError(
                f"`prefix` must be a string. Received: prefix={prefix!r}"
            )
        if not isinstance(from_logits, bool):
            raise ValueError(
                f"`from_logits` must be a bool. Received: "
                f"from_logits={from_logits!r}"
            )
        if jit_compile not in ("auto", True, False):
            raise ValueError(
                "`jit_compile` must be True, False or 'auto'. "
                f"Received: jit_compile={jit_compile!r}"
            )
        if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
            raise ValueError(
                f"`log_dir` must be a path or None. Received: "
                f"log_dir={log_dir!r}"
            )
        compare = {} if compare is None else compare
        if not isinstance(compare, dict):
            raise ValueError(
                "`compare` must be a dict {name: model}. "
                f"Received: compare of type "
                f"{type(compare).__name__}"
            )
        for name, other in compare.items():
            if not isinstance(name, str) or not name:
                raise ValueError(
                    "`compare` names must be non-empty strings. "
                    f"Received: {name!r}"
                )
            if not isinstance(other, keras.Model):
                raise ValueError(
                    f"`compare[{name!r}]` must be a keras.Model."
                    f" Received: {type(other).__name__}"
                )
        self.compare = dict(compare)
        self.prefix = prefix
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.from_logits = from_logits
        self.batch_size = batch_size
        self.jit_compile = jit_compile
        self.validation_data = validation_data
        self._data = _ValidationData(validation_data, batch_size)
        self._stack = None
        self._stack_owner = None
        self.last_statistics = None
        self._warned_collision = False
        self._warned_probabilities = False

    # Keys ---------------------------------------------------------------

    def keys(self):
        """Every key the monitor writes into `logs`, in a fixed order."""
        names = list(self.compare)
        keys = [self.prefix + s for s in STATISTICS]
        for name in names:
            keys += [f"{name}_{self.prefix}{s}" for s in STATISTICS]
        for name in names:
            keys += [self._delta_key(name, s) for s in STATISTICS]
        return keys

    def _delta_key(self, name, stat):
        if len(self.compare) == 1:
            return f"delta_{self.prefix}{stat}"
        return f"delta_{name}_{self.prefix}{stat}"

    # The compiled pass ----------------------------------------------------

    def _build(self, model):
        members = [("model", model)] + list(self.compare.items())
        labels = self._data.first_y
        for name, member in members:
            title = "the model" if name == "model" else f"compare[{name!r}]"
            k, output = _output_classes(
                member, self._data.first_x, title, self.from_logits
            )
            _check_labels(labels, k, title)
            if self.from_logits and not self._warned_probabilities:
                self._warned_probabilities = _tracking.warn_if_probabilities(
                    f"ConfidenceMonitor (checking {title})",
                    output,
                    stacklevel=4,
                )
        self._metrics = [
            _PassStatistics(self.num_bins, self.from_logits, f"m{i}")
            for i in range(len(members))
        ]
        jit = self.jit_compile
        if jit == "auto":
            jit = keras.backend.backend() in ("tensorflow", "jax")
            if jit and keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                # An XLA step under tf.distribute reads resources across
                # devices and fails (TF 2.21); Keras' own "auto" is off.
                jit = not tf.distribute.has_strategy()
        stack = _Stack([member for _, member in members])
        stack.compile(
            weighted_metrics=[[metric] for metric in self._metrics],
            jit_compile=jit,
        )
        self._stack, self._stack_owner = stack, model

    def evaluate(self, model=None):
        """Runs one pass now and returns {key: float} (all `keys()`)."""
        model = self.model if model is None else model
        if self._stack is None or self._stack_owner is not model:
            self._build(model)
        self._data.evaluate(self._stack, len(self._metrics))
        derived = [metric.statistics() for metric in self._metrics]
        per_model = [stats for stats, _ in derived]
        self._last_bins = [bins for _, bins in derived]
        values = {self.prefix + s: v for s, v in per_model[0].items()}
        for name, stats in zip(self.compare, per_model[1:]):
            for s, v in stats.items():
                values[f"{name}_{self.prefix}{s}"] = v
                values[self._delta_key(name, s)] = per_model[0][s] - v
        self.last_statistics = per_model
        return values

    # Callback hooks -------------------------------------------------------

    def on_train_begin(self, logs=None):
        # Check the data against every model before the first step, so a
        # rejected fit leaves the weights untouched.
        model = self.model
        if self._stack is None or self._stack_owner is not model:
            self._build(model)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if (epoch + 1) % self.every:
            return
        values = self.evaluate(self.model)
        clashes = sorted(k for k in values if k in logs)
        if clashes and not self._warned_collision:
            self._warned_collision = True
            warnings.warn(
                f"ConfidenceMonitor overwrites existing log keys {clashes}; "
                "pass another `prefix` to keep both.",
                stacklevel=2,
            )
        logs.update(values)
        self._last_epoch = epoch
        if self.log_dir is not None:
            self._save_diagram(epoch)

    def on_train_end(self, logs=None):
        if self.verbose and self.last_statistics is not None:
            self._print_table()

    # Reporting ------------------------------------------------------------

    def _save_diagram(self, epoch):
        from matplotlib.figure import Figure

        from keras_ls.calibration.plots import draw_reliability

        os.makedirs(self.log_dir, exist_ok=True)
        figure = Figure(figsize=(4.5, 4.5))
        ax = figure.subplots()
        edges = np.linspace(0.0, 1.0, self.num_bins + 1)
        names = ["model"] + list(self.compare)
        for name, stats, bins in zip(
            names, self.last_statistics, self._last_bins
        ):
            draw_reliability(ax, edges, *bins, ece=stats["ece"], label=name)
        ax.set_title(f"Reliability diagram, epoch {epoch + 1}")
        figure.tight_layout()
        figure.savefig(
            os.path.join(
                self.log_dir, f"reliability_epoch_{epoch + 1:03d}.png"
            ),
            dpi=100,
        )

    def _print_table(self):
        from rich.console import Console
        from rich.table import Table

        names = ["model"] + list(self.compare)
        epoch = getattr(self, "_last_epoch", None)
        title = "Confidence statistics" + (
            "" if epoch is None else f" (epoch {epoch + 1})"
        )
        table = Table(title=title)
        table.add_column("statistic")
        for name in names:
            table.add_column(name, justify="right")
        for name in names[1:]:
            table.add_column(f"model - {name}", justify="right")
        mine = self.last_statistics[0]
        for stat in STATISTICS:
            row = [self.prefix + stat]
            row += [_fmt(stats[stat]) for stats in self.last_statistics]
            row += [
                _fmt(mine[stat] - stats[stat], signed=True)
                for stats in self.last_statistics[1:]
            ]
            table.add_row(*row)
        Console().print(table)

    def get_config(self):
        # `validation_data` and `compare` are objects: the config round-trips
        # in memory (from_config(get_config())) but is not JSON.
        return {
            "validation_data": self.validation_data,
            "compare": self.compare,
            "num_bins": self.num_bins,
            "every": self.every,
            "prefix": self.prefix,
            "log_dir": self.log_dir,
            "verbose": self.verbose,
            "from_logits": self.from_logits,
            "batch_size": self.batch_size,
            "jit_compile": self.jit_compile,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _fmt(value, signed=False):
    if not math.isfinite(value):
        return str(value)
    return f"{value:+.4f}" if signed else f"{value:.4f}"


__all__ = public_names(__name__)
