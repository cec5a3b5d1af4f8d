import inspect
import os

import keras
import numpy as np
import pytest

from keras_ls.callbacks.monitor import STATISTICS
from keras_ls.callbacks.monitor import ConfidenceMonitor
from tests import oracle
from tests.testing import BACKEND
from tests.testing import JIT
from tests.testing import requires_module
from tests.testing import softmax64

# tf.data works on every backend once TensorFlow is installed.
requires_tf_installed = requires_module("tensorflow")


def data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype("float32")
    y = ((x[:, 0] > 0).astype("int32") + (x[:, 1] > 0)).astype("int32")
    return x, y


def classifier(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(12, activation="relu"),
            keras.layers.Dense(3),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=JIT,
    )
    return model


def expected_stats(model, x, y, num_bins=15):
    """The independent float64 numpy reference, never keras_ls' report."""
    report = oracle.calibration_of_probabilities(
        y, softmax64(model.predict(x, verbose=0)), num_bins
    )
    return {s: report[s] for s in STATISTICS}


def assert_stats(logged, expected, prefix="val_"):
    for stat, value in expected.items():
        np.testing.assert_allclose(
            logged[prefix + stat], value, rtol=2e-5, atol=2e-6, err_msg=stat
        )


def test_keys_are_floats_in_history_and_track_the_trained_weights():
    x, y = data()
    x_val, y_val = data(50, seed=1)  # 50 = 3 batches of 16 + 2 (padded)
    model = classifier()
    monitor = ConfidenceMonitor((x_val, y_val), batch_size=16)
    history = model.fit(
        x, y, batch_size=32, epochs=3, verbose=0, callbacks=[monitor]
    )
    for stat in STATISTICS:
        values = history.history["val_" + stat]
        assert len(values) == 3
        assert all(type(v) is float for v in values)
    # The model learns, so the logged NLL moves from epoch to epoch.
    assert len(set(history.history["val_nll"])) == 3
    last = {k: v[-1] for k, v in history.history.items()}
    assert_stats(last, expected_stats(model, x_val, y_val))
    # Keras' own val_accuracy is not touched (no validation_data in fit).
    assert "val_accuracy" not in history.history


def test_padded_last_batch_equals_numpy_on_the_unpadded_data():
    x, y = data(37, seed=2)
    model = classifier()
    for batch_size in (5, 37, 64):
        values = ConfidenceMonitor((x, y), batch_size=batch_size).evaluate(
            model
        )
        assert_stats(values, expected_stats(model, x, y))


def test_sample_weights_and_one_hot_labels():
    x, y = data(40, seed=3)
    model = classifier()
    weights = (np.arange(40) % 3).astype("float32")
    values = ConfidenceMonitor(
        (x, np.eye(3)[y], weights), batch_size=16
    ).evaluate(model)
    rows = np.repeat(np.arange(40), weights.astype(int))
    assert_stats(values, expected_stats(model, x[rows], y[rows]))


def test_early_stopping_on_val_ece():
    x, y = data()
    model = classifier()
    stop = keras.callbacks.EarlyStopping(
        monitor="val_ece", mode="min", patience=1, min_delta=10.0
    )
    history = model.fit(
        x, y, epochs=6, verbose=0, callbacks=[ConfidenceMonitor((x, y)), stop]
    )
    # Epoch 1 sets the best; no later epoch improves by 10, so training
    # stops after epoch 2. Without a val_ece key it would run all 6.
    assert len(history.history["loss"]) == 2
    assert stop.stopped_epoch == 1


def test_compare_logs_the_other_model_as_if_evaluated_alone():
    x, y = data()
    x_val, y_val = data(45, seed=4)
    model, baseline = classifier(0), classifier(1)
    monitor = ConfidenceMonitor(
        (x_val, y_val), batch_size=16, compare={"baseline": baseline}
    )
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    last = {k: v[-1] for k, v in history.history.items()}
    alone = ConfidenceMonitor((x_val, y_val), batch_size=16).evaluate(baseline)
    mine = expected_stats(model, x_val, y_val)
    other = expected_stats(baseline, x_val, y_val)
    for stat in STATISTICS:
        assert last[f"baseline_val_{stat}"] == pytest.approx(
            alone["val_" + stat], abs=1e-7
        )
        assert last[f"baseline_val_{stat}"] == pytest.approx(
            other[stat], rel=2e-5, abs=2e-6
        )
        assert last[f"delta_val_{stat}"] == pytest.approx(
            mine[stat] - other[stat], rel=2e-4, abs=1e-5
        )
    # The untrained baseline logs the same values every epoch.
    assert len(set(history.history["baseline_val_nll"])) == 1


def test_several_compare_models_get_named_deltas():
    x, y = data(30)
    monitor = ConfidenceMonitor(
        (x, y), compare={"a": classifier(1), "b": classifier(2)}
    )
    values = monitor.evaluate(classifier(0))
    assert set(values) == set(monitor.keys())
    assert "delta_a_val_ece" in values and "delta_b_val_ece" in values
    assert values["delta_b_val_nll"] == pytest.approx(
        values["val_nll"] - values["b_val_nll"]
    )


@requires_tf_installed
def test_tf_data_and_py_dataset_with_a_partial_last_batch():
    import tensorflow as tf

    x, y = data(43, seed=5)
    model = classifier()
    expected = expected_stats(model, x, y)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(10)
    assert_stats(ConfidenceMonitor(dataset).evaluate(model), expected)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return x[i * 10 : (i + 1) * 10], y[i * 10 : (i + 1) * 10]

    assert_stats(ConfidenceMonitor(Batches()).evaluate(model), expected)


