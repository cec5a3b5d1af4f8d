"""The paired experiment: the same network trained with and without smoothing.

For each seed, `compare` builds one initial model and copies its weights
into a baseline (ε = 0) and into every smoothed variant (a fixed ε and/or a
schedule). All models of a seed see the same (optionally noisy) labels in
the same order, so the only difference between them is label smoothing.
During training they are watched on a validation split held out from the
training data; the test set is used once, after training, to evaluate
each model in numpy. The per-seed differences to the baseline are
summarized by their mean and a 95% Student-t confidence interval.
"""

import dataclasses
import inspect
import math
import os
import time
import typing
import warnings

import keras
import numpy as np

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls._tracking import state as _state
from keras_ls.data import as_dataset
from keras_ls.data import load_fashion_mnist
from keras_ls.losses import LabelSmoothingCrossentropy

MODELS = ("mlp", "cnn")
METRICS = (
    "accuracy",
    "nll",
    "ece",
    "confidence",
    "confidence_correct",
    "confidence_incorrect",
)
BASELINE = "baseline"
#: The three classes of ``penultimate.png`` (Fashion-MNIST: T-shirt/top,
#: trouser, pullover), as in Müller et al. (2019), Fig. 1.
PROJECTION_CLASSES = (0, 1, 2)
# Two-sided 95% Student-t quantiles t_{0.975, df} for df = 1..30.
_T975 = (
    12.706205,
    4.302653,
    3.182446,
    2.776445,
    2.570582,
    2.446912,
    2.364624,
    2.306004,
    2.262157,
    2.228139,
    2.200985,
    2.178813,
    2.160369,
    2.144787,
    2.13145,
    2.119905,
    2.109816,
    2.100922,
    2.093024,
    2.085963,
    2.079614,
    2.073873,
    2.068658,
    2.063899,
    2.059539,
    2.055529,
    2.051831,
    2.048407,
    2.04523,
    2.042272,
)


@keras_ls_export("keras_ls.experiment.t_quantile_975")
def t_quantile_975(df):
    """The 0.975 quantile of Student's t with `df` degrees of freedom.

    Exact to 6 decimals for df <= 30 (a table); beyond, the Cornish-Fisher
    expansion around the normal quantile, accurate to about 1e-5.

    Raises:
        ValueError: when `df` is not an integer >= 1.

    Examples:

    >>> round(keras_ls.experiment.t_quantile_975(4), 3)
    2.776
    >>> round(keras_ls.experiment.t_quantile_975(1000), 3)
    1.962
    """
    df = _validation.check_int(df, "df", minimum=1)
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


