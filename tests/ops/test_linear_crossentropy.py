"""`keras_ls.ops.linear_label_smoothing_crossentropy` against float64 numpy.

The oracle builds the dense logits in float64 and writes the loss and its
gradients for hidden, weight and bias by hand (tests/oracle-style: never
through keras_ls). Shapes are small and the chunk sizes divide neither the
tokens nor the classes, so every pass covers a clamped last chunk.
"""

import keras
import numpy as np
import pytest

from keras_ls.ops import linear_label_smoothing_crossentropy as fused_loss
from tests.testing import BACKEND
from tests.testing import assert_all_close
from tests.testing import to_numpy

N, D, V = 23, 8, 41
CHUNK = (7, 9)


def _data(seed=0, n=N, d=D, v=V, scale=1.0):
    rng = np.random.default_rng(seed)
    h = (scale * rng.normal(size=(n, d))).astype("float32")
    w = (scale * rng.normal(size=(v, d)) / np.sqrt(d)).astype("float32")
    b = (0.5 * rng.normal(size=(v,))).astype("float32")
    y = rng.integers(0, v, size=n).astype("int32")
    return h, w, b, y


def oracle(
    h,
    w,
    y,
    eps=0.0,
    *,
    b=None,
    convention="uniform",
    prior=None,
    ignore_class=None,
    sample_weight=None,
    z_loss=0.0,
    cap=None,
    reduction="sum_over_batch_size",
    upstream=None,
):
    """(loss, d hidden, d weight (V, D), d bias) in float64."""
    h64, w64 = h.astype(np.float64), w.astype(np.float64)
    n, v = h.shape[0], w.shape[0]
    raw = h64 @ w64.T + (0.0 if b is None else b.astype(np.float64))
    z = raw if cap is None else cap * np.tanh(raw / cap)
    valid = np.ones(n, bool) if ignore_class is None else y != ignore_class
    ids = np.where(valid, y, 0)
    m = z.max(1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(1, keepdims=True)))[:, 0]
    hard = np.eye(v)[ids]
    if convention == "others":
        u = (1.0 - hard) / (v - 1)
    elif prior is not None:
        u = np.broadcast_to(np.asarray(prior, np.float64), (n, v))
    else:
        u = np.full((n, v), 1.0 / v)
    q = (1 - eps) * hard + eps * u
    values = lse - (q * z).sum(1) + z_loss * lse**2
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight)
    weights = sw * valid
    values = values * valid
    if reduction in ("none", None):
        c = weights * (np.ones(n) if upstream is None else upstream)
        loss = values * weights
    elif reduction == "sum":
        c = weights
    elif reduction == "mean_with_sample_weight":
        c = weights / weights.sum()
    else:  # Keras: the mean over tokens not ignored
        c = weights / valid.sum()
    if reduction not in ("none", None):
        loss = (values * c).sum()
    p = np.exp(z - lse[:, None])
    dz = p * (1 + 2 * z_loss * lse[:, None]) - q
    if cap is not None:
        dz = dz * (1 - (z / cap) ** 2)
    dz = dz * c[:, None]
    return loss, dz @ w64, dz.T @ h64, dz.sum(0)


def value_and_grads(fn, *args):
    """fn(*args) and its gradients for every arg, as float32 numpy."""
    if BACKEND == "jax":
        import jax

        value, grads = jax.value_and_grad(fn, argnums=tuple(range(len(args))))(
            *args
        )
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        args = [tf.convert_to_tensor(a) for a in args]
        with tf.GradientTape() as tape:
            for a in args:
                tape.watch(a)
            value = fn(*args)
        grads = tape.gradient(value, args)
    else:
        import torch

        args = [torch.tensor(a, requires_grad=True) for a in args]
        value = fn(*args)
        grads = torch.autograd.grad(value, args)
    return to_numpy(value), [to_numpy(g).astype(np.float32) for g in grads]


