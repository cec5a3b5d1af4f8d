"""LabelSmoothingScheduler: what the compiled step computes, per backend.

The model's logits cannot change (learning rate 0, fixed non-uniform
weights), so each epoch's loss in `history` is a closed-form function of
the ε the compiled step actually used; the expected values are computed in
numpy from the schedule's definition, never by the code under test.
"""

import csv

import keras
import numpy as np
import pytest

from keras_ls._tracking import state as _state
from keras_ls.callbacks.scheduler import LabelSmoothingScheduler
from keras_ls.losses import LabelSmoothingCrossentropy
from keras_ls.schedules import LinearDecay
from keras_ls.schedules import LinearWarmup
from keras_ls.schedules import PiecewiseConstant
from keras_ls.schedules import TwoStage
from tests import oracle
from tests.testing import BACKEND
from tests.testing import TORCH_COMPILE

K = 3
N = 32
BATCH = 8
STEPS = N // BATCH
W = np.array(
    [[2.0, -4.0, 1.2], [4.8, 0.4, -2.8], [-1.6, 3.6, 0.8], [1.2, -2.4, 4.4]],
    "float32",
)
B = np.array([0.1, -0.2, 0.05], "float32")
W2 = np.array(
    [[-1.2, 3.2, 0.4], [0.8, -2.0, 3.6], [4.0, 1.6, -0.8], [-2.8, 1.2, 2.4]],
    "float32",
)

MODES = [
    "eager",
    "graph",
    pytest.param(
        "jit",
        marks=pytest.mark.skipif(
            BACKEND == "torch" and not TORCH_COMPILE,
            reason="jit_compile=True is torch.compile on PyTorch, which "
            "takes about 100 s per model on the 2-core CI CPU; set "
            "KERAS_LS_TORCH_COMPILE=1 to run it",
        ),
    ),
]


def data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype("float32")
    # Mostly the predicted class, so the loss moves visibly with ε.
    y = np.argmax(x @ W + B, axis=-1)
    y[::5] = (y[::5] + 1) % K
    return x, y.astype("int32")


def per_sample(x, y, eps, w=W, b=B):
    logits = x.astype(np.float64) @ w + b
    return oracle.dense_ce(oracle.smoothed_targets(y, K, eps), logits)


def compile_kwargs(mode):
    if mode == "eager":
        return {"run_eagerly": True}
    return {"jit_compile": mode == "jit"}


def frozen_model(loss, mode="graph", model_cls=None):
    inputs = keras.Input((4,))
    layer = keras.layers.Dense(K)
    if model_cls is None:
        model = keras.Model(inputs, layer(inputs))
    else:
        model = model_cls(inputs, layer(inputs))
    layer.set_weights([W, B])
    model.compile(
        optimizer=keras.optimizers.SGD(0.0), loss=loss, **compile_kwargs(mode)
    )
    if mode == "jit":
        assert model.jit_compile is True
    return model


def expected_epoch_losses(x, y, schedule, update, epochs, initial_epoch=0):
    out = []
    for epoch in range(initial_epoch, epochs):
        if update == "epoch":
            out.append(per_sample(x, y, schedule(epoch)).mean())
            continue
        steps = []
        for b in range(STEPS):
            rows = slice(b * BATCH, (b + 1) * BATCH)
            eps = schedule(epoch * STEPS + b)
            steps.append(per_sample(x[rows], y[rows], eps).mean())
        out.append(np.mean(steps))
    return np.array(out)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("update", ["epoch", "batch"])
