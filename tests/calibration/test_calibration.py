import math

import keras
import matplotlib
import numpy as np
import pytest
from keras import ops

from keras_ls.calibration import apply_temperature
from keras_ls.calibration import calibration_report
from keras_ls.calibration import confidence_histogram
from keras_ls.calibration import fit_temperature
from keras_ls.calibration import reliability_diagram
from tests.testing import softmax64

matplotlib.use("Agg")


HAND_PROBS = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.65, 0.35]])
HAND_LABELS = np.array([0, 1, 1, 0])


def test_report_on_a_hand_worked_example():
    r = calibration_report(HAND_LABELS, HAND_PROBS, num_bins=5)
    # Bin [0.6, 0.8): 0.7 and 0.65, both right. Bin [0.8, 1]: 0.9 right,
    # 0.8 wrong.
    np.testing.assert_array_equal(r["bin_counts"], [0, 0, 0, 2, 2])
    np.testing.assert_allclose(r["bin_accuracy"], [0, 0, 0, 1, 0.5])
    np.testing.assert_allclose(r["bin_confidence"], [0, 0, 0, 0.675, 0.85])
    np.testing.assert_allclose(r["bin_edges"], [0, 0.2, 0.4, 0.6, 0.8, 1])
    assert r["ece"] == pytest.approx(0.5 * 0.325 + 0.5 * 0.35)
    assert r["mce"] == pytest.approx(0.35)
    assert r["rmsce"] == pytest.approx(
        math.sqrt(0.5 * 0.325**2 + 0.5 * 0.35**2)
    )
    assert r["accuracy"] == 0.75
    assert r["confidence"] == pytest.approx(0.7625)
    assert r["confidence_gap"] == pytest.approx(0.0125)
    assert r["confidence_correct"] == pytest.approx((0.9 + 0.7 + 0.65) / 3)
    assert r["confidence_incorrect"] == pytest.approx(0.8)
    assert r["nll"] == pytest.approx(
        -(math.log(0.9) + math.log(0.2) + math.log(0.7) + math.log(0.65)) / 4
    )
    assert r["brier"] == pytest.approx(
        (2 * 0.1**2 + 2 * 0.8**2 + 2 * 0.3**2 + 2 * 0.35**2) / 4
    )
    h = [
        -(p * math.log(p) + (1 - p) * math.log(1 - p))
        for p in (0.9, 0.8, 0.7, 0.65)
    ]
    assert r["entropy"] == pytest.approx(sum(h) / 4)
    assert r["num_examples"] == 4


def test_report_degenerate_cases():
    single = calibration_report([2], [[0.1, 0.2, 0.7]], num_bins=10)
    assert single["ece"] == pytest.approx(0.3)
    assert single["confidence_incorrect"] == 0.0  # no wrong predictions
    np.testing.assert_array_equal(single["bin_counts"], [0] * 7 + [1, 0, 0])
    exact = calibration_report([0, 1], [[1.0, 0.0], [1.0, 0.0]], num_bins=4)
    np.testing.assert_array_equal(exact["bin_counts"], [0, 0, 0, 2])
    assert exact["ece"] == pytest.approx(0.5)
    assert exact["mce"] == pytest.approx(0.5)
    assert exact["nll"] == math.inf  # p = 0 on a true class, not clipped
    one_bin = calibration_report([0, 0, 1], [[0.55, 0.45]] * 3, num_bins=15)
    assert np.count_nonzero(one_bin["bin_counts"]) == 1
    assert one_bin["ece"] == pytest.approx(abs(2 / 3 - 0.55))
    assert one_bin["confidence_correct"] == pytest.approx(0.55)


def test_report_accepts_one_hot_and_column_labels_and_sequences():
    rng = np.random.default_rng(0)
    probs = softmax64(rng.standard_normal((30, 4)) * 2)
    labels = rng.integers(0, 4, 30)
    base = calibration_report(labels, probs)
    for y in (np.eye(4)[labels], labels[:, None]):
        other = calibration_report(y, probs)
        assert other["ece"] == base["ece"] and other["nll"] == base["nll"]
    seq = calibration_report(labels.reshape(5, 6), probs.reshape(5, 6, 4))
    assert seq["ece"] == pytest.approx(base["ece"])


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: calibration_report([0, 5], [[0.5, 0.5]] * 2), "ids must lie"),
        (lambda: calibration_report([0], [[0.5, 0.5]] * 2), "y_true.shape"),
        (lambda: calibration_report([0], [1.0]), "at least 2 classes"),
        (
            lambda: calibration_report([0], [[0.5, 0.5]], num_bins=0),
            "num_bins=0",
        ),
        (
            lambda: fit_temperature([[1.0, 0.0]], [0], bounds=(2.0, 1.0)),
            "bounds",
        ),
        (
            lambda: fit_temperature([[1.0, 0.0]], [0], bounds=("1", 2.0)),
            r"`bounds\[0\]`.*'1'",
        ),
        (lambda: fit_temperature([[1.0, 0.0]], [0], tol=1.0), "tol=1.0"),
        (lambda: apply_temperature([[1.0, 0.0]], 0.0), "temperature=0.0"),
        (lambda: apply_temperature([[1.0, 0.0]], float("nan")), "temperature"),
    ],
)
def test_invalid_input_is_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_temperature):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((20_000, 10)) * 2.0
    p = softmax64(base)
    # Labels drawn from softmax(base) make `base` calibrated; a model that
    # reports base · T has temperature T.
    labels = (p.cumsum(1) > rng.random((20_000, 1))).argmax(1)
    reported = (base * true_temperature).astype("float32")
    fitted = fit_temperature(reported, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.05)

    # NLL at the fitted T is no worse than at neighbouring temperatures.
    def nll(t):
        q = softmax64(reported / t)
        return -np.log(q[np.arange(len(labels)), labels]).mean()

    assert nll(fitted) <= min(nll(fitted * 0.97), nll(fitted * 1.03))