@keras_ls_export("keras_ls.experiment.paired_difference")
def paired_difference(baseline, treated):
    """Mean and 95% confidence interval of the paired differences.

    The differences ``treated[i] - baseline[i]`` of runs that share seed i
    are summarized with the Student-t interval
    ``mean ± t_{0.975, n-1} · sd / sqrt(n)``; with one seed the interval is
    undefined (NaN).

    Args:
        baseline: Per-seed values of the baseline.
        treated: Per-seed values of the other model, in the same seed order.

    Returns:
        A dict with ``mean``, ``half_width``, ``low``, ``high``, ``n`` and
        the per-seed ``values``, all Python floats (``n`` an int).

    Raises:
        ValueError: when `baseline` and `treated` are not 1-D sequences of
            the same, non-zero length.

    Examples:

    >>> d = keras_ls.experiment.paired_difference(
    ...     [0.80, 0.82, 0.81], [0.81, 0.84, 0.82]
    ... )
    >>> round(d["mean"], 4), round(d["half_width"], 4)
    (0.0133, 0.0143)
    """
    a = np.asarray(baseline, np.float64)
    b = np.asarray(treated, np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(
            "`baseline` and `treated` must be 1-D sequences of the same, "
            f"non-zero length. Received: lengths {a.shape} and {b.shape}"
        )
    d = b - a
    n = d.size
    mean = float(d.mean())
    if n > 1:
        half = t_quantile_975(n - 1) * float(d.std(ddof=1)) / math.sqrt(n)
    else:
        half = math.nan
    return {
        "mean": mean,
        "half_width": half,
        "low": mean - half,
        "high": mean + half,
        "n": int(n),
        "values": [float(v) for v in d],
    }


@keras_ls_export("keras_ls.experiment.flip_labels")
def flip_labels(y, fraction, *, num_classes=10, seed=0):
    """Symmetric label noise: moves a fraction of labels to another class.

    Exactly ``round(fraction · len(y))`` labels, chosen at random, are each
    replaced by one of the other ``num_classes - 1`` classes, uniformly.

    Args:
        y: Integer labels, a 1-D numpy array.
        fraction: The fraction of labels to flip, in [0, 1).
        num_classes: The number of classes. Defaults to `10`.
        seed: Seed of the choice. Defaults to `0`.

    Returns:
        A new int32 array; `y` is not modified.

    Raises:
        ValueError: when `fraction` is not in [0, 1) or `num_classes` is not
            an integer >= 2.

    Examples:

    >>> y = np.zeros(10, "int32")
    >>> noisy = keras_ls.experiment.flip_labels(y, 0.3, seed=1)
    >>> int((noisy != y).sum())
    3
    """
    fraction = _validation.check_label_smoothing(fraction, "label_noise")
    num_classes = _validation.check_int(num_classes, "num_classes", minimum=2)
    y = np.asarray(y).astype(np.int32)
    rng = np.random.default_rng([int(seed), 2020])
    count = int(round(fraction * y.size))
    rows = rng.choice(y.size, size=count, replace=False)
    noisy = y.copy()
    noisy[rows] = (y[rows] + rng.integers(1, num_classes, size=count)) % (
        num_classes
    )
    return noisy


@keras_ls_export("keras_ls.experiment.build_model")
def build_model(name="mlp", *, input_shape=(28, 28, 1), num_classes=10):
    """One of the built-in networks, returning logits.

    Args:
        name: `"mlp"` (Flatten, Dense 256 and 128 with ReLU: the motivating
            experiment's network) or `"cnn"` (two 3x3 conv + max-pool
            blocks with 32 and 64 filters, then Dense 128). Defaults to
            `"mlp"`.
        input_shape: Shape of one example. Defaults to `(28, 28, 1)`.
        num_classes: Number of outputs. Defaults to `10`.

    Returns:
        An uncompiled `keras.Model`.

    Raises:
        ValueError: when `name` is not `"mlp"` or `"cnn"`.

    Examples:

    >>> model = keras_ls.experiment.build_model("mlp")
    >>> model.count_params()
    235146
    """
    _validation.check_choice(name, "model", MODELS)
    layers = keras.layers
    inputs = keras.Input(tuple(input_shape))
    x = inputs
    if name == "cnn":
        for filters in (32, 64):
            x = layers.Conv2D(filters, 3, activation="relu")(x)
            x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    if name == "mlp":
        x = layers.Dense(256, activation="relu")(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name=name)


def _softmax(logits):
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


@keras_ls_export("keras_ls.experiment.ComparisonResult")
@dataclasses.dataclass
class ComparisonResult:
    """What `compare` measured.

    Attributes:
        config: The arguments of the run and what they resolved to (data
            source, split sizes, the Python call), JSON-serializable.
        seeds: The seeds, in order.
        variants: Model names, ``"baseline"`` first, with a description.
        metrics: ``metrics[variant][metric]`` is the list of per-seed
            test-set values (see `METRICS`).
        differences: ``differences[variant][metric]`` is the
            `paired_difference` of that variant against the baseline.
        histories: ``histories[variant]`` is the list of per-seed
            ``history.history`` dicts (floats per epoch): the training
            loss and accuracy, and the ``val_*`` statistics of the
            `ConfidenceMonitor` on the validation split (never the test
            set).
        examples: ``examples[variant]`` is the `largest_confidence_drop`
            test example of the first seed.
        test_labels: Test labels (numpy), for plots.
        test_probs: ``test_probs[variant]``: first seed's test
            probabilities (numpy), for plots.
        seconds: Wall-clock seconds of the whole comparison.
        environment: Versions of Python, numpy, Keras, the backend library
            and keras_ls (see `environment`).
        temperatures: ``temperatures[variant]`` is the list of per-seed
            temperatures of a temperature-scaled variant, fitted on the
            validation split.
        tightness: ``tightness[variant]`` is the list of per-seed
            `keras_ls.calibration.cluster_tightness` values of the trained
            model on the test set (full penultimate space, every class;
            lower is tighter), or `None` where the model has no last Dense
            layer to read (a user's model).
        projections: ``projections[variant]``: the first seed's
            `keras_ls.calibration.TemplateProjection` of the test examples
            of `PROJECTION_CLASSES`, for ``penultimate.png``.
    """

    config: dict
    seeds: list
    variants: dict
    metrics: dict
    differences: dict
    histories: dict
    examples: dict
    test_labels: np.ndarray = dataclasses.field(repr=False)
    test_probs: dict = dataclasses.field(repr=False)
    seconds: float = 0.0
    environment: dict = dataclasses.field(default_factory=dict)
    temperatures: dict = dataclasses.field(default_factory=dict)
    tightness: dict = dataclasses.field(default_factory=dict)
    projections: dict = dataclasses.field(default_factory=dict, repr=False)

    def tightness_differences(self):
        """``{variant: paired_difference}`` of the tightness against the
        baseline, for the variants where it was measured."""
        base = self.tightness.get(BASELINE)
        if base is None:
            return {}
        return {
            name: paired_difference(base, values)
            for name, values in self.tightness.items()
            if name != BASELINE and values is not None
        }

    def to_dict(self):
        """Everything but the arrays, as JSON-serializable Python values."""
        return {
            "config": self.config,
            "environment": self.environment,
            "seeds": list(self.seeds),
            "variants": dict(self.variants),
            "metrics": self.metrics,
            "differences": self.differences,
            "histories": self.histories,
            "examples": self.examples,
            "temperatures": self.temperatures,
            "tightness": self.tightness,
            "tightness_differences": self.tightness_differences(),
            "seconds": self.seconds,
        }


@keras_ls_export("keras_ls.experiment.environment")
def environment():
    """The versions that decide a run's exact digits.

    Returns:
        A dict of strings: ``python``, ``platform``, ``numpy``,
        ``keras``, ``backend`` (Keras' backend name), ``backend_version``
        (the version of that library: jax, tensorflow or torch) and
        ``keras_ls``.

    Examples:

    >>> env = keras_ls.experiment.environment()
    >>> sorted(env)  # doctest: +NORMALIZE_WHITESPACE
    ['backend', 'backend_version', 'keras', 'keras_ls', 'numpy',
     'platform', 'python']
    """
    import importlib
    import platform

    import keras_ls

    backend = keras.backend.backend()
    try:
        library = importlib.import_module(backend)
        backend_version = str(getattr(library, "__version__", "unknown"))
    except ImportError:
        backend_version = "not importable"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "keras": keras.__version__,
        "backend": backend,
        "backend_version": backend_version,
        "keras_ls": str(keras_ls.__version__),
    }