@pytest.mark.parametrize(
    "schedule",
    [LinearDecay(0.3, 0.0, duration=3), LinearWarmup(0.2, duration=5)],
    ids=["decay", "from_zero"],
)
def test_history_loss_equals_analytic_loss_at_scheduled_eps(
    mode, update, schedule
):
    x, y = data()
    model = frozen_model(LabelSmoothingCrossentropy(0.5), mode)
    epochs = 4
    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=[LabelSmoothingScheduler(schedule, update=update)],
    )
    expected = expected_epoch_losses(x, y, schedule, update, epochs)
    np.testing.assert_allclose(
        history.history["loss"], expected, rtol=1e-5, atol=1e-6
    )
    # The losses really differ between epochs: a frozen ε would fail.
    assert np.ptp(expected) > 0.1
    last = [
        schedule(e if update == "epoch" else e * STEPS + STEPS - 1)
        for e in range(epochs)
    ]
    logged = history.history["label_smoothing"]
    assert all(type(v) is float for v in logged)
    np.testing.assert_allclose(logged, last, atol=1e-12)
    # Logits were really frozen.
    np.testing.assert_allclose(model.layers[-1].get_weights()[0], W)


def test_epsilon_assigned_by_hand_reaches_the_compiled_step():
    """Assigning ε from one's own callback, without the scheduler: the loss
    tracks its own ε in the model (issue 14, F7), so JAX's jit no longer
    bakes the first value in as a constant."""
    x, y = data()
    loss = LabelSmoothingCrossentropy(0.1)
    model = frozen_model(loss, "jit" if BACKEND != "torch" else "graph")
    values = [0.1, 0.2, 0.3]

    class Raw(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            loss.label_smoothing = values[epoch]

    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[Raw()],
    )
    correct = [per_sample(x, y, e).mean() for e in values]
    np.testing.assert_allclose(history.history["loss"], correct, rtol=1e-5)


TRACES = []


class CountingModel(keras.Model):
    """Counts executions of train_step's Python body: under jit (JAX) or
    tf.function (TensorFlow) that body runs only while tracing."""

    def train_step(self, *args):
        TRACES.append(1)
        return super().train_step(*args)


@pytest.mark.skipif(
    BACKEND == "torch",
    reason="PyTorch runs train_step eagerly (jit_compile=False), so there "
    "is no trace to count; its correctness is covered by the history tests",
)
@pytest.mark.parametrize(
    "mode",
    [
        pytest.param(
            "graph",
            marks=pytest.mark.skipif(
                BACKEND == "jax",
                reason="jit_compile=False runs train_step eagerly on JAX: "
                "there is no trace to count",
            ),
        ),
        "jit",
    ],
)
@pytest.mark.parametrize("n, signatures", [(N, 1), (N + 4, 2)])
def test_scheduling_adds_no_traces(mode, n, signatures):
    x, y = data(n)
    TRACES.clear()
    model = frozen_model(
        LabelSmoothingCrossentropy(0.1), mode, model_cls=CountingModel
    )
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=5,
        verbose=0,
        callbacks=[
            LabelSmoothingScheduler(LinearDecay(0.3, 0.0, 40), update="batch")
        ],
    )
    scheduled = len(TRACES)
    TRACES.clear()
    baseline = frozen_model(
        LabelSmoothingCrossentropy(0.1), mode, model_cls=CountingModel
    )
    baseline.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    assert scheduled == len(TRACES)
    # One trace per input signature. On JAX the partial last batch is
    # another signature; TensorFlow traces once with a dynamic batch size.
    assert scheduled == (signatures if BACKEND == "jax" else 1)
    # A second fit with an equal schedule (a new callback) reuses the
    # compiled step. A different schedule is different step code, since the
    # step computes ε: it traces once more, as a new compile would.
    TRACES.clear()
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=3,
        verbose=0,
        callbacks=[
            LabelSmoothingScheduler(LinearDecay(0.3, 0.0, 40), update="batch")
        ],
    )
    assert len(TRACES) == 0
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=3,
        verbose=0,
        callbacks=[LabelSmoothingScheduler(TwoStage(0.2, 1))],
    )
    assert len(TRACES) == scheduled


