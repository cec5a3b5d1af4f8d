"""ε computed inside the compiled train step (issue 10).

The model's logits are fixed (a frozen Dense with zero kernel), so the loss
of every step is a known function of the ε that step used: with the
closed form loss = (1 - ε)·(lse - z_y) + ε·(lse - mean_k z_k) (uniform
convention), ε is read back exactly from the per-step loss.
"""

import keras
import numpy as np
import pytest

import keras_ls
from keras_ls import schedules
from keras_ls._tracking import steps as _steps
from tests.testing import BACKEND
from tests.testing import JIT


class _StepKindLoss(keras.losses.Loss):
    """1.0 in training steps, 2.0 in evaluation steps, 3.0 outside; the
    branch is taken in Python, so in compiled steps at trace time."""

    def call(self, y_true, y_pred):
        kind = _steps.is_training_step()
        value = {True: 1.0, False: 2.0, None: 3.0}[kind]
        return y_pred[:, 0] * 0.0 + value


def _tiny_model():
    inputs = keras.Input((2,))
    return keras.Model(inputs, keras.layers.Dense(3)(inputs))


def test_is_training_step_in_fit_evaluate_and_validation():
    model = _tiny_model()
    model.compile(optimizer="sgd", loss=_StepKindLoss(), jit_compile=JIT)
    _steps.watch(model)
    x = np.zeros((8, 2), "float32")
    y = np.zeros((8, 3), "float32")
    history = model.fit(
        x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x, y)
    )
    assert history.history["loss"] == [1.0, 1.0]
    assert history.history["val_loss"] == [2.0, 2.0]
    assert model.evaluate(x, y, verbose=0) == 2.0
    assert _steps.is_training_step() is None
    loss = _StepKindLoss()
    assert float(keras.ops.convert_to_numpy(loss(y, x[:, :3] * 0 + 1))) == 3.0


@pytest.mark.skipif(
    BACKEND == "jax",
    reason="a JAX custom step is a function of (state, data) that calls "
    "stateless_compute_loss(..., training=...)",
)
def test_is_training_step_with_custom_steps_calling_compute_loss():
    class Custom(keras.Model):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            # Keras' documented custom step: no `training` argument.
            loss = self.compute_loss(y=y, y_pred=y_pred)
            return {"kind": loss}

    inputs = keras.Input((2,))
    model = Custom(inputs, keras.layers.Dense(3)(inputs))
    model.compile(optimizer="sgd", loss=_StepKindLoss(), jit_compile=JIT)
    _steps.watch(model)
    _steps.watch(model)  # idempotent
    x = np.zeros((8, 2), "float32")
    y = np.zeros((8, 3), "float32")
    assert model.fit(x, y, epochs=1, verbose=0).history["loss"] == [1.0]
    assert model.evaluate(x, y, verbose=0, return_dict=True)["kind"] == 2.0


# ε from a step counter inside the compiled train step ---------------------

Z = np.array([3.0, -2.0, 0.5, -1.0], np.float32)  # the fixed logits
S = 6  # steps per epoch
BATCH = 2
X = np.zeros((S * BATCH, 1), np.float32)
Y = np.zeros(S * BATCH, np.int32)  # every label is class 0
_Z64 = Z.astype(np.float64)
_LSE = np.log(np.exp(_Z64).sum())
# Closed form, uniform convention: loss = A + ε·B for class-0 labels.
A = _LSE - _Z64[0]
B = _Z64[0] - _Z64.mean()


def loss_at(eps):
    return A + B * np.asarray(eps, np.float64)


def fixed_logit_model(model_cls=keras.Model):
    """Outputs Z whatever the input: zero kernel, Z as a frozen bias."""
    inputs = keras.Input((1,))
    dense = keras.layers.Dense(
        len(Z),
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(Z),
        trainable=False,
    )
    return model_cls(inputs, dense(inputs))


def compiled(model=None, steps_per_execution=1, model_cls=keras.Model):
    model = model or fixed_logit_model(model_cls)
    model.compile(
        optimizer="sgd",
        loss=keras_ls.LabelSmoothingCrossentropy(0.1),
        jit_compile=JIT,
        steps_per_execution=steps_per_execution,
    )
    return model


class StepEpsilons(keras.callbacks.Callback):
    """ε of every train step, read back from the step's loss: Keras logs
    the running mean of the epoch, so step k's loss is
    (k + 1)·mean_k - k·mean_(k-1)."""

    def __init__(self):
        super().__init__()
        self.epsilons = []

    def on_epoch_begin(self, epoch, logs=None):
        self._previous = 0.0
        self._count = 0

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        loss = (self._count + 1) * mean - self._count * self._previous
        self._count += 1
        self._previous = mean
        self.epsilons.append((loss - A) / B)


def keras_cosine(t, total=4 * S, initial=0.4):
    """numpy value of keras.optimizers.schedules.CosineDecay(0.4, total)."""
    p = np.minimum(np.asarray(t, np.float64), total) / total
    return initial * 0.5 * (1.0 + np.cos(np.pi * p))


