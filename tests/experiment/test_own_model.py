"""compare on the user's own model, optimizer and data (Python API), and
the progress lines of a long run."""

import io

import keras
import numpy as np
import pytest

from keras_ls.experiment import _data
from keras_ls.experiment import _optimizer
from keras_ls.experiment import _training
from keras_ls.experiment import compare
from keras_ls.experiment._progress import Progress
from keras_ls.experiment._progress import clock_text
from tests.testing import BACKEND
from tests.testing import small_data


def tiny_net(activation=None):
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3, activation=activation),
        ]
    )


FAST = dict(
    model=tiny_net,
    epochs=1,
    seeds=1,
    batch_size=24,
    validation_size=24,
    jit_compile=BACKEND == "jax",
)


# --- The optimizer -------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        "sgd",
        {"class_name": "SGD", "config": {"momentum": 0.5}},
        {"class_name": "sgd", "config": {"momentum": 0.5}},
        lambda: keras.optimizers.SGD(momentum=0.5),
        keras.optimizers.SGD(momentum=0.5),
    ],
)
def test_every_form_gives_a_new_sgd_per_call(given):
    new, config = _optimizer.optimizer_factory(given)
    first, second = new(), new()
    assert isinstance(first, keras.optimizers.SGD)
    assert first is not second
    assert config["class_name"] == "SGD"
    # Keras' SGD default learning rate, 0.01; momentum as given.
    assert config["config"]["learning_rate"] == pytest.approx(0.01)
    assert first.momentum == config["config"]["momentum"]


def test_default_optimizer_is_adam_at_learning_rate():
    new, config = _optimizer.optimizer_factory(None, 0.003)
    assert isinstance(new(), keras.optimizers.Adam)
    assert config["class_name"] == "Adam"
    assert config["config"]["learning_rate"] == pytest.approx(0.003)
    assert _optimizer.describe(config) == "Adam (learning_rate=0.003)"


@pytest.mark.parametrize(
    "given, match",
    [
        ("sgdd", r"^Unknown optimizer 'sgdd': expected a Keras optimizer "),
        (
            {"class_name": "sgd", "config": {"momentun": 0.9}},
            r"^SGD has no argument 'momentun'; its arguments are "
            r"learning_rate, momentum, nesterov, ",
        ),
        (
            {"class_name": "sgd", "config": {"momentum": 3}},
            r"^`optimizer` could not be built: `momentum` must be a float "
            r"between \[0, 1\]\. Received",
        ),
        ({"config": {}}, r"^`optimizer` as a dict must be \{'class_name'"),
        (
            lambda: None,
            r"must return a keras.optimizers.Optimizer\. .*NoneType",
        ),
        (
            7,
            r"^`optimizer` must be a Keras optimizer identifier .* of type int",
        ),
    ],
)
def test_bad_optimizers(given, match):
    with pytest.raises(ValueError, match=match):
        _optimizer.optimizer_factory(given)


def test_a_function_returning_one_optimizer_twice_is_refused():
    shared = keras.optimizers.SGD()
    with pytest.raises(ValueError, match="returned the same object twice"):
        _optimizer.optimizer_factory(lambda: shared)


def test_compare_trains_with_the_optimizer_given():
    """SGD at learning rate 0 leaves every model at its initial weights:
    the test accuracy is the initial model's, computed here in numpy."""
    data = small_data()
    result = compare(
        data,
        optimizer={"class_name": "SGD", "config": {"learning_rate": 0.0}},
        label_smoothing=0.1,
        **FAST,
    )
    keras.utils.set_random_seed(0)
    initial = tiny_net()
    (x_test, y_test) = data[1]
    w1, b1, w2, b2 = initial.get_weights()
    logits = np.maximum(x_test @ w1 + b1, 0) @ w2 + b2
    expected = float(np.mean(logits.argmax(-1) == y_test))
    assert result.metrics["baseline"]["accuracy"] == [
        pytest.approx(expected, abs=1e-7)
    ]
    assert result.metrics["smoothed"]["accuracy"] == [
        pytest.approx(expected, abs=1e-7)
    ]
    assert result.config["optimizer"]["class_name"] == "SGD"
    assert result.config["optimizer"]["config"]["learning_rate"] == 0.0
    assert "optimizer={'class_name': 'SGD'" in result.config["call"]


