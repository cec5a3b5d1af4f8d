"""The distillation caveat, measured: students of smoothed teachers.

Müller, Kornblith and Hinton (2019) found that a teacher trained with label
smoothing is a worse teacher for knowledge distillation, even when it is
itself more accurate: smoothing erases the information about which wrong
classes are similar, which is what the student learns from the teacher's
soft outputs. `distillation_compare` measures this on your data: per seed,
two teachers (ε = 0 and ε > 0) from one initial model, then one student per
teacher and temperature, distilled with `keras.distillation.Distiller`
(Keras 3.15) from one initial student model, and the paired differences
over seeds.
"""

import dataclasses
import math
import time

import keras
import numpy as np

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls._tracking import state as _state
from keras_ls.data import load_fashion_mnist
from keras_ls.experiment import _evaluation
from keras_ls.experiment import _result
from keras_ls.experiment import _training
from keras_ls.experiment.stats import paired_difference
from keras_ls.losses import LabelSmoothingCrossentropy
from keras_ls.losses import OnlineLabelSmoothing

#: Built-in students: "small" (Flatten, Dense 32 ReLU), or a teacher model.
STUDENT_MODELS = ("small", "mlp", "cnn")
#: The test-set statistics reported for every teacher and student.
METRICS = ("accuracy", "nll", "ece", "confidence")
TEACHERS = ("baseline", "smoothed")


@keras_ls_export("keras_ls.experiment.distillation.build_student")
def build_student(name="small", *, input_shape=(28, 28, 1), num_classes=10):
    """A student network, returning logits.

    Args:
        name: `"small"` (Flatten, Dense 32 with ReLU: 25,450 weights on
            28 x 28 images, against the teacher MLP's 235,146) or one of
            `keras_ls.experiment.MODELS`. Defaults to `"small"`.
        input_shape: Shape of one example. Defaults to `(28, 28, 1)`.
        num_classes: Number of outputs. Defaults to `10`.

    Returns:
        An uncompiled `keras.Model`.

    Raises:
        ValueError: for another `name`.

    Examples:

    >>> student = keras_ls.experiment.distillation.build_student()
    >>> student.count_params()
    25450
    """
    _validation.check_choice(name, "student", STUDENT_MODELS)
    if name != "small":
        return _training.build_model(
            name, input_shape=input_shape, num_classes=num_classes
        )
    inputs = keras.Input(tuple(input_shape))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="small")


def student_name(temperature):
    """The key of the students distilled at `temperature`, e.g. ``T=4``."""
    return f"T={temperature:g}"


@keras_ls_export("keras_ls.experiment.distillation.DistillationResult")
@dataclasses.dataclass
class DistillationResult:
    """What `distillation_compare` measured.

    Attributes:
        config: The arguments of the run, JSON-serializable.
        seeds: The seeds, in order.
        teachers: ``teachers[t][metric]``: per-seed test values of teacher
            ``t`` in ``("baseline", "smoothed")``.
        students: ``students[key][t][metric]``: per-seed test values of the
            student distilled from teacher ``t``; ``key`` is ``"T=4"``
            (`student_name`) for each temperature, and ``"scratch"`` for
            the student trained on the labels alone (when asked).
        differences: ``differences["teacher"][metric]`` and
            ``differences[key][metric]``: `paired_difference` of the
            smoothed teacher's (or its student's) values minus the
            baseline's.
        seconds: Wall-clock seconds of the whole run.
        environment: See `keras_ls.experiment.environment`.
    """

    config: dict
    seeds: list
    teachers: dict
    students: dict
    differences: dict
    seconds: float = 0.0
    environment: dict = dataclasses.field(default_factory=dict)

    def to_dict(self):
        """Everything, as JSON-serializable Python values (NaN as None)."""
        return _finite(dataclasses.asdict(self))


