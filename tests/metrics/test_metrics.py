import inspect
import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_ls import metrics as M
from tests import oracle
from tests.testing import JIT
from tests.testing import softmax64

# (metric factory, key of the numpy reference tests/oracle.py)
CASES = [
    (lambda **kw: M.ExpectedCalibrationError(**kw), "ece"),
    (lambda **kw: M.ExpectedCalibrationError(norm="max", **kw), "mce"),
    (lambda **kw: M.ExpectedCalibrationError(norm="l2", **kw), "rmsce"),
    (lambda **kw: M.MeanConfidence(**kw), "confidence"),
    (lambda **kw: M.MeanConfidence("correct", **kw), "confidence_correct"),
    (lambda **kw: M.MeanConfidence("incorrect", **kw), "confidence_incorrect"),
    (lambda **kw: M.ConfidenceGap(**kw), "confidence_gap"),
    (lambda **kw: M.TopLabelAccuracy(**kw), "top1_accuracy"),
    (lambda **kw: M.NegativeLogLikelihood(**kw), "nll"),
    (lambda **kw: M.BrierScore(**kw), "brier"),
    (lambda **kw: M.PredictiveEntropy(**kw), "entropy"),
]

CASES_BY_CLASS = [
    (M.ExpectedCalibrationError, "ece"),
    (M.MeanConfidence, "confidence"),
    (M.ConfidenceGap, "confidence_gap"),
    (M.TopLabelAccuracy, "top1_accuracy"),
    (M.NegativeLogLikelihood, "nll"),
    (M.BrierScore, "brier"),
    (M.PredictiveEntropy, "entropy"),
]
ALL_CLASSES = [cls for cls, _ in CASES_BY_CLASS]


def reference(labels, probs, num_bins=15):
    """The independent float64 statistics, never keras_ls' own report."""
    return oracle.calibration_of_probabilities(labels, probs, num_bins)


def problem(n=97, k=6, seed=0, scale=2.5):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, k)) * scale).astype("float32")
    labels = rng.integers(0, k, size=n).astype("int32")
    return logits, labels


def identity_model(k):
    return keras.Sequential([keras.Input((k,)), keras.layers.Identity()])


def uneven_batches(logits, labels, sizes=(7, 13, 1, 29, 47)):
    assert sum(sizes) == len(labels)
    start = 0
    for size in sizes:
        yield logits[start : start + size], labels[start : start + size]
        start += size


def test_streaming_metrics_match_numpy_under_compiled_evaluate():
    logits, labels = problem()
    metrics = [make() for make, _ in CASES]
    model = identity_model(logits.shape[1])
    model.compile(
        metrics=metrics, loss="sparse_categorical_crossentropy", jit_compile=JIT
    )
    # steps: a generator has no length; without it Keras warns that the
    # input ran out of data.
    model.evaluate(uneven_batches(logits, labels), steps=5, verbose=0)
    report = reference(labels, softmax64(logits))
    for metric, (_, key) in zip(metrics, CASES):
        np.testing.assert_allclose(
            float(metric.result()),
            report[key],
            rtol=2e-5,
            atol=2e-6,
            err_msg=key,
        )


@pytest.mark.parametrize("make,key", CASES)
def test_update_state_over_uneven_batches_matches_numpy(make, key):
    logits, labels = problem(seed=1)
    metric = make()
    for x, y in uneven_batches(logits, labels):
        metric.update_state(y, x)
    expected = reference(labels, softmax64(logits))[key]
    np.testing.assert_allclose(
        float(metric.result()), expected, rtol=2e-5, atol=2e-6
    )


@pytest.mark.parametrize("make,key", CASES)
def test_one_hot_column_and_probability_inputs_agree(make, key):
    logits, labels = problem(n=40, k=5, seed=2)
    probs = softmax64(logits).astype("float32")
    expected = reference(labels, softmax64(logits))[key]
    for y_true, y_pred, kw in (
        (np.eye(5, dtype="float32")[labels], logits, {}),
        (labels[:, None], logits, {}),
        (labels, probs, {"from_logits": False}),
    ):
        metric = make(**kw)
        metric.update_state(y_true, y_pred)
        np.testing.assert_allclose(
            float(metric.result()), expected, rtol=2e-5, atol=2e-6
        )


