"""No numpy 2 DeprecationWarning comes from keras_ls (issue 18).

`ops.convert_to_numpy(keras.Variable)` (and `np.array(variable)`) makes
numpy 2 warn that `__array__` takes no `copy` argument. numpy attributes
the warning to Keras' conversion frame, so a module filter on `keras_ls`
cannot see who asked for it: these tests record the whole stack of every
DeprecationWarning and fail when a keras_ls frame is on it.
"""

import traceback
import warnings

import keras
import numpy as np
import pytest

import keras_ls
from tests.testing import JIT

_CONVERTERS = frozenset(("convert_to_numpy", "transform", "numpy", "__array__"))


def _asked_by_keras_ls(stack):
    """The keras_ls frame that asked for the conversion, or None: the
    innermost keras_ls frame, when what it called next is a conversion
    (Keras' `convert_to_numpy`, a `numpy()` or `__array__` method) or
    numpy's C code itself (then the warnings machinery comes next). A
    keras_ls frame that called Keras' `fit` or `predict`, inside which
    Keras converted something, did not ask."""
    paths = [frame.filename.replace("\\", "/") for frame in stack]
    inner = [i for i, path in enumerate(paths) if "/keras_ls/" in path]
    if not inner:
        return None
    i = inner[-1]
    if i + 1 >= len(stack):
        return None
    callee = stack[i + 1]
    if callee.name in _CONVERTERS or paths[i + 1].endswith("warnings.py"):
        return f"{stack[i].filename}:{stack[i].lineno} {stack[i].name}"
    return None


@pytest.fixture
def deprecations(monkeypatch):
    """Records (message, the keras_ls frame that asked or None) of every
    DeprecationWarning shown while the test runs."""
    found = []

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DeprecationWarning):
            stack = traceback.extract_stack()[:-1]  # without `show`
            found.append((str(message), _asked_by_keras_ls(stack)))

    with warnings.catch_warnings():
        warnings.simplefilter("always", DeprecationWarning)
        monkeypatch.setattr(warnings, "showwarning", show)
        yield found


def _from_keras_ls(found):
    return [(message, frame) for message, frame in found if frame]


@pytest.mark.skipif(
    np.lib.NumpyVersion(np.__version__) < "2.0.0", reason="numpy 1 is quiet"
)
def test_the_recorder_finds_who_asked(deprecations, monkeypatch):
    # The check can fail: ops.convert_to_numpy of a Variable, asked for by
    # a keras_ls function, is recorded with that function's frame.
    from keras_ls._tracking import values

    variable = keras.Variable(0.5)
    # A schedule may return a Variable; the scheduler converts it.
    scheduler = keras_ls.LabelSmoothingScheduler(lambda t: variable)
    assert scheduler.value_at(0) == 0.5
    assert not _from_keras_ls(deprecations)
    # keras_ls as it was: Keras' conversion of the variable itself.
    monkeypatch.setattr(values, "to_numpy", keras.ops.convert_to_numpy)
    assert scheduler.value_at(0) == 0.5
    assert "scheduler.py" in _from_keras_ls(deprecations)[0][1]
    # Asked for here, in the test, it is not keras_ls'.
    deprecations.clear()
    keras.ops.convert_to_numpy(variable)
    assert deprecations and not _from_keras_ls(deprecations)


def test_no_keras_ls_conversion_of_a_variable_warns(deprecations, tmp_path):
    x = np.zeros((16, 4), "float32")
    y = np.zeros(16, "int32")
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(5, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    loss = keras_ls.LabelSmoothingCrossentropy(0.1)
    model.compile(
        optimizer="sgd",
        loss=loss,
        metrics=[keras_ls.metrics.ExpectedCalibrationError()],
        jit_compile=JIT,
    )
    callbacks = [
        keras_ls.LabelSmoothingScheduler(
            keras_ls.schedules.LinearDecay(0.2, 0.0, 4), update="batch"
        ),
        keras_ls.LabelSmoothingScheduler(lambda t, current: 0.1, loss=loss),
        keras_ls.ConfidenceMonitor((x, y)),
    ]
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
    loss.label_smoothing = loss.label_smoothing + 0.05
    keras_ls.calibration.penultimate_features(model, x)
    ols = keras_ls.OnlineLabelSmoothing()
    model.compile(optimizer="sgd", loss=ols, jit_compile=JIT)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert ols.soft_labels.shape == (3, 3)
    model.save(str(tmp_path / "m.keras"))
    assert not _from_keras_ls(deprecations), _from_keras_ls(deprecations)
