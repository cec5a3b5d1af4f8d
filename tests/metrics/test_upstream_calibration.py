"""Calibration cases from torchmetrics, and keras_ls' one binning rule.

torchmetrics cases are ported from Lightning-AI/torchmetrics (commit
dab033394560, 2026-08-20), tests/unittests/classification/
test_calibration_error.py. torchmetrics checks its top-label
`MulticlassCalibrationError` against netcal; netcal is not installed here, so
the oracle is torchmetrics' `multiclass_calibration_error` itself (a test-only
dependency, installed without a new torch: `pip install torchmetrics -c
ci/constraints.txt`). Its bin rule differs from keras_ls' only for
confidences on an edge (docs/confidence.md), which random inputs never hit.

The binning-rule tests use tests/oracle.py as the independent oracle:
keras_ls bins a confidence c into ⌊c·B⌋ computed in float32, in the
streaming metric, in `calibration_report` and in ConfidenceMonitor alike.
"""

import importlib.util

import keras
import numpy as np
import pytest
from keras import ops

from keras_ls.calibration import calibration_report
from keras_ls.callbacks.monitor import ConfidenceMonitor
from keras_ls.metrics import ExpectedCalibrationError
from tests import oracle

requires_torchmetrics = pytest.mark.skipif(
    importlib.util.find_spec("torchmetrics") is None,
    reason="torchmetrics is the oracle (pip install torchmetrics -c "
    "ci/constraints.txt)",
)

# torchmetrics tests/unittests/conftest.py: NUM_PROCESSES = 2
NUM_BATCHES, BATCH_SIZE, NUM_CLASSES, EXTRA_DIM = 4, 32, 5, 3


def multiclass_case(name, rng):
    """torchmetrics classification/_inputs.py `_multiclass_cases`, ids 1, 2,
    4 and 5: (preds, target, from_logits), class axis 2 of preds
    (NUM_BATCHES, BATCH_SIZE, NUM_CLASSES[, EXTRA_DIM])."""
    multi_dim = name.startswith("multi_dim")
    shape = (NUM_BATCHES, BATCH_SIZE, NUM_CLASSES) + (
        (EXTRA_DIM,) if multi_dim else ()
    )
    target = rng.integers(0, NUM_CLASSES, size=shape[:2] + shape[3:])
    if name.endswith("probs"):
        # randn(...).softmax(-1) single-dim, rand(...).softmax(-2) multi-dim
        raw = rng.random(shape) if multi_dim else rng.standard_normal(shape)
        preds = np.exp(raw) / np.exp(raw).sum(axis=2, keepdims=True)
        return preds.astype(np.float32), target, False
    raw = rng.random(shape)  # _logsoftmax(rand(...)): log-probabilities
    preds = raw - np.log(np.exp(raw).sum(axis=2, keepdims=True))
    return preds.astype(np.float32), target, True


def torchmetrics_value(preds, target, n_bins, norm, ignore_index):
    import torch
    from torchmetrics.functional.classification import (
        multiclass_calibration_error,
    )

    flat_preds = torch.as_tensor(preds).reshape(
        -1, NUM_CLASSES, *preds.shape[3:]
    )
    flat_target = torch.as_tensor(target).reshape(-1, *target.shape[2:])
    return float(
        multiclass_calibration_error(
            flat_preds,
            flat_target,
            num_classes=NUM_CLASSES,
            n_bins=n_bins,
            norm=norm,
            ignore_index=ignore_index,
        )
    )