@keras_ls_export("keras_ls.experiment.Variant")
class Variant(typing.NamedTuple):
    """One model of a seed: its loss, schedule and post-hoc scaling.

    Attributes:
        description: What the variant is, in words (report and plots).
        label_smoothing: ε of a `LabelSmoothingCrossentropy` variant (the
            first epoch's under a schedule); `None` for another loss.
        schedule: A schedule applied with `LabelSmoothingScheduler`, or
            `None`.
        loss: A function of no argument returning a fresh loss for one
            training run; `None` for
            ``LabelSmoothingCrossentropy(label_smoothing)``.
        temperature_scaling: Whether the test logits are divided by a
            temperature fitted on the validation split (`fit_temperature`)
            after training.
        trains: Variants of a seed with the same `trains` key share one
            trained model (``"ts"`` is the baseline's model, rescaled).
            `None`: the variant trains its own.
    """

    description: str
    label_smoothing: typing.Optional[float]
    schedule: object = None
    loss: typing.Optional[typing.Callable] = None
    temperature_scaling: bool = False
    trains: typing.Optional[str] = None

    def make_loss(self):
        """A fresh loss for one training run."""
        if self.loss is not None:
            return self.loss()
        return LabelSmoothingCrossentropy(self.label_smoothing)


def _prepare_images(x):
    x = np.asarray(x)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    x = x.astype(np.float32) / np.float32(scale)
    return x[..., None] if x.ndim == 3 else x


def _warn_if_never_switches(schedule, epochs):
    from keras_ls import schedules

    if isinstance(schedule, schedules.TwoStage) and schedule.switch >= epochs:
        warnings.warn(
            f"The two-stage schedule switches to ε = 0 at epoch "
            f"{schedule.switch}, but training has only {epochs} epochs "
            f"(0 to {epochs - 1}): every epoch is smoothed with ε = "
            f"{schedule.value:g}, as with a constant schedule. Give a "
            f"switch epoch below {epochs}.",
            UserWarning,
            stacklevel=_caller_level(),
        )


def _caller_level():
    """The `stacklevel` that points a warning at the first frame outside
    keras_ls (the user's `compare` call), however deep the helper."""
    level, frame = 1, inspect.currentframe().f_back
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        "keras_ls."
    ):
        level += 1
        frame = frame.f_back
    return level


def _schedule_variant(schedule, epochs, loss=None, name="schedule"):
    described = schedule
    if isinstance(schedule, str):
        schedule = parse_schedule(schedule, epochs=epochs)
    elif not callable(schedule):
        raise ValueError(
            f"`{name}` must be a spec string such as 'two-stage:0.1:6' "
            f"or a schedule callable. Received: {name}={schedule!r}"
        )
    first = _validation.check_label_smoothing(float(schedule(0)), f"{name}(0)")
    _warn_if_never_switches(schedule, epochs)
    if loss is None:
        return Variant(f"schedule {described}", first, schedule)
    return Variant(
        f"{_loss_name(loss)}, schedule {described}",
        first,
        schedule,
        loss=_loss_factory(loss),
    )


def _legacy_variants(label_smoothing, schedule, epochs):
    """The variants of `label_smoothing` and `schedule` (no `variants`)."""
    variants = {BASELINE: Variant("ε = 0", 0.0, trains=BASELINE)}
    if label_smoothing is not None:
        eps = _validation.check_label_smoothing(label_smoothing)
        variants["smoothed"] = Variant(f"ε = {eps:g}", eps)
    if schedule is not None:
        variants["scheduled"] = _schedule_variant(schedule, epochs)
    if len(variants) == 1:
        raise ValueError(
            "Nothing to compare: give `label_smoothing` and/or `schedule`. "
            "Received: label_smoothing=None, schedule=None"
        )
    return variants


# Spec kind -> the keras_ls loss class it trains.
_SPEC_LOSSES = {
    "ols": "OnlineLabelSmoothing",
    "mbls": "MarginLabelSmoothing",
    "maxsup": "MaxSuppression",
    "cp": "ConfidencePenalty",
}


def _loss_name(loss):
    return getattr(loss, "name", None) or type(loss).__name__


def _loss_factory(loss):
    """A function returning a fresh copy of `loss` for each training run
    (a loss may carry state, e.g. `OnlineLabelSmoothing`'s matrix)."""
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
        return lambda: type(loss).from_config(dict(config))
    return lambda: loss


def _spec_variant(text, epochs):
    """A `Variant` from a spec string of `variants.parse_variant`."""
    from keras_ls.experiment import variants as specs

    spec = specs.parse_variant(text)
    scaled = ", temperature-scaled" if spec.temperature_scaling else ""
    if spec.kind == "baseline":
        return Variant(
            f"ε = 0{scaled}",
            0.0,
            temperature_scaling=spec.temperature_scaling,
            trains=BASELINE,
        )
    if spec.kind == "ls":
        if spec.schedule is not None:
            try:
                variant = _schedule_variant(spec.schedule, epochs)
            except ValueError as e:
                raise ValueError(f"Invalid `variant` {text!r}: {e}") from None
        else:
            eps = spec.arguments["label_smoothing"]
            variant = Variant(f"ε = {eps:g}", eps)
        return variant._replace(
            description=variant.description + scaled,
            temperature_scaling=spec.temperature_scaling,
            trains=spec.trains,
        )
    import keras_ls

    class_name = _SPEC_LOSSES[spec.kind]
    cls = getattr(keras_ls, class_name, None)
    if cls is None:
        raise ValueError(
            f"Invalid `variant` {text!r}: it needs keras_ls.{class_name}, "
            "which this version of keras_ls does not have."
        )
    arguments = dict(spec.arguments)

    def make_loss():
        return cls(**arguments)

    try:
        make_loss()  # its own argument checks, before any training
    except (TypeError, ValueError) as e:
        raise ValueError(f"Invalid `variant` {text!r}: {e}") from None
    shown = ", ".join(f"{k}={v:g}" for k, v in arguments.items())
    return Variant(
        f"{class_name}({shown}){scaled}",
        None,
        loss=make_loss,
        temperature_scaling=spec.temperature_scaling,
        trains=spec.trains,
    )


