"""Issue 14's loss defects F1-F7 and smaller points, on every backend.

Each test failed before its fix. Expected values come from the float64
numpy references in tests/oracle.py, or from PyTorch's own
cross-entropy where PyTorch's behaviour is the contract (a −inf logit).
"""

import warnings

import keras
import numpy as np
import pytest

import keras_ls
from keras_ls._tracking import state as _state
from tests import oracle
from tests.testing import BACKEND
from tests.testing import TORCH_COMPILE
from tests.testing import assert_all_close
from tests.testing import requires_jax
from tests.testing import requires_module
from tests.testing import requires_tf
from tests.testing import requires_torch
from tests.testing import softmax64
from tests.testing import value_and_grad

lsce = keras_ls.label_smoothing_crossentropy


def compiled_value_and_grad(fn, x, *, xla=True):
    """`value_and_grad` under XLA on JAX and TensorFlow (eager on torch).

    With `xla=False`, TensorFlow runs a plain `tf.function` graph.
    """
    if BACKEND == "jax":
        import jax

        value, grad = jax.jit(jax.value_and_grad(fn))(x)
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=xla)
        def step(z):
            with tf.GradientTape() as tape:
                tape.watch(z)
                value = fn(z)
            return value, tape.gradient(value, z)

        value, grad = step(tf.convert_to_tensor(x))
    else:
        return value_and_grad(fn, x)
    to_np = keras.ops.convert_to_numpy
    return np.asarray(to_np(value)), np.asarray(to_np(grad), np.float32)


MODES = {"eager": value_and_grad, "compiled": compiled_value_and_grad}


def numpy_grad(labels, logits, eps):
    """d/dz of the per-position sum of the smoothed CE: softmax - q."""
    k = np.asarray(logits).shape[-1]
    q = oracle.smoothed_targets(labels, k, eps)
    return softmax64(logits) - q


# A frozen model trains nothing, and Keras says so; that is the point.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The model does not have any trainable weights"
)


def fixed_logit_model(logits, trainable=False):
    """A model whose outputs are `logits`, whatever the input: a Dense
    with zero kernel and the logits as bias (frozen unless `trainable`)."""
    k = logits.shape[-1]
    dense = keras.layers.Dense(
        k,
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(logits),
        trainable=trainable,
    )
    inputs = keras.Input((1,))
    return keras.Model(inputs, dense(inputs))


# F1 -------------------------------------------------------------------


def test_f1_uint8_ids_train_under_jit_compile():
    logits = np.array([1.5, -0.5, 0.25, 0.0], np.float32)
    # Trainable: the failing arange was in the gradient. One step of one
    # batch, so the logged loss is that of these logits.
    model = fixed_logit_model(logits, trainable=True)
    loss = keras_ls.LabelSmoothingCrossentropy(0.1)
    model.compile(optimizer="sgd", loss=loss, jit_compile=BACKEND != "torch")
    y = np.array([0, 1, 2, 3, 1, 2, 0, 3], np.uint8)
    x = np.zeros((8, 1), np.float32)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    expected = oracle.dense_ce(
        oracle.smoothed_targets(y, 4, 0.1), np.tile(logits, (8, 1))
    ).mean()
    assert_all_close(history.history["loss"][0], expected, rtol=1e-6)


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_f1_uint8_ids_with_16_bit_logits(mode, dtype):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3, 5)).astype(np.float32)
    labels = np.array([4, 0, 2], np.uint8)

    def fn(x):
        return keras.ops.sum(lsce(labels, x, 0.1))

    x = keras.ops.cast(z, dtype)
    z16 = keras.ops.convert_to_numpy(keras.ops.cast(x, "float32"))
    value, grad = MODES[mode](fn, x)
    q = oracle.smoothed_targets(labels, 5, 0.1)
    assert_all_close(value, oracle.dense_ce(q, z16).sum(), rtol=1e-5)
    assert_all_close(grad, numpy_grad(labels, z16, 0.1), atol=1e-2)


