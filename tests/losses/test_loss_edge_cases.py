"""Edge cases found by the differential fuzzing of issue 18.

The five losses (LabelSmoothingCrossentropy, OnlineLabelSmoothing,
MarginLabelSmoothing, MaxSuppression, ConfidencePenalty) were compared with
float64 numpy references on −inf logits, int64 class ids, large common
logit offsets, logits held in variables and probabilities that do not sum
to 1. Most tests here failed before their fix; the M1-M3 tests catch
mutations of code that was right, and a few guard the neighbouring cases
that were right already (each says so). Expected values and gradients come
from the float64 numpy references below (0·log 0 = 0, and a term whose
weight is exactly 0 is dropped), never from keras_ls.
"""

import keras
import numpy as np
import pytest
from keras import ops

import keras_ls
from tests import oracle
from tests.testing import BACKEND
from tests.testing import assert_all_close
from tests.testing import requires_jax
from tests.testing import requires_tf
from tests.testing import softmax64
from tests.testing import to_numpy

# A frozen model trains nothing, and Keras says so; a loss with an ε
# variable traced by JAX without a model warns that ε is not tracked.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:The model does not have any trainable weights"
    ),
    pytest.mark.filterwarnings("ignore:.*is traced by JAX outside"),
]

not_torch = pytest.mark.skipif(
    BACKEND == "torch",
    reason="XLA is TensorFlow's and JAX's (torch.compile is too slow here)",
)
not_jax = pytest.mark.skipif(
    BACKEND == "jax", reason="JAX without 64-bit mode has no int64 tensors"
)

# Eager everywhere; a TensorFlow graph without XLA (TF's fused kernel);
# XLA on TensorFlow and JAX.
MODES = [
    "eager",
    pytest.param("graph", marks=requires_tf),
    pytest.param("xla", marks=not_torch),
]