def _finite(value):
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _check_temperatures(temperatures):
    if isinstance(temperatures, (int, float)) and not isinstance(
        temperatures, bool
    ):
        temperatures = [temperatures]
    try:
        values = [float(t) for t in temperatures]
    except (TypeError, ValueError):
        values = []
    if (
        not values
        or any(isinstance(t, bool) for t in temperatures)
        or not all(math.isfinite(t) and t > 0 for t in values)
    ):
        raise ValueError(
            "`temperatures` must be one or more finite numbers > 0. "
            f"Received: temperatures={temperatures!r}"
        )
    return values


def _check_weight(value):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.floating))
        or not 0.0 <= float(value) <= 1.0
    ):
        raise ValueError(
            "`student_loss_weight` must be a number in [0, 1]. "
            f"Received: student_loss_weight={value!r}"
        )
    return float(value)


_CUSTOM = "arrays passed as `data`"


def _images(x):
    x = np.asarray(x)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    x = x.astype(np.float32) / np.float32(scale)
    return x[..., None] if x.ndim == 3 else x


def prepare_data(data=None, data_dir=None, train_size=None):
    """``(x_train, y_train), (x_test, y_test), num_classes, source``, as
    `keras_ls.compare` prepares them: images scaled to [0, 1] with a
    channel axis, int32 labels, the first `train_size` training examples.
    """
    if data is None:
        data, source = load_fashion_mnist(data_dir, return_source=True)
    else:
        source = _CUSTOM
    (x_train, y_train), (x_test, y_test) = data
    if train_size is not None:
        x_train, y_train = x_train[:train_size], y_train[:train_size]
    y_train = np.asarray(y_train).astype(np.int32).reshape(-1)
    y_test = np.asarray(y_test).astype(np.int32).reshape(-1)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    train = (_images(x_train), y_train)
    return train, (_images(x_test), y_test), num_classes, source


def evaluate_logits(net, x, y, *, batch_size=128, num_bins=15):
    """`keras_ls.experiment.evaluate_predictions` of `net`'s logits."""
    logits = np.asarray(
        net.predict(x, batch_size=batch_size, verbose=0), np.float32
    )
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return _evaluation.evaluate_predictions(
        y, np.exp(log_probs), log_probs=log_probs, num_bins=num_bins
    )


def _evaluate(net, test, batch_size, num_bins):
    stats = evaluate_logits(
        net, *test, batch_size=batch_size, num_bins=num_bins
    )
    return {m: stats[m] for m in METRICS}


def train_smoothed(
    net,
    x,
    y,
    *,
    label_smoothing,
    seed,
    epochs,
    batch_size=128,
    learning_rate=1e-3,
    jit_compile=None,
    verbose=0,
):
    """Compiles and fits `net` with `LabelSmoothingCrossentropy`, as
    `keras_ls.compare` trains a variant (ε tracked as model state, seeded
    batch order, the last partial batch dropped)."""
    if jit_compile is None:
        jit_compile = keras.backend.backend() != "torch"
    loss = LabelSmoothingCrossentropy(label_smoothing)
    net.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=loss,
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    # As in compare: a tracked ε keeps ε = 0 and ε > 0 runs comparable on
    # JAX (an untracked ε is folded into the step as a constant).
    _state.track_label_smoothing(net, [loss.label_smoothing_variable])
    _fit(
        net,
        (x, y),
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        verbose=verbose,
    )
    return net


def _fit(net, fit_data, *, seed, epochs, batch_size, verbose):
    _training.fit_in_seeded_batches(
        net,
        fit_data,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        verbose=verbose,
    )