@pytest.mark.parametrize("update", ["epoch", "batch"])
def test_resume_with_initial_epoch_continues_the_schedule(update):
    x, y = data()
    schedule = LinearDecay(0.3, 0.0, duration=4 if update == "epoch" else 16)
    model = frozen_model(LabelSmoothingCrossentropy(0.1))
    first = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[LabelSmoothingScheduler(schedule, update=update)],
    )
    # A new callback, as after a restart from a checkpoint.
    resumed = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=4,
        initial_epoch=2,
        shuffle=False,
        verbose=0,
        callbacks=[LabelSmoothingScheduler(schedule, update=update)],
    )
    expected = expected_epoch_losses(x, y, schedule, update, 4)
    np.testing.assert_allclose(first.history["loss"], expected[:2], rtol=1e-5)
    np.testing.assert_allclose(resumed.history["loss"], expected[2:], rtol=1e-5)
    assert len(resumed.history["loss"]) == 2


def multi_output_model(loss_a, loss_b, mode="graph"):
    inputs = keras.Input((4,))
    a = keras.layers.Dense(K, name="a")
    b = keras.layers.Dense(K, name="b")
    model = keras.Model(inputs, {"a": a(inputs), "b": b(inputs)})
    a.set_weights([W, B])
    b.set_weights([W2, -B])
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss={"a": loss_a, "b": loss_b},
        **compile_kwargs(mode),
    )
    return model


@pytest.mark.parametrize("mode", [m for m in MODES if m != "eager"])
def test_multi_output_losses_scheduled_independently(mode):
    x, y = data()
    loss_b = LabelSmoothingCrossentropy(0.2)
    model = multi_output_model(LabelSmoothingCrossentropy(0.1), loss_b, mode)
    sched_a = TwoStage(0.25, switch=2)
    sched_b = LinearWarmup(0.3, duration=8)
    history = model.fit(
        x,
        {"a": y, "b": y},
        batch_size=BATCH,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[
            LabelSmoothingScheduler(sched_a, loss="a"),
            LabelSmoothingScheduler(sched_b, loss=loss_b, update="batch"),
        ],
    )
    h = history.history
    exp_a = [per_sample(x, y, sched_a(e)).mean() for e in range(3)]
    exp_b = []
    for e in range(3):
        exp_b.append(
            np.mean(
                [
                    per_sample(
                        x[i * BATCH : (i + 1) * BATCH],
                        y[i * BATCH : (i + 1) * BATCH],
                        sched_b(e * STEPS + i),
                        W2,
                        -B,
                    ).mean()
                    for i in range(STEPS)
                ]
            )
        )
    np.testing.assert_allclose(h["a_loss"], exp_a, rtol=1e-5)
    np.testing.assert_allclose(h["b_loss"], exp_b, rtol=1e-5)
    np.testing.assert_allclose(h["loss"], np.add(exp_a, exp_b), rtol=1e-5)
    assert h["a_label_smoothing"] == [0.25, 0.25, 0.0]
    np.testing.assert_allclose(
        h["b_label_smoothing"], [sched_b(e * STEPS + 3) for e in range(3)]
    )
    # Neither callback drives every loss, so neither claims the plain key.
    assert "label_smoothing" not in h


def test_one_callback_for_all_outputs_writes_plain_and_per_output_keys():
    x, y = data()
    model = multi_output_model(
        LabelSmoothingCrossentropy(0.1), LabelSmoothingCrossentropy(0.2)
    )
    history = model.fit(
        x,
        {"a": y, "b": y},
        batch_size=BATCH,
        epochs=2,
        verbose=0,
        callbacks=[
            LabelSmoothingScheduler(PiecewiseConstant([1], [0.15, 0.05]))
        ],
    )
    h = history.history
    assert h["label_smoothing"] == [0.15, 0.05]
    assert h["a_label_smoothing"] == h["b_label_smoothing"] == [0.15, 0.05]
    for name, w, b in [("a", W, B), ("b", W2, -B)]:
        np.testing.assert_allclose(
            h[f"{name}_loss"],
            [per_sample(x, y, e, w, b).mean() for e in (0.15, 0.05)],
            rtol=1e-5,
        )