# F2 -------------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("dtype", ["uint8", "int8"])
def test_f2_small_int_ids_with_more_than_256_classes(mode, dtype):
    k, label, eps = 300, 5, 0.1
    z = np.random.default_rng(2).normal(size=(1, k)).astype(np.float32)
    labels = np.array([label], dtype)

    def fn(x):
        return keras.ops.sum(lsce(labels, x, eps))

    value, grad = MODES[mode](fn, z)
    expected = numpy_grad(np.array([label]), z, eps)
    # The numbers: about +0.003 at 261 (= 5 + 256), not -0.897.
    assert 0.0 < grad[0, 261] < 0.01
    assert_all_close(grad, expected, atol=1e-6)
    q = oracle.smoothed_targets(np.array([label]), k, eps)
    assert_all_close(value, oracle.dense_ce(q, z).sum(), rtol=1e-6)


# F3 -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
def test_f3_functional_accepts_a_trainable_variable(mode):
    labels = np.array([0, 2])
    z = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 1.0]], np.float32)
    eps = keras.Variable(0.1)  # trainable, as keras.Variable defaults
    expected = oracle.dense_ce(
        oracle.smoothed_targets(labels, 3, 0.1), z
    ).mean()

    def fn(x):
        return keras.ops.mean(lsce(labels, x, eps))

    if mode == "eager":
        value, grad = value_and_grad(fn, z)
    else:
        value, grad = compiled_value_and_grad(fn, z, xla=mode == "xla")
    assert_all_close(value, expected, rtol=1e-6)
    assert_all_close(grad, numpy_grad(labels, z, 0.1) / 2, atol=1e-6)


# F4 -------------------------------------------------------------------


def test_f4_ignore_class_outside_the_label_dtype():
    k = 200
    z = np.random.default_rng(4).normal(size=(3, k)).astype(np.float32)
    labels = np.array([156, 3, 156], np.uint8)
    ignored = np.array([156, 3, 156])
    expected = oracle.dense_ce(
        oracle.smoothed_targets(ignored, k, 0.0), z
    ).mean()
    values = lsce(labels, z, 0.0, ignore_class=-100)
    assert_all_close(keras.ops.mean(values), expected, rtol=1e-6)
    loss = keras_ls.LabelSmoothingCrossentropy(0.0, ignore_class=-100)
    assert_all_close(loss(labels, z), expected, rtol=1e-6)
    # ignore_class=156 still ignores the uint8 156s, and only them.
    loss = keras_ls.LabelSmoothingCrossentropy(0.0, ignore_class=156)
    assert_all_close(
        loss(labels, z),
        oracle.dense_ce(oracle.smoothed_targets(ignored, k, 0.0), z)[1],
        rtol=1e-6,
    )


# F5 -------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1, 3, 100])
def test_f5_out_of_range_ids_raise_where_values_are_concrete(bad):
    z = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 2.0]], np.float32)
    labels = np.array([0, bad])
    with pytest.raises(ValueError, match=r"\[0, 3\).*" + str(bad)):
        lsce(labels, z, 0.1)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        keras_ls.LabelSmoothingCrossentropy(0.1)(labels, z)


@pytest.mark.skipif(BACKEND == "torch", reason="compiled: JAX and TF XLA")
@pytest.mark.parametrize("bad, nearest", [(-1, 0), (3, 2), (100, 2)])
def test_f5_compiled_value_and_gradient_agree(bad, nearest):
    z = np.array([[1.0, 0.0, -1.0]], np.float32)
    labels = np.array([bad])

    def fn(x):
        return keras.ops.sum(lsce(labels, x, 0.1))

    value, grad = compiled_value_and_grad(fn, z)
    # Documented: clipped into [0, K), value and gradient alike.
    near = np.array([nearest])
    q = oracle.smoothed_targets(near, 3, 0.1)
    assert_all_close(value, oracle.dense_ce(q, z).sum(), rtol=1e-6)
    assert_all_close(grad, numpy_grad(near, z, 0.1), atol=1e-6)


# F6 -------------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("offset", [1e4, 1e5])
@pytest.mark.parametrize("sparse", [True, False])
def test_f6_large_common_offset_keeps_float32_precision(mode, offset, sparse):
    k, eps = 10, 0.5
    rng = np.random.default_rng(6)
    z = (offset + rng.normal(size=(4, k)) * 3).astype(np.float32)
    labels = np.array([0, 3, 9, 5])
    q = oracle.smoothed_targets(labels, k, eps)
    onehot = oracle.smoothed_targets(labels, k, 0.0).astype(np.float32)
    y = labels if sparse else onehot
    expected = oracle.dense_ce(q, z.astype(np.float64))

    def fn(x):
        return keras.ops.sum(lsce(y, x, eps))

    value, _ = MODES[mode](fn, z)
    assert_all_close(value, expected.sum(), rtol=4e-7, atol=0)
    per = lsce(y, z, eps)
    assert_all_close(per, expected, rtol=4e-7, atol=0)


