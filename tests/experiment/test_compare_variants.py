"""compare(variants=…): the spec parser, named variants, user models and
data, and temperature scaling fitted on the validation split only."""

import keras
import numpy as np
import pytest

import keras_ls
from keras_ls.experiment import _training
from keras_ls.experiment import compare
from keras_ls.experiment.variants import build_variants
from keras_ls.experiment.variants import groups
from keras_ls.experiment.variants import parse_variant
from tests.testing import BACKEND
from tests.testing import requires_tf
from tests.testing import small_data

# --- The spec parser (no Keras needed) ---------------------------------


@pytest.mark.parametrize(
    "spec, kind, arguments, schedule, scaled, trains",
    [
        ("ls:0.1", "ls", {"label_smoothing": 0.1}, None, False, "ls:0.1"),
        (
            "ls:two-stage:0.1:6",
            "ls",
            {},
            "two-stage:0.1:6",
            False,
            "ls:two-stage:0.1:6",
        ),
        ("ols", "ols", {}, None, False, "ols"),
        ("ols:0.3", "ols", {"alpha": 0.3}, None, False, "ols:0.3"),
        ("mbls", "mbls", {}, None, False, "mbls"),
        (
            "mbls:5:0.2",
            "mbls",
            {"margin": 5.0, "alpha": 0.2},
            None,
            False,
            "mbls:5:0.2",
        ),
        (
            "maxsup:0.1",
            "maxsup",
            {"label_smoothing": 0.1},
            None,
            False,
            "maxsup:0.1",
        ),
        ("cp:0.1", "cp", {"beta": 0.1}, None, False, "cp:0.1"),
        ("ts", "baseline", {}, None, True, "baseline"),
        (
            " ls:0.1+ts ",
            "ls",
            {"label_smoothing": 0.1},
            None,
            True,
            "ls:0.1",
        ),
        ("mbls+ts", "mbls", {}, None, True, "mbls"),
        ("baseline", "baseline", {}, None, False, "baseline"),
    ],
)
def test_parser_accepts_every_form(
    spec, kind, arguments, schedule, scaled, trains
):
    parsed = parse_variant(spec)
    assert parsed.text == spec.strip()
    assert parsed.kind == kind
    assert parsed.arguments == arguments
    assert parsed.schedule == schedule
    assert parsed.temperature_scaling is scaled
    assert parsed.trains == trains


@pytest.mark.parametrize(
    "spec, match",
    [
        ("zz", r"'zz': unknown kind 'zz'; expected one of baseline; ls:EPS"),
        ("ls", r"'ls': expected ls:EPS or ls:SCHEDULE"),
        ("ls:1.5", r"'ls:1.5': EPS must be in \[0, 1\), got '1.5'"),
        ("ls:-0.1", r"EPS must be in \[0, 1\), got '-0.1'"),
        ("ls:abc", r"'ls:abc': EPS must be a number, got 'abc'"),
        ("ls:nan", r"EPS must be finite, got 'nan'"),
        ("ls:two-stage:0.1", r"expected two-stage:EPS:SWITCH_EPOCH"),
        ("ls:two-stage:0.1:2.5", r"SWITCH_EPOCH an integer"),
        ("ols:2", r"'ols:2': alpha must be in \[0, 1\], got '2'"),
        ("mbls:-1", r"margin must be in \[0, inf\), got '-1'"),
        ("maxsup:1", r"label_smoothing must be in \[0, 1\), got '1'"),
        ("cp:0.1:2", r"'cp:0.1:2': expected cp\[:BETA\]"),
        ("cp:x", r"beta must be a number, got 'x'"),
        ("+ts", r"nothing before '\+ts'"),
        ("ts+ts", r"temperature scaling is applied once"),
        ("ts:0.1", r"unknown kind 'ts'"),
    ],
)
def test_parser_errors_name_the_spec_and_the_problem(spec, match):
    with pytest.raises(ValueError, match=r"Invalid `variant` .*" + match):
        parse_variant(spec)


def test_parser_refuses_a_non_string():
    with pytest.raises(TypeError, match="`variant` must be a spec string"):
        parse_variant(0.1)


# --- Variants built from specs, losses and pairs (no training) ----------


