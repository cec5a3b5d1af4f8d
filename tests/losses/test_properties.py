"""Property-based tests of the loss (hypothesis), on every backend.

For random logits, labels and ε: the loss never drops below
`minimum_loss(ε, K)`, equals the dense-target numpy reference, and is
linear in ε.
"""

import numpy as np
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from keras import ops

from keras_ls.losses import label_smoothing_crossentropy
from keras_ls.losses import minimum_loss
from tests import oracle

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


@st.composite
def problems(draw):
    # A few shapes only: eager JAX compiles each op once per shape.
    n = draw(st.sampled_from([1, 5]))
    k = draw(st.sampled_from([2, 3, 10]))
    scale = draw(st.sampled_from([0.1, 1.0, 10.0, 50.0]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, k)) * scale).astype("float32")
    labels = rng.integers(0, k, size=n).astype("int32")
    eps = draw(st.floats(0.0, 0.99, allow_nan=False))
    convention = draw(st.sampled_from(["uniform", "others"]))
    return logits, labels, eps, convention


def per_example(labels, logits, eps, convention):
    values = label_smoothing_crossentropy(
        labels, logits, eps, convention=convention
    )
    return np.asarray(ops.convert_to_numpy(values), np.float64)


def float32_slack(logits):
    # float32 logsumexp and dot products lose ~1e-7 relative to |z|.
    return 1e-5 * (1.0 + float(np.abs(logits).max()))


@SETTINGS
@given(problems())
def test_loss_is_at_least_minimum_loss(problem):
    logits, labels, eps, convention = problem
    floor = minimum_loss(eps, logits.shape[-1], convention)
    values = per_example(labels, logits, eps, convention)
    assert np.all(values >= floor - float32_slack(logits))


@SETTINGS
@given(problems())
def test_loss_equals_dense_target_reference(problem):
    logits, labels, eps, convention = problem
    k = logits.shape[-1]
    expected = oracle.dense_ce(
        oracle.smoothed_targets(labels, k, eps, convention), logits
    )
    values = per_example(labels, logits, eps, convention)
    np.testing.assert_allclose(
        values, expected, rtol=1e-5, atol=float32_slack(logits)
    )
    # The same with the dense targets passed in.
    dense = oracle.smoothed_targets(labels, k, eps, convention)
    from_dense = label_smoothing_crossentropy(
        dense.astype("float32"), logits, 0.0
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(from_dense),
        expected,
        rtol=1e-5,
        atol=float32_slack(logits),
    )


@SETTINGS
@given(problems(), st.floats(0.0, 1.0))
def test_loss_is_linear_in_eps(problem, mix):
    logits, labels, eps, convention = problem
    low, high = 0.0, eps
    middle = mix * low + (1 - mix) * high
    at_low = per_example(labels, logits, low, convention)
    at_high = per_example(labels, logits, high, convention)
    at_middle = per_example(labels, logits, middle, convention)
    np.testing.assert_allclose(
        at_middle,
        mix * at_low + (1 - mix) * at_high,
        rtol=1e-5,
        atol=float32_slack(logits),
    )
