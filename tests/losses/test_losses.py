import importlib.util
import inspect
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

import keras_ls
from keras_ls.losses import BinaryLabelSmoothingCrossentropy
from keras_ls.losses import LabelSmoothingCrossentropy
from keras_ls.losses import label_smoothing_crossentropy
from keras_ls.losses import minimum_loss
from tests import oracle
from tests.testing import BACKEND
from tests.testing import requires_tf
from tests.testing import requires_torch
from tests.testing import value_and_grad


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def random_problem(n, k, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, k)) * scale).astype("float32")
    labels = rng.integers(0, k, size=n).astype("int32")
    return logits, labels


@pytest.mark.parametrize("k", [2, 10, 1000])
@pytest.mark.parametrize("eps", [0.0, 0.05, 0.1, 0.3])
def test_matches_keras_categorical_crossentropy_on_one_hot(k, eps):
    logits, labels = random_problem(16, k, seed=k)
    onehot = np.eye(k, dtype="float32")[labels]
    expected = oracle.dense_ce(
        oracle.smoothed_targets(labels, k, eps), logits
    ).mean()
    keras_cce = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=eps
    )
    ours = LabelSmoothingCrossentropy(eps)
    np.testing.assert_allclose(float(ours(onehot, logits)), expected, rtol=1e-5)
    np.testing.assert_allclose(
        float(keras_cce(onehot, logits)), expected, rtol=1e-5
    )


@pytest.mark.parametrize("k", [2, 10, 1000])
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.25])
@pytest.mark.parametrize("ignore", [None, -100, 0])
def test_sparse_matches_pytorch_formula_with_ignore_index(k, eps, ignore):
    logits, labels = random_problem(32, k, seed=3 * k)
    if ignore is not None:
        labels[::3] = ignore
    expected, per = oracle.torch_formula(labels, logits, eps, ignore)
    loss = LabelSmoothingCrossentropy(eps, ignore_class=ignore)
    np.testing.assert_allclose(
        float(loss(labels, logits)), expected, rtol=1e-5, atol=1e-6
    )
    values = label_smoothing_crossentropy(
        labels, logits, eps, ignore_class=ignore
    )
    np.testing.assert_allclose(np_(values), per, rtol=1e-5, atol=1e-6)


def test_sparse_and_one_hot_agree_and_labels_shaped_n_by_1():
    logits, labels = random_problem(20, 7)
    loss = LabelSmoothingCrossentropy(0.2)
    sparse = float(loss(labels, logits))
    dense = float(loss(np.eye(7, dtype="float32")[labels], logits))
    column = float(loss(labels[:, None], logits))
    np.testing.assert_allclose(sparse, dense, rtol=1e-6)
    np.testing.assert_allclose(sparse, column, rtol=1e-6)


@pytest.mark.parametrize("sparse", [True, False])
def test_others_convention_matches_numpy(sparse):
    k, eps = 9, 0.3
    logits, labels = random_problem(24, k)
    targets = oracle.smoothed_targets(labels, k, eps, "others")
    expected = oracle.dense_ce(targets, logits)
    y = labels if sparse else np.eye(k, dtype="float32")[labels]
    values = label_smoothing_crossentropy(y, logits, eps, convention="others")
    np.testing.assert_allclose(np_(values), expected, rtol=1e-5)
    # Converting ε between conventions gives identical targets.
    uniform = label_smoothing_crossentropy(y, logits, eps * k / (k - 1))
    np.testing.assert_allclose(np_(uniform), expected, rtol=1e-5)


@pytest.mark.parametrize("sparse", [True, False])
def test_prior_matches_numpy(sparse):
    k, eps = 5, 0.2
    prior = [0.5, 0.2, 0.15, 0.1, 0.05]
    logits, labels = random_problem(12, k)
    expected = oracle.dense_ce(
        oracle.smoothed_targets(labels, k, eps, prior=prior), logits
    ).mean()
    y = labels if sparse else np.eye(k, dtype="float32")[labels]
    loss = LabelSmoothingCrossentropy(eps, prior=prior)
    np.testing.assert_allclose(float(loss(y, logits)), expected, rtol=1e-5)


def test_soft_targets_match_keras():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((8, 6)).astype("float32")
    soft = rng.dirichlet(np.ones(6), size=8).astype("float32")
    keras_cce = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=0.15
    )
    ours = LabelSmoothingCrossentropy(0.15, sparse=False)
    np.testing.assert_allclose(
        float(ours(soft, logits)), float(keras_cce(soft, logits)), rtol=1e-5
    )