def _variant(entry, epochs, name):
    """A `Variant` from one entry of `compare`'s `variants`."""
    if isinstance(entry, Variant):
        return entry
    if isinstance(entry, str):
        return _spec_variant(entry, epochs)
    if isinstance(entry, tuple) and len(entry) == 2:
        loss, schedule = entry
        from keras_ls.callbacks.scheduler import is_smoothing_loss

        if not is_smoothing_loss(loss):
            raise ValueError(
                f"`variants[{name!r}]`: a (loss, schedule) pair needs a "
                "loss that keeps ε in a `label_smoothing_variable`, such as "
                f"keras_ls.LabelSmoothingCrossentropy. Received: {loss!r}"
            )
        return _schedule_variant(
            schedule, epochs, loss=loss, name=f"variants[{name!r}]"
        )
    if isinstance(entry, keras.losses.Loss) or callable(entry):
        eps = getattr(entry, "label_smoothing", None)
        return Variant(
            _loss_name(entry),
            eps if isinstance(eps, float) else None,
            loss=_loss_factory(entry),
        )
    raise TypeError(
        f"`variants[{name!r}]` must be a spec string (e.g. 'ls:0.1'), a "
        "loss, a (loss, schedule) pair or a `Variant`. Received: "
        f"{entry!r} of type {type(entry).__name__}"
    )


def _default_name(entry):
    if isinstance(entry, str):
        return entry.strip()
    if _is_pair(entry):
        return f"{_loss_name(entry[0])}+schedule"
    if isinstance(entry, Variant):
        return entry.description
    return _loss_name(entry)


def _is_pair(entry):
    return (
        isinstance(entry, tuple)
        and len(entry) == 2
        and isinstance(entry[0], keras.losses.Loss)
        and not isinstance(entry[1], keras.losses.Loss)
    )


def _named_variants(variants):
    """``{name: entry}`` from a dict, a list or a single entry."""
    if isinstance(variants, dict):
        return dict(variants)
    if (
        isinstance(variants, Variant)
        or not isinstance(variants, (list, tuple))
        or _is_pair(variants)
    ):
        variants = [variants]
    named = {}
    for entry in variants:
        name = _default_name(entry)
        if name in named:
            raise ValueError(
                f"Two variants are named {name!r}; pass a dict to give "
                f"them different names. Received: variants={variants!r}"
            )
        named[name] = entry
    return named


def _variants(label_smoothing, schedule, epochs, variants=None):
    """``{name: Variant}``, the baseline first; every check before
    training."""
    if variants is None:
        return _legacy_variants(label_smoothing, schedule, epochs)
    if schedule is not None or label_smoothing not in (0.1, None):
        raise ValueError(
            "Give the smoothed models either as `variants` or as "
            "`label_smoothing`/`schedule`, not both. Received: "
            f"label_smoothing={label_smoothing!r}, schedule={schedule!r}, "
            f"variants={variants!r}"
        )
    named = _named_variants(variants)
    result = {BASELINE: Variant("ε = 0", 0.0, trains=BASELINE)}
    for name, entry in named.items():
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"Variant names must be non-empty strings. Received: {name!r}"
            )
        variant = _variant(entry, epochs, name)
        if name == BASELINE:
            if variant.trains == BASELINE and not variant.temperature_scaling:
                continue  # always there
            raise ValueError(
                f"{BASELINE!r} names the ε = 0 model that every variant is "
                f"compared with; give this variant another name. Received: "
                f"{entry!r}"
            )
        result[name] = variant
    if len(result) == 1:
        raise ValueError(
            "Nothing to compare: `variants` holds only the baseline. "
            f"Received: variants={variants!r}"
        )
    return result


SCHEDULE_SPECS = {
    "constant": "constant:EPS",
    "two-stage": "two-stage:EPS:SWITCH_EPOCH",
    "linear": "linear:INITIAL:FINAL",
    "cosine": "cosine:INITIAL:FINAL",
    "exponential": "exponential:INITIAL:RATE",
    "warmup": "warmup:FINAL[:EPOCHS]",
}


@keras_ls_export("keras_ls.experiment.parse_schedule")
def parse_schedule(spec, *, epochs):
    """Builds a `keras_ls.schedules` object from a command-line spec.

    ``linear`` and ``cosine`` decay over all `epochs`; ``warmup`` rises
    over `epochs` unless given its own duration.

    Args:
        spec: ``NAME:ARG[:ARG]``, one of ``constant:0.1``,
            ``two-stage:0.1:6`` (ε = 0.1 until epoch 6, then 0),
            ``linear:0.2:0``, ``cosine:0.2:0``, ``exponential:0.2:0.5``,
            ``warmup:0.1[:5]``.
        epochs: The number of training epochs.

    Returns:
        A schedule object, callable as ``schedule(epoch) -> float``.

    Raises:
        ValueError: naming the spec and the accepted forms.

    Examples:

    >>> keras_ls.experiment.parse_schedule("two-stage:0.1:6", epochs=10)
    TwoStage(value=0.1, switch=6)
    >>> keras_ls.experiment.parse_schedule("cosine:0.2:0", epochs=10)
    CosineDecay(initial=0.2, final=0.0, duration=10, start=0)
    """
    forms = ", ".join(SCHEDULE_SPECS.values())
    name, _, rest = str(spec).partition(":")
    args = rest.split(":") if rest else []
    try:
        values = [float(a) for a in args]
    except ValueError:
        values = None
    builders = {
        "constant": (1, lambda v: schedules.Constant(v[0])),
        "two-stage": (2, lambda v: schedules.TwoStage(v[0], int(v[1]))),
        "linear": (2, lambda v: schedules.LinearDecay(v[0], v[1], epochs)),
        "cosine": (2, lambda v: schedules.CosineDecay(v[0], v[1], epochs)),
        "exponential": (2, lambda v: schedules.ExponentialDecay(v[0], v[1])),
        "warmup": (
            (1, 2),
            lambda v: schedules.LinearWarmup(
                v[0], int(v[1]) if len(v) > 1 else epochs
            ),
        ),
    }
    if name not in builders or values is None:
        raise ValueError(
            f"`schedule` must be one of {forms}. Received: schedule={spec!r}"
        )
    arity, build = builders[name]
    if len(values) not in (arity if isinstance(arity, tuple) else (arity,)):
        raise ValueError(
            f"`schedule` {name!r} takes the form {SCHEDULE_SPECS[name]}. "
            f"Received: schedule={spec!r}"
        )
    from keras_ls import schedules  # noqa: F811 (read by the builders)

    try:
        return build(values)
    except (TypeError, ValueError) as e:
        raise ValueError(f"Invalid `schedule` {spec!r}: {e}") from None


