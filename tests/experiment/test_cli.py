import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_ls import data
from keras_ls.experiment import cli
from keras_ls.experiment.cli import _backend
from keras_ls.experiment.cli import _options
from tests.data.test_data import write_folder
from tests.testing import requires_module


def tiny_folder(path, n_train=128, n_test=32):
    """Fashion-MNIST-shaped IDX files whose class is a bright row."""
    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        x[np.arange(n), 2 * y + 4] = 255
        return x, y

    return write_folder(str(path), (make(n_train), make(n_test)))


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(data, "SYSTEM_DIR", str(tmp_path / "system"))

    def offline():
        raise ConnectionError("no internet access")

    monkeypatch.setattr(data, "_from_tfds", offline)
    monkeypatch.setattr(data, "_from_keras", offline)


def run_main(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    "argv, match",
    [
        (
            ["compare", "--model", "resnet"],
            r"argument --model: expected mlp, cnn, FILE.py:FUNCTION or "
            r"package.module:FUNCTION, got 'resnet'$",
        ),
        (["distill", "--model", "x.py:f"], "--model: invalid choice"),
        (["compare", "--epochs", "-1"], "--epochs: expected an integer >= 1"),
        (["compare", "--epochs", "0"], "--epochs: expected an integer >= 1"),
        (["compare", "--seeds", "two"], "--seeds: expected an integer"),
        (
            ["compare", "--validation-size", "-1"],
            "--validation-size: expected an integer >= 0, got '-1'",
        ),
        (["compare", "--label-smoothing", "1.5"], "--label-smoothing"),
        (["compare", "--label-noise", "-0.1"], "--label-noise"),
        (["compare", "--schedule", "zigzag:0.1"], "--schedule.*two-stage"),
        # The CLI's own wording, not the library's "`schedule` must be ...".
        (
            ["compare", "--schedule", "bogus"],
            r"argument --schedule: expected one of constant:EPS, "
            r"two-stage:EPS:SWITCH_EPOCH, linear:INITIAL:FINAL, .*"
            r"warmup:FINAL\[:EPOCHS\]; got 'bogus'$",
        ),
        (
            ["compare", "--schedule", "two-stage:0.1:x"],
            r"--schedule: expected two-stage:EPS:SWITCH_EPOCH \(numbers; "
            r"SWITCH_EPOCH an integer\); got 'two-stage:0.1:x'$",
        ),
        (
            ["compare", "--schedule", "warmup:0.1:2:3"],
            r"--schedule: expected warmup:FINAL\[:EPOCHS\]",
        ),
        (
            ["compare", "--backend", "mxnet"],
            "--backend: invalid choice: 'mxnet'",
        ),
        (["compare", "--schedule", "cosine:0.2"], "--schedule.*cosine:INITIAL"),
        (
            ["compare", "--dataset", "cifar10"],
            r"argument --dataset: expected fashion_mnist, FILE.py:FUNCTION "
            r"or package.module:FUNCTION, got 'cifar10'$",
        ),
        (["compare", "--label-smoothing", "none"], "nothing to compare"),
        (["compare", "--bogus"], "unrecognized arguments: --bogus"),
        (
            ["compare", "--variant", "zz"],
            r"argument --variant: 'zz': unknown kind 'zz'; expected one of "
            r"baseline; ls:EPS or ls:SCHEDULE",
        ),
        (
            ["compare", "--variant", "ls:1.5"],
            r"argument --variant: 'ls:1.5': EPS must be in \[0, 1\)",
        ),
        (
            ["compare", "--variant", "ls:two-stage:0.1:x"],
            r"--variant: 'ls:two-stage:0.1:x': expected "
            r"two-stage:EPS:SWITCH_EPOCH",
        ),
        (
            ["compare", "--variant", "ls:0.1", "--label-smoothing", "0.2"],
            "--variant replaces --label-smoothing: give the smoothed models",
        ),
        (
            ["compare", "--schedule=constant:0.1", "--variant", "ts"],
            "--variant replaces --schedule",
        ),
        (
            ["compare", "--variant", "ts", "--validation-size", "0"],
            r"Temperature scaling \(ts\) is fitted on the validation split",
        ),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (
            ["distill", "--label-smoothing", "0"],
            "the smoothed teacher needs ε > 0, got 0",
        ),
        (
            ["distill", "--temperatures", "0"],
            r"--temperatures: must be a number > 0, got '0'",
        ),
        (
            ["distill", "--student-loss-weight", "1.5"],
            r"must be a number in \[0, 1\], got '1.5'",
        ),
    ],
)
def test_bad_options_give_one_line_and_status_2(capsys, argv, match):
    status, out, err = run_main(capsys, *argv)
    assert status == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("keras-ls: error: ")
    assert re.search(match, lines[0]), lines[0]
    assert "Traceback" not in err


