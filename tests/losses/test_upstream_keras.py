"""Keras' own cross-entropy test cases, with Keras' expected numbers.

Ported from keras-team/keras, keras/src/losses/losses_test.py (master, commit
3422977a5e38, 2026-08-21): the classes CategoricalCrossentropyTest,
SparseCategoricalCrossentropyTest and BinaryCrossentropyTest. Each case names
its Keras test. Mapping: Keras' CategoricalCrossentropy and
SparseCategoricalCrossentropy become LabelSmoothingCrossentropy with dense or
sparse targets, BinaryCrossentropy becomes BinaryLabelSmoothingCrossentropy;
ε = 0 where Keras has no smoothing; `from_logits` is passed explicitly,
because Keras defaults to probabilities and keras_ls to logits. Tolerances
are Keras' (`assertAlmostEqual`: 3 decimals; `assertAllClose`: 1e-6).
"""

import warnings

import keras
import numpy as np
import pytest
from keras import ops

from keras_ls.losses import BinaryLabelSmoothingCrossentropy
from keras_ls.losses import LabelSmoothingCrossentropy
from keras_ls.losses import label_smoothing_crossentropy


def almost(actual, desired, decimal=3):
    """Keras' TestCase.assertAlmostEqual."""
    np.testing.assert_almost_equal(
        np.asarray(ops.convert_to_numpy(actual)), desired, decimal=decimal
    )


def close(actual, desired, atol=1e-6, rtol=1e-6):
    """Keras' TestCase.assertAllClose."""
    np.testing.assert_allclose(
        np.asarray(ops.convert_to_numpy(actual)), desired, atol=atol, rtol=rtol
    )


def categorical(from_logits, eps=0.0, **kwargs):
    return LabelSmoothingCrossentropy(
        eps, from_logits=from_logits, sparse=False, **kwargs
    )


def sparse(from_logits, eps=0.0, **kwargs):
    return LabelSmoothingCrossentropy(
        eps, from_logits=from_logits, sparse=True, **kwargs
    )


def binary(from_logits, eps=0.0, **kwargs):
    return BinaryLabelSmoothingCrossentropy(
        eps, from_logits=from_logits, **kwargs
    )


ONE_HOT = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
IDS = np.array([0, 1, 2])
# Keras' probabilities; the second row sums to 1.99 and is renormalised.
PROBS = np.array(
    [[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]], dtype="float32"
)
LOGITS = np.array([[8.0, 1.0, 1.0], [0.0, 9.0, 1.0], [2.0, 3.0, 5.0]])
SAMPLE_WEIGHT = np.array([[1.2], [3.4], [5.6]]).reshape((3, 1))


# CategoricalCrossentropyTest -------------------------------------------------


def test_categorical_all_correct_unweighted():
    # keras losses_test.py CategoricalCrossentropyTest
    # .test_all_correct_unweighted
    y_true = ONE_HOT.astype("int64")
    almost(categorical(False)(y_true, np.eye(3, dtype="float32")), 0.0)
    logits = np.array([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])
    almost(categorical(True)(y_true, logits), 0.0)


def test_categorical_unweighted():
    # keras losses_test.py CategoricalCrossentropyTest.test_unweighted
    almost(categorical(False)(ONE_HOT, PROBS), 0.3239)
    almost(categorical(True)(ONE_HOT, LOGITS), 0.0573)


def test_categorical_scalar_weighted():
    # keras losses_test.py CategoricalCrossentropyTest.test_scalar_weighted
    almost(categorical(False)(ONE_HOT, PROBS, sample_weight=2.3), 0.7449)
    almost(categorical(True)(ONE_HOT, LOGITS, sample_weight=2.3), 0.1317)


def test_categorical_sample_weighted():
    # keras losses_test.py CategoricalCrossentropyTest.test_sample_weighted
    almost(
        categorical(False)(ONE_HOT, PROBS, sample_weight=SAMPLE_WEIGHT), 1.0696
    )
    almost(
        categorical(True)(ONE_HOT, LOGITS, sample_weight=SAMPLE_WEIGHT), 0.31829
    )


def test_categorical_no_reduction():
    # keras losses_test.py CategoricalCrossentropyTest.test_no_reduction
    loss = categorical(True, reduction=None)(ONE_HOT, LOGITS)
    close(loss, (0.001822, 0.000459, 0.169846))


@pytest.mark.parametrize("as_list", [False, True])
def test_categorical_label_smoothing(as_list):
    # keras losses_test.py CategoricalCrossentropyTest.test_label_smoothing
    # and test_label_smoothing_ndarray
    logits = np.asarray([[100.0, -100.0, -100.0]])
    y_true = np.asarray([[1, 0, 0]])
    if as_list:
        logits, y_true = logits.tolist(), y_true.tolist()
    label_smoothing = 0.1
    loss = categorical(True, label_smoothing)(y_true, logits)
    almost(loss, 400.0 * label_smoothing / 3.0)


