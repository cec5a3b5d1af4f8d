"""ConfidenceMonitor: calibration statistics of one or more models per epoch.

One compiled, streaming `evaluate` pass over the validation data computes
the `keras_ls.metrics` statistics for the trained model and for every model
in `compare=` at once. The pass runs on a cached wrapper model that holds the
models as sublayers, so it shares their variables and always sees the
current weights; its batches all have one shape (the last one is padded with
zero-weight examples), so it is traced once per training run, not per epoch.
"""

import os
import warnings

import keras
from keras import ops

from keras_ls import _keras_compat
from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls.callbacks import _monitor_data
from keras_ls.callbacks import _tensorboard
from keras_ls.callbacks._monitor_stats import PassStatistics
from keras_ls.callbacks._table import print_statistics_table

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
    installed, on every backend; CSVLogger, History and `tensorboard_dir=`
    do not.

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
        tensorboard_dir: Optional folder of a TensorBoard run. At every
            logged epoch (step = epoch index, from 0, as Keras' TensorBoard
            callback counts) it gets every key the monitor logs as a
            scalar, `label_smoothing` (and `<output>_label_smoothing`)
            when a `LabelSmoothingScheduler` placed before the monitor
            wrote it, and (with matplotlib) the reliability diagram and
            confidence histogram of all models as images
            (`<prefix>reliability_diagram`, `<prefix>confidence_histogram`).
            Needs the `tensorboard` package, not TensorFlow, on every
            backend (the `tensorboard` extra). Defaults to `None`.
        verbose: `1` prints a side-by-side table of the last logged
            statistics at train end (rich). Defaults to `0`.
        from_logits: Whether the models output logits. Defaults to `True`.
        batch_size: Batch size of the pass. `None` uses 32 for arrays and
            the first batch's size for a dataset (later batches must not be
            larger). Defaults to `None`.
        jit_compile: Whether the pass is XLA-compiled; `"auto"` compiles on
            TensorFlow and JAX and not on PyTorch. Defaults to `"auto"`.

    Raises:
        ValueError: at construction, for an argument outside what is
            listed above or `validation_data` without labels; at train
            begin, for labels that do not match a model's classes, a
            model without a single output of at least 2 classes, or (with
            `from_logits=True`) a softmax or sigmoid output layer.
        TypeError: for `validation_data` of another type.

    Examples:

    Usage with `fit()`:

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
        - Guo, Pleiss, Sun, Weinberger, 2017. [On Calibration of Modern
          Neural Networks](https://arxiv.org/abs/1706.04599). ICML 2017.
        - Müller, Kornblith, Hinton, 2019. [When Does Label Smoothing
          Help?](https://arxiv.org/abs/1906.02629). NeurIPS 2019.
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
        tensorboard_dir=None,
    ):
        super().__init__()
        self.num_bins = _validation.check_int(num_bins, "num_bins", 1)
        self.every = _validation.check_int(every, "every", 1)
        self.verbose = _validation.check_int(verbose, "verbose", 0)
        if batch_size is not None:
            batch_size = _validation.check_int(batch_size, "batch_size", 1)
        _check_prefix_and_log_dir(prefix, log_dir)
        _check_prefix_and_log_dir(prefix, tensorboard_dir, "tensorboard_dir")
        if tensorboard_dir is not None:
            _tensorboard.check_available()
        self.from_logits = _validation.check_bool(from_logits, "from_logits")
        self.jit_compile = _validation.check_choice(
            jit_compile, "jit_compile", ("auto", True, False)
        )
        self.compare = _check_compare(compare)
        self.prefix = prefix
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.tensorboard_dir = (
            None if tensorboard_dir is None else os.fspath(tensorboard_dir)
        )
        self._tensorboard = None
        self.batch_size = batch_size
        self.validation_data = validation_data
        self._data = _monitor_data.ValidationData(validation_data, batch_size)
        self._stack = None
        self._stack_owner = None
        self.last_statistics = None
        self._warned_collision = False
        self._warned_probabilities = False

    def keys(self):
        """Every key the monitor writes into `logs`, in a fixed order."""
        keys = [self.prefix + s for s in STATISTICS]
        for name in self.compare:
            keys += [f"{name}_{self.prefix}{s}" for s in STATISTICS]
        for name in self.compare:
            keys += [self._delta_key(name, s) for s in STATISTICS]
        return keys

    def _delta_key(self, name, stat):
        if len(self.compare) == 1:
            return f"delta_{self.prefix}{stat}"
        return f"delta_{name}_{self.prefix}{stat}"

    def _build(self, model):
        members = [("model", model)] + list(self.compare.items())
        self._warned_probabilities = self._data.check_models(
            members, self.from_logits, self._warned_probabilities
        )
        self._metrics = [
            PassStatistics(self.num_bins, self.from_logits, f"m{i}")
            for i in range(len(members))
        ]
        stack = _Stack([member for _, member in members])
        # One list of metrics per output; a single output takes the flat
        # list, which Keras 3.10 requires (it refuses [[metric]] there).
        per_output = [[metric] for metric in self._metrics]
        stack.compile(
            weighted_metrics=per_output[0] if len(members) == 1 else per_output,
            jit_compile=_resolve_jit(self.jit_compile),
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
        # In a multi-process job only the chief writes files: the PNGs and
        # the TensorBoard events (workers would overwrite each other's).
        chief = _keras_compat.is_chief_process()
        if self.log_dir is not None and chief:
            self._save_diagram(epoch)
        if self.tensorboard_dir is not None and chief:
            self._tensorboard = _tensorboard.write_epoch(
                self._tensorboard, self, epoch, logs
            )

    def on_train_end(self, logs=None):
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        if self.verbose and self.last_statistics is not None:
            epoch = getattr(self, "_last_epoch", None)
            print_statistics_table(
                "Confidence statistics"
                + ("" if epoch is None else f" (epoch {epoch + 1})"),
                ["model"] + list(self.compare),
                self.last_statistics,
                STATISTICS,
                self.prefix,
            )

    def _save_diagram(self, epoch):
        from keras_ls.plots import binned_reliability_figure

        names = ["model"] + list(self.compare)
        eces = [stats["ece"] for stats in self.last_statistics]
        figure = binned_reliability_figure(
            self.num_bins,
            list(zip(names, eces, self._last_bins)),
            title=f"Reliability diagram, epoch {epoch + 1}",
        )
        os.makedirs(self.log_dir, exist_ok=True)
        figure.savefig(
            os.path.join(
                self.log_dir, f"reliability_epoch_{epoch + 1:03d}.png"
            ),
            dpi=100,
        )

    def get_config(self):
        # `validation_data` and `compare` are objects: the config round-trips
        # in memory (from_config(get_config())) but is not JSON.
        return {name: getattr(self, name) for name in _ARGUMENTS}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


_ARGUMENTS = (
    "validation_data",
    "compare",
    "num_bins",
    "every",
    "prefix",
    "log_dir",
    "verbose",
    "from_logits",
    "batch_size",
    "jit_compile",
    "tensorboard_dir",
)


def _check_prefix_and_log_dir(prefix, log_dir, name="log_dir"):
    if not isinstance(prefix, str):
        raise ValueError(
            f"`prefix` must be a string. Received: prefix={prefix!r}"
        )
    if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
        raise ValueError(
            f"`{name}` must be a path or None. Received: {name}={log_dir!r}"
        )


def _check_compare(compare):
    compare = {} if compare is None else compare
    if not isinstance(compare, dict):
        raise ValueError(
            "`compare` must be a dict {name: model}. "
            f"Received: compare of type {type(compare).__name__}"
        )
    for name, other in compare.items():
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"`compare` names must be non-empty strings. Received: {name!r}"
            )
        if not isinstance(other, keras.Model):
            raise ValueError(
                f"`compare[{name!r}]` must be a keras.Model."
                f" Received: {type(other).__name__}"
            )
    return dict(compare)


def _resolve_jit(jit_compile):
    """`"auto"`: XLA on TensorFlow and JAX, not on PyTorch."""
    if jit_compile != "auto":
        return jit_compile
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # An XLA step under tf.distribute reads resources across devices
        # and fails (TF 2.21); Keras' own "auto" is off there too.
        return not tf.distribute.has_strategy()
    return backend == "jax"


__all__ = public_names(__name__)
