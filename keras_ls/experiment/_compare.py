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

import inspect
import os
import time
import typing

import keras

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls.experiment import _data
from keras_ls.experiment import _evaluation
from keras_ls.experiment import _progress
from keras_ls.experiment import _training
from keras_ls.experiment import variants as _variants
from keras_ls.experiment._result import ComparisonResult
from keras_ls.experiment._result import environment
from keras_ls.experiment.stats import paired_differences
from keras_ls.experiment.variants import BASELINE


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
    optimizer=None,
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
            and batches. Or a function of no argument returning any of
            these, called once (results.json names it as the source).
            Defaults to `None`.
        model: `"mlp"` or `"cnn"` (see `build_model`), or a function
            returning a fresh uncompiled model with logits (no final
            softmax), called once per trained model. It is checked on two
            training examples before any training. Defaults to `"mlp"`.
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
        learning_rate: The learning rate of the default optimizer, Adam;
            with `optimizer`, set it there. Defaults to `1e-3`.
        optimizer: `None` for Adam at `learning_rate`; or what
            `model.compile` accepts: a Keras optimizer identifier
            (``"sgd"``), a config dict (``{"class_name": "SGD", "config":
            {"learning_rate": 0.05, "momentum": 0.9}}``) or an optimizer
            (copied from its config); or a function returning a new
            optimizer at each call. Every trained model gets its own, so
            that identical starts stay identical. Defaults to `None`.
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
        verbose: `0` prints nothing; `1` prints one line per trained
            model (seed k of N, model j of M, the time so far and an
            estimate of what is left); `2` also Keras' progress bars.
            Defaults to `0`.

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
    arguments = dict(locals())
    call = _python_call(arguments)
    start = time.perf_counter()
    run = _check_arguments(arguments)
    data = _data.prepare_data(data, data_dir, run.train_size)
    new_model = _training.model_factory(run.model, data)
    run = _check_against_data(run, data, new_model)
    records = _Records(run.variants)
    progress = _progress.Progress(
        run.seeds,
        len(_variants.groups(run.variants)),
        verbose=run.progress,
    )
    for index, seed in enumerate(run.seeds):
        _run_seed(
            run, data, new_model, seed, records, progress, first=index == 0
        )
    return _summarize(
        run, data, records, call=call, seconds=time.perf_counter() - start
    )


class _Run(typing.NamedTuple):
    """`compare`'s arguments, checked; `variants` as ``{name: Variant}``
    and `requested` as given."""

    model: object
    label_smoothing: typing.Optional[float]
    schedule: object
    variants: dict
    requested: object
    label_noise: float
    seeds: list
    training: _training.Training
    train_size: typing.Optional[int]
    validation_size: typing.Optional[int]
    tensorboard_dir: typing.Optional[str]
    progress: bool
    model_details: typing.Optional[dict] = None


def _check_arguments(arguments):
    """Checks what `compare` was given (`arguments`: its locals) before the
    data is read; every error names the value received."""
    a = dict(arguments)
    verbose = _check_verbose(a["verbose"])
    if a["optimizer"] is not None and a["learning_rate"] != 1e-3:
        raise ValueError(
            "`learning_rate` is the default Adam's; with `optimizer`, set "
            "the learning rate there (e.g. {'class_name': 'SGD', "
            "'config': {'learning_rate': 0.05}}). Received: "
            f"learning_rate={a['learning_rate']!r}, "
            f"optimizer={a['optimizer']!r}"
        )
    training = _training.check_training(
        epochs=a["epochs"],
        batch_size=a["batch_size"],
        learning_rate=a["learning_rate"],
        num_bins=a["num_bins"],
        jit_compile=a["jit_compile"],
        # Keras' bars only at 2: 1 is one line per model (`Progress`).
        verbose=1 if verbose >= 2 else 0,
        optimizer=a["optimizer"],
    )
    label_noise = _validation.check_label_smoothing(
        a["label_noise"], "label_noise"
    )
    seeds = _training.check_seeds(a["seeds"])
    if not callable(a["model"]):
        _validation.check_choice(a["model"], "model", _training.MODELS)
    for name, minimum in (("train_size", 1), ("validation_size", 0)):
        if a[name] is not None:
            a[name] = _validation.check_int(a[name], name, minimum=minimum)
    variants = _variants.build_variants(
        a["label_smoothing"], a["schedule"], training.epochs, a["variants"]
    )
    return _Run(
        model=a["model"],
        label_smoothing=a["label_smoothing"],
        schedule=a["schedule"],
        variants=variants,
        requested=a["variants"],
        label_noise=label_noise,
        seeds=seeds,
        training=training,
        train_size=a["train_size"],
        validation_size=a["validation_size"],
        tensorboard_dir=a["tensorboard_dir"],
        progress=verbose >= 1,
    )


