"""Probabilities given to a `from_logits=True` object must never pass silently.

Keras classifiers end in softmax, because Keras' losses default to
probabilities; keras_ls defaults to logits. Measured on Fashion-MNIST (issue
9), a softmax model trained with `from_logits=True` lost 8.5 points of
accuracy without a word. Each check below runs on every backend, with
`jit_compile` on and off.
"""

import os
import warnings

import keras
import numpy as np
import pytest
from keras import ops

from keras_ls._tracking import frames as _frames
from keras_ls._tracking import logits as _logits
from keras_ls.callbacks.monitor import ConfidenceMonitor
from keras_ls.losses import BinaryLabelSmoothingCrossentropy
from keras_ls.losses import LabelSmoothingCrossentropy
from keras_ls.metrics import ExpectedCalibrationError
from keras_ls.metrics import NegativeLogLikelihood
from keras_ls.metrics import TopLabelAccuracy

BACKEND = keras.backend.backend()
FROM_LOGITS = "from_logits"
# Tests that train under jit_compile=True: on PyTorch that is torch.compile,
# 20-50 s per test on the 2-core CPU, so it runs only on request. (The
# rejections below fail before torch.compile starts, and always run.)
TRAINING_JIT = [
    False,
    pytest.param(
        True,
        marks=pytest.mark.skipif(
            BACKEND == "torch"
            and os.environ.get("KERAS_LS_TORCH_COMPILE") != "1",
            reason="torch.compile training takes 20-50 s per test on the "
            "2-core CI CPU; set KERAS_LS_TORCH_COMPILE=1 to run it",
        ),
    ),
]


def data(n=32, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype("float32")
    return x, rng.integers(0, k, n).astype("int32")


def dense_model(activation, units=3, name="out"):
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(units, activation=activation, name=name),
        ]
    )


def probability_messages(records):
    return [str(r.message) for r in records if FROM_LOGITS in str(r.message)]


CASES = {
    # consumer: (output activation, units, compile kwargs, callbacks, name)
    "loss": (
        "softmax",
        3,
        lambda: {"loss": LabelSmoothingCrossentropy(0.1)},
        False,
        "LabelSmoothingCrossentropy",
    ),
    "binary_loss": (
        "sigmoid",
        1,
        lambda: {"loss": BinaryLabelSmoothingCrossentropy(0.1)},
        False,
        "BinaryLabelSmoothingCrossentropy",
    ),
    "metric": (
        "softmax",
        3,
        lambda: {
            "loss": "sparse_categorical_crossentropy",
            "metrics": [TopLabelAccuracy()],
        },
        False,
        "TopLabelAccuracy",
    ),
    "monitor": (
        "softmax",
        3,
        lambda: {"loss": "sparse_categorical_crossentropy"},
        True,
        "ConfidenceMonitor",
    ),
}


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("consumer", sorted(CASES))
def test_softmax_or_sigmoid_output_is_rejected_before_the_first_step(
    consumer, jit
):
    activation, units, compile_kwargs, monitored, owner = CASES[consumer]
    x, y = data()
    if units == 1:
        y = (y > 0).astype("float32")[:, None]
    model = dense_model(activation, units)
    model.compile(optimizer="sgd", jit_compile=jit, **compile_kwargs())
    before = [w.copy() for w in model.get_weights()]
    callbacks = [ConfidenceMonitor((x, y))] if monitored else []
    with pytest.raises(ValueError) as error:
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=callbacks)
    message = str(error.value)
    assert f"{owner} has from_logits=True" in message
    assert f"'out' of the model applies {activation}" in message
    assert "pass from_logits=False" in message
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_monitor_rejects_a_softmax_comparison_model():
    x, y = data()
    model = dense_model(None)
    model.compile(optimizer="sgd", loss=LabelSmoothingCrossentropy())
    baseline = dense_model("softmax", name="baseline_probs")
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(
        ValueError,
        match="'baseline_probs' of compare\\['baseline'\\] applies softmax",
    ):
        model.fit(
            x,
            y,
            epochs=1,
            batch_size=8,
            verbose=0,
            callbacks=[
                ConfidenceMonitor((x, y), compare={"baseline": baseline})
            ],
        )
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("jit", [False, True])
def test_evaluate_alone_rejects_a_softmax_model(jit):
    x, y = data()
    model = dense_model("softmax")
    model.compile(loss=LabelSmoothingCrossentropy(), jit_compile=jit)
    with pytest.raises(ValueError, match="from_logits=True"):
        model.evaluate(x, y, verbose=0)


@pytest.mark.parametrize("jit", TRAINING_JIT)
def test_a_logits_model_trains_without_any_probability_warning(jit):
    x, y = data(n=48)
    model = dense_model(None)
    model.compile(
        optimizer="sgd",
        loss=LabelSmoothingCrossentropy(0.1),
        metrics=[TopLabelAccuracy(), ExpectedCalibrationError()],
        jit_compile=jit,
    )
    binary = dense_model(None, units=1)
    binary.compile(
        optimizer="sgd",
        loss=BinaryLabelSmoothingCrossentropy(),
        jit_compile=jit,
    )
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        history = model.fit(
            x,
            y,
            epochs=2,
            batch_size=8,
            verbose=0,
            callbacks=[ConfidenceMonitor((x, y))],
        )
        model.evaluate(x, y, verbose=0)
        binary.fit(
            x,
            (y > 0).astype("float32")[:, None],
            epochs=1,
            batch_size=8,
            verbose=0,
        )
    assert probability_messages(records) == []
    assert len(history.history["val_ece"]) == 2