@keras_ls_export("keras_ls.experiment.distillation.distill")
def distill(
    teacher,
    student,
    x,
    y,
    *,
    temperature=4.0,
    student_loss_weight=0.5,
    student_loss=None,
    epochs=10,
    batch_size=128,
    learning_rate=1e-3,
    seed=0,
    jit_compile=None,
    verbose=0,
):
    """Trains `student` from `teacher` with `keras.distillation.Distiller`.

    The loss is ``w · student_loss(y, s) + (1 - w) · T² · KL(softmax(t/T)
    || softmax(s/T))`` with `w` = `student_loss_weight`, `T` =
    `temperature`, `t` and `s` the teacher's and student's logits
    (`keras.distillation.LogitsDistillation` with an explicit
    `keras.losses.KLDivergence()`: with its default ``"kl_divergence"``,
    Keras 3.15.1 computes the divergence of the scaled logits themselves,
    not of their softmax). The teacher is frozen.

    Args:
        teacher: A trained `keras.Model` with logits.
        student: A `keras.Model` with logits, trained in place.
        x: Training inputs (numpy).
        y: Training class ids (numpy).
        temperature: Softmax temperature of the distillation term.
            Defaults to `4.0`.
        student_loss_weight: Weight `w` of the supervised term, in [0, 1].
            Defaults to `0.5` (Keras' default).
        student_loss: The supervised loss. Defaults to `None`:
            `LabelSmoothingCrossentropy(0.0)`, the plain cross-entropy.
        epochs: Training epochs. Defaults to `10`.
        batch_size: Batch size (the last partial batch is dropped).
            Defaults to `128`.
        learning_rate: Adam's learning rate. Defaults to `1e-3`.
        seed: Seed of the batch order. Defaults to `0`.
        jit_compile: `None` compiles on TensorFlow and JAX, not on PyTorch.
            Defaults to `None`.
        verbose: `fit` verbosity. Defaults to `0`.

    Returns:
        The `keras.distillation.Distiller` (its ``student`` is `student`).

    Raises:
        ValueError: for a `temperature` that is not > 0 or a
            `student_loss_weight` outside [0, 1].

    Examples:

    ```python
    distiller = keras_ls.experiment.distillation.distill(
        teacher, student, x_train, y_train, temperature=4.0)
    distiller.student.predict(x_test)
    ```

    References:
        - Hinton, Vinyals and Dean, 2015. [Distilling the Knowledge in a
          Neural Network](https://arxiv.org/abs/1503.02531).
    """
    (temperature,) = _check_temperatures([temperature])
    student_loss_weight = _check_weight(student_loss_weight)
    if not hasattr(keras, "distillation"):
        raise RuntimeError(
            "keras_ls' distillation needs `keras.distillation`, which Keras "
            f"{keras.__version__} does not have (keras_ls tests it with "
            "Keras 3.15.1). Upgrade Keras: pip install -U keras"
        )
    if jit_compile is None:
        jit_compile = keras.backend.backend() != "torch"
    distiller = keras.distillation.Distiller(
        teacher=teacher,
        student=student,
        # The KLDivergence object, not Keras' default "kl_divergence":
        # on Keras 3.15.1 that string resolves to the plain function, which
        # LogitsDistillation then applies to the scaled logits themselves
        # (clipped to [1e-7, 1]) instead of to their softmax, without T².
        distillation_losses=keras.distillation.LogitsDistillation(
            temperature=temperature, loss=keras.losses.KLDivergence()
        ),
        student_loss_weight=student_loss_weight,
    )
    if student_loss is None:
        student_loss = LabelSmoothingCrossentropy(0.0)
    distiller.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=student_loss,
        jit_compile=jit_compile,
    )
    # The Distiller compiles its parent with loss=None, so Keras' symbolic
    # build never calls the student loss: a keras_ls loss would first meet
    # its model inside the compiled step, too late on JAX to make ε model
    # state. Tracking it now is the documented remedy.
    variables = [
        getattr(loss, "label_smoothing_variable", None)
        for loss in keras.tree.flatten(student_loss)
    ]
    variables = [v for v in variables if isinstance(v, keras.Variable)]
    if variables:
        _state.track_label_smoothing(distiller, variables)
    # OnlineLabelSmoothing's soft-label state, for the same reason.
    for loss in keras.tree.flatten(student_loss):
        if isinstance(loss, OnlineLabelSmoothing):
            if loss.num_classes is None:
                loss._build(int(student.outputs[0].shape[-1]))
            loss._track(distiller)
    _fit(
        distiller,
        (x, y),
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        verbose=verbose,
    )
    return distiller