def test_unreadable_data_dir(capsys, tmp_path):
    status, _, err = run_main(
        capsys, "compare", "--data-dir", str(tmp_path / "nowhere")
    )
    assert status == 2
    assert err.strip() == (
        f"keras-ls: error: --data-dir '{tmp_path / 'nowhere'}' is not a folder"
    )


# root (and CAP_DAC_OVERRIDE) reads a folder whatever its mode.
@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="running as a user that can read any folder",
)
def test_unreadable_data_dir_mode_000(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0)
    try:
        status, _, err = run_main(capsys, "compare", "--data-dir", str(locked))
        assert status == 2 and "is not readable" in err
    finally:
        os.chmod(locked, 0o755)


def test_empty_data_dir_and_corrupt_file(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, err = run_main(capsys, "compare", "--data-dir", str(empty))
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(
        f"keras-ls: error: Fashion-MNIST was not found in --data-dir {empty} "
        "(train-images-idx3-ubyte[.gz] missing); it needs the four IDX "
        "files train-images-idx3-ubyte.gz, "
    )
    folder = tiny_folder(tmp_path / "corrupt")
    path = os.path.join(folder, "t10k-labels-idx1-ubyte.gz")
    with open(path, "wb") as f:
        f.write(b"not gzip at all")
    status, _, err = run_main(capsys, "compare", "--data-dir", folder)
    assert status == 2 and "t10k-labels-idx1-ubyte.gz" in err
    assert len(err.strip().splitlines()) == 1


def test_no_data_anywhere(capsys, no_data, monkeypatch):
    def no_tfds():
        raise ModuleNotFoundError(
            "No module named 'tensorflow_datasets'", name="tensorflow_datasets"
        )

    monkeypatch.setattr(data, "_from_tfds", no_tfds)
    status, out, err = run_main(capsys, "compare", "--epochs", "1")
    assert status == 2
    (line,) = err.strip().splitlines()
    # What to do comes first, in CLI terms (--data-dir, not data_dir).
    sudo = "" if os.geteuid() == 0 else "sudo "
    assert line.startswith(
        "keras-ls: error: Fashion-MNIST was not found; install it with "
        f"'{sudo}apt-get install dataset-fashion-mnist' (Debian/Ubuntu), or "
        "pass --data-dir DIR "
    )
    assert "`data_dir`" not in line
    # Then every place tried; tfds is reported, not promised.
    assert "Keras cache" in line
    assert (
        'tfds.load("fashion_mnist") (tensorflow_datasets not installed)' in line
    )
    assert (
        "keras.datasets.fashion_mnist.load_data() (ConnectionError: "
        "no internet access)" in line
    )


@requires_module("matplotlib")
def test_compare_writes_results_report_and_plots(capsys, tmp_path):
    folder = tiny_folder(tmp_path / "fm")
    out_dir = tmp_path / "out"
    status, out, err = run_main(
        capsys,
        "compare",
        "--data-dir",
        folder,
        "--epochs",
        "2",
        "--seeds",
        "1",
        "--batch-size",
        "32",
        "--schedule",
        "two-stage:0.1:1",
        "--label-noise",
        "0.1",
        "--validation-size",
        "20",
        "--out",
        str(out_dir),
        "--quiet",
    )
    assert status == 0, err
    report = (out_dir / "report.md").read_text()
    # Every PNG is linked from report.md, and nothing else is written.
    pngs = sorted(set(re.findall(r"\(([\w.-]+\.png)\)", report)))
    assert len(pngs) >= 4, report
    assert sorted(os.listdir(out_dir)) == sorted(
        ["results.json", "report.md", *pngs]
    )
    for name in pngs:
        with open(out_dir / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out_dir / "results.json").read_text())
    assert results["config"]["epochs"] == 2
    assert results["config"]["label_noise"] == 0.1
    assert results["config"]["validation_size"] == 20
    assert results["config"]["backend"] == keras.backend.backend()
    assert results["seeds"] == [0]
    assert set(results["metrics"]) == {"baseline", "smoothed", "scheduled"}
    assert len(results["metrics"]["smoothed"]["accuracy"]) == 1
    # One seed: no interval, written as null rather than NaN.
    assert results["differences"]["smoothed"]["nll"]["half_width"] is None
    hist = results["histories"]["scheduled"][0]
    assert hist["label_smoothing"] == pytest.approx([0.1, 0.0])
    # The backend was not given: the recorded command names it, so that
    # a reader can rerun it.
    backend = keras.backend.backend()
    assert f"keras-ls compare --backend {backend} --data-dir" in report
    assert results["command"].startswith(
        f"keras-ls compare --backend {backend} --data-dir "
    )
    assert "| smoothed | accuracy |" in report
    # The table ends the terminal output (rich).
    assert "95% CI" in out and "confidence" in out


