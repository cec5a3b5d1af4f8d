"""optax's smoothing and softmax cross-entropy test cases, with its numbers.

Ported from google-deepmind/optax (commit 2edbcbe2390d, 2026-08-07):
optax/losses/_smoothing_test.py (SmoothLabelsTest) and
optax/losses/_classification_test.py (SoftmaxCrossEntropyTest,
SoftmaxCrossEntropyWithIntegerLabelsTest, SafeSoftmaxCrossEntropyTest). Each
case names its optax test.

keras_ls has no public `smooth_labels`: the smoothed target q is checked
through the loss, whose gradient with respect to the logits is
softmax(z)·Σq - q, and whose value is -Σ q·log softmax(z).
"""

import numpy as np
import pytest
from keras import ops

from keras_ls.losses import LabelSmoothingCrossentropy
from keras_ls.losses import label_smoothing_crossentropy
from tests import oracle
from tests.testing import value_and_grad

# SmoothLabelsTest.setUp
TS = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=np.float32)
EXP_ALPHA_ZERO = TS
EXP_ALPHA_ZERO_POINT_ONE = 0.9 * TS + 0.1 / TS.shape[-1]
EXP_ALPHA_ONE = np.ones_like(TS) / TS.shape[-1]

# SoftmaxCrossEntropyTest.setUp
YS = np.array([[10.0, 1.0, -2.0], [1.0, 4.0, 0.2]], dtype=np.float32)
EXP = np.array([9.00013, 3.0696733], dtype=np.float32)


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def smoothed_target_through_the_gradient(targets, eps, logits):
    """q recovered from ∂/∂z Σ loss = softmax(z)·Σq - q (Σq = 1 here)."""

    def total(z):
        return ops.sum(
            label_smoothing_crossentropy(targets, z, eps, sparse=False)
        )

    _, grad = value_and_grad(total, ops.convert_to_tensor(logits))
    probs = np.exp(oracle.log_softmax(logits))
    return probs - grad


@pytest.mark.parametrize(
    "eps, expected",
    [
        (0.0, EXP_ALPHA_ZERO),
        (0.1, EXP_ALPHA_ZERO_POINT_ONE),
    ],
)
@pytest.mark.parametrize("batched", [False, True])
def test_smooth_labels(eps, expected, batched):
    # optax _smoothing_test.py SmoothLabelsTest.test_scalar (batched=False,
    # one row) and test_batched
    targets, expected = (TS, expected) if batched else (TS[:1], expected[:1])
    logits = np.array([[0.3, -1.2, 2.0], [1.5, 0.0, -0.4]], np.float32)[
        : len(targets)
    ]
    q = smoothed_target_through_the_gradient(targets, eps, logits)
    np.testing.assert_allclose(q, expected, atol=1e-4)
    values = label_smoothing_crossentropy(targets, logits, eps, sparse=False)
    np.testing.assert_allclose(
        np_(values),
        -(expected * oracle.log_softmax(logits)).sum(-1),
        atol=1e-4,
    )


@pytest.mark.skip(
    reason="optax's alpha = 1.0 (uniform targets, labels "
    "ignored): keras_ls accepts label_smoothing in [0, 1)"
)
def test_smooth_labels_alpha_one():
    pass  # pragma: no cover


def test_softmax_cross_entropy_scalar():
    # optax _classification_test.py SoftmaxCrossEntropyTest.test_scalar: one
    # unbatched row of logits (rank 1)
    value = label_smoothing_crossentropy(TS[0], YS[0], 0.0, sparse=False)
    np.testing.assert_allclose(np_(value), EXP[0], atol=1e-4)