@pytest.mark.parametrize("convention", ["uniform", "others"])
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_perfect_fit_reaches_minimum_loss(convention, eps):
    k = 10
    labels = np.arange(k)
    targets = oracle.smoothed_targets(labels, k, eps, convention)
    log_targets = np.log(np.maximum(targets, 1e-30)).astype("float32")
    if eps == 0.0:
        log_targets = np.where(targets > 0, 0.0, -1e4).astype("float32")
    loss = LabelSmoothingCrossentropy(eps, convention=convention)
    expected = -(targets * np.log(np.where(targets > 0, targets, 1))).sum(-1)
    np.testing.assert_allclose(
        minimum_loss(eps, k, convention), expected.mean(), atol=1e-12
    )
    np.testing.assert_allclose(
        float(loss(labels, log_targets)),
        minimum_loss(eps, k, convention),
        atol=1e-5,
    )


def test_minimum_loss_reference_values():
    # Entropies of the smoothed target, computed by hand for K = 10.
    def entropy(eps, k):
        top, rest = 1 - eps + eps / k, eps / k
        return -(top * math.log(top) + (k - 1) * rest * math.log(rest))

    for eps, expected in [
        (0.05, 0.282),
        (0.1, 0.500),
        (0.2, 0.867),
        (0.3, 1.177),
    ]:
        assert round(minimum_loss(eps, 10), 3) == expected
        assert minimum_loss(eps, 10) == pytest.approx(entropy(eps, 10))


def test_from_probabilities_clips_like_keras():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(4), size=10).astype("float32")
    probs[0] = [1.0, 0.0, 0.0, 0.0]
    labels = rng.integers(0, 4, size=10)
    onehot = np.eye(4, dtype="float32")[labels]
    keras_cce = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    ours = LabelSmoothingCrossentropy(0.1, from_logits=False)
    np.testing.assert_allclose(
        float(ours(labels, probs)), float(keras_cce(onehot, probs)), rtol=1e-5
    )


@pytest.mark.parametrize(
    "reduction",
    [
        "sum_over_batch_size",
        "sum",
        "mean",
        "mean_with_sample_weight",
        "none",
        None,
    ],
)
def test_reductions_and_sample_weight_match_keras(reduction):
    logits, labels = random_problem(10, 5)
    onehot = np.eye(5, dtype="float32")[labels]
    weights = np.linspace(0.1, 2.0, 10).astype("float32")
    keras_cce = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=0.1, reduction=reduction
    )
    ours = LabelSmoothingCrossentropy(0.1, reduction=reduction)
    for sw in (None, weights, 2.0):
        np.testing.assert_allclose(
            np_(ours(labels, logits, sample_weight=sw)),
            np_(keras_cce(onehot, logits, sample_weight=sw)),
            rtol=1e-5,
        )


def test_sequence_axis_and_class_axis():
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((3, 4, 6)).astype("float32")
    labels = rng.integers(0, 6, size=(3, 4))
    expected = oracle.dense_ce(oracle.smoothed_targets(labels, 6, 0.1), logits)
    values = label_smoothing_crossentropy(labels, logits, 0.1)
    np.testing.assert_allclose(np_(values), expected, rtol=1e-5)
    moved = np.moveaxis(logits, -1, 1)  # (batch, classes, time)
    values = label_smoothing_crossentropy(labels, moved, 0.1, axis=1)
    np.testing.assert_allclose(np_(values), expected, rtol=1e-5)


def test_all_ignored_batch_gives_zero_with_finite_gradients():
    logits, _ = random_problem(6, 4)
    labels = np.full(6, -100, "int32")
    loss = LabelSmoothingCrossentropy(0.1, ignore_class=-100)
    value, grad = value_and_grad(
        lambda z: loss(labels, z), ops.convert_to_tensor(logits)
    )
    assert value == 0.0
    assert np.all(np.isfinite(grad)) and np.all(grad == 0.0)


