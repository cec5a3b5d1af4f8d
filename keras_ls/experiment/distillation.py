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

The data, the teachers' training, the evaluation and the statistics are
those of `keras_ls.compare` (`_data`, `_training`, `_evaluation`,
`stats`); this module keeps what is its own: the students, `distill` and
the report.
"""

import dataclasses
import math
import time
import typing

import keras
import numpy as np

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls._tracking import state as _state
from keras_ls.experiment import _data
from keras_ls.experiment import _evaluation
from keras_ls.experiment import _result
from keras_ls.experiment import _training
from keras_ls.experiment.stats import paired_differences
from keras_ls.experiment.variants import Variant
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
        return _result.finite_or_none(dataclasses.asdict(self))


def _check_temperatures(temperatures):
    """`temperatures` as a list of floats > 0 (a number is a list of one)."""
    try:
        values = list(temperatures)
    except TypeError:  # one number
        return [_check_temperature(temperatures, "temperatures")]
    if not values or isinstance(temperatures, str):
        raise ValueError(
            "`temperatures` must be one or more finite numbers > 0. "
            f"Received: temperatures={temperatures!r}"
        )
    return [
        _check_temperature(t, f"temperatures[{i}]")
        for i, t in enumerate(values)
    ]


def _check_temperature(value, name):
    return _validation.check_number(
        value, name, minimum=0.0, exclusive_minimum=True
    )


def _check_weight(value):
    return _validation.check_number(
        value, "student_loss_weight", minimum=0.0, maximum=1.0
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
    temperature = _check_temperature(temperature, "temperature")
    student_loss_weight = _check_weight(student_loss_weight)
    if not hasattr(keras, "distillation"):
        raise RuntimeError(
            "keras_ls' distillation needs `keras.distillation`, which Keras "
            f"{keras.__version__} does not have (keras_ls tests it with "
            "Keras 3.15.1). Upgrade Keras: pip install -U keras"
        )
    if jit_compile is None:
        jit_compile = _training.default_jit_compile()
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
    _track_student_loss(distiller, student, student_loss)
    _training.fit_in_seeded_batches(
        distiller,
        (x, y),
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        verbose=verbose,
    )
    return distiller


def _track_student_loss(distiller, student, student_loss):
    """Makes the state of a keras_ls `student_loss` (ε, the soft labels of
    `OnlineLabelSmoothing`) state of `distiller`."""
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
    arguments = dict(locals())
    start = time.perf_counter()
    run = _check_arguments(arguments)
    data = _data.prepare_data(data, data_dir, run.train_size)
    batch_size = run.training.batch_size
    if len(data.x_train) < batch_size:
        raise ValueError(
            "`batch_size` must be at most the number of training examples "
            f"({len(data.x_train)}). Received: batch_size={batch_size}"
        )
    new_teacher = _training.model_factory(run.model, data)
    new_student = _training.model_factory(
        run.student, data, build=build_student
    )
    teachers = {t: {m: [] for m in METRICS} for t in TEACHERS}
    students = {
        key: {t: {m: [] for m in METRICS} for t in TEACHERS}
        for key in _student_keys(run)
    }
    for seed in run.seeds:
        keras.utils.set_random_seed(seed)
        initial_teacher = new_teacher().get_weights()
        initial_student = new_student().get_weights()
        teacher = _starts_from(new_teacher, initial_teacher)
        trained = _train_teachers(run, data, teacher, seed, teachers)
        student = _starts_from(new_student, initial_student)
        _train_students(run, data, student, trained, seed, students)
        if run.scratch:
            _train_scratch(run, data, student, seed, students["scratch"])
    return DistillationResult(
        config=_config(run, data),
        seeds=list(run.seeds),
        teachers=teachers,
        students=students,
        differences=_differences(teachers, students),
        seconds=time.perf_counter() - start,
        environment=_result.environment(),
    )


class _Run(typing.NamedTuple):
    """`distillation_compare`'s arguments, checked; `training` is how the
    teachers are fitted."""

    model: object
    student: object
    label_smoothing: float
    temperatures: list
    student_loss_weight: float
    scratch: bool
    student_epochs: int
    seeds: list
    training: _training.Training
    train_size: typing.Optional[int]


def _check_arguments(arguments):
    """Checks what `distillation_compare` was given (`arguments`: its
    locals) before the data is read; every error names the value."""
    a = arguments
    eps = _validation.check_number(
        a["label_smoothing"],
        "label_smoothing",
        minimum=0.0,
        maximum=1.0,
        exclusive_minimum=True,
        exclusive_maximum=True,
        context="ε of the smoothed teacher",
    )
    temperatures = _check_temperatures(a["temperatures"])
    weight = _check_weight(a["student_loss_weight"])
    scratch = _validation.check_bool(a["scratch"], "scratch")
    epochs = _validation.check_int(a["epochs"], "epochs", minimum=1)
    student_epochs = a["student_epochs"]
    if student_epochs is None:
        student_epochs = epochs
    student_epochs = _validation.check_int(
        student_epochs, "student_epochs", minimum=1
    )
    training = _training.check_training(
        epochs=epochs,
        batch_size=a["batch_size"],
        learning_rate=a["learning_rate"],
        num_bins=a["num_bins"],
        jit_compile=a["jit_compile"],
        verbose=a["verbose"],
    )
    seeds = _training.check_seeds(a["seeds"])
    for name, allowed in (
        ("model", _training.MODELS),
        ("student", STUDENT_MODELS),
    ):
        if not callable(a[name]):
            _validation.check_choice(a[name], name, allowed)
    train_size = a["train_size"]
    if train_size is not None:
        train_size = _validation.check_int(train_size, "train_size", minimum=1)
    return _Run(
        model=a["model"],
        student=a["student"],
        label_smoothing=eps,
        temperatures=temperatures,
        student_loss_weight=weight,
        scratch=scratch,
        student_epochs=student_epochs,
        seeds=seeds,
        training=training,
        train_size=train_size,
    )


def _student_keys(run):
    """The keys of `DistillationResult.students`: ``T=…`` per temperature,
    then ``scratch``."""
    keys = [student_name(t) for t in run.temperatures]
    return keys + ["scratch"] if run.scratch else keys


def _starts_from(new_model, weights):
    """A function returning a fresh model that holds `weights`."""

    def new():
        net = new_model()
        net.set_weights(weights)
        return net

    return new


def _evaluate(net, data, run):
    """`METRICS` of `net` on the test set."""
    ((stats, _),) = _evaluation.evaluate_on_test(
        net,
        data,
        batch_size=run.training.batch_size,
        num_bins=run.training.num_bins,
    )
    return {m: stats[m] for m in METRICS}


def _record(table, stats):
    for m, v in stats.items():
        table[m].append(v)


def _train_teachers(run, data, new_teacher, seed, teachers):
    """Trains the baseline and the smoothed teacher of one seed as
    `keras_ls.compare` trains its variants; returns them by name."""
    trained = {}
    fit_data = (data.x_train, data.y_train)
    for name, eps in zip(TEACHERS, (0.0, run.label_smoothing)):
        if run.training.verbose:
            print(f"seed {seed}: teacher {name} (ε = {eps:g})")
        net = new_teacher()
        teacher = Variant(f"ε = {eps:g}", eps)
        _training.train_variant(
            net, teacher, fit_data, None, seed=seed, training=run.training
        )
        trained[name] = net
        _record(teachers[name], _evaluate(net, data, run))
    return trained


def _train_students(run, data, new_student, trained, seed, students):
    """Distils one student per teacher and temperature."""
    for temperature in run.temperatures:
        for name in TEACHERS:
            if run.training.verbose:
                print(f"seed {seed}: student of {name}, T = {temperature}")
            net = new_student()
            distill(
                trained[name],
                net,
                data.x_train,
                data.y_train,
                temperature=temperature,
                student_loss_weight=run.student_loss_weight,
                epochs=run.student_epochs,
                batch_size=run.training.batch_size,
                learning_rate=run.training.learning_rate,
                seed=seed,
                jit_compile=run.training.jit_compile,
                verbose=run.training.verbose,
            )
            key = student_name(temperature)
            _record(students[key][name], _evaluate(net, data, run))


def _train_scratch(run, data, new_student, seed, scratch):
    """The student trained on the labels alone: the reference that says
    whether distillation helped at all."""
    net = new_student()
    net.compile(
        optimizer=keras.optimizers.Adam(run.training.learning_rate),
        loss=LabelSmoothingCrossentropy(0.0),
        jit_compile=run.training.jit_compile,
    )
    _training.fit_in_seeded_batches(
        net,
        (data.x_train, data.y_train),
        seed=seed,
        epochs=run.student_epochs,
        batch_size=run.training.batch_size,
        verbose=run.training.verbose,
    )
    stats = _evaluate(net, data, run)
    # One scratch student per seed: the same for both teachers.
    for name in TEACHERS:
        _record(scratch[name], stats)


def _differences(teachers, students):
    """Smoothed minus baseline: of the teachers, and of the students at
    each temperature."""
    differences = {
        "teacher": paired_differences(
            teachers["baseline"], teachers["smoothed"], METRICS
        )
    }
    for key, by_teacher in students.items():
        if key != "scratch":
            differences[key] = paired_differences(
                by_teacher["baseline"], by_teacher["smoothed"], METRICS
            )
    return differences


def _config(run, data):
    """The arguments of the run, for JSON."""
    return {
        "dataset": "custom" if data.custom else "fashion_mnist",
        "data_source": data.source,
        "model": run.model if isinstance(run.model, str) else "custom",
        "student": run.student if isinstance(run.student, str) else "custom",
        "label_smoothing": run.label_smoothing,
        "temperatures": run.temperatures,
        "student_loss_weight": run.student_loss_weight,
        "scratch": run.scratch,
        "epochs": run.training.epochs,
        "student_epochs": run.student_epochs,
        "seeds": list(run.seeds),
        "batch_size": run.training.batch_size,
        "learning_rate": run.training.learning_rate,
        "train_size": run.train_size,
        "jit_compile": run.training.jit_compile,
        "backend": keras.backend.backend(),
        "num_train": int(len(data.x_train)),
        "num_test": int(len(data.x_test)),
    }


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