def test_hand_worked_ece_mce_and_rms():
    probs = np.array(
        [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.65, 0.35]], "float32"
    )
    labels = np.array([0, 1, 1, 0])
    # 5 bins: [0.6, 0.8) holds 0.7 and 0.65 (both right, mean conf 0.675);
    # [0.8, 1.0] holds 0.9 (right) and 0.8 (wrong): acc 0.5, conf 0.85.
    gaps = np.array([1.0 - 0.675, 0.85 - 0.5])
    expected = {
        "l1": 0.5 * gaps.sum(),
        "l2": math.sqrt(0.5 * (gaps**2).sum()),
        "max": 0.35,
    }
    for norm, value in expected.items():
        metric = M.ExpectedCalibrationError(
            num_bins=5, norm=norm, from_logits=False
        )
        metric.update_state(labels, probs)
        np.testing.assert_allclose(float(metric.result()), value, rtol=1e-5)
    counts, acc, conf = (
        np.asarray(ops.convert_to_numpy(t)) for t in metric.bin_statistics()
    )
    np.testing.assert_array_equal(counts, [0, 0, 0, 2, 2])
    np.testing.assert_allclose(acc, [0, 0, 0, 1.0, 0.5], atol=1e-6)
    np.testing.assert_allclose(conf, [0, 0, 0, 0.675, 0.85], atol=1e-6)


def test_all_predictions_in_one_bin():
    probs = np.tile(np.array([[0.95, 0.05]], "float32"), (5, 1))
    labels = np.array([0, 0, 0, 1, 1])
    metric = M.ExpectedCalibrationError(from_logits=False)
    metric.update_state(labels, probs)
    # One bin: |accuracy 3/5 - confidence 0.95|.
    np.testing.assert_allclose(float(metric.result()), 0.35, rtol=1e-5)
    counts = np.asarray(ops.convert_to_numpy(metric.bin_counts))
    assert counts[14] == 5 and counts.sum() == 5


def test_confidence_of_exactly_one_goes_in_last_bin():
    logits = np.array([[100.0, 0.0], [0.0, 100.0], [100.0, 0.0]], "float32")
    labels = np.array([0, 1, 1])
    confidence = M.MeanConfidence()
    confidence.update_state(labels, logits)
    assert float(confidence.result()) == 1.0  # softmax saturates exactly
    for kw, y_pred in (
        ({}, logits),
        (
            {"from_logits": False},
            np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]),
        ),
    ):
        metric = M.ExpectedCalibrationError(num_bins=10, **kw)
        metric.update_state(labels, y_pred)
        counts = np.asarray(ops.convert_to_numpy(metric.bin_counts))
        np.testing.assert_array_equal(counts, [0] * 9 + [3])
        # Accuracy 2/3 at confidence 1.
        np.testing.assert_allclose(float(metric.result()), 1 / 3, rtol=1e-5)


def test_single_example_and_empty_state():
    metric = M.ExpectedCalibrationError(num_bins=4, from_logits=False)
    assert float(metric.result()) == 0.0  # no data: divide_no_nan gives 0
    metric.update_state(np.array([1]), np.array([[0.3, 0.7]]))
    np.testing.assert_allclose(float(metric.result()), 0.3, rtol=1e-5)
    gap = M.ConfidenceGap(from_logits=False)
    gap.update_state(np.array([1]), np.array([[0.3, 0.7]]))
    np.testing.assert_allclose(float(gap.result()), -0.3, rtol=1e-5)
    wrong = M.MeanConfidence("incorrect", from_logits=False)
    wrong.update_state(np.array([1]), np.array([[0.3, 0.7]]))
    assert float(wrong.result()) == 0.0  # no incorrect predictions


@pytest.mark.parametrize("make,key", CASES)
def test_zero_weight_padding_equals_unpadded_data(make, key):
    logits, labels = problem(n=21, seed=4)
    padded_logits = np.concatenate([logits, np.full((11, 6), 9.0, "f4")])
    padded_labels = np.concatenate([labels, np.zeros(11, "int32")])
    weights = np.concatenate([np.ones(21), np.zeros(11)]).astype("float32")
    metric = make()
    metric.update_state(
        padded_labels[:16], padded_logits[:16], sample_weight=weights[:16]
    )
    metric.update_state(
        padded_labels[16:], padded_logits[16:], sample_weight=weights[16:, None]
    )
    expected = reference(labels, softmax64(logits))[key]
    np.testing.assert_allclose(
        float(metric.result()), expected, rtol=2e-5, atol=2e-6
    )


@pytest.mark.parametrize("make,key", CASES)
def test_integer_weights_equal_repeated_examples(make, key):
    logits, labels = problem(n=12, seed=5)
    weights = np.arange(12) % 3
    metric = make()
    metric.update_state(labels, logits, sample_weight=weights)
    rows = np.repeat(np.arange(12), weights)
    expected = reference(labels[rows], softmax64(logits[rows]))[key]
    np.testing.assert_allclose(
        float(metric.result()), expected, rtol=2e-5, atol=2e-6
    )


def test_sequence_predictions_are_flattened_per_position():
    logits, labels = problem(n=24, k=4, seed=6)
    metric = M.NegativeLogLikelihood()
    metric.update_state(labels.reshape(4, 6), logits.reshape(4, 6, 4))
    expected = reference(labels, softmax64(logits))["nll"]
    np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-5)