def test_categorical_label_smoothing_with_axis():
    # keras losses_test.py CategoricalCrossentropyTest
    # .test_label_smoothing_with_axis: (batch, classes, spatial), axis=1.
    num_classes = 3
    y_true = np.array(
        [[[1, 0], [0, 1], [0, 0]], [[0, 1], [1, 0], [0, 0]]], dtype="float32"
    )
    y_pred = np.array(
        [
            [[0.8, 0.1], [0.1, 0.8], [0.1, 0.1]],
            [[0.1, 0.8], [0.8, 0.1], [0.1, 0.1]],
        ],
        dtype="float32",
    )
    label_smoothing = 0.1
    loss = categorical(False, label_smoothing, axis=1)(y_true, y_pred)
    smoothed = y_true * (1.0 - label_smoothing) + label_smoothing / (
        num_classes
    )
    expected = np.mean(-np.sum(smoothed * np.log(y_pred), axis=1))
    almost(loss, expected, decimal=5)
    almost(loss, 0.36177298, decimal=5)  # the value issue 9 quotes


def test_categorical_shape_mismatch():
    # keras losses_test.py CategoricalCrossentropyTest.test_shape_mismatch.
    # Integer (3, 1) labels are class ids to keras_ls unless sparse=False.
    y_true = np.array([[0], [1], [2]])
    with pytest.raises(ValueError, match="does not fit"):
        categorical(False)(y_true, PROBS)


def test_categorical_dtype_arg():
    # keras losses_test.py CategoricalCrossentropyTest.test_dtype_arg
    loss = categorical(False, dtype="bfloat16")(
        ONE_HOT.astype("int64"), np.eye(3, dtype="float32")
    )
    assert keras.backend.standardize_dtype(loss.dtype) == "bfloat16"


def test_categorical_config():
    # keras losses_test.py CategoricalCrossentropyTest.test_config
    loss = categorical(True, 0.2, name="cce", axis=-1)
    clone = LabelSmoothingCrossentropy.from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    assert (clone.name, clone.axis) == ("cce", -1)
    assert clone.label_smoothing == pytest.approx(0.2)  # a float32 variable


# SparseCategoricalCrossentropyTest ------------------------------------------


def test_sparse_all_correct_unweighted():
    # keras losses_test.py SparseCategoricalCrossentropyTest
    # .test_all_correct_unweighted
    y_true = np.array([[0], [1], [2]], dtype="int64")
    almost(sparse(False)(y_true, np.eye(3, dtype="float32")), 0.0)
    logits = np.array([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])
    almost(sparse(True)(y_true, logits), 0.0)


def test_sparse_unweighted():
    # keras losses_test.py SparseCategoricalCrossentropyTest.test_unweighted
    almost(sparse(False)(IDS, PROBS), 0.3239)
    almost(sparse(True)(IDS, LOGITS), 0.0573)


def test_sparse_scalar_weighted():
    # keras losses_test.py SparseCategoricalCrossentropyTest
    # .test_scalar_weighted
    y_true = IDS[:, None]
    almost(sparse(False)(y_true, PROBS, sample_weight=2.3), 0.7449)
    almost(sparse(True)(y_true, LOGITS, sample_weight=2.3), 0.1317)


def test_sparse_sample_weighted():
    # keras losses_test.py SparseCategoricalCrossentropyTest
    # .test_sample_weighted
    y_true = IDS[:, None]
    almost(sparse(False)(y_true, PROBS, sample_weight=SAMPLE_WEIGHT), 1.0696)
    almost(sparse(True)(y_true, LOGITS, sample_weight=SAMPLE_WEIGHT), 0.31829)


def test_sparse_no_reduction():
    # keras losses_test.py SparseCategoricalCrossentropyTest.test_no_reduction
    loss = sparse(True, reduction=None)(IDS[:, None], LOGITS)
    close(loss, (0.001822, 0.000459, 0.169846))


@pytest.mark.parametrize(
    "y_true", [np.array([[-1, 2]]), np.array([[[-1], [2]]])]
)
def test_sparse_ignore_class(y_true):
    # keras losses_test.py SparseCategoricalCrossentropyTest.test_ignore_class
    logits = np.array([[[0.854, 0.698, 0.598], [0.088, 0.86, 0.018]]])
    loss = sparse(True, ignore_class=-1, reduction=None)(y_true, logits)
    close(loss, [[0.0, 1.480129]])


