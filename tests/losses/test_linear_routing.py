"""A model that ends in its output layer, switched to the fused loss by its
`compile` call alone: its training and evaluation steps stop at the head's
input (the loss sees hidden states), `predict` still gives logits.

Expected values: the smoothed cross-entropy of the model's own predicted
logits, in float64 numpy (learning rate 0, so every step sees the same
weights).
"""

import keras
import numpy as np
import pytest

from keras_ls.losses import LinearLabelSmoothingCrossentropy

N, F, D, V = 32, 4, 6, 11
EPS = 0.1


def _model(kind):
    keras.utils.set_random_seed(0)
    head = keras.layers.Dense(V, name="head", bias_initializer="random_normal")
    if kind == "sequential":
        model = keras.Sequential(
            [keras.Input((F,)), keras.layers.Dense(D, name="hidden"), head]
        )
    else:
        inputs = keras.Input((F,))
        model = keras.Model(inputs, head(keras.layers.Dense(D)(inputs)))
    return model, head


def _data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(N, F)).astype("float32")
    return x, rng.integers(0, V, N).astype("int32")


def _numpy_loss(logits, labels, eps):
    z = logits.astype("float64")
    top = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
    nll = lse - z[np.arange(len(labels)), labels]
    return (1 - eps) * nll + eps * (lse - z.mean(axis=1)), nll


def _spy(monkeypatch, loss):
    """The last axis of every `y_pred` the loss is handed."""
    widths = []
    call = loss.call

    def spy(y_true, y_pred):
        widths.append(y_pred.shape[-1])
        return call(y_true, y_pred)

    monkeypatch.setattr(loss, "call", spy)
    return widths


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_fit_and_evaluate_stop_at_the_head_input(kind, monkeypatch):
    model, head = _model(kind)
    x, y = _data()
    loss = LinearLabelSmoothingCrossentropy.from_embedding(
        head, label_smoothing=EPS
    )
    widths = _spy(monkeypatch, loss)
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss=loss,
        metrics=loss.fused_metrics(),
    )
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    logits = model.predict(x, verbose=0)
    assert logits.shape == (N, V)
    expected, nll = _numpy_loss(logits, y, EPS)
    np.testing.assert_allclose(history.history["loss"], expected.mean(), 1e-5)
    np.testing.assert_allclose(history.history["token_nll"], nll.mean(), 1e-5)
    accuracy = np.mean(logits.argmax(axis=1) == y)
    np.testing.assert_allclose(history.history["token_accuracy"], accuracy)
    # The first trace (or Keras' symbolic build) meets the logits; every
    # later step hands the loss the head's input.
    assert widths[0] == V
    assert widths[-1] == D
    evaluated = model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(evaluated["loss"], expected.mean(), 1e-5)
    assert widths[-1] == D
    assert model(x[:2]).shape == (2, V)


def test_logits_outside_a_step_give_the_same_loss():
    model, head = _model("functional")
    x, y = _data()
    loss = LinearLabelSmoothingCrossentropy.from_embedding(
        head, label_smoothing=EPS
    )
    logits = keras.ops.convert_to_numpy(model(x))
    expected, _ = _numpy_loss(logits, y, EPS)
    got = keras.ops.convert_to_numpy(loss(y, logits))
    np.testing.assert_allclose(got, expected.mean(), rtol=1e-5)


def test_a_model_that_does_not_end_in_the_head_is_left_alone():
    from keras_ls.losses import _head_routing

    model, _ = _model("functional")
    other = keras.layers.Dense(V)
    other.build((None, D))
    assert _head_routing.head_input_model(model, other) is None
    assert not _head_routing.route(model, other, np.zeros((1, V)))