def test_a_loss_first_used_standalone_still_checks_the_model_it_trains():
    # The value check is spent on the first concrete call; the structural
    # check must still run when the same loss later meets a softmax model.
    loss = LabelSmoothingCrossentropy(0.1)
    loss(np.array([0, 1]), np.array([[2.0, -1.0], [0.5, 1.5]]))
    x, y = data()
    model = dense_model("softmax")
    model.compile(optimizer="sgd", loss=loss)
    with pytest.raises(ValueError, match="applies softmax"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)


@pytest.mark.parametrize(
    "layer",
    [
        "dense_softmax",
        "softmax_layer",
        "activation_layer",
        "ops_softmax",
        "nested_sequential",
        "time_distributed",
    ],
)
def test_output_structures_recognised_as_softmax(layer):
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="logits")(inputs)
    if layer == "dense_softmax":
        outputs = keras.layers.Dense(3, activation="softmax", name="probs")(
            inputs
        )
    elif layer == "softmax_layer":
        outputs = keras.layers.Softmax(name="probs")(hidden)
    elif layer == "activation_layer":
        outputs = keras.layers.Activation("softmax", name="probs")(hidden)
    elif layer == "ops_softmax":
        outputs = ops.softmax(hidden)
    elif layer == "nested_sequential":
        inner = keras.Sequential(
            [
                keras.layers.Dense(3),
                keras.layers.Dense(
                    3, activation=(keras.activations.softmax), name="probs"
                ),
            ]
        )
        outputs = inner(inputs)
    else:
        sequence = keras.Input((5, 4))
        inputs, outputs = (
            sequence,
            keras.layers.TimeDistributed(
                keras.layers.Dense(3, activation="softmax", name="probs")
            )(sequence),
        )
    model = keras.Model(inputs, outputs)
    activation, found = _logits.probability_output(model)
    assert activation == "softmax"
    # An op gets an automatic, session-unique name: softmax, softmax_1, ...
    expected = "softmax" if layer == "ops_softmax" else "probs"
    assert found.name.startswith(expected)


@pytest.mark.parametrize(
    "activation", [None, "linear", "relu", "log_softmax", "tanh"]
)
def test_outputs_that_are_valid_logits_are_not_flagged(activation):
    # log_softmax outputs are logits: softmax(log_softmax(z)) = softmax(z).
    assert _logits.probability_output(dense_model(activation)) is None


def test_multi_output_model_checks_only_the_output_shaped_like_y_pred():
    inputs = keras.Input((4,))
    model = keras.Model(
        inputs,
        {
            "classes": keras.layers.Dense(5, name="classes")(inputs),
            "flag": keras.layers.Dense(1, activation="sigmoid", name="flag")(
                inputs
            ),
        },
    )
    assert _logits.probability_output(model, (None, 5)) is None
    activation, layer = _logits.probability_output(model, (None, 1))
    assert (activation, layer.name) == ("sigmoid", "flag")