SEGMENTATION_IDS = np.array(
    [[0, 1, 1, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 1]]
)
SEGMENTATION_EXACT = np.array(
    [
        [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]],
        [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]],
        [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]],
        [[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]],
    ]
)
SEGMENTATION_TWO_WRONG = np.array(
    [
        [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.2, 0.8]],
        [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]],
        [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]],
        [[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.4]],
    ]
)
MULTI_IDS = np.array([[0, 1, 2, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 1]])
MULTI_EXACT = np.eye(3)[MULTI_IDS]
MULTI_THREE_WRONG = MULTI_EXACT.copy()
MULTI_THREE_WRONG[0, 3] = [0.2, 0.0, 0.8]
MULTI_THREE_WRONG[1, 0] = [0.7, 0.3, 0.0]
MULTI_THREE_WRONG[3, 2] = [0.5, 0.5, 0.0]


def test_sparse_binary_segmentation():
    # keras losses_test.py SparseCategoricalCrossentropyTest
    # .test_binary_segmentation
    close(sparse(False)(SEGMENTATION_IDS, SEGMENTATION_EXACT), 0.0)
    expected = np.array([-np.log(0.2), -np.log(0.4)])
    close(
        sparse(False)(SEGMENTATION_IDS, SEGMENTATION_TWO_WRONG),
        expected.sum() / 16.0,
    )  # 16 pixels


def test_sparse_binary_segmentation_different_axis():
    # keras losses_test.py SparseCategoricalCrossentropyTest
    # .test_binary_segmentation_different_axis. Keras runs the class axis 0
    # and 1 cases on PyTorch only (TensorFlow and JAX raise); keras_ls moves
    # the class axis itself, so they run on every backend.
    close(
        sparse(False, axis=0)(
            SEGMENTATION_IDS, np.moveaxis(SEGMENTATION_EXACT, 2, 0)
        ),
        0.0,
    )
    expected = np.array([-np.log(0.2), -np.log(0.4)])
    y_pred = np.moveaxis(SEGMENTATION_TWO_WRONG, 2, 0)
    close(
        sparse(False, axis=0)(SEGMENTATION_IDS, y_pred), expected.sum() / 16.0
    )
    close(
        sparse(False, axis=1)(
            np.array([SEGMENTATION_IDS] * 3), np.array([y_pred] * 3)
        ),
        expected.sum() / 16.0,
    )


def test_sparse_multi_class_segmentation():
    # keras losses_test.py SparseCategoricalCrossentropyTest
    # .test_multi_class_segmentation
    close(sparse(False)(MULTI_IDS, MULTI_EXACT), 0.0)
    expected = np.array([-np.log(0.2), -np.log(0.3), -np.log(0.5)])
    close(sparse(False)(MULTI_IDS, MULTI_THREE_WRONG), expected.sum() / 16.0)


def test_sparse_multi_class_segmentation_different_axis():
    # keras losses_test.py SparseCategoricalCrossentropyTest
    # .test_multi_class_segmentation_different_axis (PyTorch-only in Keras)
    close(sparse(False, axis=0)(MULTI_IDS, np.moveaxis(MULTI_EXACT, 2, 0)), 0.0)
    expected = np.array([-np.log(0.2), -np.log(0.3), -np.log(0.5)])
    y_pred = np.moveaxis(MULTI_THREE_WRONG, 2, 0)
    close(sparse(False, axis=0)(MULTI_IDS, y_pred), expected.sum() / 16.0)
    close(
        sparse(False, axis=1)(
            np.array([MULTI_IDS] * 3), np.array([y_pred] * 3)
        ),
        expected.sum() / 16.0,
    )


def test_sparse_squeezes_singleton_class_dim_on_user_axis():
    # keras losses_test.py SparseCategoricalCrossentropyTest
    # .test_squeezes_singleton_class_dim_on_user_axis (PyTorch-only in Keras)
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, size=(2, 1, 4, 4)).astype("float32")
    y_pred = rng.random((2, 2, 4, 4)).astype("float32")
    loss = label_smoothing_crossentropy(
        y_true, y_pred, 0.0, from_logits=False, sparse=True, axis=1
    )
    assert tuple(loss.shape) == (2, 4, 4)


def test_sparse_dtype_arg():
    # keras losses_test.py SparseCategoricalCrossentropyTest.test_dtype_arg
    loss = sparse(False, dtype="bfloat16")(
        np.array([[0], [1], [2]], dtype="int64"), np.eye(3, dtype="float32")
    )
    assert keras.backend.standardize_dtype(loss.dtype) == "bfloat16"


def test_sparse_config():
    # keras losses_test.py SparseCategoricalCrossentropyTest.test_config
    loss = sparse(True, ignore_class=3, axis=0, name="scce")
    config = loss.get_config()
    assert (config["from_logits"], config["ignore_class"], config["axis"]) == (
        True,
        3,
        0,
    )
    clone = LabelSmoothingCrossentropy.from_config(config)
    assert clone.get_config() == config


