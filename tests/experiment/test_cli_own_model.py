"""``keras-ls compare --model FILE.py:FUNCTION --optimizer … --dataset …``:
the user's own model, optimizer and data from the command line."""

import json
import os
import re
import subprocess
import sys

import keras
import pytest

from keras_ls.experiment import cli
from keras_ls.experiment.cli import _user_code

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)

MODEL = """\
import keras


def build():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(4),
        ]
    )


def probabilities():
    return keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(),
         keras.layers.Dense(4, activation="softmax")]
    )


def nothing():
    return None


def wrong_input():
    return keras.Sequential([keras.Input((28, 28, 1)),
                             keras.layers.Flatten(), keras.layers.Dense(4)])


NOT_A_FUNCTION = 3
"""

DATA = """\
import numpy as np


def load():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((240, 8, 8)).astype("float32")
    y = rng.integers(0, 4, 240)
    x[np.arange(240), 2 * y, :] += 3
    return (x[:200], y[:200]), (x[200:], y[200:])


def too_few_labels():
    (x, y), test = load()
    return (x, y[:50]), test
"""


@pytest.fixture
def user_files(tmp_path, monkeypatch):
    """A fresh folder with my_model.py and my_data.py, as the cwd."""
    (tmp_path / "my_model.py").write_text(MODEL)
    (tmp_path / "my_data.py").write_text(DATA)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_issue_command_runs_from_a_fresh_folder(user_files):
    env = {
        **os.environ,
        "KERAS_BACKEND": keras.backend.backend(),
        "PYTHONPATH": ROOT,
    }
    command = [
        sys.executable,
        "-m",
        "keras_ls",
        "compare",
        "--model",
        "my_model.py:build",
        "--optimizer",
        "sgd:learning_rate=0.05,momentum=0.9",
        "--dataset",
        "my_data.py:load",
        "--seeds",
        "2",
        "--epochs",
        "1",
    ]
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        cwd=user_files,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out_dir = user_files / "runs" / "compare"
    results = json.loads((out_dir / "results.json").read_text())
    config = results["config"]
    assert config["optimizer"]["class_name"] == "SGD"
    assert config["optimizer"]["config"]["momentum"] == 0.9
    assert config["optimizer"]["config"]["learning_rate"] == pytest.approx(0.05)
    details = config["model_details"]
    assert details["source"] == "my_model:build"
    # Dense(16) on 8 * 8 inputs, Dense(4) on 16: weights and biases.
    assert details["params"] == 64 * 16 + 16 + 16 * 4 + 4
    assert [layer["class"] for layer in details["layers"]] == [
        "Flatten",
        "Dense",
        "Dense",
    ]
    # The functions' text, as written in the user's files.
    assert config["data"]["code"] == DATA.split("\n\n\n")[1] + "\n"
    assert details["code"] == MODEL.split("\n\n\n")[1] + "\n"
    assert config["data"] == {
        "code": config["data"]["code"],
        "source": "my_data:load()",
        "x_train": [200, 8, 8, 1],
        "y_train": [200],
        "x_test": [40, 8, 8, 1],
        "y_test": [40],
        "num_classes": 4,
    }
    report = (out_dir / "report.md").read_text()
    assert "## Model, optimizer and data" in report
    assert (
        "Model `sequential` from `my_model:build`: 3 layers, 1,108 " in report
    )
    assert "| dense | Dense | (batch, 16) | 1,040 |" in report
    assert "SGD (learning_rate=0.05, momentum=0.9)" in report
    assert "```python\ndef build():\n    return keras.Sequential(" in report
    assert "```python\ndef load():\n    rng = " in report
    assert "Data: my_data:load(); x_train (200, 8, 8, 1)" in report
    assert "--model my_model.py:build --optimizer sgd:learning_rate" in report
    # One progress line per trained model, no Keras bar.
    lines = proc.stdout.splitlines()
    progress = [line for line in lines if line.startswith("seed ")]
    assert [line.split(":")[0] for line in progress] == [
        "seed 1/2, model 1/2 (baseline)",
        "seed 1/2, model 2/2 (smoothed)",
        "seed 2/2, model 1/2 (baseline)",
        "seed 2/2, model 2/2 (smoothed)",
    ]
    assert "compilation" in progress[0] and progress[-1].endswith(", done")
    assert "Epoch 1/1" not in proc.stdout
    # The user's folder holds what it held, and the run: no __pycache__.
    assert sorted(os.listdir(user_files)) == [
        "my_data.py",
        "my_model.py",
        "runs",
    ]


