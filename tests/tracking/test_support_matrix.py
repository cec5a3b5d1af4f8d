"""The support matrix of issue 18: every way a Keras user trains, against
every way ε is set, on the backend under test (docs/schedules.md prints it).

Rows are the training paths (`fit` with `evaluate` and validation,
`train_on_batch` driving a `CallbackList`, custom `train_step`s calling
`self.compute_loss` or the loss itself, the JAX guide's stateless steps,
custom loops with the backend's autodiff, `keras.distillation.Distiller`,
`steps_per_execution > 1`, datasets of unknown length); columns are the
ε sources (a constant, a value set by hand between fits, a callback that
goes through `self.model.loss` or holds the loss, `LabelSmoothingScheduler`
per epoch and per step with a built-in schedule and with a plain
`f(t)`), and the five losses. Torch.compile and interrupted fits have tests
of their own below.

A cell is right when the loss of every step equals the numpy value for the
ε asked for, and `logs["label_smoothing"]` says that ε; or loud, with a
warning or error that says what to do. The model's logits are fixed (a
zero kernel and a constant bias, learning rate 0), so each step's loss is
A + ε·B for label 0 (uniform convention; MaxSuppression gives the same,
the top logit being the label's), and ε is read back from it.
"""

import warnings

import keras
import numpy as np
import pytest

import keras_ls
from keras_ls import schedules
from tests.testing import BACKEND
from tests.testing import JIT
from tests.testing import requires_jax
from tests.testing import requires_module

Z = np.array([3.0, -2.0, 0.5, -1.0], np.float32)
K = len(Z)
S = 6  # steps per epoch
BATCH = 2
EPOCHS = 2
X = np.zeros((S * BATCH, 1), np.float32)
Y = np.zeros(S * BATCH, np.int32)  # every label is class 0
_Z64 = Z.astype(np.float64)
_LSE = np.log(np.exp(_Z64).sum())
_P = np.exp(_Z64 - _LSE)
A = _LSE - _Z64[0]  # the cross-entropy
B = _Z64[0] - _Z64.mean()  # d loss / d ε
EPS0 = 0.1
BY_HAND = 0.3
TABLE = [0.02 * t + 0.01 for t in range(4 * S)]  # a callback's ε at step t
LR0 = 0.0


def loss_at(eps):
    return A + B * np.asarray(eps, np.float64)


# The ε sources ------------------------------------------------------------