# BinaryCrossentropyTest -----------------------------------------------------

BINARY_ONE_HOT = ONE_HOT.astype("float32")
BINARY_LOGIT_TRUE = np.array([[1, 0, 1], [0, 1, 1]])
BINARY_LOGITS = np.array([[10.0, -10.0, 10.0], [10.0, 10.0, -10.0]])
BINARY_INT_TRUE = np.array([1, 0, 1, 0]).reshape([2, 2])
BINARY_EDGE_PROBS = np.array([1, 1, 1, 0], dtype="float32").reshape([2, 2])


def test_binary_all_correct_unweighted():
    # keras losses_test.py BinaryCrossentropyTest.test_all_correct_unweighted
    almost(binary(False)(BINARY_ONE_HOT, BINARY_ONE_HOT), 0.0)
    logits = np.array(
        [[10.0, -10.0, -10.0], [-10.0, 10.0, -10.0], [-10.0, -10.0, 10.0]]
    )
    almost(binary(True)(BINARY_ONE_HOT, logits), 0.0)


def test_binary_unweighted():
    # keras losses_test.py BinaryCrossentropyTest.test_unweighted
    y_pred = np.array(
        [[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.1, 0.2, 0.7]], dtype="float32"
    )
    close(binary(False)(BINARY_ONE_HOT, y_pred), 0.20046903)
    almost(binary(False)(BINARY_INT_TRUE, BINARY_EDGE_PROBS), 3.98559)
    almost(binary(True)(BINARY_LOGIT_TRUE, BINARY_LOGITS), 3.3333)


def test_binary_scalar_weighted():
    # keras losses_test.py BinaryCrossentropyTest.test_scalar_weighted
    almost(
        binary(False)(BINARY_INT_TRUE, BINARY_EDGE_PROBS, sample_weight=2.3),
        9.1668,
    )
    almost(
        binary(True)(BINARY_LOGIT_TRUE, BINARY_LOGITS, sample_weight=2.3), 7.666
    )


def test_binary_sample_weighted():
    # keras losses_test.py BinaryCrossentropyTest.test_sample_weighted
    weight = np.array([1.2, 3.4]).reshape((2, 1))
    almost(
        binary(False)(BINARY_INT_TRUE, BINARY_EDGE_PROBS, sample_weight=weight),
        4.7827,
    )
    almost(
        binary(True)(
            BINARY_LOGIT_TRUE, BINARY_LOGITS, sample_weight=np.array([4, 3])
        ),
        10.0,
    )


def test_binary_no_reduction():
    # keras losses_test.py BinaryCrossentropyTest.test_no_reduction
    loss = binary(True, reduction=None)(BINARY_LOGIT_TRUE, BINARY_LOGITS)
    close(loss, [0.0, 6.666], atol=1e-3)


def test_binary_label_smoothing():
    # keras losses_test.py BinaryCrossentropyTest.test_label_smoothing
    logits = np.array([[10.0, -10.0, -10.0]])
    y_true = np.array([[1, 0, 1]])
    label_smoothing = 0.1
    loss = binary(True, label_smoothing)(y_true, logits)
    almost(loss, (10.0 + 5.0 * label_smoothing) / 3.0)


def test_binary_shape_mismatch():
    # keras losses_test.py BinaryCrossentropyTest.test_shape_mismatch: keras_ls
    # broadcast (3, 1) against (3, 3) and returned 1.797 (issue 9).
    y_true = np.array([[0], [1], [2]])
    y_pred = np.array([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]])
    with pytest.raises(ValueError, match="must have the same shape"):
        binary(False)(y_true, y_pred)


def test_binary_dtype_arg():
    # keras losses_test.py BinaryCrossentropyTest.test_dtype_arg (Keras skips
    # PyTorch; keras_ls computes in float32 and casts, so it runs everywhere)
    y_pred = np.array(
        [[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.1, 0.2, 0.7]], dtype="float32"
    )
    loss = binary(False, dtype="bfloat16")(BINARY_ONE_HOT, y_pred)
    assert keras.backend.standardize_dtype(loss.dtype) == "bfloat16"


def test_binary_config():
    # keras losses_test.py BinaryCrossentropyTest.test_config
    loss = binary(True, 0.05, name="bce", axis=-1)
    clone = BinaryLabelSmoothingCrossentropy.from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()


def test_ported_probability_cases_pass_without_a_logits_warning():
    # The from_logits=False cases above feed probabilities on purpose; none
    # of the from_logits=True cases must look like probabilities.
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        categorical(True)(ONE_HOT, LOGITS)
        sparse(True)(IDS, LOGITS)
        binary(True)(BINARY_LOGIT_TRUE, BINARY_LOGITS)
    assert not [r for r in records if "from_logits" in str(r.message)]