def test_a_sweep_and_spec_variants_resolve_to_their_losses():
    variants = build_variants(
        0.1, None, 4, ["ls:0.05", "ls:0.1", "ls:0.2", "ts", "ls:0.1+ts"]
    )
    assert list(variants) == [
        "baseline",
        "ls:0.05",
        "ls:0.1",
        "ls:0.2",
        "ts",
        "ls:0.1+ts",
    ]
    for name, eps in (("ls:0.05", 0.05), ("ls:0.1", 0.1), ("ls:0.2", 0.2)):
        loss = variants[name].make_loss()
        assert isinstance(loss, keras_ls.LabelSmoothingCrossentropy)
        assert loss.label_smoothing == pytest.approx(eps)
    # ts rescales the baseline's model; ls:0.1+ts the ls:0.1 model.
    assert variants["ts"].trains == variants["baseline"].trains
    assert variants["ls:0.1+ts"].trains == variants["ls:0.1"].trains
    assert variants["ts"].temperature_scaling
    assert not variants["ls:0.1"].temperature_scaling
    assert list(groups(variants).values()) == [
        ["baseline", "ts"],
        ["ls:0.05"],
        ["ls:0.1", "ls:0.1+ts"],
        ["ls:0.2"],
    ]


def test_schedule_specs_and_loss_schedule_pairs():
    loss = keras_ls.LabelSmoothingCrossentropy(0.3, name="mine")
    variants = build_variants(
        0.1,
        None,
        10,
        {"two": "ls:two-stage:0.1:6", "pair": (loss, "cosine:0.2:0")},
    )
    two = variants["two"]
    assert two.schedule(5) == pytest.approx(0.1)
    assert two.schedule(6) == 0.0
    pair = variants["pair"]
    assert pair.schedule(0) == pytest.approx(0.2)
    assert pair.schedule(10) == pytest.approx(0.0)
    fresh = pair.make_loss()
    assert fresh is not loss and fresh.name == "mine"
    assert isinstance(fresh, keras_ls.LabelSmoothingCrossentropy)


def test_a_loss_object_is_copied_for_each_run():
    loss = keras_ls.LabelSmoothingCrossentropy(0.2, name="ls02")
    variants = build_variants(0.1, None, 2, [loss])
    assert list(variants) == ["baseline", "ls02"]
    first, second = variants["ls02"].make_loss(), variants["ls02"].make_loss()
    assert first is not second and first is not loss
    assert first.get_config() == loss.get_config()


@pytest.mark.parametrize(
    "spec, cls, config",
    [
        ("mbls:5:0.2", "MarginLabelSmoothing", {"margin": 5.0, "alpha": 0.2}),
        ("maxsup:0.2", "MaxSuppression", {"label_smoothing": 0.2}),
        ("cp:0.3", "ConfidencePenalty", {"beta": 0.3}),
        ("ols:0.3", "OnlineLabelSmoothing", {"alpha": 0.3}),
    ],
)
def test_method_specs_build_the_method_losses(spec, cls, config):
    variant = build_variants(0.1, None, 2, [spec])[spec]
    loss = variant.make_loss()
    assert type(loss) is getattr(keras_ls, cls)
    got = loss.get_config()
    for key, value in config.items():
        assert got[key] == pytest.approx(value), key
    # A fresh loss per run: OnlineLabelSmoothing keeps state in it.
    assert variant.make_loss() is not loss


