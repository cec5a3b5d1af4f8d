import json
import math

import keras
import numpy as np
import pytest

from keras_ls import experiment
from keras_ls.experiment import _evaluation
from keras_ls.experiment import _training
from keras_ls.experiment import build_model
from keras_ls.experiment import compare
from keras_ls.experiment import evaluate_predictions
from keras_ls.experiment import flip_labels
from keras_ls.experiment import largest_confidence_drop
from keras_ls.experiment import paired_difference
from keras_ls.experiment import report
from keras_ls.experiment import t_quantile_975
from tests.testing import requires_module

# Two-sided 95% t quantiles from printed tables (e.g. NIST/SEMATECH
# e-Handbook, table 1.3.6.7.2).
TEXTBOOK_T = {
    1: 12.706,
    2: 4.303,
    4: 2.776,
    9: 2.262,
    10: 2.228,
    29: 2.045,
    30: 2.042,
    40: 2.021,
    60: 2.000,
    100: 1.984,
    120: 1.980,
}


def separable_data(n_train=256, n_test=64, k=4, size=8, seed=0):
    """Images whose class is a bright row, plus noise: easy to learn."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, k, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, size, size)).astype(np.uint8)
        x[np.arange(n), 2 * y] = 255
        return x, y

    return make(n_train), make(n_test)


@pytest.mark.parametrize("df", sorted(TEXTBOOK_T))
def test_t_quantile_matches_printed_table(df):
    assert abs(t_quantile_975(df) - TEXTBOOK_T[df]) < 6e-4


@requires_module("scipy")
def test_t_quantile_matches_scipy_beyond_table():
    from scipy import stats

    for df in (1, 5, 30, 31, 35, 50, 200, 10_000):
        assert abs(t_quantile_975(df) - stats.t.ppf(0.975, df)) < 2e-5


def test_paired_difference_is_the_t_interval_of_differences():
    base = np.array([0.80, 0.82, 0.81, 0.79])
    other = np.array([0.81, 0.85, 0.80, 0.81])
    d = other - base
    half = 3.182446 * d.std(ddof=1) / math.sqrt(4)
    out = paired_difference(base, other)
    assert out["n"] == 4
    np.testing.assert_allclose(out["mean"], d.mean(), rtol=1e-12)
    np.testing.assert_allclose(out["half_width"], half, rtol=1e-6)
    np.testing.assert_allclose(
        [out["low"], out["high"]], [d.mean() - half, d.mean() + half], rtol=1e-6
    )
    np.testing.assert_allclose(out["values"], d)


def test_paired_difference_one_seed_and_errors():
    out = paired_difference([0.5], [0.7])
    assert out["mean"] == pytest.approx(0.2)
    assert math.isnan(out["half_width"]) and math.isnan(out["low"])
    with pytest.raises(ValueError, match="same, non-zero length"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="same, non-zero length"):
        paired_difference([], [])


def test_flip_labels_is_symmetric_noise():
    y = np.repeat(np.arange(10), 900).astype(np.int32)
    noisy = flip_labels(y, 0.5, num_classes=10, seed=3)
    flipped = noisy != y
    assert flipped.sum() == 4500
    assert noisy.min() >= 0 and noisy.max() <= 9
    # Every flip goes to another class, uniformly: 9 offsets ~500 each.
    offsets = ((noisy - y) % 10)[flipped]
    counts = np.bincount(offsets, minlength=10)
    assert counts[0] == 0
    assert all(400 < c < 600 for c in counts[1:])
    np.testing.assert_array_equal(noisy, flip_labels(y, 0.5, seed=3))
    assert not np.array_equal(noisy, flip_labels(y, 0.5, seed=4))
    assert y.sum() == 9 * 900 * 10 // 2, "input must not be modified"
    np.testing.assert_array_equal(flip_labels(y, 0.0), y)


def test_flip_labels_rejects_bad_fraction():
    with pytest.raises(
        ValueError, match="label_noise.*Received: label_noise=1.0"
    ):
        flip_labels(np.zeros(4), 1.0)


def test_evaluate_predictions_against_hand_computation():
    y = np.array([0, 1, 2, 2])
    probs = np.array(
        [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.5, 0.1, 0.4], [0.0, 0.0, 1.0]],
        np.float32,
    )
    out = evaluate_predictions(y, probs, num_bins=10)
    conf = np.array([0.7, 0.6, 0.5, 1.0])
    correct = np.array([1, 1, 0, 1.0])
    # Bins of width 0.1: {0.7}, {0.6}, {0.5}, {1.0 -> last bin}.
    ece = (abs(1 - 0.7) + abs(1 - 0.6) + abs(0 - 0.5) + abs(1 - 1.0)) / 4
    expected = {
        "accuracy": correct.mean(),
        "nll": -np.mean(np.log([0.7, 0.6, 0.4, 1.0])),
        "ece": ece,
        "confidence": conf.mean(),
        "confidence_correct": np.mean([0.7, 0.6, 1.0]),
        "confidence_incorrect": 0.5,
    }
    for key, value in expected.items():
        np.testing.assert_allclose(out[key], value, rtol=1e-6, err_msg=key)
    allright = evaluate_predictions(y[:2], probs[:2])
    assert math.isnan(allright["confidence_incorrect"])


def test_largest_confidence_drop_only_counts_examples_both_get_right():
    y = np.array([0, 1, 1, 0])
    base = np.array([[0.99, 0.01], [0.1, 0.9], [0.2, 0.8], [0.6, 0.4]])
    other = np.array([[0.45, 0.55], [0.3, 0.7], [0.26, 0.74], [0.55, 0.45]])
    # Example 0 dropped most but is wrong for `other`; 1 dropped 0.2,
    # 2 dropped 0.06, 3 dropped 0.05.
    out = largest_confidence_drop(y, base, other)
    assert out["index"] == 1 and out["label"] == 1
    assert out["confidence_baseline"] == pytest.approx(0.9)
    assert out["confidence_other"] == pytest.approx(0.7)
    np.testing.assert_allclose(out["probs_other"], [0.3, 0.7], rtol=1e-6)
    assert largest_confidence_drop(np.array([1]), base[:1], other[:1]) is None


def test_built_in_models():
    mlp = build_model("mlp")
    assert mlp.count_params() == (784 * 256 + 256) + (256 * 128 + 128) + (
        128 * 10 + 10
    )
    cnn = build_model("cnn", input_shape=(12, 12, 1), num_classes=3)
    # 12 -> conv 10 -> pool 5 -> conv 3 -> pool 1: 64 features.
    assert cnn.count_params() == (9 * 32 + 32) + (9 * 32 * 64 + 64) + (
        64 * 128 + 128
    ) + (128 * 3 + 3)
    assert tuple(cnn.output.shape) == (None, 3)
    assert any(isinstance(layer, keras.layers.Conv2D) for layer in cnn.layers)
    with pytest.raises(ValueError, match="model.*Received: model='resnet'"):
        build_model("resnet")


def test_zero_smoothing_variant_reproduces_the_baseline_exactly():
    """Identical initial weights, labels (with noise) and batch order: an
    ε = 0 "variant" must train exactly like the baseline."""
    data = separable_data()
    result = compare(
        data,
        label_smoothing=0.0,
        label_noise=0.25,
        epochs=2,
        seeds=[3],
        batch_size=32,
        verbose=0,
    )
    base = result.metrics["baseline"]
    same = result.metrics["smoothed"]
    for metric in experiment.METRICS:
        assert len(base[metric]) == 1
        # equal_nan: with no wrong prediction, confidence_incorrect is NaN.
        np.testing.assert_allclose(
            same[metric],
            base[metric],
            atol=1e-6,
            err_msg=metric,
            equal_nan=True,
        )
    assert abs(result.differences["smoothed"]["nll"]["mean"]) < 1e-6
    np.testing.assert_allclose(
        result.histories["smoothed"][0]["loss"],
        result.histories["baseline"][0]["loss"],
        rtol=1e-6,
    )
    assert len(result.histories["baseline"][0]["loss"]) == 2


def test_smoothing_lowers_confidence_and_the_result_serializes(tmp_path):
    data = separable_data()
    result = compare(
        data,
        label_smoothing=0.3,
        epochs=3,
        seeds=2,
        batch_size=32,
        validation_size=0,
        verbose=0,
    )
    conf = result.metrics
    # A perfectly fitted model at ε = 0.3, K = 4 has confidence
    # 1 - 0.3 + 0.3 / 4 = 0.775 (Adam overshoots it early in training);
    # the baseline is free to approach 1.
    for seed in range(2):
        assert conf["baseline"]["accuracy"][seed] > 0.9
        assert conf["smoothed"]["confidence_correct"][seed] < 0.9
        assert (
            conf["baseline"]["confidence_correct"][seed]
            > conf["smoothed"]["confidence_correct"][seed] + 0.1
        )
    d = result.differences["smoothed"]["confidence"]
    assert d["mean"] < -0.1 and max(d["values"]) < 0
    assert d["n"] == 2 and d["half_width"] > 0
    ex = result.examples["smoothed"]
    i = ex["index"]
    y_test = data[1][1]
    assert ex["label"] == int(y_test[i])
    np.testing.assert_allclose(
        ex["probs_baseline"], result.test_probs["baseline"][i], rtol=1e-6
    )
    assert np.argmax(ex["probs_other"]) == ex["label"]
    as_json = json.loads(report.to_json(result))
    assert as_json["config"]["label_smoothing"] == 0.3
    assert as_json["metrics"]["smoothed"]["confidence"] == pytest.approx(
        conf["smoothed"]["confidence"]
    )
    assert result.config["jit_compile"] is (keras.backend.backend() != "torch")


def test_single_seed_interval_is_null_in_json():
    metrics = {
        v: {m: [0.5] for m in experiment.METRICS}
        for v in ("baseline", "smoothed")
    }
    result = experiment.ComparisonResult(
        config={
            "model": "mlp",
            "epochs": 1,
            "label_noise": 0.0,
            "dataset": "custom",
        },
        seeds=[0],
        variants={"baseline": "ε = 0", "smoothed": "ε = 0.1"},
        metrics=metrics,
        differences={
            "smoothed": {
                m: paired_difference([0.5], [0.5]) for m in experiment.METRICS
            }
        },
        histories={},
        examples={"smoothed": None},
        test_labels=np.zeros(1),
        test_probs={},
    )
    text = report.to_json(result)
    assert "NaN" not in text
    parsed = json.loads(text)
    assert parsed["differences"]["smoothed"]["accuracy"]["half_width"] is None
    assert parsed["differences"]["smoothed"]["accuracy"]["mean"] == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, "epochs.*>= 1.*Received: epochs=0"),
        ({"epochs": -3}, "epochs.*Received: epochs=-3"),
        ({"model": "resnet"}, "model.*Received: model='resnet'"),
        ({"seeds": 0}, "seeds.*Received: seeds=0"),
        ({"seeds": []}, "seeds.*Received: seeds=\\[\\]"),
        ({"label_noise": 1.5}, "label_noise.*Received: label_noise=1.5"),
        ({"label_smoothing": None}, "Nothing to compare"),
        ({"label_smoothing": 1.0}, "label_smoothing.*Received"),
        ({"batch_size": 1000}, "batch_size.*at most.*64.*1000"),
        ({"schedule": "zigzag:1"}, "schedule.*two-stage.*zigzag"),
    ],
)
def test_compare_rejects_bad_arguments_before_training(kwargs, match):
    data = separable_data(n_train=64, n_test=16)
    with pytest.raises(ValueError, match=match):
        compare(data, **kwargs)


def test_schedule_specs():
    two = experiment.parse_schedule("two-stage:0.1:6", epochs=10)
    assert [two(e) for e in (0, 5, 6, 9)] == pytest.approx([0.1, 0.1, 0, 0])
    cos = experiment.parse_schedule("cosine:0.2:0", epochs=10)
    for e in (0, 3, 5, 10):
        expected = 0.1 * (1 + math.cos(math.pi * e / 10))
        assert cos(e) == pytest.approx(expected, abs=1e-7)
    lin = experiment.parse_schedule("linear:0.2:0", epochs=4)
    assert [lin(e) for e in range(5)] == pytest.approx(
        [0.2, 0.15, 0.1, 0.05, 0.0]
    )
    assert experiment.parse_schedule("constant:0.05", epochs=3)(2) == (
        pytest.approx(0.05)
    )
    for bad in (
        "cosine",
        "cosine:0.2",
        "two-stage:x:3",
        "cosine:1.5:0",
        "spiral:0.1:0",
    ):
        with pytest.raises(ValueError, match="schedule"):
            experiment.parse_schedule(bad, epochs=10)


def test_scheduled_variant_and_monitor_curves():
    result = compare(
        separable_data(n_train=128, n_test=32),
        label_smoothing=None,
        schedule="two-stage:0.2:1",
        epochs=2,
        seeds=1,
        batch_size=32,
    )
    assert list(result.variants) == ["baseline", "scheduled"]
    history = result.histories["scheduled"][0]
    # The ε the compiled step used, as logged by the scheduler.
    assert history["label_smoothing"] == pytest.approx([0.2, 0.0])
    for key in ("val_ece", "val_nll", "val_confidence"):
        assert len(history[key]) == 2
        assert all(isinstance(v, float) for v in history[key])
    assert result.config["schedule"] == "two-stage:0.2:1"


def marked_data(n_train=240, n_test=64):
    """separable_data whose test images carry a value (77) that no
    training image has anywhere: its last row."""
    (x, y), (x_test, y_test) = separable_data(n_train=n_train, n_test=n_test)
    x_test = x_test.copy()
    x_test[:, -1, :] = 77
    assert not (x == 77).any()
    return (x, y), (x_test, y_test)


def has_marker(x):
    return bool(np.isclose(np.asarray(x, np.float64) * 255, 77).any())


def test_test_set_is_used_only_after_training(monkeypatch):
    """Everything watched during training comes from a split of the
    training data; the test images reach the model only in the final
    evaluation, after `fit` has returned."""
    from keras_ls.callbacks import monitor

    events, fitted, watched = [], [], []

    class SpyMonitor(monitor.ConfidenceMonitor):
        def __init__(self, validation_data, **kwargs):
            watched.append(validation_data)
            super().__init__(validation_data, **kwargs)

        def on_epoch_end(self, epoch, logs=None):
            events.append("validation")
            super().on_epoch_end(epoch, logs)

    original_as_dataset = _training.as_dataset

    def spy_as_dataset(x, y, **kwargs):
        fitted.append((x, y))
        return original_as_dataset(x, y, **kwargs)

    original_fit = keras.Model.fit
    original_test = _evaluation.evaluate_on_test

    def spy_fit(self, *args, **kwargs):
        assert kwargs.get("validation_data") is None
        events.append("fit")
        return original_fit(self, *args, **kwargs)

    def spy_test(net, data, **kwargs):
        assert has_marker(data.x_test)
        events.append("test")
        return original_test(net, data, **kwargs)

    monkeypatch.setattr(monitor, "ConfidenceMonitor", SpyMonitor)
    monkeypatch.setattr(_training, "as_dataset", spy_as_dataset)
    monkeypatch.setattr(keras.Model, "fit", spy_fit)
    monkeypatch.setattr(_evaluation, "evaluate_on_test", spy_test)
    data = marked_data()
    result = compare(
        data,
        label_smoothing=0.1,
        epochs=2,
        seeds=[0, 1],
        batch_size=32,
        validation_size=40,
    )
    # 2 seeds x 2 models, each: fit, 2 watched epochs, then the test set.
    assert events == ["fit", "validation", "validation", "test"] * 4
    assert len(watched) == len(fitted) == 4
    x_train = data[0][0].astype(np.float32) / 255
    rows = {r.tobytes() for r in x_train.reshape(len(x_train), -1)}
    for (x_val, y_val), (x_fit, y_fit) in zip(watched, fitted):
        assert not has_marker(x_val) and not has_marker(x_fit)
        assert len(x_val) == 40 and len(x_fit) == 200
        val_rows = {r.tobytes() for r in x_val.reshape(40, -1)}
        fit_rows = {r.tobytes() for r in x_fit.reshape(200, -1)}
        assert val_rows <= rows and fit_rows <= rows
        assert not val_rows & fit_rows
    # Both models of a seed watch the same split; the seeds differ.
    np.testing.assert_array_equal(watched[0][0], watched[1][0])
    np.testing.assert_array_equal(watched[2][0], watched[3][0])
    assert not np.array_equal(watched[0][0], watched[2][0])
    assert result.config["num_train"] == 200
    assert result.config["num_validation"] == 40
    assert result.config["num_test"] == 64
    history = result.histories["baseline"][0]
    assert len(history["val_top1_accuracy"]) == 2


def test_validation_size_default_and_zero():
    data = separable_data(n_train=240, n_test=32)
    result = compare(data, epochs=1, seeds=1, batch_size=32)
    # 1/12 of the training examples, as 5000 of Fashion-MNIST's 60000.
    assert result.config["num_validation"] == 20
    assert result.config["num_train"] == 220
    assert experiment.default_validation_size(60000) == 5000
    nothing = compare(data, epochs=1, seeds=1, batch_size=32, validation_size=0)
    assert nothing.config["num_train"] == 240
    assert not any(
        k.startswith("val_") for k in nothing.histories["baseline"][0]
    )
    with pytest.raises(
        ValueError,
        match="batch_size.*validation_size=230.*10 of 240.*batch_size=32",
    ):
        compare(data, validation_size=230, batch_size=32)
    with pytest.raises(
        ValueError, match="validation_size.*Received: validation_size=-1"
    ):
        compare(data, validation_size=-1)


def test_fixed_epsilon_and_constant_schedule_train_bitwise_identical():
    """A fixed ε = 0.1 and `constant:0.1` must be the same computation:
    before ε was model state in both, XLA folded the fixed ε as a constant
    on JAX and the weights differed by ~6e-8 after one fit."""
    from keras_ls import schedules

    (x, y), _ = separable_data(n_train=512)
    x = x[..., None].astype(np.float32) / 255
    keras.utils.set_random_seed(0)
    initial = build_model(
        "mlp", input_shape=x.shape[1:], num_classes=4
    ).get_weights()
    trained = []
    for variant in (
        experiment.Variant("fixed", 0.1),
        experiment.Variant("constant", 0.1, schedules.Constant(0.1)),
    ):
        net = build_model("mlp", input_shape=x.shape[1:], num_classes=4)
        net.set_weights(initial)
        _training.train_variant(
            net,
            variant,
            (x, y.astype(np.int32)),
            None,
            seed=0,
            training=_training.check_training(
                epochs=2,
                batch_size=32,
                learning_rate=1e-3,
                num_bins=15,
                jit_compile=keras.backend.backend() != "torch",
                verbose=0,
            ),
        )
        trained.append(net.get_weights())
    assert not np.array_equal(trained[0][0], initial[0])
    for a, b in zip(*trained):
        np.testing.assert_array_equal(a, b)


def test_fixed_and_constant_schedule_give_the_same_result():
    result = compare(
        separable_data(n_train=256, n_test=64),
        label_smoothing=0.1,
        schedule="constant:0.1",
        epochs=2,
        seeds=1,
        batch_size=32,
    )
    np.testing.assert_array_equal(
        result.test_probs["smoothed"], result.test_probs["scheduled"]
    )
    assert (
        result.metrics["smoothed"]["nll"] == result.metrics["scheduled"]["nll"]
    )


@pytest.mark.parametrize(
    "schedule, epochs",
    [("two-stage:0.1:3", 3), ("two-stage:0.1:7", 3), (None, 4)],
)
def test_two_stage_switch_at_or_after_the_end_warns(schedule, epochs):
    from keras_ls import schedules

    if schedule is None:  # a schedule object, not a spec
        schedule = schedules.TwoStage(0.2, switch=4)
    data = separable_data(n_train=64, n_test=16)
    with pytest.warns(
        UserWarning,
        match=r"switches to ε = 0 at epoch "
        r"\d.*only \d epochs",
    ):
        # batch_size fails after the schedule is checked, before training.
        with pytest.raises(ValueError, match="batch_size"):
            compare(data, schedule=schedule, epochs=epochs, batch_size=1000)


def test_two_stage_switch_before_the_end_does_not_warn():
    import warnings

    data = separable_data(n_train=64, n_test=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="batch_size"):
            compare(data, schedule="two-stage:0.1:2", epochs=3, batch_size=1000)


def test_result_records_the_call_data_source_and_versions():
    import importlib

    import keras_ls

    result = compare(
        separable_data(n_train=128, n_test=32),
        epochs=1,
        seeds=[2],
        batch_size=32,
        label_noise=0.1,
    )
    assert result.config["call"] == (
        "keras_ls.compare(data=<arrays>, label_noise=0.1, epochs=1, "
        "seeds=[2], batch_size=32)"
    )
    assert result.config["data_source"] == "arrays passed as `data`"
    env = result.environment
    backend = keras.backend.backend()
    assert env["backend"] == backend
    assert (
        env["backend_version"] == importlib.import_module(backend).__version__
    )
    assert env["keras"] == keras.__version__
    assert env["keras_ls"] == keras_ls.__version__
    assert json.loads(report.to_json(result))["environment"] == env