@keras_ls_export("keras_ls.experiment.default_validation_size")
def default_validation_size(num_train):
    """Held-out examples when `validation_size` is `None`: 1/12 of them.

    That is 5,000 of Fashion-MNIST's 60,000 training images (the size of
    Keras' and torchvision's usual MNIST validation split), and the same
    share of a smaller `train_size`.

    Examples:

    >>> size = keras_ls.experiment.default_validation_size
    >>> size(60000), size(256)
    (5000, 21)
    """
    return int(round(num_train / 12))


def _split(num_examples, validation_size, seed):
    """A seeded random (fit, validation) split of the training rows."""
    order = np.random.default_rng([int(seed), 2021]).permutation(num_examples)
    return np.sort(order[validation_size:]), np.sort(order[:validation_size])


_CUSTOM = "arrays passed as `data`"


def _is_tf_dataset(obj):
    return type(obj).__module__.startswith("tensorflow") and hasattr(
        obj, "as_numpy_iterator"
    )


def _batches(part, name):
    """The ``(x, y)`` batches of a `tf.data.Dataset` or a `PyDataset`."""
    if _is_tf_dataset(part):
        import tensorflow as tf

        if part.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ValueError(
                f"`{name}` is an infinite tf.data.Dataset (e.g. it ends "
                "with .repeat()); compare reads it once. Received: "
                f"{part!r}"
            )
        return part.as_numpy_iterator()
    count = getattr(part, "num_batches", None)
    if count is None:
        count = len(part)
    return (part[i] for i in range(count))


def _as_arrays(part, name):
    """``(x, y)`` numpy arrays from a pair of arrays or a batched dataset.

    A dataset is read once into memory, so that compare can split it,
    flip its labels and give every variant of a seed the same batches.
    """
    if isinstance(part, keras.utils.PyDataset) or _is_tf_dataset(part):
        xs, ys = [], []
        for batch in _batches(part, name):
            if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
                raise ValueError(
                    f"`{name}` must yield (x, y) or (x, y, sample_weight) "
                    f"batches. Received a batch of type "
                    f"{type(batch).__name__}"
                )
            xs.append(np.asarray(batch[0]))
            ys.append(np.asarray(batch[1]))
        if not xs:
            raise ValueError(f"`{name}` yielded no batch. Received: {part!r}")
        x, y = np.concatenate(xs), np.concatenate(ys)
    else:
        try:
            x, y = part
        except (TypeError, ValueError):
            raise ValueError(
                f"`{name}` must be a pair (x, y) of arrays, a "
                "tf.data.Dataset or a keras.utils.PyDataset. Received: "
                f"{type(part).__name__}"
            ) from None
        x, y = np.asarray(x), np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot rows
        y = y.argmax(-1)
    y = y.reshape(len(y), -1)
    if y.shape[1] != 1 or len(x) != len(y):
        raise ValueError(
            f"`{name}` needs one integer label (or one one-hot row) per "
            f"example. Received: x of shape {x.shape}, y of shape {y.shape}"
        )
    return x, y.reshape(-1)


def _load(data, data_dir):
    if data is None:
        return load_fashion_mnist(data_dir, return_source=True)
    try:
        train, test = data
    except (TypeError, ValueError):
        raise ValueError(
            "`data` must be (train, test), each a pair (x, y) of numpy "
            "arrays, a tf.data.Dataset or a keras.utils.PyDataset. "
            f"Received: {type(data).__name__}"
        ) from None
    return (_as_arrays(train, "data[0]"), _as_arrays(test, "data[1]")), (
        _CUSTOM
    )


class _Data(typing.NamedTuple):
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str


def _prepare_data(data, data_dir, train_size):
    data, source = _load(data, data_dir)
    (x_train, y_train), (x_test, y_test) = data
    if train_size is not None:
        x_train, y_train = x_train[:train_size], y_train[:train_size]
    y_train = np.asarray(y_train).astype(np.int32).reshape(-1)
    y_test = np.asarray(y_test).astype(np.int32).reshape(-1)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    return _Data(
        _prepare_images(x_train),
        y_train,
        _prepare_images(x_test),
        y_test,
        num_classes,
        source,
    )


def _callbacks(schedule, validation, num_bins, batch_size, log_dir=None):
    from keras_ls.callbacks.monitor import ConfidenceMonitor
    from keras_ls.callbacks.scheduler import LabelSmoothingScheduler

    # The scheduler first: it sets ε before the epoch, and writes
    # `label_smoothing` into the logs that History then records.
    callbacks = []
    if schedule is not None:
        callbacks.append(LabelSmoothingScheduler(schedule))
    if validation is not None:
        callbacks.append(
            ConfidenceMonitor(
                validation,
                num_bins=num_bins,
                batch_size=batch_size,
                tensorboard_dir=log_dir,
            )
        )
    return callbacks