# F7 -------------------------------------------------------------------


def _trace_count():
    """Compiled-step traces so far: Python side effects run only while
    tracing on JAX and TF; on torch, Dynamo's frame counter."""
    if BACKEND == "torch":
        from torch._dynamo.utils import counters

        return sum(counters["frames"].values())
    return _Counting.traces


class _Counting(keras.layers.Layer):
    traces = 0

    def call(self, x):
        if BACKEND != "torch":  # Dynamo would guard on the counter
            type(self).traces += 1
        return x


def test_f7_assigned_epsilon_reaches_compiled_steps_without_retrace():
    logits = np.array([2.0, 0.5, -1.0, 0.0], np.float32)
    frozen = fixed_logit_model(logits)
    inputs = keras.Input((1,))
    model = keras.Model(inputs, _Counting()(frozen(inputs)))
    loss = keras_ls.LabelSmoothingCrossentropy(0.0)
    # torch.compile takes ~40 s here on the 2-core CI CPU: opt-in there.
    jit = BACKEND != "torch" or TORCH_COMPILE
    model.compile(optimizer="sgd", loss=loss, jit_compile=jit)
    x = np.zeros((8, 1), np.float32)
    y = np.zeros(8, np.int32)  # one class: ε changes the loss

    def expected(eps):
        q = oracle.smoothed_targets(np.array([0]), 4, eps)
        return oracle.dense_ce(q, logits[None])[0]

    schedule = [0.0, 0.5, 0.9]
    traces = []

    class SetEpsilon(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            loss.label_smoothing = schedule[epoch]

        def on_epoch_end(self, epoch, logs=None):
            traces.append(_trace_count())

    # (a) a user's callback.
    history = model.fit(
        x, y, batch_size=4, epochs=3, verbose=0, callbacks=[SetEpsilon()]
    )
    assert_all_close(
        history.history["loss"], [expected(e) for e in schedule], rtol=1e-6
    )
    # (b) between fits, and (c) evaluate agrees with the train step.
    loss.label_smoothing = 0.3
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert_all_close(history.history["loss"][0], expected(0.3), rtol=1e-6)
    traces.append(_trace_count())
    assert_all_close(model.evaluate(x, y, verbose=0), expected(0.3), rtol=1e-6)
    loss.label_smoothing = 0.7
    assert_all_close(model.evaluate(x, y, verbose=0), expected(0.7), rtol=1e-6)
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert_all_close(history.history["loss"][0], expected(0.7), rtol=1e-6)
    # (d) no retrace after the first epoch, in train or test steps.
    traces.append(_trace_count())
    assert traces[1:-1] == traces[:1] * (len(traces) - 2), traces
    # Train and test steps each trace once between the last two points.
    assert traces[-1] - traces[-2] <= traces[0]


def test_f7_loss_tracks_itself_at_its_first_model_call():
    model = fixed_logit_model(np.zeros(3, np.float32))
    loss = keras_ls.LabelSmoothingCrossentropy(0.2)
    model.compile(optimizer="sgd", loss=loss)
    assert _state.find_holder(model) is None
    model.evaluate(np.zeros((2, 1)), np.array([0, 1]), verbose=0)
    holder = _state.find_holder(model)
    assert holder.label_smoothing_variables == [loss.label_smoothing_variable]
    # Weights (and so weight files) are unchanged by the holder.
    assert len(model.weights) == 2


def test_f7_public_track_label_smoothing():
    assert (
        keras_ls.track_label_smoothing is keras_ls.losses.track_label_smoothing
    )
    model = fixed_logit_model(np.zeros(3, np.float32))
    model.compile(
        optimizer="sgd", loss=keras_ls.BinaryLabelSmoothingCrossentropy(0.1)
    )
    holder = keras_ls.track_label_smoothing(model)
    assert keras_ls.track_label_smoothing(model) is holder  # idempotent
    assert holder.label_smoothing_variables == [
        model.loss.label_smoothing_variable
    ]
    other = fixed_logit_model(np.zeros(3, np.float32))
    other.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="no keras_ls loss"):
        keras_ls.track_label_smoothing(other)