def _check(actual, expected, rtol=1e-5):
    # Relative to the largest entry: float32 sums of 41 terms.
    expected = np.asarray(expected, np.float64)
    scale = max(np.abs(expected).max(), 1e-12)
    assert_all_close(actual, expected, rtol=rtol, atol=rtol * scale)


CASES = {
    "plain": {},
    "smoothed": {"eps": 0.1},
    "others": {"eps": 0.1, "convention": "others"},
    "prior": {"eps": 0.2, "prior": "random"},
    "ignore_class": {"eps": 0.1, "ignore_class": 3},
    "sample_weight_zeros": {"eps": 0.1, "sample_weight": "zeros"},
    "z_loss": {"eps": 0.1, "z_loss": 1e-2},
    "soft_cap": {"eps": 0.1, "cap": 3.0, "scale": 3.0},
    "everything": {
        "eps": 0.1,
        "z_loss": 1e-3,
        "cap": 30.0,
        "ignore_class": 5,
        "sample_weight": "zeros",
        "scale": 5.0,
    },
}
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight"]


def _case(name, seed=0):
    case = dict(CASES[name])
    h, w, b, y = _data(seed, scale=case.pop("scale", 1.0))
    rng = np.random.default_rng(seed + 1)
    if case.get("prior") == "random":
        prior = rng.random(V) + 0.1
        case["prior"] = (prior / prior.sum()).tolist()
    if case.get("sample_weight") == "zeros":
        sw = rng.random(N).astype("float32")
        sw[::4] = 0.0
        case["sample_weight"] = sw
    if "ignore_class" in case:
        y[::3] = case["ignore_class"]
    return h, w, b, y, case


def _options(case):
    options = dict(case)
    options.pop("eps", None)
    if "cap" in options:
        options["logit_soft_cap"] = options.pop("cap")
    return options


# Every case under Keras' default reduction, every reduction on the cases
# whose weights and masks change the divisor.
ORACLE_CASES = [(name, REDUCTIONS[0]) for name in sorted(CASES)] + [
    (name, reduction)
    for name in ("everything", "ignore_class", "sample_weight_zeros")
    for reduction in REDUCTIONS[1:]
]


@pytest.mark.parametrize("name, reduction", ORACLE_CASES)
def test_loss_and_gradients_match_the_float64_oracle(name, reduction):
    h, w, b, y, case = _case(name)
    eps = case.get("eps", 0.0)
    options = _options(case)

    def fn(h, w, b):
        return fused_loss(
            h,
            w,
            y,
            eps,
            bias=b,
            reduction=reduction,
            chunk_size=CHUNK,
            **options,
        )

    value, (dh, dw, db) = value_and_grads(fn, h, w, b)
    loss, rh, rw, rb = oracle(
        h, w, y, eps, b=b, reduction=reduction, **case_for_oracle(case)
    )
    _check(value, loss)
    _check(dh, rh)
    _check(dw, rw)
    _check(db, rb)


def case_for_oracle(case):
    out = dict(case)
    out.pop("eps", None)
    return out


@pytest.mark.parametrize("name", ["smoothed", "everything"])
def test_reduction_none_with_a_non_uniform_upstream_gradient(name):
    h, w, b, y, case = _case(name, seed=4)
    eps = case.get("eps", 0.0)
    upstream = np.random.default_rng(9).normal(size=N).astype("float32")

    def fn(h, w, b):
        values = fused_loss(
            h,
            w,
            y,
            eps,
            bias=b,
            reduction="none",
            chunk_size=CHUNK,
            **_options(case),
        )
        return keras.ops.sum(values * keras.ops.convert_to_tensor(upstream))

    _, (dh, dw, db) = value_and_grads(fn, h, w, b)
    values, rh, rw, rb = oracle(
        h,
        w,
        y,
        eps,
        b=b,
        reduction="none",
        upstream=upstream,
        **case_for_oracle(case),
    )
    got = fused_loss(
        h,
        w,
        y,
        eps,
        bias=b,
        reduction="none",
        chunk_size=CHUNK,
        **_options(case),
    )
    _check(got, values)
    _check(dh, rh)
    _check(dw, rw)
    _check(db, rb)


