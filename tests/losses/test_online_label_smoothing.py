"""OnlineLabelSmoothing: the loss and its per-epoch soft-label update.

The expected soft labels come from a numpy transcription of the reference
code (zhangchbin/OnlineLabelSmoothing, cifar/scripts/
train_cifar_all_methods.py: `update_loss_lams` adds softmax(output) of the
examples whose top-1 class is the target, and after the epoch each row is
their mean, or 1/K for a class without one), applied to the predictions
the training steps saw.
"""

import os

import keras
import numpy as np
import pytest
from keras import ops

import keras_ls
from tests.testing import JIT_MODES
from tests.testing import assert_all_close
from tests.testing import classification_data
from tests.testing import logits_and_labels
from tests.testing import softmax64
from tests.testing import to_numpy
from tests.testing import value_and_grad

K = 4


def soft_labels_np(logits, labels, k, weights=None):
    """The reference update: (rows, sums, counts) from one epoch."""
    probs = softmax64(logits)
    w = np.ones(len(labels)) if weights is None else np.asarray(weights)
    w = w * (probs.argmax(-1) == labels)
    sums = np.zeros((k, k))
    counts = np.zeros(k)
    np.add.at(sums, labels, probs * w[:, None])
    np.add.at(counts, labels, w)
    rows = np.full((k, k), 1.0 / k)
    seen = counts > 0
    rows[seen] = sums[seen] / counts[seen, None]
    return rows, sums, counts


def ols_np(targets, logits, soft, alpha):
    """α·CE(t) + (1 − α)·CE(t·S), per row."""
    log_p = logits - logits.max(-1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(-1, keepdims=True))
    mixed = alpha * targets + (1 - alpha) * targets @ soft
    return -(mixed * log_p).sum(-1)


def ols_grad_np(targets, logits, soft, alpha):
    mixed = alpha * targets + (1 - alpha) * targets @ soft
    return softmax64(logits) * mixed.sum(-1, keepdims=True) - mixed


def _state(loss):
    return [to_numpy(v).copy() for v in loss.state_variables]


def _model(k=K, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(k)])


def _set_soft_labels(loss, seed=1):
    rng = np.random.default_rng(seed)
    soft = rng.random((K, K)) + np.eye(K) * 2
    soft /= soft.sum(-1, keepdims=True)
    loss.soft_labels_variable.assign(soft.astype("float32"))
    return loss.soft_labels.astype(np.float64)


@pytest.mark.parametrize("labels", ["sparse", "dense"])
def test_value_and_gradient_match_numpy(labels):
    logits, ids = logits_and_labels(n=10, k=K, seed=2, scale=2.0)
    loss = keras_ls.OnlineLabelSmoothing(
        alpha=0.3, num_classes=K, reduction="sum"
    )
    soft = _set_soft_labels(loss)
    targets = np.eye(K)[ids]
    if labels == "dense":
        rng = np.random.default_rng(3)
        targets = 0.8 * targets + 0.2 * rng.dirichlet(np.ones(K), len(ids))
    y = ids if labels == "sparse" else targets.astype("float32")
    value, grad = value_and_grad(lambda z: loss(y, z), logits)
    z = logits.astype(np.float64)
    assert_all_close(value, ols_np(targets, z, soft, 0.3).sum(), rtol=1e-5)
    assert_all_close(
        grad, ols_grad_np(targets, z, soft, 0.3), rtol=1e-4, atol=1e-5
    )


def test_first_epoch_is_uniform_label_smoothing():
    # S = 1/K: α·CE + (1 − α)·CE(u) is label smoothing with ε = 1 − α.
    logits, ids = logits_and_labels(n=8, k=K, seed=4)
    loss = keras_ls.OnlineLabelSmoothing(alpha=0.7)
    ls = keras_ls.LabelSmoothingCrossentropy(0.3)
    assert_all_close(loss(ids, logits), ls(ids, logits), rtol=1e-6)
    assert_all_close(loss.soft_labels, np.full((K, K), 1.0 / K))
    assert loss.num_classes == K