@requires_jax
def test_f7_jax_trace_without_a_model_warns_once_and_names_the_fix():
    import jax

    loss = keras_ls.LabelSmoothingCrossentropy(0.1)
    labels = np.array([0, 1])
    step = jax.jit(lambda z: loss(labels, z))
    z = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 1.0]], np.float32)
    # A constant ε is right: the trace says nothing (issue 18: warn where
    # the value would be wrong, not where it is right).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step(z)
        loss.label_smoothing = 0.1  # the same value: still right
    # A new value does not reach the compiled function: said, with the fix.
    with pytest.warns(UserWarning, match="track_label_smoothing"):
        loss.label_smoothing = 0.3
    # What the warning says: the compiled function still uses 0.1.
    baked = oracle.dense_ce(oracle.smoothed_targets(labels, 3, 0.1), z)
    assert float(step(z)) == pytest.approx(baked.mean(), rel=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss.label_smoothing = 0.2  # warned once


# Smaller points ---------------------------------------------------------


@requires_module("torch")
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_minus_inf_logit_matches_pytorch(eps, mode):
    import torch

    z = np.array([[2.0, -np.inf, 0.5], [0.0, 1.0, -np.inf]], np.float32)
    labels = np.array([0, 1])
    expected = torch.nn.functional.cross_entropy(
        torch.tensor(z), torch.tensor(labels), label_smoothing=eps
    ).item()

    def fn(x):
        return keras.ops.mean(lsce(labels, x, eps))

    value, grad = MODES[mode](fn, z)
    assert_all_close(value, expected, rtol=1e-6)
    assert np.all(np.isfinite(grad))


@pytest.mark.filterwarnings("ignore:LabelSmoothingCrossentropy is traced")
@pytest.mark.parametrize("mode", sorted(MODES))
def test_nan_logits_at_ignored_positions_give_zero_gradients(mode):
    z = np.array([[1.0, 0.0, -1.0], [np.nan, np.nan, np.nan]], np.float32)
    labels = np.array([2, -100])
    loss = keras_ls.LabelSmoothingCrossentropy(0.1, ignore_class=-100)

    def fn(x):
        return loss(labels, x)

    value, grad = MODES[mode](fn, z)
    q = oracle.smoothed_targets(np.array([2]), 3, 0.1)
    assert_all_close(value, oracle.dense_ce(q, z[:1])[0], rtol=1e-6)
    assert_all_close(grad[1], np.zeros(3), atol=0)
    assert_all_close(
        grad[0], numpy_grad(np.array([2]), z[:1], 0.1)[0], atol=1e-6
    )


def test_others_convention_with_a_prior_raises():
    prior = [0.5, 0.25, 0.25]
    with pytest.raises(ValueError, match="prior.*others"):
        keras_ls.LabelSmoothingCrossentropy(convention="others", prior=prior)
    with pytest.raises(ValueError, match="prior.*others"):
        lsce([0], [[1.0, 0.0, 0.0]], 0.1, convention="others", prior=prior)


def test_binary_loss_names_mismatched_shapes():
    loss = keras_ls.BinaryLabelSmoothingCrossentropy(0.1)
    with pytest.raises(ValueError, match=r"same shape.*\(3, 2\).*\(3, 3\)"):
        loss(np.zeros((3, 2)), np.zeros((3, 3)))


@requires_tf
def test_tf_fused_kernel_path_keeps_precision_at_large_offsets():
    # Float32 class ids outside XLA take TF's fused sparse kernel.
    from keras_ls.losses import _tf_fused

    z = (1e5 + np.random.default_rng(8).normal(size=(4, 10))).astype("f4")
    labels = np.array([1, 2, 3, 4])
    assert _tf_fused.supports(keras.ops.convert_to_tensor(z), labels, True)
    expected = oracle.dense_ce(
        oracle.smoothed_targets(labels, 10, 0.5), z.astype(np.float64)
    )
    assert_all_close(lsce(labels, z, 0.5), expected, rtol=4e-7, atol=0)


# Issue 10: per-step cost on eager PyTorch and on TensorFlow's XLA:CPU ---


@requires_torch
def test_eager_torch_step_calls_no_more_torch_ops_than_keras_sparse_ce(
    monkeypatch,
):
    # Each torch call on an eager step is a Python dispatch; the loss made
    # 124 of them and one Keras layer call (the mask reader) per forward
    # pass, against 68 for Keras' SparseCategoricalCrossentropy.
    import torch
    from torch.overrides import TorchFunctionMode

    from keras_ls.losses import _reduction

    class Count(TorchFunctionMode):
        calls = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    def torch_calls(loss, labels, logits):
        loss(labels, logits)  # the first call may track and check once
        Count.calls = 0
        with Count():
            value = loss(labels, logits)
        return Count.calls, value

    layer_calls = []
    monkeypatch.setattr(
        _reduction._MaskReader,
        "call",
        lambda self, inputs, mask=None: layer_calls.append(1) or inputs,
    )
    rng = np.random.default_rng(3)
    z = rng.normal(size=(8, 10)).astype(np.float32)
    labels = rng.integers(0, 10, size=8).astype(np.int32)
    logits = torch.tensor(z, requires_grad=True)
    ours, value = torch_calls(
        keras_ls.LabelSmoothingCrossentropy(0.1), torch.tensor(labels), logits
    )
    keras_calls, _ = torch_calls(
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        torch.tensor(labels),
        logits,
    )
    assert ours <= keras_calls, (ours, keras_calls)
    assert layer_calls == []
    q = oracle.smoothed_targets(labels, 10, 0.1)
    assert_all_close(value, oracle.dense_ce(q, z).mean(), rtol=1e-6)
    value.backward()
    assert_all_close(logits.grad, numpy_grad(labels, z, 0.1) / 8, atol=1e-7)


def _hlo_exponentials(dtype, n=4, k=6):
    """Full-shape exponentials in the HLO of the loss's value and gradient
    under TensorFlow's XLA, before XLA's own rewrites."""
    import tensorflow as tf

    loss = keras_ls.LabelSmoothingCrossentropy(0.1)
    labels = tf.constant(np.arange(n) % k, tf.int32)

    @tf.function(jit_compile=True)
    def step(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            value = loss(labels, z)
        return value, tape.gradient(value, z)

    z = tf.cast(tf.zeros((n, k)), dtype)
    hlo = step.experimental_get_compiler_ir(z)(stage="hlo")
    return [
        line
        for line in hlo.splitlines()
        if f"[{n},{k}]" in line.split("=", 1)[-1].split("(", 1)[0]
        and " exponential(" in line
    ]


def _tensorflow_sees_a_gpu():
    if BACKEND != "tensorflow":
        return False
    import tensorflow as tf

    # Physical devices: listing them leaves the runtime uninitialized.
    return bool(tf.config.list_physical_devices("GPU"))


@requires_tf
@pytest.mark.skipif(
    _tensorflow_sees_a_gpu(),
    reason="GPUs recompute the exponentials by design",
)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_tf_xla_cpu_gradient_reuses_the_forward_exponentials(dtype, eps):
    # XLA:CPU stores exp(z - max z) for its reduction kernels anyway; the
    # gradient recomputing it was the costliest pass (1.35x Keras'
    # one-hot label smoothing in bfloat16). Values and gradients stay
    # those of the float64 oracle.
    assert len(_hlo_exponentials(dtype)) == 1
    rng = np.random.default_rng(4)
    z = (rng.normal(size=(6, 7)) * 4).astype(np.float32)
    labels = np.array([0, 6, 3, 3, 1, 5], np.int32)
    x = keras.ops.cast(z, dtype)
    z_in = keras.ops.convert_to_numpy(keras.ops.cast(x, "float32"))

    def fn(t):
        return keras.ops.sum(lsce(labels, t, eps))

    value, grad = compiled_value_and_grad(fn, x)
    q = oracle.smoothed_targets(labels, 7, eps)
    assert_all_close(value, oracle.dense_ce(q, z_in).sum(), rtol=1e-6)
    tol = 1e-6 if dtype == "float32" else 1e-2
    assert_all_close(grad, numpy_grad(labels, z_in, eps), atol=tol)