def test_two_argument_callable_gets_the_current_value():
    x, y = data()
    loss = LabelSmoothingCrossentropy(0.4)
    model = frozen_model(loss)
    seen = []

    def halve(epoch, current):
        seen.append(current)
        return current / 2

    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=3,
        verbose=0,
        callbacks=[LabelSmoothingScheduler(halve)],
    )
    np.testing.assert_allclose(seen, [0.4, 0.2, 0.1], rtol=1e-6)
    np.testing.assert_allclose(
        history.history["label_smoothing"], [0.2, 0.1, 0.05], rtol=1e-6
    )
    np.testing.assert_allclose(
        history.history["loss"],
        [per_sample(x, y, e).mean() for e in (0.2, 0.1, 0.05)],
        rtol=1e-5,
    )
    assert loss.label_smoothing == pytest.approx(0.05)


def test_validation_loss_uses_the_current_eps():
    x, y = data()
    xv, yv = data(16, seed=1)
    model = frozen_model(LabelSmoothingCrossentropy(0.1))
    schedule = PiecewiseConstant([1], [0.3, 0.0])
    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        verbose=0,
        validation_data=(xv, yv),
        callbacks=[LabelSmoothingScheduler(schedule)],
    )
    np.testing.assert_allclose(
        history.history["val_loss"],
        [per_sample(xv, yv, e).mean() for e in (0.3, 0.0)],
        rtol=1e-5,
    )


def test_logs_reach_csv_logger_and_verbose_message(tmp_path, capsys):
    x, y = data()
    model = frozen_model(LabelSmoothingCrossentropy(0.1))
    path = tmp_path / "log.csv"
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        verbose=0,
        callbacks=[
            LabelSmoothingScheduler(
                PiecewiseConstant([1], [0.2, 0.05]), verbose=1
            ),
            keras.callbacks.CSVLogger(str(path)),
        ],
    )
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert [float(r["label_smoothing"]) for r in rows] == [0.2, 0.05]
    out = capsys.readouterr().out
    assert (
        "Epoch 1: LabelSmoothingScheduler setting label_smoothing to 0.2."
        in out
    )
    assert (
        "Epoch 2: LabelSmoothingScheduler setting label_smoothing to 0.05."
        in out
    )


def test_fit_twice_without_then_with_the_scheduler():
    """A train function built before the callback existed is not reused
    stale (on JAX the state now has one more entry)."""
    x, y = data()
    model = frozen_model(
        LabelSmoothingCrossentropy(0.1),
        "jit" if BACKEND != "torch" else "graph",
    )
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        verbose=0,
        callbacks=[LabelSmoothingScheduler(lambda e: [0.3, 0.05][e])],
    )
    np.testing.assert_allclose(
        history.history["loss"],
        [per_sample(x, y, e).mean() for e in (0.3, 0.05)],
        rtol=1e-5,
    )


def holder_of(model):
    return [
        m for m in model.metrics if isinstance(m, _state.LabelSmoothingState)
    ]


def test_state_tracking_leaves_weights_alone():
    loss = LabelSmoothingCrossentropy(0.1)
    model = frozen_model(loss)
    before = [w.path for w in model.weights]
    LabelSmoothingScheduler(TwoStage(0.1, 2)).set_model(model)
    LabelSmoothingScheduler(TwoStage(0.1, 2)).set_model(model)
    assert [w.path for w in model.weights] == before
    assert len(model.get_weights()) == 2
    (holder,) = holder_of(model)
    assert holder.label_smoothing_variables == [loss.label_smoothing_variable]
    assert any(
        v is loss.label_smoothing_variable for v in model.metrics_variables
    )
    model.reset_metrics()
    assert loss.label_smoothing == pytest.approx(0.1)