def test_standalone_calls_do_not_accumulate():
    logits, ids = logits_and_labels(n=8, k=K, seed=4)
    loss = keras_ls.OnlineLabelSmoothing(num_classes=K)
    before = _state(loss)
    loss(ids, logits)
    loss.end_epoch()
    for a, b in zip(before, _state(loss)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("jit", JIT_MODES)
def test_one_epoch_update_is_exact(jit):
    # A zero learning rate keeps the weights, so every training step of
    # both epochs sees model.predict(x): the numpy reference's input.
    x, y = classification_data(n=48, k=K, seed=5)
    w = np.where(np.arange(48) % 5 == 0, 0.0, 1.5).astype("float32")
    model = _model()
    loss = keras_ls.OnlineLabelSmoothing()
    model.compile(
        optimizer=keras.optimizers.SGD(0.0), loss=loss, jit_compile=jit
    )
    history = model.fit(
        x,
        y,
        sample_weight=w,
        batch_size=16,
        epochs=2,
        shuffle=False,
        verbose=0,
        validation_data=(x, y),
    )
    z = to_numpy(model.predict(x, verbose=0)).astype(np.float64)
    rows, sums, counts = soft_labels_np(z, y, K, weights=w)
    assert (counts > 0).sum() >= 2  # learned rows, not only uniform ones
    soft, pending_sums, pending_counts, steps = _state(loss)
    # The epoch-2 start turned epoch 1's sums into S; epoch 2's are pending.
    assert_all_close(soft, rows, atol=1e-6)
    assert_all_close(pending_sums, sums, atol=1e-5)
    assert_all_close(pending_counts, counts, atol=1e-6)
    assert steps == 3
    # The hidden holder adds nothing to logs and is not a weight.
    assert set(history.history) == {"loss", "val_loss"}
    assert len(model.weights) == 2
    # Evaluation reads S in its compiled test step.
    expected = (ols_np(np.eye(K)[y], z, rows, 0.5) * w).mean()
    assert_all_close(
        model.evaluate(x, y, sample_weight=w, verbose=0),
        expected,
        rtol=1e-5,
    )


def test_update_with_training_uses_the_predictions_of_each_step():
    # One batch per epoch: epoch 1's single step sees the initial weights.
    x, y = classification_data(n=32, k=K, seed=6)
    model = _model(seed=1)
    z0 = to_numpy(model.predict(x, verbose=0)).astype(np.float64)
    loss = keras_ls.OnlineLabelSmoothing(alpha=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss)
    model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    rows, _, counts = soft_labels_np(z0, y, K)
    assert (counts > 0).sum() >= 2  # learned rows, not only uniform ones
    assert_all_close(loss.soft_labels, rows, atol=1e-6)


@pytest.mark.filterwarnings("ignore:The model does not have any trainable")
def test_class_without_a_correct_example_gets_the_uniform_row():
    rows, _, _ = soft_labels_np(
        np.array([[3.0, 0.0, 0.0], [3.0, 0.0, 0.0]]), np.array([0, 1]), 3
    )
    np.testing.assert_allclose(rows[1], [1 / 3] * 3)
    loss = keras_ls.OnlineLabelSmoothing(num_classes=3)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Identity()])
    model.compile(optimizer="sgd", loss=loss)
    x = np.array([[3.0, 0.0, 0.0], [3.0, 0.0, 0.0]], "float32")
    model.fit(x, np.array([0, 1]), epochs=2, verbose=0)
    assert_all_close(loss.soft_labels, rows, atol=1e-6)


def test_evaluate_leaves_the_state_unchanged():
    x, y = classification_data(n=32, k=K, seed=7)
    model = _model()
    loss = keras_ls.OnlineLabelSmoothing()
    model.compile(optimizer="sgd", loss=loss)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    before = _state(loss)
    assert before[3] == 4  # epoch 2's sums are pending
    model.evaluate(x, y, batch_size=8, verbose=0)
    model.evaluate(x, y, batch_size=8, verbose=0)
    for a, b in zip(before, _state(loss)):
        np.testing.assert_array_equal(a, b)


def _fit_epoch(model, x, y):
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)


def test_save_load_and_resume(tmp_path):
    x, y = classification_data(n=32, k=K, seed=8)
    model = _model()
    model.compile(
        optimizer="sgd", loss=keras_ls.OnlineLabelSmoothing(alpha=0.4)
    )
    _fit_epoch(model, x, y)
    _fit_epoch(model, x, y)
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    weights = os.path.join(tmp_path, "m.weights.h5")
    model.save_weights(weights)
    saved = _state(model.loss)

    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss, keras_ls.OnlineLabelSmoothing)
    assert loaded.loss.alpha == 0.4
    for a, b in zip(saved, _state(loaded.loss)):
        np.testing.assert_array_equal(a, b)
    # Weights-only checkpoints carry the state too.
    fresh = _model(seed=9)
    fresh.compile(
        optimizer="sgd", loss=keras_ls.OnlineLabelSmoothing(alpha=0.4)
    )
    fresh.load_weights(weights)
    for a, b in zip(saved, _state(fresh.loss)):
        np.testing.assert_array_equal(a, b)

    # Resuming continues exactly: same S after one more epoch.
    _fit_epoch(model, x, y)
    _fit_epoch(loaded, x, y)
    for a, b in zip(_state(model.loss), _state(loaded.loss)):
        assert_all_close(a, b, atol=1e-6)
    assert np.abs(_state(model.loss)[0] - saved[0]).max() > 1e-4


