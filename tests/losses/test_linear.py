"""`LinearLabelSmoothingCrossentropy`: the fused loss read from a layer.

Expected values come from the dense logits of the same layer under
`keras_ls.LabelSmoothingCrossentropy`, itself tested against numpy, and
from a numpy oracle for the gradients.
"""

import keras
import numpy as np
import pytest

import keras_ls
from keras_ls.losses import LinearLabelSmoothingCrossentropy
from tests.testing import assert_all_close
from tests.testing import to_numpy

D, V = 6, 29


def _hidden_and_labels(n=10, seed=0):
    rng = np.random.default_rng(seed)
    hidden = rng.normal(size=(n, D)).astype("float32")
    labels = rng.integers(0, V, size=n).astype("int32")
    return hidden, labels


def _dense_loss(logits, labels, eps, **kwargs):
    return keras_ls.LabelSmoothingCrossentropy(eps, **kwargs)(labels, logits)


@pytest.mark.parametrize("kind", ["dense", "dense_bias", "embedding"])
def test_equals_the_dense_loss_of_the_layer(kind):
    hidden, labels = _hidden_and_labels()
    if kind == "embedding":
        layer = keras.layers.Embedding(V, D)
        layer.build((None,))
        logits = hidden @ to_numpy(layer.embeddings).T
    else:
        layer = keras.layers.Dense(
            V, use_bias=kind == "dense_bias", bias_initializer="random_normal"
        )
        layer.build((None, D))
        logits = to_numpy(layer(hidden))
    loss = LinearLabelSmoothingCrossentropy.from_embedding(
        layer, label_smoothing=0.1, chunk_size=(3, 7)
    )
    assert_all_close(
        loss(labels, hidden), _dense_loss(logits, labels, 0.1), rtol=1e-5
    )


@pytest.mark.skipif(
    not hasattr(keras.layers, "ReversibleEmbedding"),
    reason="keras.layers.ReversibleEmbedding: Keras >= 3.12",
)
@pytest.mark.parametrize("tie", [True, False])
def test_reads_a_reversible_embedding_tied_or_not_with_its_soft_cap(tie):
    hidden, labels = _hidden_and_labels(seed=1)
    layer = keras.layers.ReversibleEmbedding(
        V,
        D,
        tie_weights=tie,
        logit_soft_cap=2.0,
    )
    layer.build((None,))
    logits = to_numpy(layer(hidden, reverse=True))
    loss = LinearLabelSmoothingCrossentropy.from_embedding(layer)
    assert_all_close(
        loss(labels, hidden), _dense_loss(logits, labels, 0.1), rtol=1e-5
    )


def test_ignore_class_and_sample_weight_follow_keras():
    hidden, labels = _hidden_and_labels(seed=2)
    labels[::3] = 0
    layer = keras.layers.Dense(V, use_bias=False)
    layer.build((None, D))
    sw = np.linspace(0.0, 1.0, len(labels)).astype("float32")
    logits = to_numpy(layer(hidden))
    for reduction in ["sum_over_batch_size", "sum", "none"]:
        loss = LinearLabelSmoothingCrossentropy.from_embedding(
            layer, label_smoothing=0.0, ignore_class=0, reduction=reduction
        )
        expected = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=0, reduction=reduction
        )(labels, logits, sample_weight=sw)
        assert_all_close(
            loss(labels, hidden, sample_weight=sw),
            expected,
            rtol=1e-5,
            atol=1e-6,
        )


def test_config_round_trip_keeps_every_argument():
    loss = LinearLabelSmoothingCrossentropy(
        0.2,
        convention="others",
        ignore_class=-100,
        z_loss=1e-4,
        logit_soft_cap=30.0,
        chunk_size=(64, 128),
        reduction="sum",
    )
    config = loss.get_config()
    again = LinearLabelSmoothingCrossentropy.from_config(config)
    assert again.get_config() == config
    assert config["label_smoothing"] == pytest.approx(0.2)
    assert config["chunk_size"] == (64, 128)