def test_learning_rate_with_an_optimizer_is_refused():
    with pytest.raises(ValueError, match="^`learning_rate` is the default"):
        compare(small_data(), optimizer="sgd", learning_rate=0.1, **FAST)


# --- The model -----------------------------------------------------------


def prepared(data=None):
    return _data.prepare_data(data or small_data(), None, None)


def test_model_details_count_the_parameters():
    details = _training.check_model(tiny_net, prepared(), tiny_net)
    # Dense(8) on 6 features, Dense(3) on 8: weights and biases.
    assert details["params"] == 6 * 8 + 8 + 8 * 3 + 3
    assert details["trainable_params"] == details["params"]
    assert [layer["class"] for layer in details["layers"]] == [
        "Dense",
        "Dense",
    ]
    assert [layer["params"] for layer in details["layers"]] == [56, 27]
    assert details["layers"][-1]["output_shape"] == [None, 3]
    assert details["source"].endswith(":tiny_net")
    assert details["code"].startswith("def tiny_net(activation=None):\n")
    # A built-in network is named, not quoted.
    built_in = _training.check_model(tiny_net, prepared(), "mlp")
    assert "code" not in built_in
    assert built_in["source"] == "keras_ls.experiment.build_model('mlp')"


def softmax_in_a_layer():
    inputs = keras.Input((6,))
    logits = keras.layers.Dense(3)(inputs)
    return keras.Model(inputs, keras.layers.Softmax()(logits))


def softmax_in_a_lambda():
    inputs = keras.Input((6,))
    logits = keras.layers.Dense(3)(inputs)
    probs = keras.layers.Lambda(lambda t: keras.ops.softmax(t))(logits)
    return keras.Model(inputs, probs)


SHARED = tiny_net()


@pytest.mark.parametrize(
    "new_model, match",
    [
        (lambda: None, r"returning a fresh uncompiled keras\.Model .*NoneType"),
        (lambda: SHARED, "returned the same model twice"),
        (lambda: tiny_net("softmax"), "must return logits, not probabilities"),
        (softmax_in_a_layer, "must return logits, not probabilities"),
        (softmax_in_a_lambda, "must return logits, not probabilities"),
        (
            lambda: keras.Sequential(
                [keras.Input((6,)), keras.layers.Dense(2)]
            ),
            r"one logit per class, of shape \(batch, 3\)\. .*shape \(2, 2\)",
        ),
        (
            lambda: keras.Sequential(
                [keras.Input((5,)), keras.layers.Dense(3)]
            ),
            r"^`model` does not take the data's examples, of shape \(6,\)",
        ),
    ],
)
def test_bad_models_are_refused_before_training(new_model, match):
    with pytest.raises(ValueError, match=match):
        _training.check_model(new_model, prepared(), new_model)


# --- The data ------------------------------------------------------------


def test_data_as_a_function_is_called_once_and_named():
    calls = []

    def load():
        calls.append(1)
        return small_data()

    result = compare(load, label_smoothing=0.1, **FAST)
    assert calls == [1]
    assert result.config["dataset"] == "custom"
    assert result.config["data_source"].endswith(".<locals>.load()")
    # The function's own text, for report.md.
    code = result.config["data"].pop("code")
    assert code.lstrip().startswith("def load():")
    assert code.rstrip().endswith("return small_data()")
    assert result.config["data"] == {
        "source": result.config["data_source"],
        "x_train": [96, 6],
        "y_train": [96],
        "x_test": [40, 6],
        "y_test": [40],
        "num_classes": 3,
    }


@pytest.mark.parametrize(
    "change, match",
    [
        (
            lambda d: ((d[0][0], d[0][1] + 0.5), d[1]),
            r"labels must be integers >= 0 .* y_train of dtype float",
        ),
        (
            lambda d: ((d[0][0], d[0][1] - 1), d[1]),
            r"labels must be integers >= 0 .* y_train of dtype int32",
        ),
        (
            lambda d: (d[0], (d[1][0][:, :5], d[1][1])),
            r"same shape\. Received: x_train of shape \(96, 6\), x_test of "
            r"shape \(40, 5\)",
        ),
        (
            lambda d: ((d[0][0], d[0][1][:10]), d[1]),
            r"one integer label .* x of shape \(96, 6\), y of shape \(10, 1\)",
        ),
        (lambda d: d[0][0], r"^`data` must be \(train, test\)"),
    ],
)
def test_data_of_the_wrong_shape(change, match):
    with pytest.raises(ValueError, match=match):
        _data.prepare_data(change(small_data()), None, None)