def _check_verbose(verbose):
    """`verbose` as 0, 1 or 2 (`True` is 1)."""
    if isinstance(verbose, bool):
        return int(verbose)
    verbose = _validation.check_int(verbose, "verbose", minimum=0)
    if verbose > 2:
        raise ValueError(
            f"`verbose` must be 0, 1 or 2. Received: verbose={verbose}"
        )
    return verbose


def _check_against_data(run, data, new_model):
    """`run` with its validation size resolved and its model checked
    (`model_details`), once the data is known; refuses what the held-out
    split makes impossible."""
    num_train = len(data.x_train)
    validation_size = run.validation_size
    if validation_size is None:
        validation_size = _data.default_validation_size(num_train)
    if num_train - validation_size < run.training.batch_size:
        raise ValueError(
            f"`batch_size` must be at most the number of training examples "
            f"left after holding out validation_size={validation_size} "
            f"({num_train - validation_size} of {num_train}). Received: "
            f"batch_size={run.training.batch_size}"
        )
    if run.tensorboard_dir is not None:
        if not validation_size:
            raise ValueError(
                "`tensorboard_dir` shows the validation statistics of each "
                "model, so `validation_size` must be at least 1. Received: "
                f"validation_size={validation_size}"
            )
        from keras_ls.callbacks import _tensorboard

        _tensorboard.check_available("tensorboard_dir")
    scaled = [n for n, v in run.variants.items() if v.temperature_scaling]
    if scaled and not validation_size:
        raise ValueError(
            f"Temperature scaling ({', '.join(scaled)}) is fitted on the "
            "validation split, so `validation_size` must be at least 1. "
            f"Received: validation_size={validation_size}"
        )
    details = _training.check_model(new_model, data, run.model)
    return run._replace(validation_size=validation_size, model_details=details)


class _Records:
    """What `compare` measures, per variant, as the seeds run."""

    def __init__(self, variants):
        self.metrics = {
            v: {m: [] for m in _evaluation.METRICS} for v in variants
        }
        self.histories = {v: [] for v in variants}
        self.temperatures = {
            v: []
            for v, variant in variants.items()
            if variant.temperature_scaling
        }
        self.tightness = {v: [] for v in variants}
        self.examples, self.test_probs, self.projections = {}, {}, {}

    def add(self, name, history, stats, temperature, geometry):
        """One seed's values of variant `name`."""
        spread, projection = geometry
        self.histories[name].append(history)
        self.tightness[name].append(spread)
        if projection is not None:
            self.projections[name] = projection
        for m in _evaluation.METRICS:
            self.metrics[name][m].append(stats[m])
        if name in self.temperatures:
            self.temperatures[name].append(temperature)

    def add_first_seed(self, y_test, probs):
        """The first seed's test probabilities (``{name: probs}``), and the
        example whose confidence fell the most against the baseline."""
        self.test_probs = dict(probs)
        for name in probs:
            if name != BASELINE:
                self.examples[name] = _evaluation.largest_confidence_drop(
                    y_test, probs[BASELINE], probs[name]
                )

    def checked_tightness(self):
        """`tightness`, `None` for a variant whose model had no
        penultimate layer to read."""
        return {
            name: None if any(v is None for v in values) else values
            for name, values in self.tightness.items()
        }


def _run_seed(run, data, new_model, seed, records, progress, *, first):
    """Trains and evaluates every variant of one seed, from one initial
    model, and adds their values to `records`; `progress` prints a line
    per trained model."""
    fit_data, validation = _data.seed_data(
        data,
        seed,
        validation_size=run.validation_size,
        label_noise=run.label_noise,
    )
    keras.utils.set_random_seed(seed)
    initial_weights = new_model().get_weights()
    probs = {}
    for names in _variants.groups(run.variants).values():
        net = new_model()
        net.set_weights(initial_weights)
        history, temperature = _train_group(
            run, net, names, fit_data, validation, seed
        )
        used = [
            temperature if run.variants[n].temperature_scaling else None
            for n in names
        ]
        evaluated = _evaluation.evaluate_on_test(
            net,
            data,
            batch_size=run.training.batch_size,
            num_bins=run.training.num_bins,
            temperatures=used,
        )
        geometry = _evaluation.penultimate_geometry(
            net, data, batch_size=run.training.batch_size, project=first
        )
        for name, (stats, test_probs) in zip(names, evaluated):
            records.add(name, history, stats, temperature, geometry)
            probs[name] = test_probs
        progress.done(names)
    if first:
        records.add_first_seed(
            data.y_test, {name: probs[name] for name in run.variants}
        )