def test_refuses_a_layer_it_cannot_read():
    with pytest.raises(ValueError, match="Embedding"):
        LinearLabelSmoothingCrossentropy.from_embedding(
            keras.layers.LayerNormalization()
        )
    dense = keras.layers.Dense(V, activation="softmax")
    dense.build((None, D))
    with pytest.raises(ValueError, match="activation"):
        LinearLabelSmoothingCrossentropy.from_embedding(dense)
    with pytest.raises(ValueError, match="from_embedding"):
        LinearLabelSmoothingCrossentropy()(np.array([0]), np.zeros((1, D)))


def test_refuses_an_int8_embedding():
    layer = keras.layers.Embedding(V, D)
    layer.build((None,))
    layer.quantize("int8")
    with pytest.raises(ValueError, match="quantized"):
        LinearLabelSmoothingCrossentropy.from_embedding(layer)


class TinyLM(keras.Model):
    """A model that outputs hidden states and owns its output layer."""

    def __init__(self):
        super().__init__()
        self.body = keras.layers.Dense(D, activation="tanh")
        self.head = keras.layers.Dense(V, use_bias=False)

    def build(self, input_shape):
        self.body.build(input_shape)
        self.head.build((None, D))
        self.built = True

    def call(self, x):
        return self.body(x)


def test_fit_with_the_scheduler_trains_the_head_and_moves_epsilon():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.integers(0, V, size=32).astype("int32")
    model = TinyLM()
    model.build((None, 4))
    loss = LinearLabelSmoothingCrossentropy.from_embedding(
        model.head, label_smoothing=0.3, chunk_size=(5, 11)
    )
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss)
    before = to_numpy(model.head.kernel).copy()
    scheduler = keras_ls.LabelSmoothingScheduler(
        keras_ls.schedules.LinearDecay(0.3, 0.0, 4), update="batch"
    )
    history = model.fit(
        x, y, batch_size=8, epochs=2, verbose=0, callbacks=[scheduler]
    )
    assert not np.allclose(to_numpy(model.head.kernel), before)
    assert history.history["loss"][1] < history.history["loss"][0]
    assert loss.label_smoothing == pytest.approx(0.0)


def test_gradient_of_the_model_matches_the_dense_head():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(12, 4)).astype("float32")
    y = rng.integers(0, V, size=12).astype("int32")
    model = TinyLM()
    model.build((None, 4))
    fused = LinearLabelSmoothingCrossentropy.from_embedding(
        model.head, label_smoothing=0.1, chunk_size=(5, 7)
    )
    dense = keras_ls.LabelSmoothingCrossentropy(0.1)
    grads = []
    for compute in (
        lambda: fused(y, model(x)),
        lambda: dense(y, model.head(model(x))),
    ):
        grads.append(_gradients(model, compute))
    for g_fused, g_dense in zip(*grads):
        assert_all_close(g_fused, g_dense, rtol=1e-5, atol=1e-6)


def _gradients(model, compute):
    variables = model.trainable_variables
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = compute()
        return [to_numpy(g) for g in tape.gradient(value, variables)]
    if backend == "torch":
        import torch

        value = compute()
        return [
            to_numpy(g)
            for g in torch.autograd.grad(value, [v.value for v in variables])
        ]
    import jax

    def fn(values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return compute()

    return [to_numpy(g) for g in jax.grad(fn)([v.value for v in variables])]


def test_fused_metrics_equal_dense_accuracy_and_nll_in_evaluate():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = rng.integers(0, V, size=40).astype("int32")
    y[::4] = 0  # ignored
    model = TinyLM()
    model.build((None, 4))
    loss = LinearLabelSmoothingCrossentropy.from_embedding(
        model.head, label_smoothing=0.1, ignore_class=0, chunk_size=(7, 11)
    )
    model.compile(optimizer="sgd", loss=loss, metrics=loss.fused_metrics())
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    result = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    logits = to_numpy(model.head(model(x)))
    keep = y != 0
    z = logits[keep].astype(np.float64)
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    nll = np.mean(lse - z[np.arange(len(z)), y[keep]])
    accuracy = np.mean(z.argmax(1) == y[keep])
    assert result["token_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert result["token_nll"] == pytest.approx(nll, rel=1e-5)