SCHEDULES = {
    "sched_epoch_builtin": (
        "epoch",
        lambda: schedules.LinearDecay(0.5, 0.0, duration=4),
        lambda e: 0.5 - 0.5 * min(e, 4) / 4,
    ),
    "sched_epoch_fn": (
        "epoch",
        lambda: lambda e: 0.1 * (e % 3) + 0.05,
        lambda e: 0.1 * (e % 3) + 0.05,
    ),
    "sched_step_builtin": (
        "batch",
        lambda: schedules.LinearDecay(0.5, 0.0, duration=4 * S),
        lambda t: 0.5 - 0.5 * min(t, 4 * S) / (4 * S),
    ),
    "sched_step_fn": (
        "batch",
        lambda: lambda t: 0.05 * (t % S) + 0.01 * (t // S),
        lambda t: 0.05 * (t % S) + 0.01 * (t // S),
    ),
}
COLUMNS = ["constant", "by_hand", "callback_model", "callback_held"] + list(
    SCHEDULES
)


def last_asked(column, epoch, row, callbacks):
    """The ε asked for last in `epoch`. A callback's is the one it set last:
    on a dataset of unknown length, TensorFlow calls on_train_batch_begin
    once more before it finds the data exhausted, and that request is the
    user's own."""
    if column.startswith("callback"):
        return callbacks[0].asked[epoch]
    return expected_eps(column, [epoch * S + S - 1], _spe(row))[0]


def expected_eps(column, steps, spe=1):
    """ε of global steps `steps` for `column` (the ε asked for)."""
    out = []
    for t in steps:
        if column == "constant":
            out.append(EPS0)
        elif column == "by_hand":
            out.append(EPS0 if t < S else BY_HAND)
        elif column.startswith("callback"):
            # Set in on_train_batch_begin, called once per execution.
            epoch, batch = divmod(t, S)
            out.append(TABLE[epoch * S + spe * (batch // spe)])
        else:
            update, _, value = SCHEDULES[column]
            out.append(value(t // S if update == "epoch" else t))
    return out


class EpsFromCallback(keras.callbacks.Callback):
    """Sets ε before each batch from TABLE, through `self.model.loss` or
    through the loss object it holds."""

    def __init__(self, loss=None):
        super().__init__()
        self.held = loss
        self.epoch = 0
        self.asked = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        loss = self.held if self.held is not None else self.model.loss
        loss.label_smoothing = TABLE[self.epoch * S + batch]
        self.asked[self.epoch] = TABLE[self.epoch * S + batch]


def column_callbacks(column, loss, update_kwargs=None):
    if column == "callback_model":
        return [EpsFromCallback()]
    if column == "callback_held":
        return [EpsFromCallback(loss)]
    if column in SCHEDULES:
        update, factory, _ = SCHEDULES[column]
        kwargs = dict(update_kwargs or {})
        return [
            keras_ls.LabelSmoothingScheduler(factory(), update=update, **kwargs)
        ]
    return []


# Models and rows ------------------------------------------------------------


def _dense():
    return keras.layers.Dense(
        K,
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(Z),
    )


def fixed_model(cls=keras.Model):
    """Outputs Z whatever the input (inputs are zeros; learning rate 0)."""
    inputs = keras.Input((1,))
    return cls(inputs, _dense()(inputs))


class StepLosses(keras.callbacks.Callback):
    """The loss of every train step: `logs["step_loss"]` where the step
    returns it, else from Keras' running mean of `logs["loss"]`."""

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_epoch_begin(self, epoch, logs=None):
        self._previous, self._count = 0.0, 0

    def on_train_batch_end(self, batch, logs=None):
        if "step_loss" in logs:
            self.losses.append(float(logs["step_loss"]))
            return
        mean = float(logs["loss"])
        loss = (self._count + 1) * mean - self._count * self._previous
        self._count += 1
        self._previous = mean
        self.losses.append(loss)


def _custom_class(mode):
    """A model class whose train_step computes the loss the way `mode`
    says, written as Keras' guides write it for the backend."""
    if BACKEND == "jax":
        return _jax_custom_class(mode)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        class Custom(keras.Model):
            def train_step(self, data):
                x, y = data
                with tf.GradientTape() as tape:
                    y_pred = self(x, training=True)
                    if mode == "compute_loss":
                        loss = self.compute_loss(y=y, y_pred=y_pred)
                    else:
                        loss = self.loss(y, y_pred)
                grads = tape.gradient(loss, self.trainable_variables)
                self.optimizer.apply(grads, self.trainable_variables)
                return {"step_loss": loss}

        return Custom

    import torch

    class Custom(keras.Model):
        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            if mode == "compute_loss":
                loss = self.compute_loss(y=y, y_pred=y_pred)
            else:
                loss = self.loss(y, y_pred)
            loss.backward()
            grads = [v.value.grad for v in self.trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(grads, self.trainable_weights)
            return {"step_loss": loss}

    return Custom


def _jax_custom_class(mode):
    import jax

    class Custom(keras.Model):
        """Keras' JAX guide: stateless_call inside jax.value_and_grad."""

        def guide_loss(self, tv, ntv, mv, x, y, training):
            y_pred, ntv = self.stateless_call(tv, ntv, x, training=training)
            if mode == "compute_loss":
                loss = self.compute_loss(x, y, y_pred)
            elif mode == "loss":
                loss = self.loss(y, y_pred)
            else:
                loss, (tv, ntv, mv) = self.stateless_compute_loss(
                    tv, ntv, mv, x=x, y=y, y_pred=y_pred, training=training
                )
            return loss, (y_pred, ntv, mv)

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, y = data
            grad_fn = jax.value_and_grad(self.guide_loss, has_aux=True)
            (loss, (y_pred, ntv, mv)), grads = grad_fn(tv, ntv, mv, x, y, True)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            new_mv, logs = [], {}
            for metric in self.metrics:
                n = len(metric.variables)
                this = mv[len(new_mv) : len(new_mv) + n]
                if metric.name == "loss":
                    this = metric.stateless_update_state(this, loss)
                else:
                    this = metric.stateless_update_state(this, y, y_pred)
                logs[metric.name] = metric.stateless_result(this)
                new_mv += this
            logs["step_loss"] = loss
            return logs, (tv, ntv, ov, new_mv)

    return Custom


def _compiled(model, loss, spe=1):
    model.compile(
        optimizer=keras.optimizers.SGD(LR0),
        loss=loss,
        jit_compile=JIT,
        steps_per_execution=spe,
    )
    return model


def _fit(model, callbacks, epochs, initial_epoch, data=None, validation=True):
    record = StepLosses()
    x = (X, Y) if data is None else (data,)
    kwargs = {} if data is not None else {"batch_size": BATCH}
    history = model.fit(
        *x,
        **kwargs,
        epochs=epochs,
        initial_epoch=initial_epoch,
        shuffle=False,
        verbose=0,
        validation_data=(X, Y) if validation else None,
        callbacks=[*callbacks, record],
    )
    return record.losses, history.history


def _fit_row(cls=keras.Model, spe=1, data=None):
    def row(loss, callbacks, epochs, initial_epoch, model=None):
        model = model or _compiled(fixed_model(cls), loss, spe)
        return model, *_fit(model, callbacks, epochs, initial_epoch, data)

    return row


def _callback_list(model, callbacks):
    return keras.callbacks.CallbackList(
        callbacks, add_history=True, model=model, epochs=EPOCHS, steps=S
    )


def _loop_row(step_fn_factory):
    """A loop of the user's that drives callbacks through a CallbackList,
    as Keras' "writing a training loop from scratch" guides do."""

    def row(loss, callbacks, epochs, initial_epoch, model=None):
        model = model or _compiled(fixed_model(), loss)
        step = step_fn_factory(model, loss)
        cbs = _callback_list(model, callbacks)
        losses = []
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            for batch in range(S):
                cbs.on_train_batch_begin(batch)
                xb = X[batch * BATCH : (batch + 1) * BATCH]
                yb = Y[batch * BATCH : (batch + 1) * BATCH]
                losses.append(float(step(xb, yb)))
                cbs.on_train_batch_end(batch, {"loss": losses[-1]})
            cbs.on_epoch_end(epoch, {"loss": float(np.mean(losses[-S:]))})
        cbs.on_train_end()
        return model, losses, model.history.history

    return row


def _train_on_batch_step(model, loss):
    def step(x, y):
        # Keras 3.10's train_on_batch returns the running mean since the
        # last reset; newer Keras resets first, as here.
        model.reset_metrics()
        return model.train_on_batch(x, y)

    return step


def _autodiff_step(model, loss):
    """One step of a custom loop with the backend's own autodiff."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(x, y):
            with tf.GradientTape() as tape:
                value = loss(y, model(x, training=True))
            tape.gradient(value, model.trainable_variables)
            return value

        return step
    if BACKEND == "jax":
        import jax

        def step(x, y):
            tv = [v.value for v in model.trainable_variables]
            ntv = [v.value for v in model.non_trainable_variables]

            def f(tv):
                y_pred, _ = model.stateless_call(tv, ntv, x, training=True)
                return loss(y, y_pred)

            value, _ = jax.value_and_grad(f)(tv)
            return value

        return step

    def step(x, y):
        model.zero_grad()
        value = loss(y, model(x, training=True))
        value.backward()
        return value.detach()

    return step


def _distiller_row(loss, callbacks, epochs, initial_epoch, model=None):
    if model is None:
        model = keras.distillation.Distiller(
            teacher=fixed_model(),
            student=fixed_model(),
            distillation_losses=keras.distillation.LogitsDistillation(
                temperature=2.0
            ),
            student_loss_weight=1.0,
        )
        model.compile(
            optimizer=keras.optimizers.SGD(LR0), loss=loss, jit_compile=JIT
        )
    return model, *_fit(model, callbacks, epochs, initial_epoch)


def _unknown_length():
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((X, Y)).batch(BATCH)
    # filter() makes the cardinality unknown, as a generator's.
    return data.filter(lambda x, y: True)


ROWS = {
    "fit": _fit_row(),
    "train_on_batch": _loop_row(_train_on_batch_step),
    "custom_compute_loss": lambda *a, **k: _fit_row(
        _custom_class("compute_loss")
    )(*a, **k),
    "custom_loss_call": lambda *a, **k: _fit_row(_custom_class("loss"))(
        *a, **k
    ),
    "jax_stateless_compute_loss": lambda *a, **k: _fit_row(
        _custom_class("stateless")
    )(*a, **k),
    "custom_loop": _loop_row(_autodiff_step),
    "distiller": _distiller_row,
    "steps_per_execution": _fit_row(spe=3),
    "unknown_length": lambda *a, **k: _fit_row(data=_unknown_length())(*a, **k),
}
ROW_MARKS = {
    "jax_stateless_compute_loss": [requires_jax],
    "distiller": [
        pytest.mark.skipif(
            not hasattr(keras, "distillation"),
            reason="keras.distillation needs Keras >= 3.12",
        )
    ],
    "steps_per_execution": [
        pytest.mark.skipif(
            BACKEND == "torch", reason="PyTorch allows steps_per_execution=1"
        )
    ],
    "unknown_length": [requires_module("tensorflow")],
}
# Rows whose path has no `self.model.loss` that a callback could use.
NO_MODEL_LOSS = {"distiller"}


def _params(rows, columns):
    out = []
    for row in rows:
        for column in columns:
            marks = list(ROW_MARKS.get(row, []))
            if column == "callback_model" and row in NO_MODEL_LOSS:
                continue
            out.append(
                pytest.param(row, column, id=f"{row}-{column}", marks=marks)
            )
    return out


def _spe(row):
    return 3 if row == "steps_per_execution" else 1


def _scheduler_kwargs(row, loss):
    # A Distiller compiles with loss=None: the scheduler is told the loss.
    return {"loss": loss} if row == "distiller" else {}


def _evaluate(model):
    return model.evaluate(X, Y, batch_size=BATCH, verbose=0, return_dict=True)[
        "loss"
    ]


@pytest.mark.filterwarnings("ignore:LabelSmoothingScheduler.update='batch'.")
@pytest.mark.filterwarnings("ignore:Your input ran out of data")
@pytest.mark.parametrize("row, column", _params(ROWS, COLUMNS))
def test_epsilon_is_right_on_every_path(row, column):
    _check_cell(ROWS[row], row, column)


def _check_cell(run, row, column, model=None):
    """Trains through `run` with ε from `column`, and checks every step's
    loss, the epoch means, `logs["label_smoothing"]`, validation,
    `loss.label_smoothing` and `evaluate` against numpy."""
    loss = (
        model.loss
        if model is not None
        else (keras_ls.LabelSmoothingCrossentropy(EPS0))
    )
    if model is not None:
        loss.label_smoothing = EPS0
    callbacks = column_callbacks(column, loss, _scheduler_kwargs(row, loss))
    spe = _spe(row)
    if column == "by_hand":
        model, first, history = run(loss, callbacks, 1, 0, model)
        means = list(history.get("loss", []))
        # evaluate in between uses the ε the user set.
        loss.label_smoothing = BY_HAND
        assert _evaluate(model) == pytest.approx(loss_at(BY_HAND), rel=1e-5)
        model, second, history = run(loss, callbacks, EPOCHS, 1, model)
        losses = first + second
        means += list(history.get("loss", []))
    else:
        model, losses, history = run(loss, callbacks, EPOCHS, 0, model)
        means = list(history.get("loss", []))
    if not means:  # a custom step that returns the step's loss only
        means = [np.mean(losses[e * S : (e + 1) * S]) for e in range(EPOCHS)]
    expected = loss_at(expected_eps(column, range(EPOCHS * S), spe))
    if spe == 1:
        np.testing.assert_allclose(losses, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        means, expected.reshape(EPOCHS, S).mean(axis=1), rtol=1e-5
    )
    last = [last_asked(column, e, row, callbacks) for e in range(EPOCHS)]
    if column in SCHEDULES:
        np.testing.assert_allclose(history["label_smoothing"], last, rtol=1e-6)
    if "val_loss" in history:
        # Validation after each epoch uses the ε of its last train step.
        val = history["val_loss"]
        wanted = last[EPOCHS - len(val) :]
        if column.startswith("callback") and row == "unknown_length":
            # Or the one the callback set in Keras' extra batch-begin call:
            # kept by TensorFlow and PyTorch, dropped by Keras' JAX loop,
            # which restores the state of the last step that ran.
            ran = expected_eps(column, [e * S + S - 1 for e in range(EPOCHS)])
            ran = ran[EPOCHS - len(val) :]
            wanted = wanted if BACKEND != "jax" else ran
            last = last if BACKEND != "jax" else ran
        np.testing.assert_allclose(val, loss_at(wanted), rtol=1e-5)
    # loss.label_smoothing says the ε the last step used, and evaluate()
    # after fit uses it.
    assert loss.label_smoothing == pytest.approx(last[-1], rel=1e-6)
    assert _evaluate(model) == pytest.approx(loss_at(last[-1]), rel=1e-5)


# The five losses ------------------------------------------------------------

_H = float(-(_P * np.log(_P)).sum())  # entropy of softmax(Z)


def _ols_expected(epoch, learned=True):
    if epoch == 0 or not learned:
        return A + 0.5 * B  # S uniform: label smoothing at ε = 1 - α
    # Every example is right (argmax Z is the label): row 0 of S is p.
    return 0.5 * A + 0.5 * _H


FIVE = {
    "ls": (
        lambda: keras_ls.LabelSmoothingCrossentropy(EPS0),
        lambda epoch: loss_at(EPS0),
    ),
    "maxsup": (
        lambda: keras_ls.MaxSuppression(label_smoothing=EPS0),
        lambda epoch: loss_at(EPS0),
    ),
    "mbls": (
        # max z - z = [0, 5, 2.5, 4]; above the margin 3: [0, 2, 0, 1].
        lambda: keras_ls.MarginLabelSmoothing(margin=3.0, alpha=0.1),
        lambda epoch: A + 0.1 * np.mean([0.0, 2.0, 0.0, 1.0]),
    ),
    "cp": (
        lambda: keras_ls.ConfidencePenalty(beta=0.1),
        lambda epoch: A - 0.1 * _H,
    ),
    "ols": (
        lambda: keras_ls.OnlineLabelSmoothing(alpha=0.5, num_classes=K),
        _ols_expected,
    ),
}


class EndEpoch(keras.callbacks.Callback):
    """What a loop of one's own does for OnlineLabelSmoothing (its
    docstring): `loss.end_epoch()` at each epoch boundary."""

    def __init__(self, loss):
        super().__init__()
        self.loss = loss

    def on_epoch_begin(self, epoch, logs=None):
        if epoch > 0:
            self.loss.end_epoch()


LOOP_ROWS = {"train_on_batch", "custom_loop"}


def _five_params():
    out = []
    for row in ROWS:
        for name in FIVE:
            marks = list(ROW_MARKS.get(row, []))
            out.append(pytest.param(row, name, id=f"{row}-{name}", marks=marks))
    return out


def _ols_is_loud(row):
    """Where OnlineLabelSmoothing cannot learn, and says so: a loss called
    on its own (no training step to learn in), and a Distiller on JAX,
    whose fit gathers the state before the loss meets the model."""
    return row == "custom_loop" or (row == "distiller" and BACKEND == "jax")


@pytest.mark.filterwarnings("ignore:Your input ran out of data")
@pytest.mark.parametrize("row, name", _five_params())
def test_the_five_losses_are_right_on_every_path(row, name):
    factory, value = FIVE[name]
    loss = factory()
    callbacks = [EndEpoch(loss)] if name == "ols" and row in LOOP_ROWS else []
    loud = name == "ols" and _ols_is_loud(row)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, losses, history = ROWS[row](loss, callbacks, EPOCHS, 0)
    said = [w for w in caught if "OnlineLabelSmoothing" in str(w.message)]
    assert bool(said) == loud, [str(w.message) for w in caught]
    expected = [
        value(e) if name != "ols" else _ols_expected(e, not loud)
        for e in range(EPOCHS)
        for _ in range(S)
    ]
    if _spe(row) == 1:
        np.testing.assert_allclose(losses, expected, rtol=1e-5, atol=1e-5)
    means = history.get("loss") or [
        np.mean(losses[e * S : (e + 1) * S]) for e in range(EPOCHS)
    ]
    np.testing.assert_allclose(
        means, np.reshape(expected, (EPOCHS, S)).mean(axis=1), rtol=1e-5
    )


# torch.compile --------------------------------------------------------------


@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile is PyTorch's")
@pytest.mark.parametrize("mode", ["fit", "custom_compute_loss"])
def test_torch_compile_is_right_and_quiet(mode, capfd, caplog):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _torch_compile_columns(mode)
    printed = capfd.readouterr()
    noise = printed.out + printed.err + caplog.text
    noise += "".join(str(w.message) for w in caught)
    # Dynamo says so (once per process) when it meets sys._getframe.
    assert "_getframe" not in noise and "graph break" not in noise.lower()


def _torch_compile_columns(mode):
    """One compiled model through every ε column, then the five losses,
    without Dynamo noise: keras_ls reads no frame inside the graph."""
    cls = keras.Model if mode == "fit" else _custom_class("compute_loss")
    model = _compiled(fixed_model(cls), keras_ls.LabelSmoothingCrossentropy())
    model.compile(
        optimizer=keras.optimizers.SGD(LR0), loss=model.loss, jit_compile=True
    )
    for column in COLUMNS:
        _check_cell(ROWS["fit"], "fit", column, model)
    if mode != "fit":
        return
    for name, (factory, value) in FIVE.items():
        loss = factory()
        model = fixed_model()
        model.compile(
            optimizer=keras.optimizers.SGD(LR0), loss=loss, jit_compile=True
        )
        losses, _ = _fit(model, [], EPOCHS, 0, validation=False)
        expected = [value(e) for e in range(EPOCHS) for _ in range(S)]
        np.testing.assert_allclose(losses, expected, rtol=1e-5, atol=1e-5)


# An interrupted fit -----------------------------------------------------------


class Interrupt(keras.callbacks.Callback):
    """Raises in the middle of epoch 1, as Ctrl-C in a notebook or a
    callback's error would: `on_train_end` is never called."""

    def __init__(self, error):
        super().__init__()
        self.error = error

    def on_train_batch_begin(self, batch, logs=None):
        if self._epoch == 1 and batch == 3:
            raise self.error("interrupted")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


INTERRUPTED = {
    "in_step_builtin": lambda: keras_ls.LabelSmoothingScheduler(
        schedules.LinearDecay(0.9, 0.0, duration=4 * S), update="batch"
    ),
    "in_step_table": lambda: keras_ls.LabelSmoothingScheduler(
        lambda t: 0.8 - 0.01 * t, update="batch"
    ),
    "host": lambda: keras_ls.LabelSmoothingScheduler(
        lambda t, current: 0.8 - 0.1 * t
    ),
}


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("kind", sorted(INTERRUPTED))
def test_an_interrupted_fit_does_not_change_what_later_fits_compute(
    kind, error
):
    loss = keras_ls.LabelSmoothingCrossentropy(EPS0)
    model = _compiled(fixed_model(), loss)
    with pytest.raises(error):
        _fit(model, [INTERRUPTED[kind](), Interrupt(error)], 3, 0)
    # What loss.label_smoothing says is what every later step computes:
    # evaluate, train_on_batch and a fit without the scheduler.
    now = loss.label_smoothing
    assert _evaluate(model) == pytest.approx(loss_at(now), rel=1e-5)
    loss.label_smoothing = 0.0
    assert _evaluate(model) == pytest.approx(loss_at(0.0), rel=1e-5)
    batch = model.train_on_batch(X[:BATCH], Y[:BATCH])
    assert float(batch) == pytest.approx(loss_at(0.0), rel=1e-5)
    losses, history = _fit(model, [], EPOCHS, 0)
    np.testing.assert_allclose(losses, loss_at([0.0] * EPOCHS * S), rtol=1e-5)
    np.testing.assert_allclose(
        history["val_loss"], loss_at([0.0] * 2), rtol=1e-5
    )
    # And the scheduler works again in the fit after.
    losses, history = _fit(model, [INTERRUPTED[kind]()], 1, 0)
    assert history["label_smoothing"][0] == pytest.approx(
        {
            "in_step_builtin": 0.9 - 0.9 * 5 / 24,
            "in_step_table": 0.75,
            "host": 0.8,
        }[kind],
        rel=1e-5,
    )


# A Distiller: the loss compile never sees ----------------------------------

_DISTILLER = pytest.mark.skipif(
    not hasattr(keras, "distillation"),
    reason="keras.distillation needs Keras >= 3.12",
)


@_DISTILLER
def test_a_distiller_scheduler_without_loss_says_to_name_it():
    loss = keras_ls.LabelSmoothingCrossentropy(EPS0)
    callbacks = column_callbacks("sched_step_builtin", loss)
    with pytest.raises(ValueError, match="pass `loss=`"):
        _distiller_row(loss, callbacks, 1, 0)


@_DISTILLER
def test_a_distiller_learns_online_label_smoothing_once_tracked():
    loss = keras_ls.OnlineLabelSmoothing(alpha=0.5, num_classes=K)
    model = keras.distillation.Distiller(
        teacher=fixed_model(),
        student=fixed_model(),
        distillation_losses=keras.distillation.LogitsDistillation(
            temperature=2.0
        ),
        student_loss_weight=1.0,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(LR0), loss=loss, jit_compile=JIT
    )
    keras_ls.track_label_smoothing(model, losses=[loss])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        _, losses, _ = _distiller_row(loss, [], EPOCHS, 0, model)
    expected = [_ols_expected(e) for e in range(EPOCHS) for _ in range(S)]
    np.testing.assert_allclose(losses, expected, rtol=1e-5, atol=1e-5)