def test_save_load_model_and_weights_in_both_directions(tmp_path):
    x, y = data()
    model = frozen_model(LabelSmoothingCrossentropy(0.1))
    model.optimizer.learning_rate.assign(0.1)
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=3,
        verbose=0,
        callbacks=[LabelSmoothingScheduler(LinearDecay(0.3, 0.1, 2))],
    )
    assert holder_of(model)
    trained = model.predict(x, verbose=0)
    assert not np.allclose(model.layers[-1].get_weights()[0], W)

    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), trained, rtol=1e-6)
    assert isinstance(loaded.loss, LabelSmoothingCrossentropy)
    assert loaded.loss.label_smoothing == pytest.approx(0.1)
    assert not holder_of(loaded)

    # Weights of the scheduled model into a plain model, and back.
    model.save_weights(tmp_path / "scheduled.weights.h5")
    plain = frozen_model(LabelSmoothingCrossentropy(0.1))
    assert not holder_of(plain)
    plain.load_weights(tmp_path / "scheduled.weights.h5")
    np.testing.assert_allclose(plain.predict(x, verbose=0), trained, rtol=1e-6)
    other = frozen_model(LabelSmoothingCrossentropy(0.1))
    other.layers[-1].set_weights([W2, -B])
    other.save_weights(tmp_path / "plain.weights.h5")
    model.load_weights(tmp_path / "plain.weights.h5")
    np.testing.assert_allclose(model.layers[-1].get_weights()[0], W2)

    # The loaded model trains on with a new scheduler, correctly.
    loaded.optimizer.learning_rate.assign(0.0)
    history = loaded.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=1,
        verbose=0,
        callbacks=[LabelSmoothingScheduler(lambda e: 0.25)],
    )
    w, b = loaded.layers[-1].get_weights()
    np.testing.assert_allclose(
        history.history["loss"],
        [per_sample(x, y, 0.25, w, b).mean()],
        rtol=1e-5,
    )


@pytest.mark.parametrize("path", ["table", "host"])
@pytest.mark.parametrize("bad", [1.0, float("nan"), -0.1, "0.1", None])
def test_bad_schedule_value_raises_and_changes_nothing(bad, path):
    x, y = data()
    loss_a = LabelSmoothingCrossentropy(0.1)
    loss_b = LabelSmoothingCrossentropy(0.2)
    model = multi_output_model(loss_a, loss_b)
    if path == "table":
        schedule = lambda e: 0.05 if e == 0 else bad  # noqa: E731
    else:
        schedule = lambda e, current: 0.05 if e == 0 else bad  # noqa: E731
    with pytest.raises(ValueError, match=r"\[0, 1\).*epoch 1"):
        model.fit(
            x,
            {"a": y, "b": y},
            batch_size=BATCH,
            epochs=3,
            verbose=0,
            callbacks=[LabelSmoothingScheduler(schedule)],
        )
    if path == "table":
        # f(epoch) is tabulated when fit starts (docs/schedules.md): the
        # bad value of epoch 1 is refused before the first step.
        assert loss_a.label_smoothing == pytest.approx(0.1)
        assert loss_b.label_smoothing == pytest.approx(0.2)
    else:
        # f(epoch, current) runs before each epoch: epoch 0 trained.
        assert loss_a.label_smoothing == pytest.approx(0.05)
        assert loss_b.label_smoothing == pytest.approx(0.05)