def test_gradient_matches_softmax_minus_target():
    k, eps = 6, 0.2
    logits, labels = random_problem(5, k)
    loss = LabelSmoothingCrossentropy(eps, reduction="sum")
    _, grad = value_and_grad(
        lambda z: loss(labels, z), ops.convert_to_tensor(logits)
    )
    expected = np.exp(oracle.log_softmax(logits)) - (
        oracle.smoothed_targets(labels, k, eps)
    )
    np.testing.assert_allclose(grad, expected, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_extreme_logits_give_finite_values_and_gradients(dtype):
    k = 8
    logits = np.where(np.eye(k)[np.arange(4) % k] > 0, -1e4, 1e4)
    logits = logits.astype("float32")
    labels = np.arange(4)
    loss = LabelSmoothingCrossentropy(0.1)
    z = ops.cast(ops.convert_to_tensor(logits), dtype)
    value, grad = value_and_grad(lambda t: loss(labels, t), z)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    # The true class sits 2·big below the others (big = 1e4 as the dtype
    # rounds it): the loss is (1 - ε + ε/K)·2·big + log(K - 1).
    big = float(np_(ops.cast(ops.cast(1e4, dtype), "float32")))
    expected = (1 - 0.1 + 0.1 / k) * 2 * big + math.log(k - 1)
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_bfloat16_loss_keeps_integer_labels_exact():
    n, k = 4, 50_003
    labels = np.array([49_997, 49_998, 50_001, 3], "int32")
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((n, k)).astype("float32")
    logits[np.arange(n), labels] += 8.0
    logits_bf16 = ops.cast(ops.convert_to_tensor(logits), "bfloat16")
    exact = np_(ops.cast(logits_bf16, "float32"))
    expected = oracle.dense_ce(
        oracle.smoothed_targets(labels, k, 0.1), exact
    ).mean()
    loss = LabelSmoothingCrossentropy(0.1, dtype="bfloat16")
    value = loss(labels, logits_bf16)
    assert keras.backend.standardize_dtype(value.dtype) == "bfloat16"
    # bfloat16 keeps 8 significant bits of the result only.
    np.testing.assert_allclose(
        float(ops.cast(value, "float32")), expected, rtol=1e-2
    )
    f32 = LabelSmoothingCrossentropy(0.1)(labels, logits_bf16)
    np.testing.assert_allclose(float(f32), expected, rtol=1e-5)
    # Keras' own loss casts the labels to bfloat16 (49_997 -> 49_920).
    assert (
        float(np_(ops.cast(ops.cast(labels, "bfloat16"), "float32"))[0])
        != 49_997
    )


def test_keras_mask_is_respected_like_keras():
    inputs = keras.Input((5,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    outputs = keras.layers.Dense(6)(x)
    model = keras.Model(inputs, outputs)
    tokens = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 0, 0]], "int32")
    labels = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 0, 0]], "int32")
    logits = model(tokens)
    ours = LabelSmoothingCrossentropy(0.1)
    keras_cce = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=0.1
    )
    expected = float(
        keras.ops.convert_to_numpy(
            keras_cce(np.eye(6, dtype="float32")[labels], logits)
        )
    )
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(ours(labels, logits))),
        expected,
        rtol=1e-5,
    )
    # The mask matters: the unmasked mean over all 10 positions differs.
    unmasked = oracle.dense_ce(
        oracle.smoothed_targets(labels, 6, 0.1), np_(logits)
    ).mean()
    assert abs(expected - unmasked) > 1e-3


def test_binary_matches_keras():
    rng = np.random.default_rng(6)
    logits = (rng.standard_normal((10, 3)) * 4).astype("float32")
    targets = rng.integers(0, 2, size=(10, 3)).astype("float32")
    for eps in (0.0, 0.1, 0.4):
        keras_bce = keras.losses.BinaryCrossentropy(
            from_logits=True, label_smoothing=eps
        )
        ours = BinaryLabelSmoothingCrossentropy(eps)
        np.testing.assert_allclose(
            float(ours(targets, logits)),
            float(keras_bce(targets, logits)),
            rtol=1e-5,
        )
    probs = 1 / (1 + np.exp(-logits))
    keras_bce = keras.losses.BinaryCrossentropy(label_smoothing=0.1)
    ours = BinaryLabelSmoothingCrossentropy(0.1, from_logits=False)
    np.testing.assert_allclose(
        float(ours(targets, probs)), float(keras_bce(targets, probs)), rtol=1e-4
    )