@pytest.mark.parametrize("jit", JIT_MODES)
def test_fit_with_sequences_and_mask(jit):
    # Masked positions are neither in the loss nor in the statistics.
    inputs = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(K)(h))
    tokens = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 0, 0]] * 4, "int32")
    labels = (tokens % K).astype("int32")
    loss = keras_ls.OnlineLabelSmoothing()
    model.compile(
        optimizer=keras.optimizers.SGD(0.0), loss=loss, jit_compile=jit
    )
    model.fit(tokens, labels, batch_size=8, epochs=1, verbose=0)
    z = to_numpy(model.predict(tokens, verbose=0)).astype(np.float64)
    keep = tokens != 0
    _, sums, counts = soft_labels_np(z[keep], labels[keep], K)
    assert_all_close(_state(loss)[1], sums, atol=1e-5)
    assert_all_close(_state(loss)[2], counts, atol=1e-6)


BAD = [
    (dict(alpha=1.5), "alpha"),
    (dict(alpha="0.5"), "alpha"),
    (dict(num_classes=1), "num_classes"),
    (dict(num_classes=2.5), "num_classes"),
    (dict(from_logits="yes"), "from_logits"),
    (dict(reduction="avg"), "reduction"),
]


@pytest.mark.parametrize("kwargs, argument", BAD)
def test_bad_options_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        keras_ls.OnlineLabelSmoothing(**kwargs)


def test_bad_inputs_name_the_argument():
    logits, ids = logits_and_labels(n=4, k=K, seed=0)
    loss = keras_ls.OnlineLabelSmoothing(num_classes=K + 1)
    with pytest.raises(ValueError, match="num_classes=5"):
        loss(ids, logits)
    with pytest.raises(ValueError, match="`y_true`"):
        keras_ls.OnlineLabelSmoothing()(np.zeros((4, 2)), logits)
    with pytest.raises(TypeError):
        keras_ls.OnlineLabelSmoothing(0.5)


def test_soft_labels_reach_the_compiled_step_after_assignment():
    # S is model state: a value set between fits is what the compiled
    # test step uses (on JAX a constant baked in at trace time would not).
    x, y = classification_data(n=16, k=K, seed=3)
    model = _model()
    loss = keras_ls.OnlineLabelSmoothing(alpha=0.2)
    model.compile(
        optimizer="sgd",
        loss=loss,
        jit_compile=keras.backend.backend() != "torch",
    )
    model.evaluate(x, y, verbose=0)
    soft = _set_soft_labels(loss, seed=4)
    z = to_numpy(model.predict(x, verbose=0)).astype(np.float64)
    expected = ols_np(np.eye(K)[y], z, soft, 0.2).mean()
    assert_all_close(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)
    assert ops.shape(loss.soft_labels_variable) == (K, K)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_logits_are_accumulated_in_float32(dtype):
    logits, ids = logits_and_labels(n=8, k=K, seed=5)
    low = ops.cast(ops.convert_to_tensor(logits), dtype)
    z = to_numpy(ops.cast(low, "float32")).astype(np.float64)
    loss = keras_ls.OnlineLabelSmoothing(alpha=0.3, num_classes=K)
    soft = _set_soft_labels(loss)
    got = loss(ids, low)
    assert keras.backend.standardize_dtype(got.dtype) == "float32"
    expected = ols_np(np.eye(K)[ids], z, soft, 0.3).mean()
    assert_all_close(got, expected, rtol=1e-5)


def test_fit_under_mixed_precision_updates_the_state():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        x, y = classification_data(n=32, k=K, seed=2)
        model = _model()
        loss = keras_ls.OnlineLabelSmoothing()
        model.compile(
            optimizer="sgd",
            loss=loss,
            jit_compile=keras.backend.backend() != "torch",
        )
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    finally:
        keras.config.set_dtype_policy("float32")
    assert np.all(np.isfinite(history.history["loss"]))
    soft, _, counts, steps = _state(loss)
    assert steps == 4 and counts.sum() > 0
    assert soft.dtype == np.float32
    assert_all_close(soft.sum(-1), np.ones(K), atol=1e-5)