def test_compare_with_variants_writes_one_table_and_the_accuracy_ece_plot(
    capsys, tmp_path
):
    folder = tiny_folder(tmp_path / "fm")
    out_dir = tmp_path / "out"
    status, out, err = run_main(
        capsys,
        "compare",
        "--data-dir",
        folder,
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--batch-size",
        "32",
        "--validation-size",
        "32",
        "--variant",
        "ls:0.1",
        "--variant",
        "ts",
        "--out",
        str(out_dir),
        "--quiet",
    )
    assert status == 0, err
    results = json.loads((out_dir / "results.json").read_text())
    assert list(results["metrics"]) == ["baseline", "ls:0.1", "ts"]
    assert results["config"]["variants"] == {
        "baseline": "baseline",
        "ls:0.1": "ls:0.1",
        "ts": "ts",
    }
    assert len(results["temperatures"]["ts"]) == 1
    # ts divides the baseline's logits by T: same predictions.
    assert (
        results["metrics"]["ts"]["accuracy"]
        == (results["metrics"]["baseline"]["accuracy"])
    )
    report = (out_dir / "report.md").read_text()
    assert "--variant ls:0.1 --variant ts" in results["command"]
    assert "| variant | accuracy | Δ accuracy [95% CI] | NLL |" in report
    assert "| ts | " in report and "| ls:0.1 | " in report
    assert "](accuracy_ece.png)" in report
    assert (out_dir / "accuracy_ece.png").read_bytes()[:4] == b"\x89PNG"
    assert "Δ ECE [95% CI]" in out and "ts: T = " in out


def test_distill_help_without_keras(tmp_path):
    proc = run_blocked(tmp_path, ["keras", "tensorflow"], "distill", "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: keras-ls distill")
    assert "--temperatures T [T ...]" in proc.stdout


def test_bad_variant_is_refused_before_keras_is_imported(tmp_path):
    proc = run_blocked(
        tmp_path, ["keras", "tensorflow"], "compare", "--variant", "ols:7"
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "keras-ls: error: argument --variant: 'ols:7': alpha must be in "
        "[0, 1], got '7'"
    ]