@pytest.mark.parametrize("true_shape", [(3, 1), (3, 2), (3,), (3, 3, 2)])
def test_binary_refuses_targets_that_would_broadcast(true_shape):
    # (3, 1) labels against (3, 3) outputs returned 1.797 (issue 9): every
    # label was scored against every output. Keras raises; so do we.
    y_true = np.zeros(true_shape, "float32")
    y_pred = np.zeros((3, 3), "float32")
    with pytest.raises(ValueError) as error:
        BinaryLabelSmoothingCrossentropy(0.1)(y_true, y_pred)
    assert f"y_true.shape={true_shape}" in str(error.value)
    assert "y_pred.shape=(3, 3)" in str(error.value)


@pytest.mark.parametrize(
    "true_shape, pred_shape",
    [
        ((4,), (4, 1)),
        ((4, 1), (4,)),
        ((4, 1), (4, 1)),
    ],
)
def test_binary_accepts_a_trailing_one_on_either_side(true_shape, pred_shape):
    targets = np.array([1.0, 0.0, 1.0, 0.0], "float32")
    logits = np.array([2.0, -1.0, 0.5, 3.0], "float32")
    eps = 0.2
    smoothed = targets * (1 - eps) + eps / 2
    expected = np.mean(np.logaddexp(0.0, logits) - smoothed * logits)
    loss = BinaryLabelSmoothingCrossentropy(eps)(
        targets.reshape(true_shape), logits.reshape(pred_shape)
    )
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)


def test_label_smoothing_property_reads_and_assigns_the_variable():
    loss = LabelSmoothingCrossentropy(0.2)
    var = loss.label_smoothing_variable
    assert isinstance(var, keras.Variable)
    assert var.dtype == "float32" and not var.trainable
    assert loss.label_smoothing == pytest.approx(0.2)
    loss.label_smoothing = 0.0
    assert float(np_(var)) == 0.0
    logits, labels = random_problem(4, 3)
    expected = oracle.dense_ce(np.eye(3)[labels], logits).mean()
    np.testing.assert_allclose(float(loss(labels, logits)), expected, rtol=1e-5)
    var.assign(0.3)
    expected = oracle.dense_ce(
        oracle.smoothed_targets(labels, 3, 0.3), logits
    ).mean()
    np.testing.assert_allclose(float(loss(labels, logits)), expected, rtol=1e-5)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "0.1", None])
def test_rejects_bad_label_smoothing_and_keeps_state(bad):
    with pytest.raises(ValueError, match=r"label_smoothing=.*"):
        LabelSmoothingCrossentropy(bad)
    loss = LabelSmoothingCrossentropy(0.2)
    with pytest.raises(ValueError, match=r"label_smoothing="):
        loss.label_smoothing = bad
    assert loss.label_smoothing == pytest.approx(0.2)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"convention": "fair"}, "convention='fair'"),
        ({"prior": [0.5, 0.6]}, "sums to"),
        ({"prior": [1.5, -0.5]}, "non-negative"),
        ({"prior": [[0.5, 0.5]]}, "prior="),
        ({"reduction": "avg"}, "reduction='avg'"),
        ({"sparse": "yes"}, "sparse='yes'"),
        ({"axis": 1.5}, "axis=1.5"),
    ],
)
def test_rejects_bad_options(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        LabelSmoothingCrossentropy(0.1, **kwargs)


def test_rejects_shapes_and_single_class():
    logits, labels = random_problem(4, 5)
    loss = LabelSmoothingCrossentropy(0.1)
    with pytest.raises(ValueError, match=r"y_true.shape=\(4, 3, 2\)"):
        loss(np.zeros((4, 3, 2), "int32"), logits)
    with pytest.raises(ValueError, match=r"y_true.shape=\(4, 4\)"):
        loss(np.zeros((4, 4), "float32"), logits)
    with pytest.raises(ValueError, match=r"at least 2 classes"):
        loss(np.zeros((4,), "int32"), np.zeros((4, 1), "float32"))
    with pytest.raises(ValueError, match="prior of length 3"):
        LabelSmoothingCrossentropy(0.1, prior=[0.2, 0.3, 0.5])(labels, logits)


def test_every_constructor_argument_is_in_get_config():
    for cls in (LabelSmoothingCrossentropy, BinaryLabelSmoothingCrossentropy):
        config = cls().get_config()
        for name in inspect.signature(cls.__init__).parameters:
            if name != "self":
                assert name in config, (cls.__name__, name)


def test_config_round_trip_keeps_every_option_and_current_epsilon():
    loss = LabelSmoothingCrossentropy(
        0.2,
        convention="others",
        ignore_class=-1,
        sparse=True,
        reduction="sum",
        name="ls",
        axis=-1,
    )
    loss.label_smoothing = 0.05
    config = loss.get_config()
    clone = LabelSmoothingCrossentropy.from_config(config)
    assert clone.get_config() == config
    assert clone.label_smoothing == pytest.approx(0.05)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, LabelSmoothingCrossentropy)
    assert restored.get_config() == config
    assert keras.saving.get_registered_name(LabelSmoothingCrossentropy) == (
        "keras_ls>LabelSmoothingCrossentropy"
    )