def test_a_data_function_returning_no_pair_is_named():
    def load():
        return np.zeros(3)

    with pytest.raises(
        ValueError, match=r"Received: .*load\(\), which returned ndarray$"
    ):
        _data.prepare_data(load, None, None)


# --- Progress ------------------------------------------------------------


class FakeClock:
    def __init__(self, times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0)


def test_progress_lines_and_estimates():
    out = io.StringIO()
    # Start at 100 s; the first model takes 10 s, the others 4 s each.
    clock = FakeClock([100, 110, 114, 118, 122])
    progress = Progress([0, 1], 2, clock=clock, file=out)
    progress.done(["baseline", "ts"])
    progress.done("smoothed")
    progress.done(["baseline", "ts"])
    progress.done(["smoothed"])
    assert out.getvalue().splitlines() == [
        # 3 models left at the first model's 10 s, which it says.
        "seed 1/2, model 1/2 (baseline, ts): 10 s; elapsed 10 s, about "
        "30 s left (from the first model, whose time includes one-time "
        "compilation)",
        # Then the first model is left out: 2 x 4 s.
        "seed 1/2, model 2/2 (smoothed): 4 s; elapsed 14 s, about 8 s left",
        "seed 2/2, model 1/2 (baseline, ts): 4 s; elapsed 18 s, about 4 s left",
        "seed 2/2, model 2/2 (smoothed): 4 s; elapsed 22 s, done",
    ]


def test_progress_names_a_seed_that_is_not_its_position():
    out = io.StringIO()
    progress = Progress([7], 1, clock=FakeClock([0, 75]), file=out)
    progress.done(["baseline"])
    assert out.getvalue() == (
        "seed 1/1 [seed=7], model 1/1 (baseline): 1 min 15 s; elapsed "
        "1 min 15 s, done\n"
    )


def test_quiet_progress_prints_nothing():
    out = io.StringIO()
    progress = Progress([0], 2, verbose=0, clock=FakeClock([0, 1]), file=out)
    line = progress.done(["baseline"])
    assert out.getvalue() == "" and line.startswith("seed 1/1, model 1/2")


def test_clock_text():
    assert [clock_text(s) for s in (0, 59.4, 60, 3599, 3600, 7384)] == [
        "0 s",
        "59 s",
        "1 min 00 s",
        "59 min 59 s",
        "1 h 00 min",
        "2 h 03 min",
    ]


def test_compare_prints_one_line_per_trained_model(capsys):
    compare(
        small_data(),
        variants=["ls:0.1", "ts"],
        verbose=1,
        **{**FAST, "seeds": 2},
    )
    lines = capsys.readouterr().out.splitlines()
    # ts shares the baseline's model: 2 trained models per seed.
    assert [line.split(":")[0] for line in lines] == [
        "seed 1/2, model 1/2 (baseline, ts)",
        "seed 1/2, model 2/2 (ls",
        "seed 2/2, model 1/2 (baseline, ts)",
        "seed 2/2, model 2/2 (ls",
    ]
    assert lines[-1].endswith(", done")


def test_verbose_must_be_0_1_or_2():
    with pytest.raises(ValueError, match=r"^`verbose` must be 0, 1 or 2"):
        compare(small_data(), verbose=3, **FAST)


def test_verbose_2_adds_keras_progress_bars(capsys):
    compare(small_data(), label_smoothing=0.1, verbose=2, **FAST)
    out = capsys.readouterr().out
    # Each model's name, then Keras' bar (one epoch: no "Epoch 1/1").
    assert out.count("seed 0: ") == 2 and "━" in out
    lines = [line for line in out.splitlines() if line.startswith("seed 1/1")]
    assert [line.split(":")[0] for line in lines] == [
        "seed 1/1, model 1/2 (baseline)",
        "seed 1/1, model 2/2 (smoothed)",
    ]


def test_verbose_0_prints_nothing(capsys):
    compare(small_data(), label_smoothing=0.1, verbose=0, **FAST)
    assert capsys.readouterr().out == ""
