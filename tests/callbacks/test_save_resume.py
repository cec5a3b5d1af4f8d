"""Saving, loading and resuming models that use keras_ls."""

import warnings

import keras
import numpy as np
import pytest

from keras_ls.losses import LabelSmoothingCrossentropy
from tests import oracle
from tests.testing import JIT
from tests.testing import classification_data


def data(seed=0):
    return classification_data(n=48, k=5, features=6, seed=seed)


def mlp(k=5):
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(k),
        ]
    )


def calibration_metrics():
    from keras_ls import metrics as ls_metrics

    return [
        ls_metrics.ExpectedCalibrationError(7, name="ece"),
        ls_metrics.ExpectedCalibrationError(7, norm="max", name="mce"),
        ls_metrics.NegativeLogLikelihood(name="nll"),
        ls_metrics.MeanConfidence(name="confidence"),
        ls_metrics.BrierScore(name="brier"),
    ]


def test_keras_file_round_trip_without_custom_objects(tmp_path):
    x, y = data()
    model = mlp()
    # Non-default options, which the saved config must carry. (A prior
    # goes with convention="uniform": "others" with a prior is an error.)
    loss = LabelSmoothingCrossentropy(0.2, prior=[0.1, 0.2, 0.3, 0.2, 0.2])
    model.compile(
        optimizer="adam",
        loss=loss,
        metrics=calibration_metrics(),
        jit_compile=JIT,
    )
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    # A value set after compile (as a scheduler does) is what gets saved.
    loss.label_smoothing = 0.15
    before = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    path = str(tmp_path / "m.keras")
    model.save(path)

    loaded = keras.saving.load_model(path)
    restored = loaded.loss
    assert type(restored) is LabelSmoothingCrossentropy
    assert restored.get_config() == loss.get_config()
    assert restored.label_smoothing == pytest.approx(0.15)
    after = loaded.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert set(after) == set(before) >= {"loss", "ece", "mce", "nll"}
    for key in before:
        np.testing.assert_allclose(
            after[key], before[key], rtol=1e-6, atol=1e-7, err_msg=key
        )
    # And both equal the numpy reference on the model's logits.
    logits = model.predict(x, verbose=0).astype(np.float64)
    reference = oracle.calibration(y, logits, num_bins=7)
    np.testing.assert_allclose(
        after["ece"], reference["ece"], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(after["nll"], reference["nll"], rtol=1e-5)


def test_save_weights_and_load_weights_round_trip(tmp_path):
    from keras_ls.callbacks.scheduler import LabelSmoothingScheduler
    from keras_ls.schedules import LinearDecay

    x, y = data(seed=1)
    model = mlp()
    model.compile(
        optimizer="adam",
        loss=LabelSmoothingCrossentropy(0.2),
        metrics=calibration_metrics(),
        jit_compile=JIT,
    )
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        verbose=0,
        callbacks=[LabelSmoothingScheduler(LinearDecay(0.2, 0.0, 2))],
    )
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)

    # Into a model built without the loss, the metrics or the scheduler.
    fresh = mlp()
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Identical weights; an XLA and a plain predict may differ in the last
    # bits.
    np.testing.assert_allclose(
        fresh.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )
    # And back: a fresh model's weights load into the trained one. The
    # fresh model has no optimizer, so Keras says it skips the trained
    # model's optimizer variables: expected, and only here.
    other = mlp()
    other_path = str(tmp_path / "other.weights.h5")
    other.save_weights(other_path)
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="Skipping variable loading for optimizer",
            category=UserWarning,
        )
        model.load_weights(other_path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after_epoch:
            raise RuntimeError("interrupted")


class _Recorder(keras.callbacks.Callback):
    """Keeps each epoch's logs, also those of a run that is interrupted."""

    def __init__(self):
        super().__init__()
        self.epochs = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epochs[epoch] = dict(logs or {})


def _run(x, y, callbacks, seed_weights):
    from keras_ls.callbacks.scheduler import LabelSmoothingScheduler
    from keras_ls.schedules import LinearDecay

    model = mlp()
    model.set_weights(seed_weights)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=LabelSmoothingCrossentropy(0.3),
        jit_compile=JIT,
    )
    scheduler = LabelSmoothingScheduler(LinearDecay(0.3, 0.0, 3))
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=4,
        verbose=0,
        shuffle=False,
        callbacks=[scheduler, *callbacks],
    )
    return model


def test_backup_and_restore_resumes_the_schedule(tmp_path):
    x, y = data(seed=2)
    weights = mlp().get_weights()

    straight = _Recorder()
    reference = _run(x, y, [straight], weights)

    backup_dir = str(tmp_path / "backup")
    first = _Recorder()
    with pytest.raises(RuntimeError, match="interrupted"):
        _run(
            x,
            y,
            [
                keras.callbacks.BackupAndRestore(backup_dir),
                first,
                _Interrupt(after_epoch=1),
            ],
            weights,
        )
    assert sorted(first.epochs) == [0, 1]
    # A new process would rebuild the model at ε = 0.3; the schedule must
    # put it back at ε(2) = 0.1, not restart at 0.3.
    second = _Recorder()
    resumed = _run(
        x, y, [keras.callbacks.BackupAndRestore(backup_dir), second], weights
    )
    assert sorted(second.epochs) == [2, 3]

    combined = {**first.epochs, **second.epochs}
    history = [combined[e]["label_smoothing"] for e in range(4)]
    expected = [straight.epochs[e]["label_smoothing"] for e in range(4)]
    np.testing.assert_allclose(expected, [0.3, 0.2, 0.1, 0.0], atol=1e-7)
    np.testing.assert_allclose(history, expected, atol=1e-7)
    # The compiled step used that ε: same losses and same final weights.
    np.testing.assert_allclose(
        [combined[e]["loss"] for e in range(4)],
        [straight.epochs[e]["loss"] for e in range(4)],
        rtol=1e-5,
    )
    for a, b in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