KINDS = {
    # name: (schedule factory, numpy/Python expected value at step t)
    "builtin": (
        lambda: schedules.LinearDecay(0.5, 0.0, duration=4 * S),
        lambda t: 0.5 - 0.5 * min(t, 4 * S) / (4 * S),
    ),
    "keras": (
        lambda: keras.optimizers.schedules.CosineDecay(0.4, 4 * S),
        keras_cosine,
    ),
    "callable": (
        lambda: lambda t: 0.05 * (t % 6) + 0.01 * (t // 6),
        lambda t: 0.05 * (t % 6) + 0.01 * (t // 6),
    ),
}


def scheduler(kind, **kwargs):
    return keras_ls.LabelSmoothingScheduler(
        KINDS[kind][0](), update="batch", **kwargs
    )


def expected(kind, steps):
    return [float(KINDS[kind][1](t)) for t in steps]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_per_step_epsilon_is_the_schedule_at_the_global_step(kind):
    model = compiled()
    record = StepEpsilons()
    history = model.fit(
        X,
        Y,
        batch_size=BATCH,
        epochs=2,
        shuffle=False,
        verbose=0,
        validation_data=(X, Y),
        callbacks=[scheduler(kind), record],
    )
    np.testing.assert_allclose(
        record.epsilons, expected(kind, range(2 * S)), atol=2e-5
    )
    last = expected(kind, [S - 1, 2 * S - 1])
    # Validation (between epochs) used the last train step's ε and did not
    # advance the counter: the next epoch starts at step S.
    np.testing.assert_allclose(
        history.history["val_loss"], loss_at(last), rtol=1e-5
    )
    np.testing.assert_allclose(
        history.history["label_smoothing"], last, rtol=1e-6
    )
    assert model.loss.label_smoothing == pytest.approx(last[-1], rel=1e-6)
    # Resumed with initial_epoch: steps 2S..4S-1, whatever the counter held.
    record = StepEpsilons()
    model.fit(
        X,
        Y,
        batch_size=BATCH,
        initial_epoch=2,
        epochs=4,
        shuffle=False,
        verbose=0,
        validation_data=(X, Y),
        callbacks=[scheduler(kind), record],
    )
    np.testing.assert_allclose(
        record.epsilons, expected(kind, range(2 * S, 4 * S)), atol=2e-5
    )
    # evaluate() after fit: the ε of the last step, from the variable.
    assert model.evaluate(X, Y, verbose=0) == pytest.approx(
        loss_at(expected(kind, [4 * S - 1])[0]), rel=1e-5
    )


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("interrupted")


@pytest.mark.parametrize("kind", ["builtin", "callable"])
def test_backup_and_restore_resume_continues_the_counter(kind, tmp_path):
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="interrupted"):
        compiled().fit(
            X,
            Y,
            batch_size=BATCH,
            epochs=4,
            shuffle=False,
            verbose=0,
            callbacks=[
                scheduler(kind),
                keras.callbacks.BackupAndRestore(backup),
                _Interrupt(),
            ],
        )
    record = StepEpsilons()
    history = compiled().fit(  # a new process would build a new model
        X,
        Y,
        batch_size=BATCH,
        epochs=4,
        shuffle=False,
        verbose=0,
        callbacks=[
            scheduler(kind),
            keras.callbacks.BackupAndRestore(backup),
            record,
        ],
    )
    assert len(history.history["loss"]) == 2  # epochs 2 and 3 only
    np.testing.assert_allclose(
        record.epsilons, expected(kind, range(2 * S, 4 * S)), atol=2e-5
    )


@pytest.mark.skipif(
    BACKEND == "torch", reason="PyTorch allows only steps_per_execution=1"
)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_steps_per_execution_gives_every_step_its_own_epsilon(kind):
    # Keras calls on_train_batch_begin once per 3 steps here, so ε set
    # from Python would apply to 3 steps; from the counter it does not.
    losses = {}
    for spe in (1, 3):
        model = compiled(steps_per_execution=spe)
        history = model.fit(
            X,
            Y,
            batch_size=BATCH,
            epochs=2,
            shuffle=False,
            verbose=0,
            validation_data=(X, Y),
            callbacks=[scheduler(kind)],
        )
        losses[spe] = history.history
    for epoch in range(2):
        steps = range(epoch * S, (epoch + 1) * S)
        mean = np.mean(loss_at(expected(kind, steps)))
        for spe in (1, 3):
            assert losses[spe]["loss"][epoch] == pytest.approx(mean, rel=1e-5)
            assert losses[spe]["val_loss"][epoch] == pytest.approx(
                loss_at(expected(kind, [steps[-1]])[0]), rel=1e-5
            )


TRACES = []


class CountingModel(keras.Model):
    """Counts runs of train_step's Python body: only while tracing when
    the step is compiled (TensorFlow, JAX)."""

    def train_step(self, *args):
        TRACES.append(1)
        return super().train_step(*args)


@pytest.mark.skipif(
    BACKEND == "torch", reason="an eager PyTorch step is not traced"
)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_no_added_traces_over_five_epochs(kind):
    TRACES.clear()
    model = compiled(model_cls=CountingModel)
    model.fit(
        X,
        Y,
        batch_size=BATCH,
        epochs=5,
        verbose=0,
        validation_data=(X, Y),
        callbacks=[scheduler(kind)],
    )
    assert len(TRACES) == 1


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_batch_updates_write_no_epsilon_and_sync_no_state_per_step(
    kind, monkeypatch
):
    epochs = 4

    def run(callbacks):
        model = compiled()
        writes, syncs = [], []
        variable_type = type(model.loss.label_smoothing_variable)
        assign = variable_type.assign

        syncing = []

        def counting_assign(self, value):
            # Host writes only: not JAX's copy of its state into the
            # variables, nor the step's own counter update (eager PyTorch
            # runs it in Python at every step, compiled steps at tracing).
            if not syncing and _steps.is_training_step() is None:
                writes.append(self.name)
            return assign(self, value)

        monkeypatch.setattr(variable_type, "assign", counting_assign)
        if BACKEND == "jax":
            # Keras 3.16 calls `state_sync` (`jax_state_sync` is an alias).
            name = (
                "state_sync"
                if hasattr(model, "state_sync")
                else "jax_state_sync"
            )
            sync = getattr(model, name)

            def counting_sync():
                if getattr(model, "_jax_state", None) and not (
                    model._jax_state_synced
                ):
                    syncs.append(1)
                syncing.append(1)
                try:
                    sync()
                finally:
                    syncing.pop()

            object.__setattr__(model, name, counting_sync)
        model.fit(
            X,
            Y,
            batch_size=BATCH,
            epochs=epochs,
            verbose=0,
            callbacks=callbacks,
        )
        monkeypatch.setattr(variable_type, "assign", assign)
        return writes, syncs

    base_writes, base_syncs = run([])
    writes, syncs = run([scheduler(kind)])
    epsilon_writes = [w for w in writes if w == "label_smoothing"]
    # One write of ε per epoch (its end value, for loss.label_smoothing and
    # saved configs) and, per fit, the counter's start, steps per epoch,
    # the table of a callable, the driver's flag on and off: never one per
    # step (4 x 6 here).
    assert len(epsilon_writes) == epochs
    assert len(writes) - len(base_writes) <= epochs + 5, (writes, base_writes)
    assert len(syncs) == len(base_syncs)


def test_save_load_and_weights_both_ways(tmp_path):
    kind = "builtin"
    model = compiled()
    model.fit(
        X,
        Y,
        batch_size=BATCH,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[scheduler(kind)],
    )
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    last = expected(kind, [2 * S - 1])[0]
    assert loaded.loss.label_smoothing == pytest.approx(last, rel=1e-6)
    record = StepEpsilons()
    loaded.fit(
        X,
        Y,
        batch_size=BATCH,
        initial_epoch=2,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[scheduler(kind), record],
    )
    np.testing.assert_allclose(
        record.epsilons, expected(kind, range(2 * S, 3 * S)), atol=2e-5
    )
    # Weight files are those of a model that never had a scheduler.
    plain = compiled()
    weights = str(tmp_path / "m.weights.h5")
    model.save_weights(weights)
    plain.load_weights(weights)
    other = str(tmp_path / "plain.weights.h5")
    plain.save_weights(other)
    model.load_weights(other)
    record = StepEpsilons()
    model.fit(
        X,
        Y,
        batch_size=BATCH,
        initial_epoch=1,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[scheduler(kind), record],
    )
    np.testing.assert_allclose(
        record.epsilons, expected(kind, range(S, 2 * S)), atol=2e-5
    )


@pytest.mark.skipif(
    BACKEND == "torch", reason="PyTorch allows only steps_per_execution=1"
)
def test_host_path_warns_that_steps_share_an_epsilon():
    # f(t, current) cannot be tabulated: it is applied from Python before
    # each call of the train function, which runs 3 steps here.
    model = compiled(steps_per_execution=3)
    callback = keras_ls.LabelSmoothingScheduler(
        lambda t, current: 0.05 * (t % 6), update="batch"
    )
    with pytest.warns(UserWarning, match="steps_per_execution=3"):
        model.fit(
            X, Y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[callback]
        )
    assert type(callback._path).__name__ == "HostPath"
    # A built-in schedule does not warn.
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled(steps_per_execution=3).fit(
            X,
            Y,
            batch_size=BATCH,
            epochs=1,
            verbose=0,
            callbacks=[scheduler("builtin")],
        )
    assert not [w for w in caught if "steps_per_execution" in str(w.message)]