def run_main(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


MODEL_OK = ("--model", "my_model.py:build")
DATA_OK = ("--dataset", "my_data.py:load")


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            ("--model", "nowhere.py:build", *DATA_OK),
            r"--model nowhere.py:build: no such file 'nowhere.py'$",
        ),
        (
            ("--model", "my_model.py:buld", *DATA_OK),
            r"--model my_model.py:buld: my_model.py has no function 'buld' "
            r"\(it defines: build, nothing, probabilities, wrong_input\)$",
        ),
        (
            ("--model", "no_such_package.models:build", *DATA_OK),
            r"--model no_such_package.models:build: no module named "
            r"'no_such_package' \(run from the folder that holds it, or "
            r"install it\)$",
        ),
        (
            ("--model", "my_model.py:NOT_A_FUNCTION", *DATA_OK),
            r"'NOT_A_FUNCTION' is a int, not a function$",
        ),
        (
            ("--model", "my_model.py:nothing", *DATA_OK),
            r"`model` must be a function returning a fresh uncompiled "
            r"keras.Model with logits\. Received: model=my_model:nothing, "
            r"which returned NoneType$",
        ),
        (
            ("--model", "my_model.py:probabilities", *DATA_OK),
            r"`model` must return logits, not probabilities: remove its "
            r"final softmax",
        ),
        (
            ("--optimizer", "sgdd", *MODEL_OK, *DATA_OK),
            r"argument --optimizer: 'sgdd': Unknown optimizer 'sgdd': "
            r"expected a Keras optimizer identifier \(adadelta, .*sgd\)",
        ),
        (
            ("--optimizer", "sgd:momentun=0.9", *MODEL_OK, *DATA_OK),
            r"argument --optimizer: 'sgd:momentun=0.9': SGD has no argument "
            r"'momentun'; its arguments are learning_rate, momentum, ",
        ),
        (
            ("--optimizer", "sgd:momentum", *MODEL_OK),
            r"argument --optimizer: expected NAME\[:KEY=VALUE,\.\.\.\] with "
            r"distinct KEYs, got 'sgd:momentum'$",
        ),
        (
            ("--dataset", "my_data.py:too_few_labels", *MODEL_OK),
            r"`data\[0\]` needs one integer label .* Received: x of shape "
            r"\(200, 8, 8\), y of shape \(50, 1\)$",
        ),
        (
            ("--model", "my_model.py:wrong_input", *DATA_OK),
            r"`model` does not take the data's examples, of shape "
            r"\(8, 8, 1\): ",
        ),
        (
            ("--data-dir", ".", *DATA_OK),
            r"--data-dir is where fashion_mnist is looked for; --dataset "
            r"my_data.py:load loads its own data$",
        ),
        (("--quiet", "--verbose"), "--quiet and --verbose contradict"),
    ],
)
def test_bad_user_arguments_one_line_status_2_nothing_written(
    capsys, user_files, argv, expected
):
    out_dir = user_files / "out"
    status, out, err = run_main(
        capsys, "compare", *argv, "--epochs", "1", "--out", str(out_dir)
    )
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("keras-ls: error: ")
    assert re.search(expected, lines[0]), lines[0]
    assert not out_dir.exists()
    assert "__pycache__" not in os.listdir(user_files)


@pytest.mark.parametrize(
    "text, config",
    [
        ("adam", {"class_name": "adam", "config": {}}),
        (
            "sgd:learning_rate=0.05,momentum=0.9,nesterov=True",
            {
                "class_name": "sgd",
                "config": {
                    "learning_rate": 0.05,
                    "momentum": 0.9,
                    "nesterov": True,
                },
            },
        ),
        (
            "adamw: weight_decay = 1e-4 , name=w",
            {
                "class_name": "adamw",
                "config": {"weight_decay": 1e-4, "name": "w"},
            },
        ),
    ],
)
def test_optimizer_specs(text, config):
    assert _user_code.optimizer_config(text) == config


@pytest.mark.parametrize(
    "text", ["", "sgd:", "sgd:lr", "sgd:=1", "s-g-d", "sgd:a=1,a=2"]
)
def test_bad_optimizer_specs(text):
    with pytest.raises(ValueError, match=r"expected NAME\[:KEY=VALUE"):
        _user_code.optimizer_config(text)


@pytest.mark.parametrize(
    "text, ok",
    [
        ("mlp", True),
        ("my_model.py:build", True),
        ("sub/dir/my_model.py:build", True),
        ("package.module:build", True),
        ("package.module:Factory.build", True),
        ("resnet", False),
        ("my_model.py", False),
        ("my_model.py:", False),
        (":build", False),
        ("my model.txt:build", False),
    ],
)
def test_function_spec_forms(text, ok):
    parse = _user_code.function_spec(("mlp", "cnn"))
    if ok:
        assert parse(text) == text
    else:
        with pytest.raises(Exception, match="expected mlp, cnn, FILE.py"):
            parse(text)


def test_a_module_function_from_the_current_folder(user_files):
    (user_files / "pkg_models").mkdir()
    (user_files / "pkg_models" / "__init__.py").write_text("")
    (user_files / "pkg_models" / "nets.py").write_text(MODEL)
    function = _user_code.load_function("pkg_models.nets:build", "--model")
    assert isinstance(function(), keras.Model)
    assert function.__module__ == "pkg_models.nets"