def test_a_method_loss_with_a_schedule():
    """MaxSup's ramp of ε from 0.1 to 0.2 (Zhou et al. 2025)."""
    loss = keras_ls.MaxSuppression(label_smoothing=0.1)
    ramp = keras_ls.schedules.LinearDecay(0.1, 0.2, 10)
    variant = build_variants(0.1, None, 10, {"ramp": (loss, ramp)})["ramp"]
    assert variant.schedule is ramp
    assert variant.label_smoothing == pytest.approx(0.1)
    assert type(variant.make_loss()) is keras_ls.MaxSuppression


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"variants": [3]},
            TypeError,
            r"`variants\['int'\]` must be a spec string.*Received: 3",
        ),
        ({"variants": ["ls:0.1", " ls:0.1"]}, ValueError, "Two variants"),
        ({"variants": ["qq"]}, ValueError, "unknown kind 'qq'"),
        ({"variants": ["ls:two-stage:0.5:x"]}, ValueError, "SWITCH_EPOCH"),
        ({"variants": {"baseline": "ls:0.1"}}, ValueError, "another name"),
        ({"variants": ["baseline"]}, ValueError, "only the baseline"),
        (
            {"variants": ["ls:0.1"], "label_smoothing": 0.2},
            ValueError,
            "either as `variants` or",
        ),
        (
            {"variants": ["ls:0.1"], "schedule": "constant:0.1"},
            ValueError,
            "either as `variants` or",
        ),
        (
            {"variants": {"p": (keras.losses.Hinge(), "constant:0.1")}},
            ValueError,
            r"variants\['p'\].*label_smoothing_variable",
        ),
        (
            {"variants": ["ts"], "validation_size": 0},
            ValueError,
            r"Temperature scaling \(ts\) is fitted on the validation split",
        ),
    ],
)
def test_bad_variants_are_refused_before_training(
    monkeypatch, kwargs, error, match
):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before the arguments were checked")

    monkeypatch.setattr(_training, "train_variant", no_training)
    with pytest.raises(error, match=match):
        compare(small_data(), seeds=1, epochs=1, batch_size=16, **kwargs)


# --- Training: user models and data ------------------------------------


def tiny_net():
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3),
        ]
    )


# XLA compiles fastest on JAX; TensorFlow's graph mode and PyTorch's
# eager steps beat compiling on a tiny model.
FAST = dict(
    model=tiny_net,
    epochs=1,
    seeds=1,
    batch_size=24,
    validation_size=24,
    jit_compile=BACKEND == "jax",
)