def _train_variant(
    net,
    variant,
    fit_data,
    validation,
    *,
    seed,
    epochs,
    batch_size,
    learning_rate,
    num_bins,
    jit_compile,
    verbose,
    log_dir=None,
):
    """Compiles and fits `net` (already holding the seed's initial weights).

    Returns:
        The `History` of `fit`.
    """
    from keras_ls.callbacks.scheduler import is_smoothing_loss

    loss = variant.make_loss()
    net.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=loss,
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    # ε is model state in every variant, not only the scheduled one. An
    # untracked ε is read once while tracing: on JAX it becomes a constant
    # that XLA folds into the step differently from a variable, so a fixed
    # ε = 0.1 and a constant schedule at 0.1 drifted apart (6e-8 in the
    # weights after one fit). Tracked everywhere, they are bitwise equal.
    if is_smoothing_loss(loss):
        _state.track_label_smoothing(net, [loss.label_smoothing_variable])
    # The same random draws (dropout, a model's own noise) for every
    # variant of a seed; the batches are seeded by the dataset itself.
    keras.utils.set_random_seed(seed)
    return fit_in_seeded_batches(
        net,
        fit_data,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        verbose=verbose,
        callbacks=_callbacks(
            variant.schedule, validation, num_bins, batch_size, log_dir
        ),
    )


def fit_in_seeded_batches(
    net, fit_data, *, seed, epochs, batch_size, verbose, callbacks=None
):
    """`net.fit` on ``fit_data = (x, y)`` in batches shuffled by `seed`
    (the same order for every model of a seed), the last partial batch
    dropped so the compiled step is traced once; returns the History."""
    x, y = fit_data
    return net.fit(
        as_dataset(
            x,
            y,
            batch_size=batch_size,
            shuffle=True,
            seed=seed,
            drop_remainder=True,
        ),
        epochs=epochs,
        # The dataset shuffles itself, identically for every model of a
        # seed; Keras would add its own (global-RNG) batch shuffle on top
        # for a PyDataset.
        shuffle=False,
        callbacks=callbacks,
        verbose=verbose,
    )


def _fit_temperature(net, validation, *, batch_size):
    """Temperature scaling's T, fitted on the validation split only."""
    from keras_ls.calibration import fit_temperature

    x, y = validation
    logits = net.predict(x, batch_size=batch_size, verbose=0)
    return fit_temperature(np.asarray(logits, np.float32), y)


def _evaluate_on_test(net, data, *, batch_size, num_bins, temperatures):
    """The only place the test set is used: after training (and after any
    temperature is fitted on the validation split).

    Returns:
        ``[(stats, probs)]``, one per entry of `temperatures` (a T, or
        `None` for the unscaled logits), from one prediction.
    """
    logits = net.predict(data.x_test, batch_size=batch_size, verbose=0)
    results = []
    for temperature in temperatures:
        scaled = logits if temperature is None else logits / temperature
        probs, log_probs = _softmax(scaled)
        stats = evaluate_predictions(
            data.y_test, probs, log_probs=log_probs, num_bins=num_bins
        )
        results.append((stats, probs))
    return results


def _geometry(net, data, *, batch_size, project):
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