def _small_model(k=4):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(k)(inputs)
    return keras.Model(inputs, outputs)


def test_saved_model_reloads_without_custom_objects(tmp_path):
    model = _small_model()
    model.compile(
        optimizer="sgd",
        loss=LabelSmoothingCrossentropy(0.15, convention="others"),
    )
    x = np.random.default_rng(0).standard_normal((8, 3)).astype("float32")
    y = np.arange(8) % 4
    before = model.evaluate(x, y, verbose=0)
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss, LabelSmoothingCrossentropy)
    assert loaded.loss.convention == "others"
    np.testing.assert_allclose(
        loaded.evaluate(x, y, verbose=0), before, rtol=1e-6
    )


@pytest.mark.skipif(
    BACKEND == "torch",
    reason="torch.compile on CPU is covered by test_fit_compiled_torch; "
    "Keras' default for torch is eager",
)
def test_fit_with_jit_compile_computes_the_smoothed_loss():
    k, eps = 4, 0.2
    model = _small_model(k)
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss=LabelSmoothingCrossentropy(eps),
        jit_compile=True,
    )
    assert model.jit_compile
    x = np.random.default_rng(1).standard_normal((16, 3)).astype("float32")
    y = (np.arange(16) % k).astype("int32")
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    expected = oracle.dense_ce(
        oracle.smoothed_targets(y, k, eps), np_(model(x))
    ).mean()
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)


@requires_torch
def test_fit_compiled_torch():
    k, eps = 3, 0.3
    model = _small_model(k)
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss=LabelSmoothingCrossentropy(eps),
        jit_compile=True,
    )
    x = np.random.default_rng(1).standard_normal((8, 3)).astype("float32")
    y = (np.arange(8) % k).astype("int32")
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    expected = oracle.dense_ce(
        oracle.smoothed_targets(y, k, eps), np_(model(x))
    ).mean()
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)


# The backends other than TensorFlow that are installed.
OTHER_BACKENDS = [
    b for b in ("jax", "torch") if importlib.util.find_spec(b) is not None
]


@pytest.mark.skipif(
    not OTHER_BACKENDS, reason="neither jax nor torch is installed"
)
def test_import_does_not_load_tensorflow_on_other_backends():
    code = "import sys, keras_ls; print('tensorflow' in sys.modules)"
    for backend in OTHER_BACKENDS:
        env = dict(os.environ, KERAS_BACKEND=backend)
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == "False", backend


def test_public_names():
    for name in keras_ls.__all__:
        assert hasattr(keras_ls, name), name
    assert keras_ls.losses.LabelSmoothingCrossentropy is (
        keras_ls.LabelSmoothingCrossentropy
    )


@pytest.mark.parametrize(
    "convention, prior",
    [("uniform", None), ("others", None), ("uniform", [0.1, 0.2, 0.3, 0.4])],
)
@requires_tf
def test_tensorflow_fused_and_xla_paths_match_numpy(convention, prior):
    import tensorflow as tf

    k, eps = 4, 0.3
    logits, labels = random_problem(6, k)
    labels[0] = -1
    loss = LabelSmoothingCrossentropy(
        eps,
        convention=convention,
        prior=prior,
        ignore_class=-1,
        reduction="sum",
    )
    valid = labels != -1
    targets = oracle.smoothed_targets(
        np.where(valid, labels, 0), k, eps, convention, prior
    )
    expected = (oracle.dense_ce(targets, logits) * valid).sum()
    expected_grad = (np.exp(oracle.log_softmax(logits)) - targets) * (
        valid[:, None]
    )

    def step(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            value = loss(labels, z)
        return value, tape.gradient(value, z)

    for jit in (False, True):
        value, grad = tf.function(step, jit_compile=jit)(tf.constant(logits))
        np.testing.assert_allclose(float(value), expected, rtol=1e-5)
        np.testing.assert_allclose(grad.numpy(), expected_grad, atol=1e-6)