def test_low_precision_logits_are_accumulated_in_float32():
    logits, labels = problem(n=64, k=8, seed=7)
    low = ops.cast(logits, "bfloat16")
    rounded = np.asarray(ops.convert_to_numpy(ops.cast(low, "float32")))
    metric = M.NegativeLogLikelihood()
    metric.update_state(labels, low)
    result = metric.result()
    assert keras.backend.standardize_dtype(result.dtype) == "float32"
    expected = reference(labels, softmax64(rounded))["nll"]
    np.testing.assert_allclose(float(result), expected, rtol=1e-5)


def test_metric_in_fit_history_equals_numpy_on_the_trained_model():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((64, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    model.compile(
        "sgd",
        keras.losses.SparseCategoricalCrossentropy(True),
        metrics=[M.ExpectedCalibrationError(num_bins=10), M.BrierScore()],
        jit_compile=JIT,
    )
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    report = reference(y, softmax64(model.predict(x, verbose=0)), num_bins=10)
    np.testing.assert_allclose(logs["ece"], report["ece"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(logs["brier"], report["brier"], rtol=1e-5)


def test_reset_state_zeroes_every_variable():
    logits, labels = problem(n=10)
    for make, _ in CASES:
        metric = make()
        metric.update_state(labels, logits)
        metric.reset_state()
        for variable in metric.variables:
            assert not np.any(np.asarray(ops.convert_to_numpy(variable)))
        assert float(metric.result()) == 0.0


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_config_holds_every_argument_and_round_trips(cls):
    kwargs = {"from_logits": False, "name": "custom"}
    if cls is M.ExpectedCalibrationError:
        kwargs.update(num_bins=7, norm="l2")
    if cls is M.MeanConfidence:
        kwargs.update(subset="incorrect")
    metric = cls(**kwargs)
    config = metric.get_config()
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert params <= set(config)
    clone = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(clone) is cls
    assert clone.get_config() == config
    probs = np.array([[0.2, 0.8], [0.6, 0.4]], "float32")
    metric.update_state(np.array([1, 1]), probs)
    clone.update_state(np.array([1, 1]), probs)
    assert float(metric.result()) == float(clone.result())


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: M.ExpectedCalibrationError(num_bins=0), "num_bins=0"),
        (lambda: M.ExpectedCalibrationError(num_bins=2.5), "num_bins=2.5"),
        (lambda: M.ExpectedCalibrationError(norm="l3"), "norm='l3'"),
        (lambda: M.MeanConfidence("wrong"), "subset='wrong'"),
        (lambda: M.BrierScore(from_logits="yes"), "from_logits='yes'"),
    ],
)
def test_invalid_arguments_name_the_value(build, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        build()


def test_mismatched_label_shape_is_a_clear_error():
    metric = M.NegativeLogLikelihood()
    with pytest.raises(ValueError, match=r"y_true.shape=\(4, 3\)"):
        metric.update_state(np.zeros((4, 3)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="at least 2 classes"):
        metric.update_state(np.zeros((4,)), np.zeros((4, 1)))


@pytest.mark.parametrize("cls", ALL_CLASSES)
@pytest.mark.parametrize("dtype,rtol", [("float16", 1e-3), ("bfloat16", 8e-3)])
def test_result_has_the_metric_dtype(cls, dtype, rtol):
    logits, labels = problem(n=20, k=4, seed=9)
    metric = cls(dtype=dtype)
    metric.update_state(labels, logits)
    result = metric.result()
    assert keras.backend.standardize_dtype(result.dtype) == dtype
    # State is float32; the result is the float32 value, rounded to dtype
    # (half a unit in the last place: 2^-11 and 2^-8 relative).
    expected = reference(labels, softmax64(logits))[dict(CASES_BY_CLASS)[cls]]
    value = float(ops.convert_to_numpy(ops.cast(result, "float32")))
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("dtype", ["int32", "bool"])
def test_non_floating_dtype_is_refused(dtype):
    with pytest.raises(ValueError, match=f"Received: dtype='{dtype}'"):
        M.NegativeLogLikelihood(dtype=dtype)


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_config_chains_to_keras_metric_config(cls):
    # As keras.metrics.Metric writes it: the resolved dtype, not None.
    metric = cls()
    config = metric.get_config()
    base = keras.metrics.Metric.get_config(metric)
    assert base == {"name": metric.name, "dtype": "float32"}
    assert {k: config[k] for k in base} == base


def test_weighted_mean_hook_is_abstract():
    class NoValues(M._WeightedMean):
        pass

    with pytest.raises(TypeError, match="_values"):
        NoValues(from_logits=True, name="x", dtype=None)
