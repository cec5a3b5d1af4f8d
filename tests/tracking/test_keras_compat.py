"""The Keras internals keras_ls reads fail loudly, naming the Keras version.

CI runs this file on the newest Keras and on the oldest supported one
(`ci/constraints-floor.txt`), so both ends of the range are covered.
"""

import json
import os

import keras
import numpy as np
import pytest

import keras_ls
from keras_ls import _keras_compat
from tests.testing import requires_module


def _compiled_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=keras_ls.LabelSmoothingCrossentropy())
    return model


def test_a_missing_state_tracker_names_the_keras_version():
    model = _compiled_model()
    object.__setattr__(model, "_tracker", None)
    with pytest.raises(RuntimeError) as info:
        keras_ls.track_label_smoothing(model)
    assert f"Keras {keras.__version__}" in str(info.value)
    assert "_tracker" in str(info.value)
    assert _keras_compat.MIN_KERAS in str(info.value)


def test_a_missing_metrics_list_names_the_keras_version():
    model = _compiled_model()
    object.__setattr__(model, "_metrics", None)
    with pytest.raises(RuntimeError, match=rf"Keras {keras.__version__}"):
        keras_ls.track_label_smoothing(model)


def test_a_tensor_without_keras_history_names_the_keras_version():
    with pytest.raises(RuntimeError, match=rf"Keras {keras.__version__}"):
        _keras_compat.keras_history(np.zeros(2))


def test_the_real_internals_are_present_in_this_keras():
    model = _compiled_model()
    holder = keras_ls.track_label_smoothing(model)
    assert holder in _keras_compat.model_metrics(model)
    inputs = keras.Input((3,))
    history = _keras_compat.keras_history(keras.layers.Dense(2)(inputs))
    assert isinstance(history.operation, keras.layers.Dense)


@pytest.mark.parametrize(
    "version, supported",
    [
        ("3.9.2", False),
        ("3.0.0", False),
        ("2.15.0", False),
        ("3.10.0", True),
        ("3.16.0.dev2026112800", True),
        ("4.0.0", True),
    ],
)
def test_keras_older_than_the_floor_is_refused(version, supported):
    if supported:
        _keras_compat.check_keras_version(version)
    else:
        with pytest.raises(ImportError, match=r"keras>=3\.10\.0"):
            _keras_compat.check_keras_version(version)


def _tf_config(task_type, index, chief=False):
    cluster = {"worker": ["localhost:1", "localhost:2"]}
    if chief:
        cluster["chief"] = ["localhost:3"]
    return json.dumps(
        {"cluster": cluster, "task": {"type": task_type, "index": index}}
    )


@pytest.mark.parametrize(
    "config, chief",
    [
        (_tf_config("worker", 0), True),
        (_tf_config("worker", 1), False),
        (_tf_config("worker", 0, chief=True), False),
        (_tf_config("chief", 0, chief=True), True),
        (None, True),
    ],
)
def test_the_chief_follows_tf_config(monkeypatch, config, chief):
    if config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", config)
    assert _keras_compat.is_chief_process() is chief


@requires_module("matplotlib")
@pytest.mark.parametrize("index, pngs", [(0, 2), (1, 0)])
def test_only_the_chief_writes_the_monitor_pngs(
    monkeypatch, tmp_path, index, pngs
):
    monkeypatch.setenv("TF_CONFIG", _tf_config("worker", index))
    x = np.random.default_rng(0).standard_normal((16, 3)).astype("float32")
    y = np.arange(16) % 2
    model = _compiled_model()
    model.fit(
        x,
        y,
        epochs=2,
        verbose=0,
        callbacks=[keras_ls.ConfidenceMonitor((x, y), log_dir=tmp_path)],
    )
    written = sorted(os.listdir(tmp_path)) if tmp_path.exists() else []
    assert len(written) == pngs, written