@requires_torchmetrics
@pytest.mark.parametrize("ignore_index", [None, -1, 0])
@pytest.mark.parametrize("norm", ["l1", "max", "l2"])
@pytest.mark.parametrize("n_bins", [15, 20])
@pytest.mark.parametrize(
    "case",
    [
        "single_dim_probs",
        "single_dim_logits",
        "multi_dim_probs",
        "multi_dim_logits",
    ],
)
def test_multiclass_calibration_error_matches_torchmetrics(
    case, n_bins, norm, ignore_index
):
    # torchmetrics test_calibration_error.py TestMulticlassCalibrationError
    # .test_multiclass_calibration_error (l1, max; l2 is its third norm),
    # streamed batch by batch as its class test does.
    rng = np.random.default_rng(n_bins + len(case) + len(norm))
    preds, target, from_logits = multiclass_case(case, rng)
    if ignore_index is not None:
        # torchmetrics' inject_ignore_index: a random tenth of the targets
        target = target.copy()
        target[rng.random(target.shape) < 0.1] = ignore_index
    expected = torchmetrics_value(preds, target, n_bins, norm, ignore_index)
    metric = ExpectedCalibrationError(n_bins, norm, from_logits=from_logits)
    for batch_preds, batch_target in zip(preds, target):
        # keras_ls metrics take the class axis last and drop an example
        # with a zero sample weight (ignored ids become a valid 0).
        batch_preds = np.moveaxis(batch_preds, 1, -1)
        weight = np.ones(batch_target.shape, np.float32)
        if ignore_index is not None:
            weight[batch_target == ignore_index] = 0.0
            batch_target = np.where(
                batch_target == ignore_index, 0, batch_target
            )
        metric.update_state(batch_target, batch_preds, sample_weight=weight)
    np.testing.assert_allclose(float(metric.result()), expected, atol=2e-6)


def test_binary_with_zero_pred():
    # torchmetrics test_calibration_error.py test_binary_with_zero_pred:
    # preds [1, 1, 1, 1, 0], target [0, 0, 1, 1, 1], 2 bins -> 0.6. As
    # top-label rows [1 - p, p] every confidence is 1.0 and 2 of 5 are
    # right, so the top-label ECE is |0.4 - 1.0| = 0.6 as well.
    p = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    rows = np.stack([1.0 - p, p], axis=1)
    target = np.array([0, 0, 1, 1, 1])
    metric = ExpectedCalibrationError(2, from_logits=False)
    metric.update_state(target, rows)
    np.testing.assert_allclose(float(metric.result()), 0.6, atol=1e-6)
    np.testing.assert_allclose(
        calibration_report(target, rows, 2)["ece"], 0.6, atol=1e-12
    )


@pytest.mark.parametrize("n_bins", [99, 100])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_corner_case_due_to_dtype(n_bins, dtype):
    # Inputs of torchmetrics test_calibration_error.py
    # test_corner_case_due_to_dtype (torchmetrics issue #1907), whose
    # confidences sit on bin edges at 100 bins, as top-label rows. netcal's
    # value is not available here; what must hold is that the metric, the
    # report and the numpy oracle bin every confidence alike.
    p = np.array(
        [0.9, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.01, 0.33, 0.34, 0.99, 0.61],
        dtype=dtype,
    )
    target = np.array([1, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0])
    rows = np.stack([1.0 - p, p], axis=1).astype(dtype)
    metric = ExpectedCalibrationError(n_bins, from_logits=False)
    metric.update_state(target, rows)
    report = calibration_report(target, rows, n_bins)
    expected = oracle.calibration_of_probabilities(target, rows, n_bins)
    counts = np.bincount(
        oracle.confidence_bins(rows.max(1), n_bins), minlength=n_bins
    )
    np.testing.assert_array_equal(
        np.asarray(ops.convert_to_numpy(metric.bin_counts)), counts
    )
    np.testing.assert_array_equal(report["bin_counts"], counts)
    np.testing.assert_allclose(
        float(metric.result()), expected["ece"], atol=1e-6
    )
    np.testing.assert_allclose(report["ece"], expected["ece"], atol=1e-6)


