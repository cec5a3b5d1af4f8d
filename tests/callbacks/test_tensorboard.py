"""ConfidenceMonitor(tensorboard_dir=...): TensorBoard event files without
TensorFlow, read back with tensorboard's own EventAccumulator.

The training and the read-back run in a fresh interpreter. Under JAX and
PyTorch it blocks TensorFlow (``sys.modules["tensorflow"] = None``, so any
``import tensorflow`` fails as if it were not installed) and reports which
TensorFlow modules got loaded: none may.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_ls.callbacks import ConfidenceMonitor
from keras_ls.callbacks import _tensorboard
from tests.testing import BACKEND
from tests.testing import requires_module

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)

_PROGRAM = r"""
import json, sys
block, log_dir = sys.argv[1] == "1", sys.argv[2]
if block:
    sys.modules["tensorflow"] = None  # `import tensorflow` -> ImportError

import keras
import numpy as np

import keras_ls
from keras_ls.callbacks._tensorboard import EventWriter

rng = np.random.default_rng(0)
x = rng.standard_normal((64, 4)).astype("float32")
y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")

def model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3)(inputs))

net, other = model(), model()
net.compile(optimizer="adam", loss=keras_ls.LabelSmoothingCrossentropy(0.1))
monitor = keras_ls.callbacks.ConfidenceMonitor(
    (x, y), compare={"baseline": other}, num_bins=5,
    tensorboard_dir=log_dir + "/every1")
history = net.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[
    keras_ls.callbacks.LabelSmoothingScheduler(
        keras_ls.schedules.TwoStage(0.1, 2)),
    monitor])
monitor2 = keras_ls.callbacks.ConfidenceMonitor(
    (x, y), every=2, tensorboard_dir=log_dir + "/every2")
net.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[monitor2])

with EventWriter(log_dir + "/raw") as writer:
    writer.scalar("a", 0.25, 7)
    writer.scalar("a", -1.5, 9)

loaded = sorted(
    m for m, v in sys.modules.items()
    if (m == "tensorflow" or m.startswith("tensorflow.")) and v is not None)

from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator)

def read(run):
    acc = EventAccumulator(log_dir + "/" + run,
                           size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    return {
        "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)]
                    for t in tags["scalars"]},
        "images": {t: [[e.step, e.width, e.height,
                        e.encoded_image_string[:8].hex()]
                       for e in acc.Images(t)] for t in tags["images"]},
    }

print(json.dumps({
    "tf_modules": loaded,
    "history": history.history,
    "keys": monitor.keys(),
    "runs": {r: read(r) for r in ("every1", "every2", "raw")},
}))
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("tensorboard")
    block = "0" if BACKEND == "tensorflow" else "1"
    env = dict(os.environ, KERAS_BACKEND=BACKEND, PYTHONPATH=ROOT)
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM, block, str(log_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@requires_module("tensorboard")
@pytest.mark.skipif(BACKEND == "tensorflow", reason="TensorFlow is the backend")
def test_no_tensorflow_module_is_imported(written):
    assert written["tf_modules"] == []


@requires_module("tensorboard")
def test_every_logged_statistic_is_a_scalar_with_its_epoch(written):
    scalars = written["runs"]["every1"]["scalars"]
    history = written["history"]
    # 10 statistics for each of the model, the baseline and the deltas.
    assert len(written["keys"]) == 30
    for key in written["keys"]:
        steps = [step for step, _ in scalars[key]]
        values = [value for _, value in scalars[key]]
        assert steps == [0, 1, 2], key
        # simple_value is float32.
        np.testing.assert_allclose(values, history[key], rtol=1e-6, atol=1e-7)


@requires_module("tensorboard")
def test_the_scheduled_epsilon_is_a_scalar(written):
    scalars = written["runs"]["every1"]["scalars"]
    # TwoStage(0.1, 2): ε = 0.1 in epochs 0 and 1, then 0.
    np.testing.assert_allclose(
        scalars["label_smoothing"], [[0, 0.1], [1, 0.1], [2, 0.0]], rtol=1e-6
    )
    # Without a scheduler there is no ε scalar.
    assert "label_smoothing" not in written["runs"]["every2"]["scalars"]


@requires_module("tensorboard")
@requires_module("matplotlib")
def test_reliability_and_histogram_images_at_every_logged_epoch(written):
    images = written["runs"]["every1"]["images"]
    png = "89504e470d0a1a0a"
    # 4.5 x 4.5 and 4.5 x 3.5 inches at 100 dpi.
    assert images["val_reliability_diagram"] == [
        [step, 450, 450, png] for step in (0, 1, 2)
    ]
    assert images["val_confidence_histogram"] == [
        [step, 450, 350, png] for step in (0, 1, 2)
    ]


@requires_module("tensorboard")
def test_every_n_epochs_writes_only_the_logged_epochs(written):
    run = written["runs"]["every2"]
    assert [s for s, _ in run["scalars"]["val_ece"]] == [1, 3]
    if "val_reliability_diagram" in run["images"]:
        steps = [i[0] for i in run["images"]["val_reliability_diagram"]]
        assert steps == [1, 3]


@requires_module("tensorboard")
def test_event_writer_round_trip(written):
    assert written["runs"]["raw"]["scalars"] == {"a": [[7, 0.25], [9, -1.5]]}


def test_png_size_reads_the_header():
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR"
    png = header + (640).to_bytes(4, "big") + (480).to_bytes(4, "big")
    assert _tensorboard.png_size(png) == (640, 480)
    with pytest.raises(ValueError, match="PNG"):
        _tensorboard.png_size(b"GIF89a" + bytes(20))


def _data():
    x = np.zeros((4, 3), "float32")
    return x, np.array([0, 1, 2, 0])


def test_tensorboard_dir_must_be_a_path():
    with pytest.raises(ValueError, match="tensorboard_dir=3"):
        ConfidenceMonitor(_data(), tensorboard_dir=3)


def test_missing_tensorboard_package_fails_at_construction(monkeypatch):
    real = _tensorboard.importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "tensorboard" else real(name, *args)

    monkeypatch.setattr(_tensorboard.importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError, match=r"keras-ls\[tensorboard\]"):
        ConfidenceMonitor(_data(), tensorboard_dir="logs")


@requires_module("tensorboard")
def test_tensorboard_dir_round_trips_in_the_config(tmp_path):
    monitor = ConfidenceMonitor(_data(), tensorboard_dir=tmp_path)
    config = monitor.get_config()
    assert config["tensorboard_dir"] == str(tmp_path)
    assert ConfidenceMonitor.from_config(config).tensorboard_dir == str(
        tmp_path
    )


@requires_module("tensorboard")
@pytest.mark.parametrize("chief", [True, False])
def test_only_the_chief_process_writes_events(tmp_path, monkeypatch, chief):
    """In a multi-process job every worker runs the monitor; only the chief
    (`_keras_compat.is_chief_process`) may write the event file."""
    import keras

    from keras_ls import _keras_compat

    monkeypatch.setattr(_keras_compat, "is_chief_process", lambda: chief)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = _data()
    model.fit(
        x,
        y,
        epochs=1,
        verbose=0,
        callbacks=[ConfidenceMonitor((x, y), tensorboard_dir=tmp_path)],
    )
    events = [
        f for f in os.listdir(tmp_path) if f.startswith("events.out.tfevents")
    ]
    assert len(events) == (1 if chief else 0)
    logs = model.history.history
    assert "val_ece" in logs  # the statistics are logged on every worker