class ArraySequence(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        rows = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[rows], self.y[rows]


def test_user_model_and_loss_variant_pair_with_the_baseline():
    """A loss object with ε = 0 on a user model is the baseline, bitwise:
    same initial weights, same batches; the ts variant keeps the
    baseline's accuracy (dividing logits by T keeps their order) and
    lowers its validation-fitted NLL objective's test counterpart only
    through T."""
    result = compare(
        small_data(),
        variants={
            "zero": keras_ls.LabelSmoothingCrossentropy(0.0),
            "ts": "ts",
            "ls": "ls:0.2",
        },
        **FAST,
    )
    assert list(result.metrics) == ["baseline", "zero", "ts", "ls"]
    assert result.metrics["zero"] == result.metrics["baseline"]
    assert result.differences["zero"]["nll"]["values"] == [0.0]
    assert (
        result.metrics["ts"]["accuracy"]
        == (result.metrics["baseline"]["accuracy"])
    )
    assert result.metrics["ls"]["nll"] != result.metrics["baseline"]["nll"]
    assert len(result.temperatures["ts"]) == 1
    assert all(0.01 <= t <= 100 for t in result.temperatures["ts"])
    assert result.config["model"] == "tiny_net"
    assert result.config["variants"] == {
        "baseline": "baseline",
        "zero": "label_smoothing_crossentropy",
        "ts": "ts",
        "ls": "ls:0.2",
    }
    assert result.config["label_smoothing"] is None
    assert "variants=['zero', 'ts', 'ls']" in result.config["call"]


@pytest.fixture(scope="module")
def from_arrays():
    return compare(small_data(), variants=["ls:0.1"], **FAST)


def test_py_dataset_data_gives_the_same_result_as_arrays(from_arrays):
    (x, y), (x_test, y_test) = small_data()
    # One-hot test labels and uneven batches: read into the same arrays.
    one_hot = np.eye(3, dtype="float32")[y_test]
    from_datasets = compare(
        (ArraySequence(x, y, 10), ArraySequence(x_test, one_hot, 7)),
        variants=["ls:0.1"],
        **FAST,
    )
    assert from_datasets.metrics == from_arrays.metrics
    np.testing.assert_array_equal(from_datasets.test_labels, y_test)


@requires_tf
def test_tf_data_dataset_gives_the_same_result_as_arrays(from_arrays):
    import tensorflow as tf

    (x, y), (x_test, y_test) = small_data()
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(10)
    test = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(16)
    from_datasets = compare((train, test), variants=["ls:0.1"], **FAST)
    assert from_datasets.metrics == from_arrays.metrics
    with pytest.raises(ValueError, match="infinite tf.data.Dataset"):
        compare((train.repeat(), test), variants=["ls:0.1"], **FAST)


def test_bad_user_data_is_refused():
    with pytest.raises(ValueError, match=r"`data` must be \(train, test\)"):
        compare(3, variants=["ls:0.1"], **FAST)
    (x, y), test = small_data()
    with pytest.raises(ValueError, match=r"`data\[0\]` needs one integer"):
        compare(((x, y[:10]), test), variants=["ls:0.1"], **FAST)
    with pytest.raises(ValueError, match=r"`data\[1\]` yielded no batch"):
        compare(
            ((x, y), ArraySequence(x[:0], y[:0], 4)),
            variants=["ls:0.1"],
            **FAST,
        )


# --- Temperature scaling: the validation split only --------------------


def marked(data):
    """The test features carry a value (77) that no training row has."""
    (x, y), (x_test, y_test) = data
    x_test = x_test.copy()
    x_test[:, -1] = 77.0
    assert not (x == 77.0).any()
    return (x, y), (x_test, y_test)


def test_temperature_is_fitted_on_the_validation_split_only(monkeypatch):
    """The order per trained model is: fit, predict the validation split,
    fit T on it, then (only then) predict the test set. T is fitted on
    the validation labels (those the monitor watched), and the result
    records the T that was fitted."""
    from keras_ls import calibration
    from keras_ls.callbacks import monitor

    events, watched, fitted = [], [], []
    real_fit_temperature = calibration.fit_temperature
    real_predict = keras.Model.predict
    real_fit = keras.Model.fit

    class SpyMonitor(monitor.ConfidenceMonitor):
        def __init__(self, validation_data, **kwargs):
            watched.append(validation_data)
            super().__init__(validation_data, **kwargs)

    def spy_fit(self, *args, **kwargs):
        events.append("fit")
        return real_fit(self, *args, **kwargs)

    def spy_predict(self, x, *args, **kwargs):
        test = bool((np.asarray(x) == 77.0).any())
        events.append("predict test" if test else f"predict {len(x)}")
        return real_predict(self, x, *args, **kwargs)

    def spy_fit_temperature(logits, labels, **kwargs):
        events.append("fit_temperature")
        t = real_fit_temperature(logits, labels, **kwargs)
        fitted.append((np.array(logits), np.array(labels), t))
        return t

    monkeypatch.setattr(monitor, "ConfidenceMonitor", SpyMonitor)
    monkeypatch.setattr(keras.Model, "fit", spy_fit)
    monkeypatch.setattr(keras.Model, "predict", spy_predict)
    monkeypatch.setattr(calibration, "fit_temperature", spy_fit_temperature)
    result = compare(marked(small_data()), variants=["ts", "ls:0.1+ts"], **FAST)
    assert [e for e in events if not e.startswith("predict 24")] == [
        "fit",  # baseline and ts: one model
        "fit_temperature",
        "predict test",
        "predict test",  # its penultimate activations, for the tightness
        "fit",  # ls:0.1, trained for ls:0.1+ts
        "fit_temperature",
        "predict test",
        "predict test",
    ]
    # Before each T: a prediction of the 24 validation rows.
    for i, event in enumerate(events):
        if event == "fit_temperature":
            assert events[i - 1] == "predict 24"
    assert len(fitted) == 2 and len(watched) == 2
    (_, val_labels), _ = watched
    for logits, labels, t in fitted:
        assert logits.shape == (24, 3)
        np.testing.assert_array_equal(labels, val_labels)
    assert result.temperatures == {
        "ts": [fitted[0][2]],
        "ls:0.1+ts": [fitted[1][2]],
    }
    # The temperature-scaled test NLL is that of the test logits / T: a
    # different number from the unscaled baseline's, same accuracy.
    assert (
        result.metrics["ts"]["accuracy"]
        == (result.metrics["baseline"]["accuracy"])
    )
    assert result.metrics["ts"]["nll"] != result.metrics["baseline"]["nll"]


def test_a_two_stage_spec_that_never_switches_warns_at_the_call():
    with pytest.warns(UserWarning, match="switches to ε = 0 at epoch 6") as w:
        build_variants(0.1, None, 4, ["ls:two-stage:0.1:6"])
    assert w[0].filename == __file__