# The example of issue 9: float32(0.7)·10 floored to 7 in the metric and to
# 6 in the float64 report. Hand computation with 0.7 in [0.7, 0.8): bin 7
# holds 0.7 (right) and 0.75 (wrong), gap |0.5 - 0.725| = 0.225; bin 6 holds
# 0.65 (right) and 0.6 (wrong), gap |0.5 - 0.625| = 0.125; ECE = 0.175.
ISSUE_PROBS = np.array(
    [[0.7, 0.2, 0.1], [0.75, 0.15, 0.1], [0.1, 0.25, 0.65], [0.3, 0.1, 0.6]]
)
ISSUE_LABELS = np.array([0, 1, 2, 1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_issue_example_gives_one_answer_everywhere(dtype):
    probs = ISSUE_PROBS.astype(dtype)
    for norm, expected in (("l1", 0.175), ("max", 0.225)):
        metric = ExpectedCalibrationError(10, norm, from_logits=False)
        metric.update_state(ISSUE_LABELS, probs)
        np.testing.assert_allclose(float(metric.result()), expected, atol=1e-6)
    report = calibration_report(ISSUE_LABELS, probs, 10)
    np.testing.assert_allclose(
        [report["ece"], report["mce"]], [0.175, 0.225], atol=1e-6
    )
    by_hand = oracle.calibration_of_probabilities(ISSUE_LABELS, probs, 10)
    np.testing.assert_allclose(
        [by_hand["ece"], by_hand["mce"]], [0.175, 0.225], atol=1e-6
    )
    np.testing.assert_array_equal(np.nonzero(report["bin_counts"])[0], [6, 7])


def test_issue_example_in_the_monitor():
    x = ISSUE_PROBS.astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Identity()])
    monitor = ConfidenceMonitor(
        (x, ISSUE_LABELS), num_bins=10, from_logits=False
    )
    values = monitor.evaluate(model)
    np.testing.assert_allclose(
        [values["val_ece"], values["val_mce"]], [0.175, 0.225], atol=1e-6
    )


@pytest.mark.parametrize("num_bins", [5, 10, 15, 20, 21])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_confidence_on_an_edge_goes_to_the_bin_it_opens(num_bins, dtype):
    # The float32 value nearest b/B lands in bin b for every B up to 21
    # (torchmetrics' float32 linspace edges miss 3/15, 6/15, 7/15 and 9/20;
    # netcal's float64 edge 0.7000000000000001 misses 0.7). Rows of 30
    # classes keep c the largest probability for every c >= 1/20.
    edges = np.arange(1, num_bins) / num_bins
    c = edges[edges > 1 / 29].astype(np.float32).astype(dtype)
    rows = np.concatenate(
        [c[:, None], np.repeat(((1 - c) / 29)[:, None], 29, axis=1)], axis=1
    )
    labels = np.zeros(len(c), int)
    expected = np.zeros(num_bins)
    expected[np.round(c.astype(np.float64) * num_bins).astype(int)] = 1
    metric = ExpectedCalibrationError(num_bins, from_logits=False)
    metric.update_state(labels, rows)
    report = calibration_report(labels, rows, num_bins)
    np.testing.assert_array_equal(
        np.asarray(ops.convert_to_numpy(metric.bin_counts)), expected
    )
    np.testing.assert_array_equal(report["bin_counts"], expected)
    np.testing.assert_array_equal(
        np.bincount(oracle.confidence_bins(c, num_bins), minlength=num_bins),
        expected,
    )


def test_confidence_one_joins_the_last_bin():
    # torchmetrics gives 1.0 a bin of its own; keras_ls closes the last bin.
    rows = np.array([[1.0, 0.0], [0.95, 0.05]], "float32")
    labels = np.array([0, 1])
    metric = ExpectedCalibrationError(10, from_logits=False)
    metric.update_state(labels, rows)
    np.testing.assert_array_equal(
        np.asarray(ops.convert_to_numpy(metric.bin_counts))[-1], 2.0
    )
    assert calibration_report(labels, rows, 10)["bin_counts"][-1] == 2.0
