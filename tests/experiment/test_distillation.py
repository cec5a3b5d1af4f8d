"""keras_ls losses inside keras.distillation.Distiller, and a tiny
`distillation_compare` run, on every backend."""

import math
import os
import warnings

import keras
import numpy as np
import pytest

import keras_ls
from keras_ls.experiment import distillation
from tests.testing import JIT
from tests.testing import softmax64

pytestmark = pytest.mark.skipif(
    not hasattr(keras, "distillation"),
    reason=f"no keras.distillation in Keras {keras.__version__}",
)

K, D = 3, 4


def _dense_model(kernel, bias):
    inputs = keras.Input((D,))
    layer = keras.layers.Dense(K)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([kernel.astype("float32"), bias.astype("float32")])
    return model


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, D)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0.5).astype("int32")
    return x, y


def _pair(seed=1):
    rng = np.random.default_rng(seed)
    teacher = _dense_model(rng.normal(size=(D, K)), rng.normal(size=K))
    student = _dense_model(rng.normal(size=(D, K)), rng.normal(size=K))
    return teacher, student


@pytest.mark.parametrize("one_hot", [False, True])
def test_distiller_loss_with_label_smoothing_student_loss(one_hot):
    """Keras' Distiller total loss, with a keras_ls loss as the student
    loss, against numpy: w · LS-CE + (1 - w) · T² · KL at temperature T."""
    eps, w, t = 0.2, 0.3, 2.0
    x, y = _data()
    teacher, student = _pair()
    distiller = keras.distillation.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=keras.distillation.LogitsDistillation(
            temperature=t, loss=keras.losses.KLDivergence()
        ),
        student_loss_weight=w,
    )
    distiller.compile(loss=keras_ls.LabelSmoothingCrossentropy(eps))
    labels = np.eye(K, dtype="float32")[y] if one_hot else y
    y_pred = student(x)
    total = distiller.compute_loss(x=x, y=labels, y_pred=y_pred)

    s = np.asarray(keras.ops.convert_to_numpy(y_pred), np.float64)
    z = np.asarray(keras.ops.convert_to_numpy(teacher(x)), np.float64)
    targets = (1 - eps) * np.eye(K)[y] + eps / K
    ce = -(targets * np.log(softmax64(s))).sum(-1).mean()
    # keras.losses.KLDivergence clips both distributions to [1e-7, 1].
    p_t = np.clip(softmax64(z / t), 1e-7, 1)
    p_s = np.clip(softmax64(s / t), 1e-7, 1)
    kl = (p_t * np.log(p_t / p_s)).sum(-1).mean() * t**2
    expected = w * ce + (1 - w) * kl
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(total)), expected, rtol=2e-5
    )


def _kl_oracle(z, s, t):
    p_t = np.clip(softmax64(z / t), 1e-7, 1)
    p_s = np.clip(softmax64(s / t), 1e-7, 1)
    return (p_t * np.log(p_t / p_s)).sum(-1).mean() * t**2


def test_distill_uses_the_softmax_kl_at_temperature():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(8, K)).astype("float32")
    s = rng.normal(size=(8, K)).astype("float32")
    x, y = _data(32)
    teacher, student = _pair()
    distiller = distillation.distill(
        teacher, student, x, y, temperature=2.0, epochs=1, batch_size=32
    )
    (term,) = distiller.distillation_losses
    value = float(keras.ops.convert_to_numpy(term.compute_loss(z, s)))
    np.testing.assert_allclose(value, _kl_oracle(z, s, 2.0), rtol=1e-5)