@pytest.mark.skipif(
    BACKEND == "torch", reason="eager PyTorch runs Python every step: no trace"
)
def test_the_pass_is_traced_once_not_once_per_epoch():
    traces = []

    class Counting(keras.layers.Layer):
        def call(self, inputs):
            traces.append(1)  # Python runs only while tracing
            return inputs

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(3), Counting()]
    )
    model.compile(
        "sgd",
        keras.losses.SparseCategoricalCrossentropy(True),
        jit_compile=True,
    )
    x, y = data(64)
    x_val, y_val = data(23, seed=6)  # partial last batch every epoch
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(len(traces))
    )
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=4,
        verbose=0,
        callbacks=[ConfidenceMonitor((x_val, y_val), batch_size=8), record],
    )
    assert seen[0] == seen[-1], seen


def test_every_and_log_dir_write_one_diagram_per_logged_epoch(tmp_path):
    x, y = data(40)
    model = classifier()
    history = model.fit(
        x,
        y,
        epochs=4,
        verbose=0,
        callbacks=[
            ConfidenceMonitor(
                (x, y),
                every=2,
                log_dir=tmp_path,
                compare={"baseline": classifier(1)},
            )
        ],
    )
    assert len(history.history["val_ece"]) == 2
    assert sorted(os.listdir(tmp_path)) == [
        "reliability_epoch_002.png",
        "reliability_epoch_004.png",
    ]
    with open(tmp_path / "reliability_epoch_004.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_verbose_prints_a_side_by_side_table(capsys):
    x, y = data(30)
    model = classifier()
    model.fit(
        x,
        y,
        epochs=1,
        verbose=0,
        callbacks=[
            ConfidenceMonitor(
                (x, y), verbose=1, compare={"baseline": classifier(1)}
            )
        ],
    )
    out = capsys.readouterr().out
    assert "baseline" in out and "model - baseline" in out
    assert all("val_" + stat in out for stat in STATISTICS)


def test_key_collision_warns_and_prefix_is_applied():
    from keras_ls.metrics import NegativeLogLikelihood

    x, y = data(30)
    model = classifier()
    # The training metric "nll" and the monitor's unprefixed "nll" clash.
    model.compile(
        "sgd",
        keras.losses.SparseCategoricalCrossentropy(True),
        metrics=[NegativeLogLikelihood()],
        jit_compile=JIT,
    )
    with pytest.warns(UserWarning, match="overwrites existing log keys"):
        history = model.fit(
            x,
            y,
            epochs=1,
            verbose=0,
            callbacks=[ConfidenceMonitor((x, y), prefix="")],
        )
    assert "ece" in history.history and "nll" in history.history


def test_monitors_a_model_trained_with_keras_ls_metrics_probabilities():
    x, y = data(40)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(3), keras.layers.Softmax()]
    )
    values = ConfidenceMonitor((x, y), from_logits=False).evaluate(model)
    report = oracle.calibration_of_probabilities(
        y, model.predict(x, verbose=0), 15
    )
    assert values["val_ece"] == pytest.approx(report["ece"], rel=1e-4, abs=1e-6)
    assert values["val_nll"] == pytest.approx(report["nll"], rel=1e-4)


@pytest.mark.parametrize(
    "make,error,message",
    [
        (
            lambda x, y: ConfidenceMonitor((x,)),
            ValueError,
            "must provide labels",
        ),
        (lambda x, y: ConfidenceMonitor(x), TypeError, "validation_data"),
        (
            lambda x, y: ConfidenceMonitor((x, y), num_bins=0),
            ValueError,
            "num_bins=0",
        ),
        (
            lambda x, y: ConfidenceMonitor((x, y), every=0),
            ValueError,
            "every=0",
        ),
        (
            lambda x, y: ConfidenceMonitor((x, y), compare=[1]),
            ValueError,
            "compare",
        ),
        (
            lambda x, y: ConfidenceMonitor((x, y), compare={"a": 1}),
            ValueError,
            "keras.Model",
        ),
        (
            lambda x, y: ConfidenceMonitor((x, y[:5])),
            ValueError,
            "same number of examples",
        ),
    ],
)
def test_invalid_arguments(make, error, message):
    x, y = data(10)
    with pytest.raises(error, match=message):
        make(x, y)


def test_labels_that_do_not_fit_the_model_name_both_sizes():
    x, y = data(10)
    model = classifier()
    with pytest.raises(
        ValueError,
        match=r"have 4 classes but the model "
        r"outputs 3",
    ):
        ConfidenceMonitor((x, np.eye(4)[y])).evaluate(model)
    with pytest.raises(ValueError, match=r"from 0 to 5.*outputs 3 classes"):
        ConfidenceMonitor((x, np.where(y == 2, 5, y))).evaluate(model)


@requires_tf_installed
def test_dataset_without_labels_is_rejected():
    import tensorflow as tf

    x, _ = data(10)
    with pytest.raises(ValueError, match="must provide labels"):
        ConfidenceMonitor(tf.data.Dataset.from_tensor_slices(x).batch(4))


def test_config_holds_every_argument():
    x, y = data(10)
    monitor = ConfidenceMonitor(
        (x, y),
        num_bins=7,
        every=2,
        prefix="v_",
        verbose=1,
        batch_size=4,
        jit_compile=False,
    )
    config = monitor.get_config()
    params = set(inspect.signature(ConfidenceMonitor.__init__).parameters)
    assert params - {"self"} <= set(config)
    clone = ConfidenceMonitor.from_config(config)
    assert clone.get_config()["num_bins"] == 7 and clone.keys() == (
        monitor.keys()
    )
