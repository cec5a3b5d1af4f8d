"""The loss and metrics under the `mixed_float16` and `mixed_bfloat16` policies.

Tolerance against the float32 reference. The per-example loss is
2-Lipschitz in the max norm of the logits (its gradient, softmax(z) - q,
has an L1 norm of at most 2), and rounding a logit z to a format with unit
roundoff u moves it by at most |z|·u. So

    |loss(low-precision z) - loss(z)| <= 2·max|z|·u + 1e-5,

with u = 2**-11 for float16 and 2**-8 for bfloat16, and 1e-5 for the
float32 accumulation. Against a reference computed on the already rounded
logits the loss must agree within 1e-5: everything after the logits is
float32.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_ls.losses import LabelSmoothingCrossentropy
from keras_ls.losses import label_smoothing_crossentropy
from tests import oracle
from tests.testing import value_and_grad

POLICIES = ["mixed_float16", "mixed_bfloat16"]
# XLA on TensorFlow and JAX; on PyTorch `jit_compile=JIT` means
# torch.compile, which takes minutes per model on a small CPU.
JIT = keras.backend.backend() != "torch"
UNIT_ROUNDOFF = {"float16": 2.0**-11, "bfloat16": 2.0**-8}


def compute_dtype(policy):
    return keras.DTypePolicy(policy).compute_dtype


def rounded(array, dtype):
    """`array` as the framework rounds it to `dtype`, back in float64."""
    low = ops.cast(ops.convert_to_tensor(array), dtype)
    return np.asarray(
        ops.convert_to_numpy(ops.cast(low, "float32")), np.float64
    ), low


@pytest.fixture
def policy(request):
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy("float32")


def problem(n, k, seed, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, k)) * scale).astype("float32")
    labels = rng.integers(0, k, size=n).astype("int32")
    return logits, labels


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_loss_equals_float32_reference_within_rounding_bound(policy, eps):
    dtype = compute_dtype(policy)
    logits, labels = problem(64, 10, seed=1)
    as_rounded, low = rounded(logits, dtype)
    loss = LabelSmoothingCrossentropy(eps)
    value = loss(labels, low)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    value = float(value)
    exact = oracle.smoothed_loss(labels, logits, eps).mean()
    bound = 2 * np.abs(logits).max() * UNIT_ROUNDOFF[dtype] + 1e-5
    assert abs(value - exact) <= bound
    np.testing.assert_allclose(
        value,
        oracle.smoothed_loss(labels, as_rounded, eps).mean(),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_model_under_policy_evaluates_to_reference_of_its_logits(policy):
    logits, labels = problem(32, 6, seed=2)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(6)])
    assert model.compute_dtype == compute_dtype(policy)
    model.compile(
        optimizer="sgd", loss=LabelSmoothingCrossentropy(0.2), jit_compile=JIT
    )
    predicted = model.predict(logits, batch_size=8, verbose=0)
    assert keras.backend.standardize_dtype(predicted.dtype) == (
        compute_dtype(policy)
    )
    expected = oracle.smoothed_loss(
        labels, predicted.astype(np.float64), 0.2
    ).mean()
    got = model.evaluate(logits, labels, batch_size=8, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
@pytest.mark.parametrize("sparse", [True, False])
def test_gradients_finite_with_logits_of_plus_minus_1e4(policy, sparse):
    dtype = compute_dtype(policy)
    k = 8
    rng = np.random.default_rng(3)
    logits = np.where(rng.random((16, k)) < 0.5, -1e4, 1e4).astype("float32")
    labels = rng.integers(0, k, size=16).astype("int32")
    as_rounded, low = rounded(logits, dtype)
    y = labels if sparse else np.eye(k, dtype="float32")[labels]
    loss = LabelSmoothingCrossentropy(0.1)
    value, grad = value_and_grad(lambda z: loss(y, z), low)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    expected = oracle.smoothed_loss(labels, as_rounded, 0.1)
    np.testing.assert_allclose(value, expected.mean(), rtol=1e-5)
    q = np.eye(k)[labels] * 0.9 + 0.1 / k
    expected_grad = (oracle.softmax(as_rounded) - q) / len(labels)
    # The gradient comes back in the logits' dtype: compare at its precision.
    np.testing.assert_allclose(
        grad, expected_grad, atol=4 * UNIT_ROUNDOFF[dtype] / len(labels)
    )


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
@pytest.mark.parametrize("loss_dtype", [None, "compute"])
def test_labels_up_to_131071_stay_exact(policy, loss_dtype):
    dtype = compute_dtype(policy)
    k = 131072
    labels = np.array([131071, 131070, 131069, 65537], "int32")
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((4, k)).astype("float32")
    # Neighbouring classes get very different logits, so a label rounded by
    # even one class changes the loss by several nats.
    logits[np.arange(4), labels] = 8.0
    logits[np.arange(4), labels - 1] = -8.0
    logits[np.arange(4)[:3], np.minimum(labels + 1, k - 1)[:3]] = -8.0
    as_rounded, low = rounded(logits, dtype)
    expected = oracle.smoothed_loss(labels, as_rounded, 0.1)
    loss = LabelSmoothingCrossentropy(
        0.1, dtype=None if loss_dtype is None else dtype
    )
    value = float(ops.cast(loss(labels, low), "float32"))
    # A loss returned in the compute dtype keeps its 8 or 11 bits only.
    rtol = 1e-5 if loss_dtype is None else 2 * UNIT_ROUNDOFF[dtype]
    np.testing.assert_allclose(value, expected.mean(), rtol=rtol)
    per_example = label_smoothing_crossentropy(labels, low, 0.1)
    np.testing.assert_allclose(
        ops.convert_to_numpy(per_example), expected, rtol=1e-5
    )
    # A class id cast to the compute dtype does not survive (float16 tops
    # out at 65504, bfloat16 keeps 8 bits), and the rounded id's loss is
    # several nats away: the check above could not pass by accident.
    # The overflow to inf is the point (JAX casts with numpy, which warns).
    with np.errstate(over="ignore"):
        lossy = np.asarray(
            ops.convert_to_numpy(ops.cast(ops.cast(labels, dtype), "float32")),
            np.float64,
        )
    assert not np.array_equal(lossy, labels)
    if np.all(np.isfinite(lossy)):
        wrong = oracle.smoothed_loss(
            np.minimum(lossy, k - 1).astype(int), as_rounded, 0.1
        )
        assert abs(wrong.mean() - expected.mean()) > 1.0


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_labels_up_to_131071_exact_through_model_evaluate(policy):
    k = 131072
    labels = np.array([131071, 0, 131070, 77777], "int32")
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((4, k)).astype("float32")
    logits[np.arange(4), labels] = 8.0
    logits[np.arange(4), np.maximum(labels - 1, 0)] = -8.0
    model = keras.Sequential(
        [keras.Input((k,)), keras.layers.Activation("linear")]
    )
    model.compile(loss=LabelSmoothingCrossentropy(0.1), jit_compile=JIT)
    as_rounded, _ = rounded(logits, compute_dtype(policy))
    expected = oracle.smoothed_loss(labels, as_rounded, 0.1).mean()
    got = model.evaluate(logits, labels, batch_size=4, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_metrics_state_and_results_are_float32(policy):
    from keras_ls import metrics as ls_metrics

    dtype = compute_dtype(policy)
    logits, labels = problem(48, 7, seed=6)
    as_rounded, low = rounded(logits, dtype)
    expected = oracle.calibration(labels, as_rounded, num_bins=10)
    cases = {
        "ece": ls_metrics.ExpectedCalibrationError(10),
        "mce": ls_metrics.ExpectedCalibrationError(10, norm="max"),
        "nll": ls_metrics.NegativeLogLikelihood(),
        "confidence": ls_metrics.MeanConfidence(),
        "confidence_gap": ls_metrics.ConfidenceGap(),
        "brier": ls_metrics.BrierScore(),
        "entropy": ls_metrics.PredictiveEntropy(),
    }
    for key, metric in cases.items():
        for rows in (slice(0, 20), slice(20, 48)):
            metric.update_state(labels[rows], low[rows])
        result = metric.result()
        assert keras.backend.standardize_dtype(result.dtype) == "float32", key
        assert all(
            keras.backend.standardize_dtype(v.dtype) == "float32"
            for v in metric.variables
        ), key
        np.testing.assert_allclose(
            float(result), expected[key], rtol=1e-5, atol=1e-6, err_msg=key
        )


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_metrics_in_compiled_model_under_policy(policy):
    from keras_ls import metrics as ls_metrics

    logits, labels = problem(40, 5, seed=7)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(5)])
    model.compile(
        optimizer="sgd",
        loss=LabelSmoothingCrossentropy(0.1),
        metrics=[
            ls_metrics.ExpectedCalibrationError(5, name="ece"),
            ls_metrics.NegativeLogLikelihood(name="nll"),
        ],
        jit_compile=JIT,
    )
    predicted = model.predict(logits, batch_size=8, verbose=0)
    expected = oracle.calibration(
        labels, predicted.astype(np.float64), num_bins=5
    )
    got = model.evaluate(
        logits, labels, batch_size=8, verbose=0, return_dict=True
    )
    np.testing.assert_allclose(
        got["ece"], expected["ece"], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(got["nll"], expected["nll"], rtol=1e-5)


def _sgd_step_model(kernel):
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, use_bias=False)]
    )
    model.layers[0].set_weights([kernel])
    return model


@pytest.mark.parametrize("scale", [1.0, 2500.0])
def test_float16_loss_scaling_is_unaffected(scale):
    """One SGD step under mixed_float16 applies lr·gradient, unscaled.

    With `scale=2500` the logits reach ±1e4: a float16 loss would overflow
    once multiplied by the loss scale (2**15), and the step would be skipped
    with the scale halved. The loss is float32, so neither happens.
    """
    keras.config.set_dtype_policy("mixed_float16")
    try:
        rng = np.random.default_rng(8)
        # Values exact in float16, so both runs start from the same numbers.
        kernel = (rng.integers(-8, 9, (4, 3)) / 8.0 * scale).astype("float32")
        x = (rng.integers(-4, 5, (8, 4)) / 4.0).astype("float32")
        y = rng.integers(0, 3, 8).astype("int32")
        model = _sgd_step_model(kernel)
        loss = LabelSmoothingCrossentropy(0.1)
        model.compile(
            optimizer=keras.optimizers.SGD(0.5), loss=loss, jit_compile=JIT
        )
        optimizer = model.optimizer
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        initial_scale = float(optimizer.initial_scale)
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        new_kernel = model.layers[0].get_weights()[0]
        final_scale = float(ops.convert_to_numpy(optimizer.dynamic_scale))
    finally:
        keras.config.set_dtype_policy("float32")
    z = x.astype(np.float64) @ kernel
    q = np.eye(3)[y] * 0.9 + 0.1 / 3
    grad = x.T.astype(np.float64) @ ((oracle.softmax(z) - q) / len(y))
    expected = kernel - 0.5 * grad
    assert initial_scale == final_scale == 2.0**15  # no overflow detected
    assert loss.label_smoothing == pytest.approx(0.1)
    # The reported loss is unscaled.
    np.testing.assert_allclose(
        history.history["loss"][0],
        oracle.smoothed_loss(y, z, 0.1).mean(),
        rtol=1e-3,
    )
    assert np.all(np.isfinite(new_kernel))
    assert np.abs(new_kernel - kernel).max() > 0.01  # the step was applied
    # float16 forward and backward passes: 11 significant bits.
    np.testing.assert_allclose(
        new_kernel, expected, atol=4 * 2.0**-11 * (1 + np.abs(grad).max())
    )