def test_python_dash_m_entry_point(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    proc = subprocess.run(
        [sys.executable, "-m", "keras_ls", "compare", "--epochs", "-2"],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.dirname(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        ),
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "keras-ls: error: argument --epochs: expected an integer >= 1, got '-2'"
    )
    assert "Traceback" not in proc.stderr


def test_cli_mirrors_agree_with_the_experiment():
    import inspect

    from keras_ls import experiment
    from keras_ls.experiment.cli import _compare

    assert _options.MODELS == experiment.MODELS
    assert _compare.SCHEDULE_FORMS == experiment.SCHEDULE_SPECS
    defaults = {
        k: p.default
        for k, p in inspect.signature(experiment.compare).parameters.items()
    }
    args = cli.build_parser().parse_args(["compare"])
    for name in (
        "model",
        "label_smoothing",
        "label_noise",
        "epochs",
        "seeds",
        "batch_size",
        "train_size",
        "validation_size",
    ):
        assert getattr(args, name) == defaults[name], name


# Choosing the backend before Keras is imported.


@pytest.fixture
def no_backend_configured(monkeypatch, tmp_path):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home"


def installed_only(monkeypatch, *names):
    monkeypatch.setattr(
        _backend, "is_installed", lambda module: module in names
    )


def test_default_backend_when_nothing_is_set(
    no_backend_configured, monkeypatch
):
    installed_only(monkeypatch, "tensorflow", "jax", "torch")
    assert _backend.choose_backend() == ("tensorflow", None)  # Keras' default
    installed_only(monkeypatch, "jax", "torch")
    assert _backend.choose_backend() == (
        "jax",
        "KERAS_BACKEND is not set and Keras' default, tensorflow, "
        "is not installed",
    )
    installed_only(monkeypatch, "torch")
    assert _backend.choose_backend()[0] == "torch"
    installed_only(monkeypatch)
    with pytest.raises(
        _options.UsageError,
        match="^no Keras backend is "
        r"installed \(jax, tensorflow or torch\)",
    ):
        _backend.choose_backend()


def test_keras_json_backend(no_backend_configured, monkeypatch):
    home = no_backend_configured
    home.mkdir()
    # Keras writes {"backend": "tensorflow"} there on its first import,
    # whatever KERAS_BACKEND said: a missing TensorFlow is then replaced.
    (home / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    installed_only(monkeypatch, "jax", "torch")
    path = str(home / "keras.json")
    assert _backend.keras_config_path() == path
    assert _backend.choose_backend() == (
        "jax",
        f"{path} names tensorflow, which is not installed",
    )
    (home / "keras.json").write_text(json.dumps({"backend": "torch"}))
    assert _backend.choose_backend() == ("torch", None)
    (home / "keras.json").write_text("{not json")
    assert _backend.choose_backend()[0] == "jax"


def test_explicit_backend_is_honoured_or_refused(
    no_backend_configured, monkeypatch
):
    installed_only(monkeypatch, "jax", "torch")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert _backend.choose_backend("torch") == ("torch", None)
    assert _backend.choose_backend() == ("jax", None)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    with pytest.raises(
        _options.UsageError,
        match=(
            r"^KERAS_BACKEND=tensorflow: tensorflow is not installed "
            r"\(installed backends: jax, torch\)"
        ),
    ):
        _backend.choose_backend()
    with pytest.raises(_options.UsageError, match="^--backend tensorflow: "):
        _backend.choose_backend("tensorflow")


@pytest.mark.parametrize(
    "argv, orig_argv, expected",
    [
        (["/venv/bin/keras-ls", "compare"], None, True),
        (["-m"], ["python3", "-m", "keras_ls", "compare"], True),
        (["-m"], ["python3", "-X", "utf8", "-mkeras_ls"], True),
        (["-m"], ["python3", "-m", "pytest"], False),
        (["/venv/bin/pytest"], None, False),
        (["-c"], ["python3", "-c", "import keras_ls"], False),
        ([], None, False),
    ],
)
def test_started_as_command(argv, orig_argv, expected):
    import keras_ls

    assert keras_ls._started_as_command(argv, orig_argv or []) is expected


def test_lazy_public_names():
    import keras_ls

    for name in keras_ls.__all__:
        assert getattr(keras_ls, name) is not None, name
        assert name in dir(keras_ls)
    assert keras_ls.experiment.report.write is not None
    assert keras_ls.metrics.ExpectedCalibrationError.__module__ == (
        "keras_ls.metrics"
    )
    assert keras_ls.LabelSmoothingCrossentropy is (
        keras_ls.losses.LabelSmoothingCrossentropy
    )
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        keras_ls.nope  # noqa: B018


ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
BLOCKER = '''\
import importlib.abc, os, sys

BLOCKED = set(os.environ["KERAS_LS_TEST_BLOCK"].split(","))


class Blocker(importlib.abc.MetaPathFinder):
    """Makes these packages look not installed, as a fresh venv would."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Blocker())
'''


def run_blocked(tmp_path, blocked, *argv, env=None, python_m=True):
    """Runs the command line in a new process with an empty HOME, no
    KERAS_BACKEND and the `blocked` packages made unimportable."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KERAS_BACKEND", "KERAS_HOME", "PYTHONPATH")
    }
    base.update(
        HOME=str(home),
        PYTHONPATH=str(site),
        KERAS_LS_TEST_BLOCK=",".join(blocked),
        **(env or {}),
    )
    command = (
        [sys.executable, "-m", "keras_ls"]
        if python_m
        else [os.path.join(os.path.dirname(sys.executable), "keras-ls")]
    )
    return subprocess.run(
        command + list(argv),
        capture_output=True,
        text=True,
        env=base,
        cwd=ROOT,
        timeout=300,
    )


def first_installed(*names):
    import importlib.util

    return next((n for n in names if importlib.util.find_spec(n)), None)


requires_jax_or_torch = pytest.mark.skipif(
    first_installed("jax", "torch") is None, reason="needs jax or torch"
)


def test_version_without_importing_keras(tmp_path):
    import keras_ls

    proc = run_blocked(tmp_path, ["keras", "tensorflow"], "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        f"keras-ls {keras_ls.__version__}, Keras {keras.__version__}\n"
    )
    script = os.path.join(os.path.dirname(sys.executable), "keras-ls")
    if os.path.exists(script):  # the console script, as installed
        proc = run_blocked(tmp_path, ["keras"], "--version", python_m=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"keras-ls {keras_ls.__version__}")


def test_version_names_the_distribution_that_provides_keras(monkeypatch):
    # keras-nightly installs the `keras` module as the distribution
    # `keras-nightly`: importlib.metadata.version("keras") fails there.
    from importlib import metadata

    import keras_ls

    monkeypatch.delitem(sys.modules, "keras")  # as in a fresh process
    versions = {"keras": "3.15.1", "keras-nightly": "3.16.0.dev2026102704"}
    monkeypatch.setattr(metadata, "version", versions.__getitem__)
    for providers, keras_version in [
        (["keras-nightly"], ", Keras 3.16.0.dev2026102704"),
        (["keras"], ", Keras 3.15.1"),
        (["keras-nightly", "keras"], ", Keras 3.15.1 or 3.16.0.dev2026102704"),
        ([], ""),
    ]:
        monkeypatch.setattr(
            metadata, "packages_distributions", lambda: {"keras": providers}
        )
        assert (
            cli._version() == f"keras-ls {keras_ls.__version__}{keras_version}"
        )


def test_only_version_looks_the_versions_up(monkeypatch, capsys):
    looked_up = []
    version = cli._version
    monkeypatch.setattr(
        cli, "_version", lambda: looked_up.append(1) or version()
    )
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0 and looked_up == []
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0 and looked_up == [1]
    assert capsys.readouterr().out == f"{version()}\n"


@requires_jax_or_torch
def test_help_without_a_configured_backend_says_which_is_used(tmp_path):
    picked = first_installed("jax", "torch")
    # Keras blocked as well: --help must not import it.
    proc = run_blocked(tmp_path, ["keras", "tensorflow"], "compare", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    help_text = " ".join(proc.stdout.split())
    assert (
        f"here: {picked}, because KERAS_BACKEND is not set and Keras' "
        "default, tensorflow, is not installed"
    ) in help_text


@requires_jax_or_torch
def test_run_without_a_configured_backend_picks_one(tmp_path):
    picked = first_installed("jax", "torch")
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_blocked(
        tmp_path, ["tensorflow"], "compare", "--data-dir", str(empty)
    )
    assert proc.returncode == 2
    note, error = proc.stderr.strip().splitlines()[-2:]
    assert note == (
        f"keras-ls: using the {picked} backend: KERAS_BACKEND is not set "
        "and Keras' default, tensorflow, is not installed (choose one with "
        "--backend or KERAS_BACKEND)"
    )
    # Keras was imported with that backend and got as far as the data.
    assert error.startswith(
        f"keras-ls: error: Fashion-MNIST was not found in --data-dir {empty} "
    )
    assert "Traceback" not in proc.stderr


def test_no_backend_installed_one_line_and_status_2(tmp_path):
    proc = run_blocked(
        tmp_path, ["tensorflow", "jax", "torch"], "compare", "--epochs", "1"
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "keras-ls: error: no Keras backend is installed (jax, tensorflow or "
        "torch); install one, e.g. pip install jax (or tensorflow, torch), "
        "then choose it with --backend"
    ]


@requires_module("torch")
def test_backend_option_is_honoured_and_recorded(tmp_path):
    folder = tiny_folder(tmp_path / "fm", n_train=64, n_test=16)
    out_dir = tmp_path / "out"
    proc = run_blocked(
        tmp_path,
        [],
        "compare",
        "--backend",
        "torch",
        "--data-dir",
        folder,
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--batch-size",
        "32",
        "--label-smoothing",
        "0.1",
        "--out",
        str(out_dir),
        "--quiet",
        env={"KERAS_BACKEND": "jax"},
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out_dir / "results.json").read_text())
    assert results["config"]["backend"] == "torch"
    assert results["command"].startswith(
        "keras-ls compare --backend torch --data-dir "
    )
    assert (
        "keras-ls compare --backend torch"
        in (out_dir / "report.md").read_text()
    )


@pytest.mark.parametrize("imports", ["keras, keras_ls", "keras_ls, keras"])
def test_load_model_in_a_new_process_after_import_keras_ls(tmp_path, imports):
    from keras_ls import callbacks as ls_callbacks
    from keras_ls import losses as ls_losses
    from keras_ls import metrics as ls_metrics
    from keras_ls import schedules as ls_schedules

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6)).astype("float32")
    y = rng.integers(0, 4, 32).astype("int32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
    model.compile(
        optimizer="sgd",
        loss=ls_losses.LabelSmoothingCrossentropy(0.2),
        metrics=[ls_metrics.ExpectedCalibrationError(5)],
    )
    # The scheduler attaches its ε holder to the model's state.
    model.fit(
        x,
        y,
        epochs=2,
        batch_size=16,
        verbose=0,
        callbacks=[
            ls_callbacks.LabelSmoothingScheduler(ls_schedules.TwoStage(0.2, 1))
        ],
    )
    path = str(tmp_path / "m.keras")
    model.save(path)
    code = (
        f"import {imports}, sys\n"
        "m = keras.saving.load_model(sys.argv[1])\n"
        "print(type(m.loss).__module__, type(m.loss).__name__, "
        "round(float(m.loss.label_smoothing), 6))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    proc = subprocess.run(
        [sys.executable, "-c", code, path],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    # TwoStage(0.2, 1): ε = 0 from epoch 1 on, and that value was saved.
    assert proc.stdout.split() == [
        "keras_ls.losses.crossentropy",
        "LabelSmoothingCrossentropy",
        "0.0",
    ]