def test_fit_temperature_hand_example_and_one_hot_labels():
    logits = np.array([[2.0, 0.0], [2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    labels = np.array([0, 0, 1, 1])
    # 3 of 4 right with margin 2: the NLL optimum has sigmoid(2/T) = 3/4.
    expected = 2.0 / math.log(3.0)
    assert fit_temperature(logits, labels) == pytest.approx(expected, rel=1e-5)
    assert fit_temperature(logits, np.eye(2)[labels]) == pytest.approx(
        expected, rel=1e-5
    )
    # Perfectly separated data: the optimum is at the lowest bound.
    assert fit_temperature(
        logits, [0, 0, 0, 1], bounds=(0.1, 10)
    ) == pytest.approx(0.1, rel=1e-4)


def test_apply_temperature_keeps_the_argmax_and_divides():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((50, 7)).astype("float32") * 3
    for t in (0.3, 1.0, 4.0):
        scaled = apply_temperature(logits, t)
        assert isinstance(scaled, np.ndarray) and scaled.dtype == np.float32
        np.testing.assert_allclose(scaled, logits / t, rtol=1e-6)
        np.testing.assert_array_equal(scaled.argmax(1), logits.argmax(1))
        tensor = apply_temperature(ops.convert_to_tensor(logits), t)
        np.testing.assert_allclose(
            ops.convert_to_numpy(tensor), logits / t, rtol=1e-6
        )
        np.testing.assert_array_equal(
            np.asarray(ops.convert_to_numpy(ops.argmax(tensor, axis=1))),
            logits.argmax(1),
        )
    assert apply_temperature([[2, 0]], 2.0).tolist() == [[1.0, 0.0]]


def test_temperature_scaling_lowers_nll_and_ece_of_an_overconfident_model():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((5_000, 10)) * 2.0
    p = softmax64(base)
    labels = (p.cumsum(1) > rng.random((5_000, 1))).argmax(1)
    reported = base * 3.0
    before = calibration_report(labels, softmax64(reported))
    t = fit_temperature(reported, labels)
    after = calibration_report(
        labels, softmax64(apply_temperature(reported, t))
    )
    assert after["nll"] < before["nll"]
    assert after["ece"] < before["ece"] / 3
    assert after["accuracy"] == before["accuracy"]


def test_plots_overlay_models_with_reference_bar_heights():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 200)
    sharp = softmax64(rng.standard_normal((200, 3)) * 4)
    soft = softmax64(rng.standard_normal((200, 3)))
    ax = reliability_diagram(labels, sharp, num_bins=10, label="sharp")
    reliability_diagram(labels, soft, num_bins=10, ax=ax, label="soft")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "perfect calibration"
    assert legend[1].startswith("sharp (ECE ") and legend[2].startswith(
        "soft (ECE "
    )
    report = calibration_report(labels, sharp, num_bins=10)
    filled = report["bin_counts"] > 0
    heights = [patch.get_height() for patch in ax.patches][: filled.sum()]
    np.testing.assert_allclose(heights, report["bin_accuracy"][filled])
    colors = {line.get_color() for line in ax.lines[1:]}
    assert len(colors) == 2  # each model has its own color

    hist = confidence_histogram(labels, sharp, num_bins=10, label="sharp")
    confidence_histogram(labels, soft, num_bins=10, ax=hist, label="soft")
    assert [t.get_text() for t in hist.get_legend().get_texts()] == [
        "sharp",
        "soft",
    ]
    share = hist.patches[0].get_data()[0]
    np.testing.assert_allclose(share, report["bin_counts"] / 200)
    vertical = [line.get_xdata()[0] for line in hist.lines[:2]]
    np.testing.assert_allclose(
        vertical, [report["confidence"], report["accuracy"]]
    )
    matplotlib.pyplot.close("all")


def test_keras_softmax_agrees_with_the_reference_report():
    # Guards the tests' own softmax against the backend's.
    z = np.random.default_rng(5).standard_normal((8, 5)).astype("float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(keras.activations.softmax(z)),
        softmax64(z),
        rtol=1e-5,
    )