def test_keras_default_logits_distillation_is_not_the_softmax_kl():
    """Why `distill` passes KLDivergence(): Keras' default loss string
    resolves to the plain function, applied to the scaled logits. When
    Keras changes this, this test fails and the workaround can go."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(8, K)).astype("float32")
    s = rng.normal(size=(8, K)).astype("float32")
    default = keras.distillation.LogitsDistillation(temperature=2.0)
    value = float(keras.ops.convert_to_numpy(default.compute_loss(z, s)))
    a, b = np.clip(z / 2.0, 1e-7, 1), np.clip(s / 2.0, 1e-7, 1)
    np.testing.assert_allclose(
        value, (a * np.log(a / b)).sum(-1).mean(), rtol=1e-5
    )
    assert abs(value - _kl_oracle(z, s, 2.0)) > 0.1


LOSSES = [
    ("LabelSmoothingCrossentropy", {"label_smoothing": 0.1}),
    ("MaxSuppression", {}),
    ("ConfidencePenalty", {}),
    ("MarginLabelSmoothing", {}),
    ("OnlineLabelSmoothing", {}),
]


@pytest.mark.parametrize(
    "name, kwargs",
    [
        pytest.param(
            name,
            kwargs,
            id=name,
            marks=pytest.mark.skipif(
                not hasattr(keras_ls, name),
                reason=f"keras_ls.{name} is not in this checkout",
            ),
        )
        for name, kwargs in LOSSES
    ],
)
def test_keras_ls_losses_train_a_student_through_distill(name, kwargs):
    cls = getattr(keras_ls, name)
    x, y = _data(64)
    teacher, student = _pair()
    before = [np.array(v) for v in student.get_weights()]
    loss = cls(**kwargs)
    distiller = distillation.distill(
        teacher,
        student,
        x,
        y,
        temperature=2.0,
        student_loss=loss,
        epochs=2,
        batch_size=16,
        jit_compile=JIT,
    )
    history = distiller.history.history
    assert all(math.isfinite(v) for v in history["student_loss"])
    assert all(math.isfinite(v) for v in history["distillation_loss"])
    after = student.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    if name == "OnlineLabelSmoothing":
        # Its soft labels are distiller state, updated at the second
        # epoch's start from the first epoch's correct predictions: rows
        # of probabilities, no longer the uniform start.
        s = np.asarray(loss.soft_labels)
        np.testing.assert_allclose(s.sum(1), 1.0, rtol=1e-5)
        assert not np.allclose(s, 1.0 / s.shape[0])
    # The teacher is frozen.
    assert not teacher.trainable


def test_plain_distiller_fit_with_a_keras_ls_student_loss():
    x, y = _data(64)
    teacher, student = _pair()
    distiller = keras.distillation.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=keras.distillation.LogitsDistillation(
            temperature=2.0
        ),
    )
    distiller.compile(
        optimizer="adam",
        loss=keras_ls.LabelSmoothingCrossentropy(0.1),
        jit_compile=JIT,
    )
    # The Distiller compiles with loss=None, so the symbolic build never
    # calls the student loss; on JAX the fit has gathered the state before
    # the loss meets the Distiller, and ε is a constant of that fit's step:
    # right, since it does not change, so nothing is said.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        history = distiller.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert math.isfinite(history.history["student_loss"][0])


def _images(n, seed):
    """4 x 4 one-channel images of 3 classes, separable by the mean of a
    class-specific quadrant."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n).astype("int32")
    x = rng.uniform(0, 0.3, (n, 4, 4)).astype("float32")
    for k in range(K):
        x[y == k, 2 * (k // 2) : 2 * (k // 2) + 2, 2 * (k % 2)] += 0.7
    return x, y


def _tiny_teacher():
    inputs = keras.Input((4, 4, 1))
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(8, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(K)(h))


def _tiny_student():
    inputs = keras.Input((4, 4, 1))
    h = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(K)(h))


def _run(label_smoothing, **kwargs):
    data = (_images(96, 0), _images(48, 1))
    return distillation.distillation_compare(
        data,
        model=_tiny_teacher,
        student=_tiny_student,
        label_smoothing=label_smoothing,
        temperatures=(2.0,),
        epochs=1,
        seeds=2,
        batch_size=32,
        jit_compile=JIT,
        **kwargs,
    )


def test_tiny_distillation_compare_structure():
    result = _run(0.2)
    assert result.seeds == [0, 1]
    assert sorted(result.students) == ["T=2", "scratch"]
    for teacher in ("baseline", "smoothed"):
        for values in (
            result.teachers[teacher],
            result.students["T=2"][teacher],
            result.students["scratch"][teacher],
        ):
            assert sorted(values) == sorted(distillation.METRICS)
            assert all(len(v) == 2 for v in values.values())
            assert all(0.0 <= a <= 1.0 for a in values["accuracy"])
            assert all(n > 0 for n in values["nll"])
    # The paired difference is the per-seed difference of the lists.
    d = result.differences["T=2"]["accuracy"]
    expected = np.subtract(
        result.students["T=2"]["smoothed"]["accuracy"],
        result.students["T=2"]["baseline"]["accuracy"],
    )
    np.testing.assert_allclose(d["values"], expected)
    assert d["n"] == 2
    assert result.to_dict()["config"]["temperatures"] == [2.0]
    text = distillation.markdown(result, "cmd")
    assert "| student T=2 | accuracy |" in text


def test_teachers_differ_only_by_label_smoothing():
    """With ε > 0 the smoothed teacher differs; the scratch student is the
    same for both, and a near-zero ε changes the teachers only slightly:
    the pairing (same initial weights, same batches) holds."""
    result = _run(1e-6, scratch=True)
    for m in ("accuracy", "nll"):
        np.testing.assert_allclose(
            result.teachers["smoothed"][m],
            result.teachers["baseline"][m],
            atol=1e-3,
        )
        np.testing.assert_allclose(
            result.students["T=2"]["smoothed"][m],
            result.students["T=2"]["baseline"][m],
            atol=1e-3,
        )
        assert (
            result.students["scratch"]["smoothed"][m]
            == result.students["scratch"]["baseline"][m]
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"label_smoothing": 0.0}, "label_smoothing"),
        ({"temperatures": ()}, "temperatures"),
        ({"temperatures": (1.0, -2.0)}, "temperatures"),
        ({"student_loss_weight": 1.5}, "student_loss_weight"),
        ({"student": "tiny"}, "student"),
        ({"seeds": []}, "seeds"),
    ],
)
def test_bad_arguments_are_refused_before_training(kwargs, match):
    with pytest.raises(ValueError, match=match):
        distillation.distillation_compare(
            (_images(8, 0), _images(8, 1)), **kwargs
        )