def test_dv_layout_takes_the_transposed_weight_without_a_copy():
    h, w, b, y = _data(2)

    def fn(h, w_dv):
        return fused_loss(h, w_dv, y, 0.1, weight_layout="dv", chunk_size=CHUNK)

    value, (dh, dw_dv) = value_and_grads(fn, h, np.ascontiguousarray(w.T))
    loss, rh, rw, _ = oracle(h, w, y, 0.1)
    _check(value, loss)
    _check(dh, rh)
    _check(dw_dv, rw.T)


@pytest.mark.parametrize("chunk", [None, 1, 5, (N, V), (100, 1000), (3, 40)])
def test_any_chunk_size_gives_the_same_loss(chunk):
    h, w, _, y = _data(3)
    value, (dh,) = value_and_grads(
        lambda h: fused_loss(h, w, y, 0.1, chunk_size=chunk), h
    )
    loss, rh, _, _ = oracle(h, w, y, 0.1)
    _check(value, loss)
    _check(dh, rh)


def test_rank_3_hidden_states():
    h, w, _, y = _data(5, n=24)
    got = fused_loss(
        h.reshape(4, 6, D),
        w,
        y.reshape(4, 6),
        0.1,
        reduction="none",
        chunk_size=CHUNK,
    )
    values, _, _, _ = oracle(h, w, y, 0.1, reduction="none")
    assert tuple(got.shape) == (4, 6)
    _check(to_numpy(got).reshape(-1), values)


def test_epsilon_in_a_variable_is_read_at_each_call():
    h, w, _, y = _data(6)
    eps = keras.Variable(0.1, dtype="float32", trainable=False)
    first = fused_loss(h, w, y, eps, chunk_size=CHUNK)
    eps.assign(0.3)
    second = fused_loss(h, w, y, eps, chunk_size=CHUNK)
    _check(first, oracle(h, w, y, 0.1)[0])
    _check(second, oracle(h, w, y, 0.3)[0])


@pytest.mark.parametrize("reduction", REDUCTIONS + ["none"])
def test_equals_keras_sparse_crossentropy_at_epsilon_zero(reduction):
    h, w, _, y = _data(7)
    y[::5] = 2
    sw = np.random.default_rng(0).random(N).astype("float32")
    sw[1] = 0.0
    keras_loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=2, reduction=reduction
    )
    expected = keras_loss(y, h @ w.T, sample_weight=sw)
    got = fused_loss(
        h,
        w,
        y,
        ignore_class=2,
        sample_weight=sw,
        reduction=reduction,
        chunk_size=CHUNK,
    )
    assert_all_close(got, expected, rtol=1e-5, atol=1e-6)


def _true_class_logit(p, v):
    """The logit a, others 0, at which the true class has probability p."""
    return float(np.log(p * (v - 1) / (1 - p)))


@pytest.mark.parametrize("target", [0.9, 0.99, 0.999, "smoothed-", "smoothed+"])
def test_bfloat16_true_class_gradient_within_one_percent(target):
    eps, v = 0.1, 64
    top = 1 - eps + eps / v
    p = {"smoothed-": top - 1e-3, "smoothed+": top + 1e-3}.get(target, target)
    a = _true_class_logit(p, v)
    # hidden = [1, 0]; weight column 0 holds the logits: z = W[:, 0].
    w = np.zeros((v, 2), np.float32)
    w[0, 0] = a
    h = np.array([[1.0, 0.0]], np.float32)
    y = np.array([0], np.int32)
    w16 = keras.ops.cast(w, "bfloat16")
    h16 = keras.ops.cast(h, "bfloat16")
    _, (dw,) = value_and_grads(
        lambda w: fused_loss(h16, w, y, eps, reduction="sum"), w16
    )
    a16 = float(to_numpy(keras.ops.cast(w16, "float32"))[0, 0])
    p16 = np.exp(a16) / (np.exp(a16) + v - 1)
    expected = p16 - top
    assert abs(dw[0, 0] - expected) <= 0.01 * abs(expected), (
        dw[0, 0],
        expected,
    )