@keras_ls_export("keras_ls.experiment.distillation.distillation_compare")
def distillation_compare(
    data=None,
    *,
    model="mlp",
    student="small",
    label_smoothing=0.1,
    temperatures=(1.0, 4.0),
    student_loss_weight=0.5,
    scratch=True,
    epochs=10,
    student_epochs=None,
    seeds=5,
    batch_size=128,
    learning_rate=1e-3,
    num_bins=15,
    train_size=None,
    jit_compile=None,
    data_dir=None,
    verbose=0,
):
    """Distils students from a baseline and a smoothed teacher, per seed.

    For each seed: the two teachers, ε = 0 ("baseline") and ε =
    `label_smoothing` ("smoothed"), start from one initial model and see
    the same batches (the training of `keras_ls.compare`, without its
    validation split). Then, for each temperature, one student per teacher
    starts from one initial student model and is distilled (`distill`) on
    the same training data in the same order; with `scratch`, one more
    student of that initial model learns from the labels alone (the
    reference that says whether distillation helped at all). All are
    evaluated once, on the test set; the paired differences (smoothed
    minus baseline) are summarized as in `keras_ls.compare`.

    Müller et al. (2019) report that the students of the smoothed teacher
    are worse, even when that teacher is more accurate.

    Args:
        data: ``((x_train, y_train), (x_test, y_test))`` numpy arrays, or
            `None` for Fashion-MNIST (see `load_fashion_mnist`). Defaults
            to `None`.
        model: The teachers' network: `"mlp"`, `"cnn"` or a function
            returning a fresh uncompiled model with logits. Defaults to
            `"mlp"`.
        student: The students' network: one of `STUDENT_MODELS` (see
            `build_student`) or a function as for `model`. Defaults to
            `"small"`.
        label_smoothing: ε of the smoothed teacher, in (0, 1). Defaults to
            `0.1`.
        temperatures: One or more distillation temperatures > 0. Defaults
            to `(1.0, 4.0)`.
        student_loss_weight: Weight of the students' supervised term (see
            `distill`). Defaults to `0.5`.
        scratch: Whether to train the student on the labels alone too.
            Defaults to `True`.
        epochs: The teachers' training epochs. Defaults to `10`.
        student_epochs: The students' epochs. Defaults to `None`
            (`epochs`).
        seeds: Number of seeds (0, 1, …) or a list of seeds. Defaults to
            `5`.
        batch_size: Batch size of every fit. Defaults to `128`.
        learning_rate: Adam's learning rate. Defaults to `1e-3`.
        num_bins: ECE bins. Defaults to `15`.
        train_size: Use the first `train_size` training examples only.
            Defaults to `None` (all).
        jit_compile: As in `keras_ls.compare`. Defaults to `None`.
        data_dir: Where to look for Fashion-MNIST. Defaults to `None`.
        verbose: `fit` verbosity; also prints progress. Defaults to `0`.

    Returns:
        A `DistillationResult`.

    Raises:
        ValueError: an argument out of range, named with the value
            received, before any training.

    Examples:

    >>> result = keras_ls.experiment.distillation.distillation_compare(
    ...     seeds=5)  # doctest: +SKIP
    >>> result.differences["T=4"]["accuracy"]["mean"]  # doctest: +SKIP

    References:
        - Müller, Kornblith and Hinton, 2019. [When Does Label Smoothing
          Help?](https://arxiv.org/abs/1906.02629) NeurIPS 2019.
        - Hinton, Vinyals and Dean, 2015. [Distilling the Knowledge in a
          Neural Network](https://arxiv.org/abs/1503.02531).
    """
    start = time.perf_counter()
    eps = _validation.check_label_smoothing(label_smoothing)
    if eps == 0.0:
        raise ValueError(
            "`label_smoothing` of the smoothed teacher must be > 0. "
            "Received: label_smoothing=0.0"
        )
    temperatures = _check_temperatures(temperatures)
    student_loss_weight = _check_weight(student_loss_weight)
    scratch = _validation.check_bool(scratch, "scratch")
    epochs = _validation.check_int(epochs, "epochs", minimum=1)
    if student_epochs is None:
        student_epochs = epochs
    student_epochs = _validation.check_int(
        student_epochs, "student_epochs", minimum=1
    )
    batch_size = _validation.check_int(batch_size, "batch_size", minimum=1)
    num_bins = _validation.check_int(num_bins, "num_bins", minimum=1)
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = list(range(_validation.check_int(seeds, "seeds", minimum=1)))
    else:
        seeds = [_validation.check_int(s, "seeds", minimum=0) for s in seeds]
        if not seeds:
            raise ValueError("`seeds` must not be empty. Received: seeds=[]")
    if not callable(model):
        _validation.check_choice(model, "model", _training.MODELS)
    if not callable(student):
        _validation.check_choice(student, "student", STUDENT_MODELS)
    if train_size is not None:
        train_size = _validation.check_int(train_size, "train_size", minimum=1)
    if jit_compile is None:
        jit_compile = keras.backend.backend() != "torch"

    fit_data, test, k, source = prepare_data(data, data_dir, train_size)
    if len(fit_data[0]) < batch_size:
        raise ValueError(
            "`batch_size` must be at most the number of training examples "
            f"({len(fit_data[0])}). Received: batch_size={batch_size}"
        )
    shape = fit_data[0].shape[1:]

    def new_teacher():
        if callable(model):
            return model()
        return _training.build_model(model, input_shape=shape, num_classes=k)

    def new_student():
        if callable(student):
            return student()
        return build_student(student, input_shape=shape, num_classes=k)

    keys = [student_name(t) for t in temperatures]
    if scratch:
        keys.append("scratch")
    teachers = {t: {m: [] for m in METRICS} for t in TEACHERS}
    students = {
        key: {t: {m: [] for m in METRICS} for t in TEACHERS} for key in keys
    }
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        initial_teacher = new_teacher().get_weights()
        initial_student = new_student().get_weights()
        trained = {}
        for name, value in zip(TEACHERS, (0.0, eps)):
            if verbose:
                print(f"seed {seed}: teacher {name} (ε = {value:g})")
            net = new_teacher()
            net.set_weights(initial_teacher)
            train_smoothed(
                net,
                *fit_data,
                label_smoothing=value,
                seed=seed,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                jit_compile=jit_compile,
                verbose=verbose,
            )
            trained[name] = net
            for m, v in _evaluate(net, test, batch_size, num_bins).items():
                teachers[name][m].append(v)
        for temperature, key in zip(temperatures, keys):
            for name in TEACHERS:
                if verbose:
                    print(f"seed {seed}: student of {name}, T = {temperature}")
                net = new_student()
                net.set_weights(initial_student)
                distill(
                    trained[name],
                    net,
                    *fit_data,
                    temperature=temperature,
                    student_loss_weight=student_loss_weight,
                    epochs=student_epochs,
                    batch_size=batch_size,
                    learning_rate=learning_rate,
                    seed=seed,
                    jit_compile=jit_compile,
                    verbose=verbose,
                )
                stats = _evaluate(net, test, batch_size, num_bins)
                for m, v in stats.items():
                    students[key][name][m].append(v)
        if scratch:
            net = new_student()
            net.set_weights(initial_student)
            net.compile(
                optimizer=keras.optimizers.Adam(learning_rate),
                loss=LabelSmoothingCrossentropy(0.0),
                jit_compile=jit_compile,
            )
            _fit(
                net,
                fit_data,
                seed=seed,
                epochs=student_epochs,
                batch_size=batch_size,
                verbose=verbose,
            )
            stats = _evaluate(net, test, batch_size, num_bins)
            # One scratch student per seed: the same for both teachers.
            for name in TEACHERS:
                for m, v in stats.items():
                    students["scratch"][name][m].append(v)
    differences = {
        "teacher": {
            m: paired_difference(
                teachers["baseline"][m], teachers["smoothed"][m]
            )
            for m in METRICS
        }
    }
    for key in keys:
        if key == "scratch":
            continue
        differences[key] = {
            m: paired_difference(
                students[key]["baseline"][m], students[key]["smoothed"][m]
            )
            for m in METRICS
        }
    config = {
        "dataset": "fashion_mnist" if source != _CUSTOM else "custom",
        "data_source": source,
        "model": model if isinstance(model, str) else "custom",
        "student": student if isinstance(student, str) else "custom",
        "label_smoothing": eps,
        "temperatures": temperatures,
        "student_loss_weight": student_loss_weight,
        "scratch": scratch,
        "epochs": epochs,
        "student_epochs": student_epochs,
        "seeds": list(seeds),
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "train_size": train_size,
        "jit_compile": jit_compile,
        "backend": keras.backend.backend(),
        "num_train": int(len(fit_data[0])),
        "num_test": int(len(test[0])),
    }
    return DistillationResult(
        config=config,
        seeds=list(seeds),
        teachers=teachers,
        students=students,
        differences=differences,
        seconds=time.perf_counter() - start,
        environment=_result.environment(),
    )


