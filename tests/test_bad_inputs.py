"""Bad inputs across the public API.

Each case asserts the exception type, that the message names the argument
and the value received, and that nothing changed: ε keeps its value after a
rejected assignment, and a model whose `fit` was rejected keeps its weights.
"""

import struct

import keras
import numpy as np
import pytest

from keras_ls.losses import LabelSmoothingCrossentropy
from keras_ls.losses import label_smoothing_crossentropy
from keras_ls.losses import minimum_loss


def rejects(call, error, *fragments):
    """Calls `call`, expects `error`, and checks the message fragments."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


LOGITS = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5]], "float32")
LABELS = np.array([0, 2], "int32")


# -- ε at construction ------------------------------------------------------


@pytest.mark.parametrize(
    "value, shown",
    [
        (-0.1, "label_smoothing=-0.1"),
        (1.0, "label_smoothing=1.0"),
        (1.5, "label_smoothing=1.5"),
        (float("nan"), "label_smoothing=nan"),
        ("0.1", "label_smoothing='0.1'"),
        (None, "label_smoothing=None"),
    ],
)
def test_bad_label_smoothing_at_construction(value, shown):
    rejects(
        lambda: LabelSmoothingCrossentropy(value),
        ValueError,
        "`label_smoothing`",
        shown,
    )


@pytest.mark.parametrize(
    "value, shown",
    [
        (-0.2, "label_smoothing=-0.2"),
        (1.0, "label_smoothing=1.0"),
        (float("nan"), "label_smoothing=nan"),
        ("high", "label_smoothing='high'"),
    ],
)
def test_rejected_assignment_leaves_eps_unchanged(value, shown):
    loss = LabelSmoothingCrossentropy(0.1)
    before = float(loss(LABELS, LOGITS))

    def assign():
        loss.label_smoothing = value

    rejects(assign, ValueError, "`label_smoothing`", shown)
    assert loss.label_smoothing == pytest.approx(0.1)
    assert float(
        keras.ops.convert_to_numpy(loss.label_smoothing_variable.value)
    ) == pytest.approx(0.1)
    assert float(loss(LABELS, LOGITS)) == before


@pytest.mark.parametrize(
    "value, shown",
    [
        (2.0, "label_smoothing=2.0"),
        # Not numbers: once cast as they were (a string parsed, True as 1).
        ("0.1", "label_smoothing='0.1'"),
        (True, "label_smoothing=True"),
        (None, "label_smoothing=None"),
    ],
)
def test_bad_eps_passed_to_the_function(value, shown):
    rejects(
        lambda: label_smoothing_crossentropy(LABELS, LOGITS, value),
        ValueError,
        "`label_smoothing`",
        shown,
    )


# -- prior, convention, options ---------------------------------------------


def test_prior_of_wrong_length():
    loss = LabelSmoothingCrossentropy(0.1, prior=[0.5, 0.5])
    rejects(
        lambda: loss(LABELS, LOGITS), ValueError, "`prior`", "length 2", "(3)"
    )


def test_prior_with_negative_entries():
    rejects(
        lambda: LabelSmoothingCrossentropy(prior=[-0.1, 0.6, 0.5]),
        ValueError,
        "`prior`",
        "-0.1",
        "non-negative",
    )


def test_prior_not_summing_to_one():
    rejects(
        lambda: LabelSmoothingCrossentropy(prior=[0.2, 0.2, 0.2]),
        ValueError,
        "`prior`",
        "[0.2, 0.2, 0.2]",
        "sum to 1",
    )


def test_unknown_convention():
    rejects(
        lambda: LabelSmoothingCrossentropy(convention="fairseq"),
        ValueError,
        "`convention`",
        "convention='fairseq'",
        "'others'",
    )
    rejects(
        lambda: minimum_loss(0.1, 10, convention="exclusive"),
        ValueError,
        "`convention`",
        "convention='exclusive'",
    )


def test_unknown_reduction():
    rejects(
        lambda: LabelSmoothingCrossentropy(reduction="avg"),
        ValueError,
        "`reduction`",
        "reduction='avg'",
    )


def test_from_logits_not_a_bool():
    rejects(
        lambda: LabelSmoothingCrossentropy(from_logits="yes"),
        ValueError,
        "`from_logits`",
        "from_logits='yes'",
    )


# -- shapes -----------------------------------------------------------------


def test_labels_whose_rank_does_not_match_the_logits():
    labels = np.zeros((2, 3, 4), "int32")
    rejects(
        lambda: LabelSmoothingCrossentropy(0.1)(labels, LOGITS),
        ValueError,
        "`y_true`",
        "y_true.shape=(2, 3, 4)",
        "(2, 3)",
    )


def test_one_class():
    logits = np.zeros((4, 1), "float32")
    rejects(
        lambda: LabelSmoothingCrossentropy(0.1)(np.zeros(4, "int32"), logits),
        ValueError,
        "`y_pred`",
        "at least 2 classes",
        "(4, 1)",
    )
    rejects(
        lambda: minimum_loss(0.1, 1),
        ValueError,
        "`num_classes`",
        "num_classes=1",
    )


# -- metrics ----------------------------------------------------------------


@pytest.mark.parametrize(
    "num_bins, shown",
    [
        (0, "num_bins=0"),
        (-3, "num_bins=-3"),
        (2.5, "num_bins=2.5"),
        ("15", "num_bins='15'"),
    ],
)
def test_bad_num_bins(num_bins, shown):
    from keras_ls.metrics import ExpectedCalibrationError

    rejects(
        lambda: ExpectedCalibrationError(num_bins),
        ValueError,
        "`num_bins`",
        shown,
    )


def test_unknown_norm():
    from keras_ls.metrics import ExpectedCalibrationError

    rejects(
        lambda: ExpectedCalibrationError(norm="l3"),
        ValueError,
        "`norm`",
        "norm='l3'",
    )


# -- schedules and the scheduler -------------------------------------------


def small_model(loss=None):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)])
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=loss or LabelSmoothingCrossentropy(0.1),
    )
    return model


def weights_of(model):
    return [np.array(w) for w in model.get_weights()]


def assert_fit_rejected(model, callbacks, error, *fragments):
    before = weights_of(model)
    x = np.random.default_rng(0).standard_normal((8, 3)).astype("float32")
    y = np.arange(8, dtype="int32") % 3
    message = rejects(
        lambda: model.fit(
            x, y, batch_size=4, epochs=2, verbose=0, callbacks=callbacks
        ),
        error,
        *fragments,
    )
    for a, b in zip(weights_of(model), before):
        np.testing.assert_array_equal(a, b)
    return message


@pytest.mark.parametrize(
    "returned, shown",
    [
        (float("nan"), "label_smoothing=nan"),
        (1.5, "label_smoothing=1.5"),
        ("high", "label_smoothing='high'"),
    ],
)
def test_schedule_returning_a_bad_value(returned, shown):
    from keras_ls.callbacks.scheduler import LabelSmoothingScheduler

    loss = LabelSmoothingCrossentropy(0.1)
    model = small_model(loss)
    assert_fit_rejected(
        model,
        [LabelSmoothingScheduler(lambda epoch: returned)],
        ValueError,
        "label_smoothing",
        shown,
        "returned by the schedule at epoch 0",
    )
    assert loss.label_smoothing == pytest.approx(0.1)


@pytest.mark.parametrize("duration", [0, -3])
def test_schedule_with_an_inverted_duration(duration):
    from keras_ls.schedules import CosineDecay
    from keras_ls.schedules import LinearDecay

    for cls in (LinearDecay, CosineDecay):
        rejects(
            lambda: cls(0.2, 0.0, duration),
            ValueError,
            "`duration`",
            f"duration={duration}",
        )


def test_schedule_value_out_of_range_at_construction():
    from keras_ls.schedules import TwoStage

    rejects(lambda: TwoStage(1.2, switch=3), ValueError, "`value`", "value=1.2")


def test_scheduler_on_a_model_without_a_smoothing_loss():
    from keras_ls.callbacks.scheduler import LabelSmoothingScheduler
    from keras_ls.schedules import Constant

    model = small_model(
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    assert_fit_rejected(
        model,
        [LabelSmoothingScheduler(Constant(0.1))],
        ValueError,
        "no keras_ls smoothing loss",
        "model.loss=",
        "sparse_categorical_crossentropy",
    )


def test_scheduler_given_a_schedule_that_is_not_callable():
    from keras_ls.callbacks.scheduler import LabelSmoothingScheduler

    rejects(
        lambda: LabelSmoothingScheduler("cosine"),
        ValueError,
        "`schedule`",
        "schedule='cosine'",
    )
    rejects(
        lambda: LabelSmoothingScheduler(lambda t: 0.1, update="step"),
        ValueError,
        "`update`",
        "update='step'",
    )


# -- ConfidenceMonitor ----------------------------------------------------


def test_confidence_monitor_given_data_without_labels():
    from keras_ls.callbacks.monitor import ConfidenceMonitor

    x = np.zeros((6, 3), "float32")
    rejects(
        lambda: ConfidenceMonitor((x,)),
        ValueError,
        "`validation_data`",
        "without labels",
        "tuple of 1 element",
    )


def _monitor_fit(model, labels):
    from keras_ls.callbacks.monitor import ConfidenceMonitor

    x = np.zeros((6, 3), "float32")
    model.fit(
        x,
        np.arange(6, dtype="int32") % 3,
        batch_size=3,
        epochs=1,
        verbose=0,
        callbacks=[ConfidenceMonitor((x, labels))],
    )


ONE_HOT_7 = np.eye(7, dtype="float32")[np.arange(6)]
IDS_UP_TO_5 = np.arange(6, dtype="int32")


def test_confidence_monitor_with_a_different_number_of_classes():
    message = rejects(
        lambda: _monitor_fit(small_model(), ONE_HOT_7),
        ValueError,
        "`validation_data`",
        "7 classes",
        "outputs 3",
    )
    assert "(6, 7)" in message
    rejects(
        lambda: _monitor_fit(small_model(), IDS_UP_TO_5),
        ValueError,
        "`validation_data`",
        "to 5",
        "outputs 3",
    )


@pytest.mark.parametrize("labels", [ONE_HOT_7, IDS_UP_TO_5])
def test_confidence_monitor_rejection_keeps_the_weights(labels):
    model = small_model()
    before = weights_of(model)
    with pytest.raises(ValueError):
        _monitor_fit(model, labels)
    for a, b in zip(weights_of(model), before):
        np.testing.assert_array_equal(a, b)


# -- the command line -----------------------------------------------------


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["--model", "vgg"], ["--model", "'vgg'"]),
        (["--epochs", "-3"], ["--epochs", "'-3'"]),
        (
            ["--data-dir", "/nonexistent/keras_ls"],
            ["--data-dir", "'/nonexistent/keras_ls'"],
        ),
    ],
)
def test_cli_rejects_bad_options(argv, fragments, tmp_path, capsys):
    from keras_ls.experiment import cli

    out = tmp_path / "out"
    status = cli.main(["compare", "--out", str(out), "--quiet", *argv])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not out.exists()  # nothing was written


def test_cli_data_dir_that_is_a_file(tmp_path, capsys):
    from keras_ls.experiment import cli

    a_file = tmp_path / "images.gz"
    a_file.write_bytes(b"")
    status = cli.main(
        [
            "compare",
            "--data-dir",
            str(a_file),
            "--quiet",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and "--data-dir" in err and str(a_file) in err


# -- IDX files ------------------------------------------------------------


def test_corrupt_idx_file(tmp_path):
    from keras_ls.data import IDXFormatError
    from keras_ls.data import read_idx

    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 2) + b"\x00\x01")
    message = rejects(
        lambda: read_idx(str(path)), IDXFormatError, str(path), "magic"
    )
    assert "\\x124" in message or "0x1234" in message or "\\x12" in message
    assert issubclass(IDXFormatError, ValueError)


def test_truncated_idx_file(tmp_path):
    from keras_ls.data import IDXFormatError
    from keras_ls.data import read_idx

    path = tmp_path / "t10k-images-idx3-ubyte"
    header = b"\x00\x00\x08\x03" + struct.pack(">III", 10, 28, 28)
    path.write_bytes(header + bytes(100))
    rejects(
        lambda: read_idx(str(path), rank=3),
        IDXFormatError,
        str(path),
        "(10, 28, 28)",
        "truncated",
        str(len(header) + 100),
    )


def test_truncated_gzipped_idx_file(tmp_path):
    import gzip

    from keras_ls.data import IDXFormatError
    from keras_ls.data import read_idx

    path = tmp_path / "train-images-idx3-ubyte.gz"
    full = gzip.compress(
        b"\x00\x00\x08\x03" + struct.pack(">III", 2, 2, 2) + bytes(8)
    )
    path.write_bytes(full[: len(full) // 2])
    rejects(lambda: read_idx(str(path)), IDXFormatError, str(path))