def test_constructor_and_model_errors():
    with pytest.raises(ValueError, match="update.*Received: update='step'"):
        LabelSmoothingScheduler(TwoStage(0.1, 1), update="step")
    with pytest.raises(ValueError, match="schedule=0.1"):
        LabelSmoothingScheduler(0.1)
    with pytest.raises(ValueError, match="signature"):
        LabelSmoothingScheduler(lambda: 0.1)
    with pytest.raises(ValueError, match="loss="):
        LabelSmoothingScheduler(
            TwoStage(0.1, 1), loss=keras.losses.MeanSquaredError()
        )
    with pytest.raises(ValueError, match="verbose"):
        LabelSmoothingScheduler(TwoStage(0.1, 1), verbose=-1)
    mse_model = frozen_model("mse")
    with pytest.raises(ValueError, match="no keras_ls smoothing loss"):
        LabelSmoothingScheduler(TwoStage(0.1, 1)).set_model(mse_model)
    multi = multi_output_model(LabelSmoothingCrossentropy(0.1), "mse")
    with pytest.raises(ValueError, match=r"output 'b'.*\['a'\]"):
        LabelSmoothingScheduler(TwoStage(0.1, 1), loss="b").set_model(multi)


def test_config_round_trip():
    callback = LabelSmoothingScheduler(
        TwoStage(0.1, 3), update="batch", verbose=1
    )
    rebuilt = LabelSmoothingScheduler.from_config(callback.get_config())
    assert rebuilt.schedule == TwoStage(0.1, 3)
    assert (rebuilt.update, rebuilt.verbose, rebuilt.loss) == ("batch", 1, None)


def test_keeps_keras_asynchronous_dispatch():
    """Overriding on_train_batch_end would make Keras wait for every step
    (it pythonifies the logs); the scheduler must not override it."""
    base = keras.callbacks.Callback
    assert LabelSmoothingScheduler.on_train_batch_end is base.on_train_batch_end
    assert LabelSmoothingScheduler.on_batch_end is base.on_batch_end


def test_select_smoothing_losses_without_fit():
    from keras_ls.callbacks.scheduler import select_smoothing_losses

    a, b = LabelSmoothingCrossentropy(0.1), LabelSmoothingCrossentropy(0.2)
    assert select_smoothing_losses(a, ["out"]) == ([("out", a)], True, 1)
    assert select_smoothing_losses(a, ["out"], "out") == ([("out", a)], True, 1)
    assert select_smoothing_losses(a, None) == ([(None, a)], True, 1)
    # One output: the error names it (issue 18 found "Outputs with one: []").
    with pytest.raises(ValueError, match=r"output 'nope'.*\['out'\]"):
        select_smoothing_losses(a, ["out"], "nope")
    # A list is matched to the output names by position; non-smoothing
    # losses are skipped; the targets keep the order asked, once each.
    listed = [a, "mse", b]
    names = ["x", "y", "z"]
    assert select_smoothing_losses(listed, names) == (
        [("x", a), ("z", b)],
        True,
        2,
    )
    assert select_smoothing_losses(listed, names, [b, "x", b]) == (
        [("z", b), ("x", a)],
        True,
        2,
    )
    assert select_smoothing_losses({"p": a, "q": b}, None, "q") == (
        [("q", b)],
        False,
        2,
    )
    # A loss object the model does not hold is driven under its own name.
    other = LabelSmoothingCrossentropy(0.3, name="other")
    assert select_smoothing_losses(a, None, other) == (
        [("other", other)],
        False,
        1,
    )
    with pytest.raises(ValueError, match="no keras_ls smoothing loss"):
        select_smoothing_losses(["mse"], ["x"])
    with pytest.raises(ValueError, match=r"output 'y'.*\['x', 'z'\]"):
        select_smoothing_losses(listed, names, "y")
    with pytest.raises(ValueError, match=r"Received: loss=\[\]"):
        select_smoothing_losses(a, None, [])


def test_schedule_value_error_names_value_and_where():
    scheduler = LabelSmoothingScheduler(lambda t: 1.5, update="batch")
    with pytest.raises(
        ValueError,
        match=r"label_smoothing=1\.5 \(returned by the schedule at step 7\)",
    ):
        scheduler.value_at(7)
    # A scalar tensor is accepted as its value.
    scheduler = LabelSmoothingScheduler(
        lambda t: keras.ops.convert_to_tensor(0.25)
    )
    assert scheduler.value_at(0) == 0.25