def _fmt(values, signed=False):
    mean = float(np.mean(values))
    return f"{mean:+.4f}" if signed else f"{mean:.4f}"


def _interval(d):
    if not math.isfinite(d["half_width"]):
        return f"{d['mean']:+.4f} (1 seed: no interval)"
    return f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"


@keras_ls_export("keras_ls.experiment.distillation.markdown")
def markdown(result, command=None):
    """The report of a `DistillationResult`, as Markdown text.

    One table: for the teachers and the students at each temperature (and
    the scratch student), the mean test accuracy and NLL over seeds under
    the baseline and the smoothed teacher, and the paired difference
    (smoothed - baseline) with its 95% interval.
    """
    c = result.config
    n = len(result.seeds)
    lines = [
        "# Distillation from a label-smoothed teacher",
        "",
        f"Teachers: {c['model']}, ε = 0 and ε = {c['label_smoothing']:g}, "
        f"{c['epochs']} epochs. Students: {c['student']}, "
        f"{c['student_epochs']} epochs, `keras.distillation.Distiller` "
        f"with student_loss_weight {c['student_loss_weight']:g}. "
        f"{c['num_train']} training and {c['num_test']} test examples, "
        f"{n} seed{'s' if n != 1 else ''}, {c['backend']} backend, "
        f"{result.seconds:.0f} s.",
    ]
    if command:
        lines += ["", "```", command, "```"]
    lines += [
        "",
        "Means over seeds; the difference is smoothed teacher's minus "
        "baseline teacher's (paired by seed, 95% Student-t interval).",
        "",
        "| model | metric | of ε = 0 teacher | of smoothed teacher | "
        "difference |",
        "|---|---|---|---|---|",
    ]
    rows = [("teacher", result.teachers, result.differences["teacher"])]
    for key, by_teacher in result.students.items():
        rows.append((f"student {key}", by_teacher, result.differences.get(key)))
    for label, values, diffs in rows:
        for m in ("accuracy", "nll"):
            diff = "(same student)" if diffs is None else _interval(diffs[m])
            lines.append(
                f"| {label} | {m} | {_fmt(values['baseline'][m])} | "
                f"{_fmt(values['smoothed'][m])} | {diff} |"
            )
    return "\n".join(lines) + "\n"


@keras_ls_export("keras_ls.experiment.distillation.write")
def write(result, out_dir, command=None):
    """Writes ``results.json`` and ``report.md`` into `out_dir`; returns
    their paths."""
    import json
    import os

    os.makedirs(out_dir, exist_ok=True)
    paths = [
        os.path.join(out_dir, "results.json"),
        os.path.join(out_dir, "report.md"),
    ]
    payload = dict(result.to_dict(), command=command)
    with open(paths[0], "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1, ensure_ascii=False)
    with open(paths[1], "w", encoding="utf-8") as f:
        f.write(markdown(result, command))
    return paths


__all__ = public_names(__name__)