def values_and_grad(fn, z, mode="eager"):
    """(per-position values of `fn(z)`, gradient of their sum w.r.t. z)."""
    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        def both(x):
            values, vjp = jax.vjp(fn, x)
            return values, vjp(jnp.ones_like(values))[0]

        values, grad = (jax.jit(both) if mode == "xla" else both)(z)
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        def both(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                values = fn(x)
                total = tf.reduce_sum(values)
            return values, tape.gradient(total, x)

        if mode != "eager":
            both = tf.function(both, jit_compile=mode == "xla")
        values, grad = both(tf.convert_to_tensor(z))
    else:
        import torch

        x = torch.tensor(z, requires_grad=True)
        values = fn(x)
        (grad,) = torch.autograd.grad(values.sum(), x)
    return (
        np.asarray(to_numpy(values), np.float64),
        np.asarray(to_numpy(grad), np.float64),
    )


# float64 numpy references -------------------------------------------------


def xlogy(w, log_x):
    """w·log x per element, with 0·log 0 = 0: a weight of 0 drops its term
    even where log x is −inf."""
    w = np.asarray(w, np.float64)
    safe = np.where(w == 0, 0.0, log_x)
    return np.where(w == 0, 0.0, w * safe)


def onehot(labels, k):
    return np.eye(k)[np.asarray(labels)]


def ce_ref(q, z):
    """−Σ q·log softmax(z) per row and its gradient p·Σq − q."""
    z = np.asarray(z, np.float64)
    values = -xlogy(q, oracle.log_softmax(z)).sum(-1)
    return values, softmax64(z) * q.sum(-1, keepdims=True) - q


def lsce_ref(eps, convention="uniform", prior=None):
    def ref(labels, z):
        k = z.shape[-1]
        q = oracle.smoothed_targets(labels, k, eps, convention, prior)
        return ce_ref(q, z)

    return ref


def ms_ref(eps):
    """CE + ε·(max z − mean z), as mean(max − z); dropped at ε = 0."""

    def ref(labels, z):
        k = z.shape[-1]
        values, grad = ce_ref(onehot(labels, k), z)
        if eps:
            values = values + eps * (z.max(-1, keepdims=True) - z).mean(-1)
            grad = grad + eps * (onehot(z.argmax(-1), k) - 1.0 / k)
        return values, grad

    return ref


def mls_ref(margin, alpha):
    """CE + α·mean relu(max z − z − m); dropped at α = 0."""

    def ref(labels, z):
        k = z.shape[-1]
        values, grad = ce_ref(onehot(labels, k), z)
        if alpha:
            d = z.max(-1, keepdims=True) - z - margin
            active = (d > 0).astype(np.float64)
            values = values + alpha * np.maximum(d, 0.0).mean(-1)
            top = onehot(z.argmax(-1), k) * active.sum(-1, keepdims=True)
            grad = grad + alpha / k * (top - active)
        return values, grad

    return ref


def cp_ref(beta):
    """CE − β·H(p); ∂(−βH)/∂z_j = β·p_j·(log p_j + H), 0 where p_j = 0."""

    def ref(labels, z):
        k = z.shape[-1]
        values, grad = ce_ref(onehot(labels, k), z)
        log_p = oracle.log_softmax(z)
        p = np.exp(log_p)
        entropy = -xlogy(p, log_p).sum(-1)
        values = values - beta * entropy
        safe = np.where(p == 0, 0.0, log_p)
        grad = grad + beta * p * (safe + entropy[..., None])
        return values, grad

    return ref


def ols_ref(alpha, soft=None):
    """α·CE(y) + (1 − α)·CE(S[y]) = CE(α·onehot + (1 − α)·S[y]); S is
    uniform in the first epoch. The mixed target is exactly one-hot at
    α = 1, so the soft term is dropped there."""

    def ref(labels, z):
        k = z.shape[-1]
        s = np.full((k, k), 1.0 / k) if soft is None else soft
        mixed = alpha * onehot(labels, k) + (1.0 - alpha) * s[labels]
        return ce_ref(mixed, z)

    return ref


def _losses():
    """name -> (loss with reduction="none", its numpy reference)."""
    none = dict(reduction="none")
    lsce = keras_ls.LabelSmoothingCrossentropy
    return {
        "lsce_0": (lsce(0.0, **none), lsce_ref(0.0)),
        "lsce_0.1": (lsce(0.1, **none), lsce_ref(0.1)),
        "lsce_others_0.3": (
            lsce(0.3, convention="others", **none),
            lsce_ref(0.3, "others"),
        ),
        "ms_0": (
            keras_ls.MaxSuppression(label_smoothing=0.0, **none),
            ms_ref(0),
        ),
        "ms_0.1": (
            keras_ls.MaxSuppression(label_smoothing=0.1, **none),
            ms_ref(0.1),
        ),
        "mls_0": (
            keras_ls.MarginLabelSmoothing(margin=1.0, alpha=0.0, **none),
            mls_ref(1.0, 0.0),
        ),
        "mls_0.1": (
            keras_ls.MarginLabelSmoothing(margin=1.0, alpha=0.1, **none),
            mls_ref(1.0, 0.1),
        ),
        "cp_0": (keras_ls.ConfidencePenalty(beta=0.0, **none), cp_ref(0.0)),
        "cp_0.1": (keras_ls.ConfidencePenalty(beta=0.1, **none), cp_ref(0.1)),
        "ols_1": (
            keras_ls.OnlineLabelSmoothing(alpha=1.0, num_classes=4, **none),
            ols_ref(1.0),
        ),
        "ols_0.5": (
            keras_ls.OnlineLabelSmoothing(alpha=0.5, num_classes=4, **none),
            ols_ref(0.5),
        ),
    }


# Item 1: −inf logits --------------------------------------------------------

# Row 0 has a −inf logit off its true class, row 1 none, row 2 two.
MINUS_INF = np.array(
    [
        [2.0, -np.inf, 0.5, -1.0],
        [0.3, 1.2, -0.7, 2.5],
        [-np.inf, 1.0, 3.0, -np.inf],
    ],
    np.float32,
)
MINUS_INF_LABELS = np.array([0, 3, 1])

# Where a −inf logit off the true class has weight 0, the math is finite.
FINITE = ["lsce_0", "ms_0", "mls_0", "cp_0", "cp_0.1", "ols_1"]
# Where it has a weight > 0 (ε/K, a penalty on max − z), it is +inf.
INFINITE = ["lsce_0.1", "lsce_others_0.3", "ms_0.1", "mls_0.1", "ols_0.5"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", FINITE)
def test_minus_inf_logit_with_zero_weight_is_finite(name, mode):
    loss, ref = _losses()[name]
    values, grad = values_and_grad(
        lambda x: loss(MINUS_INF_LABELS, x), MINUS_INF, mode
    )
    expected, expected_grad = ref(MINUS_INF_LABELS, MINUS_INF)
    assert np.all(np.isfinite(expected)), expected
    assert_all_close(values, expected, rtol=1e-6)
    assert_all_close(grad, expected_grad, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", INFINITE)
def test_minus_inf_logit_with_a_weight_gives_inf_not_nan(name, mode):
    # Right before the fixes too: the neighbour of the cases above.
    loss, ref = _losses()[name]
    values, grad = values_and_grad(
        lambda x: loss(MINUS_INF_LABELS, x), MINUS_INF, mode
    )
    expected, expected_grad = ref(MINUS_INF_LABELS, MINUS_INF)
    np.testing.assert_array_equal(np.isposinf(expected), [1, 0, 1])
    assert_all_close(values, expected, rtol=1e-6)
    # The gradient of the finite closed form: finite, as the reference's.
    assert_all_close(grad, expected_grad, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(FINITE + INFINITE))
def test_minus_inf_true_class_logit_gives_inf(name, mode):
    loss, ref = _losses()[name]
    z = MINUS_INF.copy()
    z[1, 3] = -np.inf  # the true class of row 1
    values, grad = values_and_grad(lambda x: loss(MINUS_INF_LABELS, x), z, mode)
    expected, expected_grad = ref(MINUS_INF_LABELS, z)
    assert expected[1] == np.inf and values[1] == np.inf, values
    assert_all_close(values, expected, rtol=1e-6)
    # The closed form's gradient stays finite, as the reference's.
    assert_all_close(grad, expected_grad, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_minus_inf_logit_with_zero_target_or_prior_is_finite(mode):
    # Dense soft targets (OnlineLabelSmoothing's S[y] rows) and a prior
    # with a 0 where the logit is −inf: the term is dropped.
    z = MINUS_INF[:2]
    targets = np.array([[0.7, 0.0, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]], "f4")
    lsce = keras_ls.label_smoothing_crossentropy
    values, grad = values_and_grad(lambda x: lsce(targets, x, 0.0), z, mode)
    expected, expected_grad = ce_ref(targets.astype(np.float64), z)
    assert_all_close(values, expected, rtol=1e-6)
    assert_all_close(grad, expected_grad, atol=1e-6)

    prior = [0.5, 0.0, 0.25, 0.25]
    labels = np.array([0, 1])
    values, grad = values_and_grad(
        lambda x: lsce(labels, x, 0.1, prior=prior), z, mode
    )
    expected, expected_grad = lsce_ref(0.1, prior=prior)(labels, z)
    assert np.all(np.isfinite(expected))
    assert_all_close(values, expected, rtol=1e-6)
    assert_all_close(grad, expected_grad, atol=1e-6)


# Item 5: TensorFlow's fused kernel (eager and graph) agrees with XLA -------


@requires_tf
@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(label_smoothing=0.1),
        dict(label_smoothing=0.3, convention="others"),
        dict(label_smoothing=0.2, prior=[0.1, 0.2, 0.3, 0.4]),
    ],
    ids=["uniform", "others", "prior"],
)
def test_tf_minus_inf_true_class_is_inf_in_every_mode(kwargs, mode):
    z = np.array([[-np.inf, 1.0, 0.5, 0.0], [0.2, 1.0, -0.5, 2.0]], "f4")
    labels = np.array([0, 3])
    lsce = keras_ls.label_smoothing_crossentropy
    values, grad = values_and_grad(lambda x: lsce(labels, x, **kwargs), z, mode)
    expected, expected_grad = lsce_ref(
        kwargs["label_smoothing"],
        kwargs.get("convention", "uniform"),
        kwargs.get("prior"),
    )(labels, z)
    assert expected[0] == np.inf and values[0] == np.inf, values
    assert_all_close(values[1], expected[1], rtol=1e-6)
    assert_all_close(grad, expected_grad, atol=1e-6)


# Item 2: int64 ids that int32 cannot hold ---------------------------------

FIVE = {
    "LabelSmoothingCrossentropy": lambda: keras_ls.LabelSmoothingCrossentropy(
        0.1
    ),
    "OnlineLabelSmoothing": lambda: keras_ls.OnlineLabelSmoothing(),
    "MarginLabelSmoothing": lambda: keras_ls.MarginLabelSmoothing(),
    "MaxSuppression": lambda: keras_ls.MaxSuppression(),
    "ConfidencePenalty": lambda: keras_ls.ConfidencePenalty(),
}
# Each wraps into [0, 5) in int32: to 0, 3 and 1.
WIDE_IDS = [2**40, 2**32 + 3, -(2**32) + 1]
LOGITS_5 = np.random.default_rng(18).normal(size=(2, 5)).astype("float32")


@pytest.mark.parametrize("bad", WIDE_IDS)
@pytest.mark.parametrize("name", sorted(FIVE))
def test_int64_ids_beyond_int32_raise_in_eager_calls(name, bad):
    labels = np.array([1, bad], np.int64)
    with pytest.raises(ValueError, match=rf"\[0, 5\).*{bad}"):
        FIVE[name]()(labels, LOGITS_5)


@not_jax
@pytest.mark.parametrize("bad", WIDE_IDS)
@pytest.mark.parametrize("name", sorted(FIVE))
def test_int64_id_tensors_beyond_int32_raise_in_eager_calls(name, bad):
    labels = ops.convert_to_tensor(np.array([1, bad], np.int64))
    assert keras.backend.standardize_dtype(labels.dtype) == "int64"
    with pytest.raises(ValueError, match=rf"\[0, 5\).*{bad}"):
        FIVE[name]()(labels, LOGITS_5)


@not_jax
def test_int64_ids_wrapping_onto_ignore_class_raise():
    # 2**32 - 100 wrapped to -100 in int32 and was silently ignored.
    loss = keras_ls.LabelSmoothingCrossentropy(0.1, ignore_class=-100)
    for labels in (
        np.array([1, 2**32 - 100], np.int64),
        ops.convert_to_tensor(np.array([1, 2**32 - 100], np.int64)),
    ):
        with pytest.raises(ValueError, match=str(2**32 - 100)):
            loss(labels, LOGITS_5)
    # -100 itself is still ignored, in int64 as in int32.
    labels = np.array([1, -100], np.int64)
    expected, _ = lsce_ref(0.1)(np.array([1]), LOGITS_5[:1])
    assert_all_close(loss(labels, LOGITS_5), expected[0], rtol=1e-6)


def _reference_of(name):
    return {
        "LabelSmoothingCrossentropy": lsce_ref(0.1),
        "OnlineLabelSmoothing": ols_ref(0.5),
        "MarginLabelSmoothing": mls_ref(10.0, 0.1),
        "MaxSuppression": ms_ref(0.1),
        "ConfidencePenalty": cp_ref(0.1),
    }[name]


@requires_tf
@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("name", sorted(FIVE))
def test_tf_compiled_int64_ids_clip_before_the_int32_cast(name, jit):
    # Compiled code cannot raise: ids are clipped into [0, K) in int64,
    # so 2**32 + 3 is class 4 (K - 1), not 3; -2**32 + 1 is 0, not 1.
    import tensorflow as tf

    loss = FIVE[name]()
    loss.reduction = "none"

    @tf.function(jit_compile=jit)
    def step(labels, z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            values = loss(labels, z)
            total = tf.reduce_sum(values)
        return values, tape.gradient(total, z)

    z = np.array([[0.5, -1.0, 2.0, 0.0, 1.0], [0.1, 1.5, -0.3, 0.7, 0.2]])
    z = z.astype("float32")
    labels = tf.constant([2**32 + 3, -(2**32) + 1], tf.int64)
    values, grad = step(labels, tf.constant(z))
    expected, expected_grad = _reference_of(name)(np.array([4, 0]), z)
    assert_all_close(values, expected, rtol=1e-6)
    assert_all_close(grad, expected_grad, atol=1e-6)


# Item 6: only LabelSmoothingCrossentropy has an `ignore_class` -------------


@pytest.mark.parametrize("name", sorted(FIVE))
def test_out_of_range_message_names_ignore_class_only_where_it_exists(name):
    labels = np.array([0, 7])
    with pytest.raises(ValueError, match=r"\[0, 5\).*7") as info:
        FIVE[name]()(labels, LOGITS_5)
    assert "ignore_class" not in str(info.value)
    loss = keras_ls.LabelSmoothingCrossentropy(0.1, ignore_class=-100)
    with pytest.raises(ValueError, match=r"ignore_class=-100.*7"):
        loss(labels, LOGITS_5)


# Item 3: a large common logit offset --------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("offset", [1e4, 1e5])
@pytest.mark.parametrize("sparse", [True, False])
def test_gradient_at_a_large_common_offset_keeps_float32_precision(
    sparse, offset, mode
):
    # Keras' SparseCategoricalCrossentropy is within 6e-8 here; JAX's
    # gradient was 3.3e-4 (1e4) and 2.0e-3 (1e5) off.
    k, eps = 10, 0.1
    rng = np.random.default_rng(3)
    z = (offset + rng.normal(size=(4, k)) * 3).astype(np.float32)
    labels = np.array([0, 3, 9, 5])
    y = labels if sparse else onehot(labels, k).astype("float32")
    lsce = keras_ls.label_smoothing_crossentropy
    values, grad = values_and_grad(lambda x: lsce(y, x, eps), z, mode)
    expected, expected_grad = lsce_ref(eps)(labels, z)
    assert_all_close(values, expected, rtol=4e-7, atol=0)
    assert_all_close(grad, expected_grad, rtol=0, atol=2e-7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("offset", [1e4, 1e5])
def test_max_suppression_penalty_at_a_large_common_offset(offset, mode):
    # max - mean of raw logits lost about one ulp of |z|: 3.3e-5 relative
    # at 1e5 on JAX.
    k = 10
    rng = np.random.default_rng(4)
    z = (offset + rng.normal(size=(4, k)) * 3).astype(np.float32)
    labels = np.array([1, 2, 8, 5])
    loss = keras_ls.MaxSuppression(label_smoothing=0.2, reduction="none")
    values, grad = values_and_grad(lambda x: loss(labels, x), z, mode)
    expected, expected_grad = ms_ref(0.2)(labels, z)
    assert_all_close(values, expected, rtol=1e-6, atol=0)
    assert_all_close(grad, expected_grad, rtol=0, atol=2e-7)


# Item 4: OnlineLabelSmoothing first built inside a compiled function -------


@requires_jax
def test_jax_ols_first_called_inside_jit_keeps_concrete_state():
    import jax

    z = np.array([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]], np.float32)
    labels = np.array([0, 1])
    loss = keras_ls.OnlineLabelSmoothing(alpha=0.6)
    expected, expected_grad = ols_ref(0.6)(labels, z)
    assert_all_close(
        jax.jit(lambda x: loss(labels, x))(z), expected.mean(), rtol=1e-6
    )
    # The next eager call and the soft labels read concrete variables.
    assert_all_close(loss(labels, z), expected.mean(), rtol=1e-6)
    assert_all_close(loss.soft_labels, np.full((3, 3), 1.0 / 3))
    loss.reduction = "none"
    values, grad = values_and_grad(lambda x: loss(labels, x), z)
    assert_all_close(values, expected, rtol=1e-6)
    assert_all_close(grad, expected_grad, atol=1e-6)


@requires_tf
def test_tf_ols_first_called_inside_tf_function_keeps_eager_state():
    # Right before the fix too (Keras creates TF variables eagerly): the
    # TensorFlow side of the JAX test above.
    import tensorflow as tf

    z = np.array([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]], np.float32)
    labels = np.array([0, 1])
    loss = keras_ls.OnlineLabelSmoothing(alpha=0.6)
    expected, _ = ols_ref(0.6)(labels, z)
    for jit in (False, True):
        step = tf.function(lambda x: loss(labels, x), jit_compile=jit)
        assert_all_close(step(z), expected.mean(), rtol=1e-6)
    assert_all_close(loss(labels, z), expected.mean(), rtol=1e-6)
    assert_all_close(loss.soft_labels, np.full((3, 3), 1.0 / 3))


# Item 7: logits held in a variable -----------------------------------------


def bce_ref(eps):
    def ref(targets, z):
        t = targets * (1 - eps) + eps / 2
        values = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        grad = (1 / (1 + np.exp(-z)) - t) / z.shape[-1]
        return values.mean(-1), grad

    return ref


def _variable_cases():
    """name -> (loss, numpy reference on class-last arrays, axis)."""
    cases = {}
    for axis in (-1, 1):
        cases[f"lsce_axis{axis}"] = (
            keras_ls.LabelSmoothingCrossentropy(0.1, axis=axis),
            lsce_ref(0.1),
            axis,
        )
        cases[f"ols_axis{axis}"] = (
            keras_ls.OnlineLabelSmoothing(alpha=0.5, axis=axis),
            ols_ref(0.5),
            axis,
        )
        cases[f"mls_axis{axis}"] = (
            keras_ls.MarginLabelSmoothing(margin=1.0, alpha=0.1, axis=axis),
            mls_ref(1.0, 0.1),
            axis,
        )
        cases[f"ms_axis{axis}"] = (
            keras_ls.MaxSuppression(label_smoothing=0.1, axis=axis),
            ms_ref(0.1),
            axis,
        )
        cases[f"cp_axis{axis}"] = (
            keras_ls.ConfidencePenalty(beta=0.1, axis=axis),
            cp_ref(0.1),
            axis,
        )
    cases["binary"] = (
        keras_ls.BinaryLabelSmoothingCrossentropy(0.1),
        bce_ref(0.1),
        -1,
    )
    return cases


VARIABLE_CASES = sorted(_variable_cases())


def _variable_data(name, axis):
    """(y_true, logits in the loss's layout, the numpy reference's mean
    value and gradient in that layout)."""
    _, ref, _ = _variable_cases()[name]
    rng = np.random.default_rng(7)
    if name == "binary":
        z = rng.normal(size=(3, 4)).astype("float32")
        y = (rng.random((3, 4)) > 0.5).astype("float32")
        values, grad = ref(y.astype(np.float64), z.astype(np.float64))
        return y, z, values.mean(), grad / len(z)
    # (N, K) logits, or (N, K, T) with the classes on axis 1.
    shape = (3, 4) if axis == -1 else (3, 4, 2)
    z = (rng.normal(size=shape) * 2).astype("float32")
    labels = rng.integers(0, 4, size=(3,) if axis == -1 else (3, 2))
    last = np.moveaxis(z, 1, -1) if axis == 1 else z
    values, grad = ref(labels, last.astype(np.float64))
    if axis == 1:
        grad = np.moveaxis(grad, -1, 1)
    return labels, z, values.mean(), grad / values.size


@requires_tf
@pytest.mark.parametrize("name", VARIABLE_CASES)
def test_tf_logits_in_a_tf_variable(name):
    # A custom loop differentiating w.r.t. the logits themselves.
    import tensorflow as tf

    loss, _, axis = _variable_cases()[name]
    y, z, expected, expected_grad = _variable_data(name, axis)
    logits = tf.Variable(z)
    with tf.GradientTape() as tape:
        value = loss(y, logits)
    assert_all_close(value, expected, rtol=1e-6)
    assert_all_close(tape.gradient(value, logits), expected_grad, atol=1e-7)


@pytest.mark.parametrize("name", VARIABLE_CASES)
def test_logits_in_a_keras_variable(name):
    loss, _, axis = _variable_cases()[name]
    y, z, expected, expected_grad = _variable_data(name, axis)
    logits = keras.Variable(z)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss(y, logits)
        grad = tape.gradient(value, logits.value)
    elif BACKEND == "torch":
        value = loss(y, logits)
        value.backward()
        grad = logits.value.grad
    else:
        import jax

        value = loss(y, logits)

        def fn(x):
            # The variable read as `x` while JAX differentiates.
            with keras.StatelessScope(state_mapping=[(logits, x)]):
                return loss(y, logits)

        grad = jax.grad(fn)(logits.value)
    assert_all_close(value, expected, rtol=1e-6)
    assert_all_close(grad, expected_grad, atol=1e-7)


# M1, M2: OnlineLabelSmoothing's learned rows --------------------------------


def ols_rows_np(probs, labels, weights, k):
    """The reference update from the predicted distributions `probs`."""
    w = weights * (probs.argmax(-1) == labels)
    sums = np.zeros((k, k))
    counts = np.zeros(k)
    np.add.at(sums, labels, probs * w[:, None])
    np.add.at(counts, labels, w)
    rows = np.full((k, k), 1.0 / k)
    seen = counts > 0
    rows[seen] = sums[seen] / counts[seen, None]
    return rows


def _fit_one_epoch(loss, x, y, weights):
    """One training epoch of a model whose outputs are its inputs, then
    the epoch's sums become the soft labels."""
    model = keras.Sequential(
        [keras.Input((x.shape[-1],)), keras.layers.Identity()]
    )
    model.compile(optimizer="sgd", loss=loss)
    model.fit(
        x, y, sample_weight=weights, batch_size=len(x), epochs=1, verbose=0
    )
    loss.end_epoch()
    return model


def test_ols_learned_row_sums_to_one_under_a_fractional_sample_weight():
    # M1: the only correct example of class 1 has weight 0.5; its row is
    # its prediction (sum 1), not half of it (counts clamped to >= 1).
    z = np.array(
        [[3.0, 0.0, 0.5], [0.0, 2.0, 1.0], [1.0, 0.0, 2.0], [2.0, 1.0, 0.0]],
        np.float32,
    )
    labels = np.array([0, 1, 2, 1])
    weights = np.array([1.0, 0.5, 2.0, 1.0], np.float32)
    loss = keras_ls.OnlineLabelSmoothing(alpha=0.5)
    model = _fit_one_epoch(loss, z, labels, weights)
    rows = ols_rows_np(softmax64(z), labels, weights, 3)
    assert_all_close(loss.soft_labels, rows, atol=1e-6)
    assert_all_close(loss.soft_labels.sum(-1), np.ones(3), atol=1e-6)
    # The next epoch's loss uses them.
    expected, _ = ols_ref(0.5, rows)(labels, z)
    assert_all_close(
        model.evaluate(z, labels, sample_weight=weights, verbose=0),
        (expected * weights).mean(),
        rtol=1e-5,
    )


# Probabilities that do not sum to 1: rows scaled by 1, 0.5, 1.5 and 3 (the
# last has an entry above 1, so clipping before renormalising differs).
UNNORMALISED = np.array(
    [
        [0.6, 0.3, 0.1],
        [0.1, 0.6, 0.3],
        [0.2, 0.2, 0.6],
        [0.1, 0.7, 0.2],
    ]
) * np.array([[1.0], [0.5], [1.5], [3.0]])
UNNORMALISED_LABELS = np.array([0, 1, 1, 1])


def test_ols_from_probabilities_learns_the_renormalised_predictions():
    # M2: the rows are means of the renormalised probabilities, not of
    # their softmax (nor of the raw, unnormalised rows).
    p = UNNORMALISED.astype(np.float32)
    weights = np.ones(4, np.float32)
    loss = keras_ls.OnlineLabelSmoothing(alpha=0.5, from_logits=False)
    _fit_one_epoch(loss, p, UNNORMALISED_LABELS, weights)
    probs = UNNORMALISED / UNNORMALISED.sum(-1, keepdims=True)
    rows = ols_rows_np(probs, UNNORMALISED_LABELS, weights, 3)
    assert_all_close(loss.soft_labels, rows, atol=1e-6)


# M3: the family from probabilities ------------------------------------------


def _log_probs(p):
    """As Keras: renormalised, clipped to [1e-7, 1 - 1e-7], logged."""
    p = p / p.sum(-1, keepdims=True)
    return np.log(np.clip(p, 1e-7, 1 - 1e-7))


def prob_value_ref(name, labels, p):
    """Per-row float64 value of the loss on probabilities `p`."""
    lp = _log_probs(p)
    k = p.shape[-1]
    ce = -np.take_along_axis(lp, labels[:, None], -1)[:, 0]
    if name == "ms":
        return ce + 0.2 * (lp.max(-1, keepdims=True) - lp).mean(-1)
    if name == "mls":
        d = lp.max(-1, keepdims=True) - lp - 0.5
        return ce + 0.3 * np.maximum(d, 0).mean(-1)
    if name == "cp":
        q = softmax64(lp)
        return ce + 0.4 * (q * np.log(q)).sum(-1)
    soft = np.full((k, k), 1.0 / k)
    return 0.7 * ce - 0.3 * (soft[labels] * lp).sum(-1)


def numeric_grad(f, x, h=1e-6):
    """Central differences of the float64 function `f` (sum of values)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (f(up).sum() - f(down).sum()) / (2 * h)
    return grad


PROB_LOSSES = {
    "ms": lambda: keras_ls.MaxSuppression(label_smoothing=0.2, **PROB),
    "mls": lambda: keras_ls.MarginLabelSmoothing(margin=0.5, alpha=0.3, **PROB),
    "cp": lambda: keras_ls.ConfidencePenalty(beta=0.4, **PROB),
    "ols": lambda: keras_ls.OnlineLabelSmoothing(alpha=0.7, **PROB),
}
PROB = dict(from_logits=False, reduction="none")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(PROB_LOSSES))
def test_family_renormalises_probabilities_that_do_not_sum_to_one(name, mode):
    loss = PROB_LOSSES[name]()
    p = UNNORMALISED.astype(np.float32)
    p64 = p.astype(np.float64)
    labels = UNNORMALISED_LABELS
    values, grad = values_and_grad(lambda x: loss(labels, x), p, mode)

    def ref(x):
        return prob_value_ref(name, labels, x)

    assert_all_close(values, ref(p64), rtol=1e-5)
    assert_all_close(grad, numeric_grad(ref, p64), rtol=1e-4, atol=1e-5)