def _distill_parser():
    from keras_ls.experiment.cli import _distill
    from keras_ls.experiment.cli import _options

    parser = _options.Parser(prog="keras-ls distill")
    return _distill.add_arguments(parser)


def test_cli_arguments_defaults_and_refusals():
    from keras_ls.experiment.cli import _options

    args = _distill_parser().parse_args([])
    assert args.temperatures == [1.0, 4.0]
    assert args.label_smoothing == 0.1
    assert args.student == "small" and args.student_loss_weight == 0.5
    args = _distill_parser().parse_args(
        ["--temperatures", "2", "8", "--label-smoothing", "0.2"]
    )
    assert args.temperatures == [2.0, 8.0] and args.label_smoothing == 0.2
    for bad in (
        ["--temperatures", "0"],
        ["--temperatures", "x"],
        ["--label-smoothing", "0"],
        ["--student-loss-weight", "1.5"],
        ["--student", "tiny"],
    ):
        with pytest.raises(_options.UsageError):
            _distill_parser().parse_args(bad)


FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST), reason="no Fashion-MNIST")
def test_run_from_args_writes_results_and_report(tmp_path, capsys):
    import json

    from keras_ls.experiment.cli import _distill

    argv = [
        "distill",
        "--data-dir",
        FASHION_MNIST,
        "--train-size",
        "256",
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--temperatures",
        "2",
        "--no-scratch",
        "--quiet",
        "--out",
        str(tmp_path),
    ]
    args = _distill_parser().parse_args(argv[1:])
    args.command = "distill"
    assert _distill.run(args, argv) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["config"]["temperatures"] == [2.0]
    assert result["config"]["num_train"] == 256
    assert sorted(result["students"]) == ["T=2"]
    assert "keras-ls distill --backend" in result["command"]
    report = (tmp_path / "report.md").read_text()
    assert "| student T=2 | nll |" in report
    assert "Wrote" in capsys.readouterr().out


def test_plain_model_fit_keeps_epsilon_as_state_without_a_warning():
    """The Distiller's fallback is for a loss first met after JAX gathered
    the state: a plain model meets its loss in Keras' symbolic build (on
    JAX also a trace), carries ε as state and warns about nothing."""
    import warnings

    x, y = _data(64)
    model, _ = _pair()
    loss = keras_ls.LabelSmoothingCrossentropy(0.1)
    model.compile(optimizer="adam", loss=loss, jit_compile=JIT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert not [w for w in caught if "baked into" in str(w.message)]
    holder = keras_ls._tracking.state.find_holder(model)
    assert holder is not None
    assert any(
        v is loss.label_smoothing_variable
        for v in holder.label_smoothing_variables
    )


def test_distill_on_a_keras_without_distillation_says_so(monkeypatch):
    monkeypatch.delattr(keras, "distillation")
    teacher, student = _pair()
    x, y = _data(16)
    with pytest.raises(RuntimeError, match="needs `keras.distillation`"):
        distillation.distill(teacher, student, x, y, epochs=1)