def test_gradients_stay_finite_for_extreme_logits():
    h, w, b, y = _data(8, scale=60.0)
    value, grads = value_and_grads(
        lambda h, w: fused_loss(h, w, y, 0.1, z_loss=1e-4, chunk_size=CHUNK),
        h,
        w,
    )
    assert np.isfinite(value)
    assert all(np.isfinite(g).all() for g in grads)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden": np.zeros((4, 5), "float32")}, "D = hidden"),
        ({"weight_layout": "dv"}, "weight_layout"),
        ({"weight_layout": "vd", "weight": np.zeros((D, V))}, "D = hidden"),
        ({"bias": np.zeros((V + 1,), "float32")}, "bias"),
        ({"labels": np.array([0, 1, V, 2])}, r"\[0, 41\)"),
        ({"labels": np.array([0, -1, 1, 2])}, r"\[0, 41\)"),
        ({"labels": np.array([0.0, 1.0, 2.0, 3.0])}, "integer"),
        ({"labels": np.array([0, 1, 2])}, "shape"),
        ({"weight_layout": "vdx"}, "weight_layout"),
        ({"prior": [0.5, 0.5]}, "prior"),
        ({"logit_soft_cap": 0.0}, "logit_soft_cap"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"reduction": "max"}, "reduction"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
    ],
)
def test_bad_input_is_one_clear_value_error(kwargs, match):
    rng = np.random.default_rng(0)
    args = {
        "hidden": rng.normal(size=(4, D)).astype("float32"),
        "weight": rng.normal(size=(V, D)).astype("float32"),
        "labels": np.array([0, 1, 2, 3]),
        "label_smoothing": 0.1,
    }
    args.update(kwargs)
    hidden, weight, labels = (
        args.pop("hidden"),
        args.pop("weight"),
        args.pop("labels"),
    )
    with pytest.raises(ValueError, match=match):
        fused_loss(hidden, weight, labels, **args)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow graphs")
def test_tensorflow_graph_with_an_unknown_number_of_tokens():
    import tensorflow as tf

    h, w, b, y = _data(10)

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, D), tf.float32),
            tf.TensorSpec((None,), tf.int32),
        ]
    )
    def step(h, y):
        with tf.GradientTape() as tape:
            tape.watch(h)
            loss = fused_loss(h, w, y, 0.1, bias=b, chunk_size=CHUNK)
        return loss, tape.gradient(loss, h)

    value, dh = step(tf.constant(h), tf.constant(y))
    loss, rh, _, _ = oracle(h, w, y, 0.1, b=b)
    _check(value, loss)
    _check(dh, rh)


def test_float16_gradients_under_a_loss_scale_do_not_underflow():
    # mixed_float16 scales the loss before the backward pass: the fused
    # gradient is formed after the scale, so per-element gradients of
    # about 1e-8 (below float16's smallest subnormal, 6e-8) survive.
    h, w, _, y = _data(11, n=64)
    scale = 2.0**15
    h16 = keras.ops.cast(h, "float16")

    def fn(w):
        return scale * fused_loss(h16, w, y, 0.1, chunk_size=(16, 16)) / 1e7

    _, (dw,) = value_and_grads(fn, keras.ops.cast(w, "float16"))
    h_ref = to_numpy(h16).astype(np.float32)
    w_ref = to_numpy(keras.ops.cast(w, "float16")).astype(np.float32)
    _, _, rw, _ = oracle(h_ref, w_ref, y, 0.1)
    got = dw.astype(np.float64) / scale * 1e7
    assert np.isfinite(got).all()
    assert np.abs(rw / 1e7).max() < 6e-8  # would underflow unscaled
    assert_all_close(got, rw, rtol=2e-2, atol=2e-2 * np.abs(rw).max())