class SoftmaxInCall(keras.Model):
    """A subclassed model: its structure is code, so only values can tell."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3)

    def call(self, x):
        return ops.softmax(self.dense(x))


def test_subclassed_softmax_model_warns_through_the_monitor():
    # The monitor calls every model eagerly before the first step, on every
    # backend, so it sees values where the structure is unknown.
    x, y = data()
    model = SoftmaxInCall()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.warns(
        UserWarning,
        match="ConfidenceMonitor .*from_logits="
        "True, but every row lies in \\[0, 1\\] and sums to 1",
    ):
        model.fit(
            x,
            y,
            epochs=1,
            batch_size=8,
            verbose=0,
            callbacks=[ConfidenceMonitor((x, y))],
        )


def test_subclassed_softmax_model_warns_at_the_first_eager_step():
    # run_eagerly: PyTorch runs plain tensors, TensorFlow eager tensors and
    # JAX `value_and_grad` tracers that wrap real arrays.
    x, y = data()
    model = SoftmaxInCall()
    model.compile(
        optimizer="sgd",
        loss=LabelSmoothingCrossentropy(),
        metrics=[TopLabelAccuracy()],
        run_eagerly=True,
    )
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    messages = probability_messages(records)
    assert len(messages) == 2, messages  # once per object, not per step
    assert any(
        "LabelSmoothingCrossentropy has from_logits=True" in m for m in messages
    )
    assert any("TopLabelAccuracy has from_logits=True" in m for m in messages)


@pytest.mark.parametrize("owner", ["loss", "binary", "metric"])
def test_standalone_probabilities_warn_once_and_logits_do_not(owner):
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], "float32")
    logits = np.array([[2.0, -1.0, 0.3], [0.2, 1.1, -0.7]], "float32")
    labels = np.array([0, 2])
    if owner == "binary":
        probs, logits = probs[:, :1], logits[:, :1]
        labels = np.array([[1.0], [0.0]])

    def make():
        return {
            "loss": LabelSmoothingCrossentropy,
            "binary": BinaryLabelSmoothingCrossentropy,
            "metric": NegativeLogLikelihood,
        }[owner]()

    def use(obj, values):
        if owner == "metric":
            obj.update_state(labels, values)
        else:
            obj(labels, values)

    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        quiet = make()
        use(quiet, logits)
        use(quiet, probs)  # the value check ran once, on the first call
        noisy = make()
        use(noisy, probs)
        use(noisy, probs)
    messages = probability_messages(records)
    assert len(messages) == 1
    assert f"{type(noisy).__name__} has from_logits=True" in messages[0]


def test_class_axis_is_respected_by_the_value_check():
    # Channel-first probabilities: rows sum to 1 over axis 1 only.
    probs = np.array([[[0.8, 0.1], [0.1, 0.8], [0.1, 0.1]]], "float32")
    with pytest.warns(UserWarning, match="sums to 1"):
        LabelSmoothingCrossentropy(axis=1)(np.array([[0, 1]]), probs)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        LabelSmoothingCrossentropy(axis=-1)(
            np.array([[0, 1]]), np.moveaxis(probs, 1, 2) * 3.0
        )
    assert probability_messages(records) == []


def test_from_logits_false_is_never_checked():
    x, y = data()
    model = dense_model("softmax")
    model.compile(
        optimizer="sgd",
        loss=LabelSmoothingCrossentropy(0.1, from_logits=False),
        metrics=[TopLabelAccuracy(from_logits=False)],
    )
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        model.fit(
            x,
            y,
            epochs=1,
            batch_size=8,
            verbose=0,
            callbacks=[ConfidenceMonitor((x, y), from_logits=False)],
        )
    assert probability_messages(records) == []


@pytest.mark.parametrize("jit", TRAINING_JIT)
def test_the_check_runs_a_fixed_number_of_times_not_per_step(jit, monkeypatch):
    calls = []
    walk = _frames.method_frame

    def counting_walk(*args, **kwargs):
        calls.append(1)
        return walk(*args, **kwargs)

    monkeypatch.setattr(_frames, "method_frame", counting_walk)
    x, y = data(n=64)
    counts = []
    for epochs in (1, 3):
        calls.clear()
        model = dense_model(None)
        model.compile(
            optimizer="sgd",
            loss=LabelSmoothingCrossentropy(),
            metrics=[TopLabelAccuracy()],
            jit_compile=jit,
        )
        model.fit(x, y, epochs=epochs, batch_size=8, verbose=0)
        counts.append(len(calls))
    # 8 steps or 24 steps: the same number of frame walks, and at most a
    # handful (the symbolic build, traces, the first eager call).
    assert counts[0] == counts[1]
    assert 1 <= counts[0] <= 6


# Issue 18: the guard in both directions ----------------------------------


class LogOfSoftmax(keras.Model):
    """A softmax model whose custom compute_loss hands the loss the log of
    the probabilities: valid logits (log-softmax differs from the logits by
    a constant per row), which the old guard refused."""

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        return super().compute_loss(
            x, y, ops.log(y_pred), sample_weight, training=training
        )


@pytest.mark.parametrize("jit", TRAINING_JIT)
def test_a_custom_compute_loss_may_turn_probabilities_into_logits(jit):
    inputs = keras.Input((4,))
    logits = keras.layers.Dense(3, name="logits")(inputs)
    model = LogOfSoftmax(inputs, keras.layers.Softmax()(logits))
    loss = LabelSmoothingCrossentropy(0.1)
    model.compile(
        optimizer=keras.optimizers.SGD(0.0), loss=loss, jit_compile=jit
    )
    x, y = data()
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert probability_messages(records) == []
    z = ops.convert_to_numpy(model.get_layer("logits")(x)).astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    target = np.full((len(y), 3), 0.1 / 3)
    target[np.arange(len(y)), y] += 0.9
    expected = -(target * logp).sum(-1).mean()
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("jit", TRAINING_JIT)
def test_check_logits_false_turns_the_guard_off(jit):
    model = dense_model("softmax")
    loss = LabelSmoothingCrossentropy(0.1, check_logits=False)
    model.compile(optimizer="sgd", loss=loss, jit_compile=jit)
    x, y = data()
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=1, verbose=0)
    assert probability_messages(records) == []
    # The same model and loss with the guard on refuse before any step.
    model = dense_model("softmax")
    model.compile(
        optimizer="sgd", loss=LabelSmoothingCrossentropy(0.1), jit_compile=jit
    )
    with pytest.raises(ValueError, match="check_logits=False"):
        model.fit(x, y, epochs=1, verbose=0)
    # And it is part of the config.
    config = LabelSmoothingCrossentropy(check_logits=False).get_config()
    assert config["check_logits"] is False
    with pytest.raises(ValueError, match="check_logits"):
        LabelSmoothingCrossentropy(check_logits="no")