def _run_name(name):
    """A folder name for a variant's TensorBoard runs."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def _groups(variants):
    """``{trains key: [names]}``: the variants that share a trained model
    (their own name as key when `Variant.trains` is `None`)."""
    groups = {}
    for name, variant in variants.items():
        key = variant.trains or f"variant:{name}"
        groups.setdefault(key, []).append(name)
    return groups


def _given_as(requested, variants):
    """``{name: spec}`` of every variant: its spec string as given, else
    its description."""
    given = {} if requested is None else _named_variants(requested)
    return {
        name: given[name].strip()
        if isinstance(given.get(name), str)
        else (BASELINE if name == BASELINE else variant.description)
        for name, variant in variants.items()
    }


def _python_call(arguments):
    """The call as Python source, with the arguments that differ from the
    defaults (`data` arrays are not printable, and are named as such)."""
    parameters = inspect.signature(compare).parameters
    parts = []
    for name, value in arguments.items():
        if value is parameters[name].default:
            continue
        if isinstance(value, (bool, int, float, str, type(None))) and (
            value == parameters[name].default
        ):
            continue
        if name == "data":
            text = "<arrays>"
        elif name == "variants" and isinstance(value, (list, tuple, dict)):
            text = repr(list(_named_variants(value)))
        elif callable(value) and not isinstance(value, str):
            text = getattr(value, "__name__", type(value).__name__)
        else:
            text = repr(value)
        parts.append(f"{name}={text}")
    return f"keras_ls.compare({', '.join(parts)})"


@keras_ls_export("keras_ls.experiment.compare", "keras_ls.compare")
def compare(
    data=None,
    *,
    model="mlp",
    label_smoothing=0.1,
    schedule=None,
    variants=None,
    label_noise=0.0,
    epochs=10,
    seeds=5,
    batch_size=128,
    learning_rate=1e-3,
    num_bins=15,
    train_size=None,
    validation_size=None,
    jit_compile=None,
    data_dir=None,
    tensorboard_dir=None,
    verbose=0,
):
    """Trains a baseline and other methods' models from identical starts.

    For each seed, a seeded random `validation_size` examples of the
    training data are held out; the baseline (ε = 0) and every variant
    start from a copy of one initial model, train on the rest with the
    same labels (with the same `label_noise` flips) in the same batch
    order and with the same random seed, and are watched on the held-out
    split by a `ConfidenceMonitor` (the ``val_*`` curves). Temperature
    scaling is fitted on that held-out split too. The test set is used
    once, after training, for the final evaluation that the paired
    differences summarize.

    Args:
        data: ``(train, test)``, each a pair ``(x, y)`` of numpy arrays
            (integer labels or one-hot rows), a batched
            `tf.data.Dataset` or a `keras.utils.PyDataset` yielding
            ``(x, y)`` batches; or `None` to load Fashion-MNIST (see
            `load_fashion_mnist`). A dataset is read once into memory, so
            that every variant of a seed gets the same split, label flips
            and batches. Defaults to `None`.
        model: `"mlp"` or `"cnn"` (see `build_model`), or a function
            returning a fresh uncompiled model with logits. Defaults to
            `"mlp"`.
        label_smoothing: The fixed ε of the "smoothed" variant, or `None`
            for no fixed variant; not used with `variants` (leave it at
            its default). Defaults to `0.1`.
        schedule: A schedule (spec string as in `parse_schedule`, or a
            `keras_ls.schedules` object) for a "scheduled" variant, applied
            with `LabelSmoothingScheduler`. A two-stage schedule that
            switches at or after `epochs` warns. Not used with
            `variants`. Defaults to `None`.
        variants: The models compared with the baseline, instead of
            `label_smoothing` and `schedule`: a list, or a dict
            ``{name: entry}``, of entries that are each a spec string of
            `keras_ls.experiment.variants.parse_variant` (``"ls:0.1"``,
            ``"ls:two-stage:0.1:6"``, ``"ols"``, ``"mbls"``,
            ``"maxsup:0.1"``, ``"cp:0.1"``, ``"ts"``, ``"ls:0.1+ts"``),
            a loss object (copied for each run from its `get_config`), a
            ``(loss, schedule)`` pair, or a `Variant`. In a list, a spec
            is named by itself and a loss by its `name`. Variants that
            train the same model share one run per seed (``"ts"`` rescales
            the baseline's). Defaults to `None`.
        label_noise: Fraction of the trained-on labels flipped to a random
            other class, the same flips for all models of a seed; the
            validation and test labels stay clean. Defaults to `0.0`.
        epochs: Training epochs. Defaults to `10`.
        seeds: Number of seeds (0, 1, …) or a list of seeds. Defaults to
            `5`: on the default run, the confidence and ECE differences
            were 6 to 8 times, and the NLL difference 3 times, their 95%
            intervals' half-width. The accuracy difference (about +0.005)
            needed 10 seeds to exclude 0.
        batch_size: Training batch size; the last partial batch is dropped
            so the compiled step is traced once. Defaults to `128`.
        learning_rate: Adam's learning rate. Defaults to `1e-3`.
        num_bins: ECE bins. Defaults to `15`.
        train_size: Use the first `train_size` training examples only
            (validation split included; a smaller set is memorized sooner,
            e.g. under label noise). Defaults to `None` (all).
        validation_size: Training examples held out per seed for the
            per-epoch ``val_*`` curves; `0` trains on all of them and
            watches nothing. Defaults to `None`:
            `default_validation_size` (5,000 of 60,000).
        jit_compile: Passed to `model.compile`; `None` means `True` (XLA)
            on TensorFlow and JAX and `False` on PyTorch, where `True`
            means `torch.compile`, which took minutes per model on a CPU.
            Defaults to `None`.
        data_dir: Where to look for the data when `data` is `None`.
            Defaults to `None`.
        tensorboard_dir: A folder for TensorBoard: every trained model
            writes the validation statistics and pictures of its
            `ConfidenceMonitor` into ``<tensorboard_dir>/<variant>/seed_<s>``,
            so TensorBoard overlays the runs. Needs a validation split and
            the `tensorboard` package (not TensorFlow). Defaults to `None`.
        verbose: Keras' `fit` verbosity (1 shows progress bars). Defaults
            to `0`.

    Returns:
        A `ComparisonResult`.

    Raises:
        ValueError: an argument out of range, named with the value
            received, before any training.

    Examples:

    >>> result = keras_ls.compare(seeds=5)  # doctest: +SKIP
    >>> result.differences["smoothed"]["confidence"]["mean"]  # doctest: +SKIP
    -0.08...
    >>> result = keras_ls.compare(
    ...     variants=["ls:0.1", "ols", "mbls", "ts", "ls:0.1+ts"]
    ... )  # doctest: +SKIP
    >>> result.temperatures["ts"]  # doctest: +SKIP
    [1.3..., ...]

    References:
        - Guo, Pleiss, Sun and Weinberger, 2017. [On Calibration of Modern
          Neural Networks](https://arxiv.org/abs/1706.04599). ICML 2017.
        - Müller, Kornblith and Hinton, 2019. [When Does Label Smoothing
          Help?](https://arxiv.org/abs/1906.02629) NeurIPS 2019.
        - Lukasik, Bhojanapalli, Menon and Kumar, 2020. [Does Label
          Smoothing Mitigate Label Noise?](https://arxiv.org/abs/2003.02819)
          ICML 2020.
    """
    call = _python_call(dict(locals()))
    start = time.perf_counter()
    epochs = _validation.check_int(epochs, "epochs", minimum=1)
    batch_size = _validation.check_int(batch_size, "batch_size", minimum=1)
    num_bins = _validation.check_int(num_bins, "num_bins", minimum=1)
    label_noise = _validation.check_label_smoothing(label_noise, "label_noise")
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = list(range(_validation.check_int(seeds, "seeds", minimum=1)))
    else:
        seeds = [_validation.check_int(s, "seeds", minimum=0) for s in seeds]
        if not seeds:
            raise ValueError("`seeds` must not be empty. Received: seeds=[]")
    if not callable(model):
        _validation.check_choice(model, "model", MODELS)
    if train_size is not None:
        train_size = _validation.check_int(train_size, "train_size", minimum=1)
    if validation_size is not None:
        validation_size = _validation.check_int(
            validation_size, "validation_size", minimum=0
        )
    requested = variants
    variants = _variants(label_smoothing, schedule, epochs, variants)
    if jit_compile is None:
        jit_compile = keras.backend.backend() != "torch"

    data = _prepare_data(data, data_dir, train_size)
    num_train = len(data.x_train)
    if validation_size is None:
        validation_size = default_validation_size(num_train)
    if num_train - validation_size < batch_size:
        raise ValueError(
            f"`batch_size` must be at most the number of training examples "
            f"left after holding out validation_size={validation_size} "
            f"({num_train - validation_size} of {num_train}). Received: "
            f"batch_size={batch_size}"
        )

    def new_model():
        if callable(model):
            return model()
        return build_model(
            model,
            input_shape=data.x_train.shape[1:],
            num_classes=data.num_classes,
        )

    if tensorboard_dir is not None:
        if not validation_size:
            raise ValueError(
                "`tensorboard_dir` shows the validation statistics of each "
                "model, so `validation_size` must be at least 1. Received: "
                f"validation_size={validation_size}"
            )
        from keras_ls.callbacks import _tensorboard

        _tensorboard.check_available("tensorboard_dir")

    scaled = [n for n, v in variants.items() if v.temperature_scaling]
    if scaled and not validation_size:
        raise ValueError(
            f"Temperature scaling ({', '.join(scaled)}) is fitted on the "
            "validation split, so `validation_size` must be at least 1. "
            f"Received: validation_size={validation_size}"
        )

    metrics = {v: {m: [] for m in METRICS} for v in variants}
    histories = {v: [] for v in variants}
    temperatures = {v: [] for v in scaled}
    tightness = {v: [] for v in variants}
    examples, test_probs, projections = {}, {}, {}
    for seed_index, seed in enumerate(seeds):
        fit_rows, val_rows = _split(num_train, validation_size, seed)
        labels = data.y_train[fit_rows]
        if label_noise:
            labels = flip_labels(
                labels, label_noise, num_classes=data.num_classes, seed=seed
            )
        validation = None
        if validation_size:
            validation = (data.x_train[val_rows], data.y_train[val_rows])
        fit_data = (data.x_train[fit_rows], labels)
        keras.utils.set_random_seed(seed)
        initial_weights = new_model().get_weights()
        probs_of_seed = {}
        for names in _groups(variants).values():
            variant = variants[names[0]]
            if verbose:
                shown = ", ".join(names)
                print(f"seed {seed}: {shown} ({variant.description})")
            net = new_model()
            net.set_weights(initial_weights)
            history = _train_variant(
                net,
                variant,
                fit_data,
                validation,
                seed=seed,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                num_bins=num_bins,
                jit_compile=jit_compile,
                verbose=verbose,
                log_dir=None
                if tensorboard_dir is None
                else os.path.join(
                    tensorboard_dir, _run_name(names[0]), f"seed_{seed}"
                ),
            )
            history = {
                k: [float(v) for v in vals]
                for k, vals in history.history.items()
            }
            temperature = None
            if any(variants[n].temperature_scaling for n in names):
                temperature = _fit_temperature(
                    net, validation, batch_size=batch_size
                )
            used = [
                temperature if variants[n].temperature_scaling else None
                for n in names
            ]
            evaluated = _evaluate_on_test(
                net,
                data,
                batch_size=batch_size,
                num_bins=num_bins,
                temperatures=used,
            )
            spread, projection = _geometry(
                net, data, batch_size=batch_size, project=seed_index == 0
            )
            for name, (stats, probs) in zip(names, evaluated):
                histories[name].append(history)
                tightness[name].append(spread)
                if projection is not None:
                    projections[name] = projection
                probs_of_seed[name] = probs
                for m in METRICS:
                    metrics[name][m].append(stats[m])
                if name in temperatures:
                    temperatures[name].append(temperature)
        if seed_index == 0:
            test_probs = {name: probs_of_seed[name] for name in variants}
            for name in variants:
                if name != BASELINE:
                    examples[name] = largest_confidence_drop(
                        data.y_test,
                        probs_of_seed[BASELINE],
                        probs_of_seed[name],
                    )
    differences = {
        name: {
            m: paired_difference(metrics[BASELINE][m], metrics[name][m])
            for m in METRICS
        }
        for name in variants
        if name != BASELINE
    }
    env = environment()
    config = {
        "dataset": "fashion_mnist" if data.source != _CUSTOM else "custom",
        "data_source": data.source,
        "model": model
        if isinstance(model, str)
        else getattr(model, "__name__", "custom"),
        "label_smoothing": label_smoothing if requested is None else None,
        "variants": _given_as(requested, variants),
        "schedule": None
        if schedule is None
        else str(variants["scheduled"].description.removeprefix("schedule ")),
        "label_noise": label_noise,
        "epochs": epochs,
        "seeds": list(seeds),
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "num_bins": num_bins,
        "train_size": train_size,
        "validation_size": validation_size,
        "jit_compile": jit_compile,
        "backend": env["backend"],
        "keras_version": env["keras"],
        "num_train": int(num_train - validation_size),
        "num_validation": int(validation_size),
        "num_test": int(len(data.x_test)),
        "call": call,
    }
    return ComparisonResult(
        config=config,
        seeds=list(seeds),
        variants={k: v.description for k, v in variants.items()},
        metrics=metrics,
        differences=differences,
        histories=histories,
        examples=examples,
        test_labels=data.y_test,
        test_probs=test_probs,
        seconds=time.perf_counter() - start,
        environment=env,
        temperatures=temperatures,
        tightness={
            name: None if any(v is None for v in values) else values
            for name, values in tightness.items()
        },
        projections=projections,
    )


__all__ = public_names(__name__)