def test_softmax_cross_entropy_batched():
    # optax _classification_test.py SoftmaxCrossEntropyTest.test_batched
    values = LabelSmoothingCrossentropy(0.0, reduction=None)(TS, YS)
    np.testing.assert_allclose(np_(values), EXP, atol=1e-4)


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_softmax_cross_entropy_axis(axis, eps):
    # optax _classification_test.py SoftmaxCrossEntropyTest.test_axis: shape
    # [4, 5, 6], Dirichlet targets drawn over the last axis. optax compares
    # with the class axis moved last; here also with a numpy oracle.
    rng = np.random.default_rng(axis)
    shape = [4, 5, 6]
    preds = rng.normal(size=shape).astype(np.float32)
    targets = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]).astype(
        np.float32
    )
    x = label_smoothing_crossentropy(
        targets, preds, eps, sparse=False, axis=axis
    )
    y = label_smoothing_crossentropy(
        np.moveaxis(targets, axis, -1),
        np.moveaxis(preds, axis, -1),
        eps,
        sparse=False,
    )
    np.testing.assert_allclose(np_(x), np_(y), atol=1e-4)
    t = np.moveaxis(targets, axis, -1).astype(np.float64)
    k = shape[axis]
    q = (1 - eps) * t + eps / k  # Keras' and optax's convention
    expected = -(q * oracle.log_softmax(np.moveaxis(preds, axis, -1))).sum(-1)
    np.testing.assert_allclose(np_(x), expected, atol=1e-4, rtol=1e-5)


def test_softmax_cross_entropy_with_integer_labels_consistent():
    # optax _classification_test.py SoftmaxCrossEntropyWithIntegerLabelsTest
    # .test_consistent_with_softmax_cross_entropy_scalar and _batched
    labels = np.array([1, 0], dtype=np.int32)
    batched = LabelSmoothingCrossentropy(0.0, reduction=None)(labels, YS)
    np.testing.assert_allclose(np_(batched), EXP, atol=1e-4)
    dense = LabelSmoothingCrossentropy(0.0, reduction=None)(
        np.eye(3, dtype=np.float32)[labels], YS
    )
    np.testing.assert_allclose(np_(batched), np_(dense), rtol=1e-6)
    scalar = label_smoothing_crossentropy(labels[0], YS[0], 0.0)
    np.testing.assert_allclose(np_(scalar), EXP[0], atol=1e-4)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_softmax_cross_entropy_with_integer_labels_axis(axis):
    # optax _classification_test.py SoftmaxCrossEntropyWithIntegerLabelsTest
    # .test_axis: shape [4, 5, 6], labels shaped like preds without `axis`
    rng = np.random.default_rng(10 + axis)
    shape = [4, 5, 6]
    preds = rng.normal(size=shape).astype(np.float32)
    targets = rng.integers(shape[axis], size=shape[:axis] + shape[axis + 1 :])
    x = label_smoothing_crossentropy(targets, preds, 0.0, axis=axis)
    y = label_smoothing_crossentropy(targets, np.moveaxis(preds, axis, -1), 0.0)
    np.testing.assert_allclose(np_(x), np_(y), atol=1e-4)
    log_p = oracle.log_softmax(np.moveaxis(preds, axis, -1))
    expected = -np.take_along_axis(log_p, targets[..., None], -1)[..., 0]
    np.testing.assert_allclose(np_(x), expected, atol=1e-4, rtol=1e-5)


@pytest.mark.skip(
    reason="optax's test_axes reduces over several class axes "
    "at once; keras_ls has one class axis, as Keras"
)
def test_softmax_cross_entropy_with_integer_labels_axes():
    pass  # pragma: no cover


@pytest.mark.skip(
    reason="optax's `where` masks individual logits; keras_ls "
    "masks positions (Keras masks, sample_weight, ignore_class)"
)
def test_softmax_cross_entropy_per_logit_mask():
    pass  # pragma: no cover


def test_safe_softmax_cross_entropy_finite_rows():
    # optax _classification_test.py SafeSoftmaxCrossEntropyTest.test_batched,
    # the rows with finite logits (9.00013 and 3.0696733)
    values = LabelSmoothingCrossentropy(0.0, reduction=None)(TS, YS)
    np.testing.assert_allclose(np_(values), [9.00013, 3.0696733], atol=1e-4)


@pytest.mark.skip(
    reason="optax's safe_softmax_cross_entropy rows with -inf "
    "logits (0.693147, inf, 0.0): keras_ls, like Keras and "
    "optax's plain softmax_cross_entropy, needs finite logits"
)
def test_safe_softmax_cross_entropy_infinite_logits():
    pass  # pragma: no cover