def _train_group(run, net, names, fit_data, validation, seed):
    """Trains `net` as the variants `names`, which share one model; returns
    its history (floats per epoch) and the temperature fitted on the
    validation split when one of them is temperature-scaled, else `None`.
    """
    variant = run.variants[names[0]]
    if run.training.verbose:
        print(f"seed {seed}: {', '.join(names)} ({variant.description})")
    log_dir = None
    if run.tensorboard_dir is not None:
        log_dir = os.path.join(
            run.tensorboard_dir, _run_name(names[0]), f"seed_{seed}"
        )
    history = _training.train_variant(
        net,
        variant,
        fit_data,
        validation,
        seed=seed,
        training=run.training,
        log_dir=log_dir,
    )
    history = {
        k: [float(v) for v in vals] for k, vals in history.history.items()
    }
    temperature = None
    if any(run.variants[n].temperature_scaling for n in names):
        temperature = _training.validation_temperature(
            net, validation, batch_size=run.training.batch_size
        )
    return history, temperature


def _run_name(name):
    """A folder name for a variant's TensorBoard runs."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def _summarize(run, data, records, *, call, seconds):
    """The `ComparisonResult`: the paired differences to the baseline, and
    the run's configuration."""
    differences = {
        name: paired_differences(
            records.metrics[BASELINE],
            records.metrics[name],
            _evaluation.METRICS,
        )
        for name in run.variants
        if name != BASELINE
    }
    env = environment()
    return ComparisonResult(
        config=_config(run, data, env, call),
        seeds=list(run.seeds),
        variants={k: v.description for k, v in run.variants.items()},
        metrics=records.metrics,
        differences=differences,
        histories=records.histories,
        examples=records.examples,
        test_labels=data.y_test,
        test_probs=records.test_probs,
        seconds=seconds,
        environment=env,
        temperatures=records.temperatures,
        tightness=records.checked_tightness(),
        projections=records.projections,
    )


def _config(run, data, env, call):
    """The arguments of the run and what they resolved to, for JSON."""
    model = run.model
    schedule = None
    if run.schedule is not None:
        described = run.variants["scheduled"].description
        schedule = str(described.removeprefix("schedule "))
    num_train = len(data.x_train)
    return {
        "dataset": "custom" if data.custom else "fashion_mnist",
        "data_source": data.source,
        "model": model
        if isinstance(model, str)
        else getattr(model, "__name__", "custom"),
        "label_smoothing": run.label_smoothing
        if run.requested is None
        else None,
        "variants": _variants.given_as(run.requested, run.variants),
        "schedule": schedule,
        "label_noise": run.label_noise,
        "epochs": run.training.epochs,
        "seeds": list(run.seeds),
        "batch_size": run.training.batch_size,
        "learning_rate": run.training.learning_rate,
        "optimizer": run.training.optimizer_config,
        "num_bins": run.training.num_bins,
        "train_size": run.train_size,
        "validation_size": run.validation_size,
        "jit_compile": run.training.jit_compile,
        "backend": env["backend"],
        "keras_version": env["keras"],
        "num_train": int(num_train - run.validation_size),
        "num_validation": int(run.validation_size),
        "num_test": int(len(data.x_test)),
        "model_details": run.model_details,
        "data": _data.describe(data),
        "call": call,
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
        if name == "data" and not callable(value):
            text = "<arrays>"
        elif name == "variants" and isinstance(value, (list, tuple, dict)):
            text = repr(list(_variants.named_variants(value)))
        elif callable(value) and not isinstance(value, str):
            text = getattr(value, "__name__", type(value).__name__)
        else:
            text = repr(value)
        parts.append(f"{name}={text}")
    return f"keras_ls.compare({', '.join(parts)})"


__all__ = public_names(__name__)
