import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_ls import cli
from keras_ls import data
from tests.test_data import write_folder


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


@pytest.mark.parametrize("argv, match", [
    (["compare", "--model", "resnet"], "--model: invalid choice: 'resnet'"),
    (["compare", "--epochs", "-1"], "--epochs: expected an integer >= 1"),
    (["compare", "--epochs", "0"], "--epochs: expected an integer >= 1"),
    (["compare", "--seeds", "two"], "--seeds: expected an integer"),
    (["compare", "--label-smoothing", "1.5"], "--label-smoothing"),
    (["compare", "--label-noise", "-0.1"], "--label-noise"),
    (["compare", "--schedule", "zigzag:0.1"], "--schedule.*two-stage"),
    (["compare", "--schedule", "cosine:0.2"], "--schedule.*cosine:INITIAL"),
    (["compare", "--dataset", "cifar10"], "--dataset: invalid choice"),
    (["compare", "--label-smoothing", "none"], "nothing to compare"),
    (["compare", "--bogus"], "unrecognized arguments: --bogus"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_options_give_one_line_and_status_2(capsys, argv, match):
    import re

    status, out, err = run_main(capsys, *argv)
    assert status == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("keras-ls: error: ")
    assert re.search(match, lines[0]), lines[0]
    assert "Traceback" not in err


def test_unreadable_data_dir(capsys, tmp_path):
    status, _, err = run_main(capsys, "compare", "--data-dir",
                              str(tmp_path / "nowhere"))
    assert status == 2
    assert err.strip() == (f"keras-ls: error: --data-dir "
                           f"'{tmp_path / 'nowhere'}' is not a folder")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as a user that can read any folder")
        status, _, err = run_main(capsys, "compare", "--data-dir",
                                  str(locked))
        assert status == 2 and "is not readable" in err
    finally:
        os.chmod(locked, 0o755)


def test_empty_data_dir_and_corrupt_file(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, err = run_main(capsys, "compare", "--data-dir", str(empty))
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "Fashion-MNIST was not found" in err and "missing" in err
    folder = tiny_folder(tmp_path / "corrupt")
    path = os.path.join(folder, "t10k-labels-idx1-ubyte.gz")
    with open(path, "wb") as f:
        f.write(b"not gzip at all")
    status, _, err = run_main(capsys, "compare", "--data-dir", folder)
    assert status == 2 and "t10k-labels-idx1-ubyte.gz" in err
    assert len(err.strip().splitlines()) == 1


def test_no_data_anywhere(capsys, no_data):
    status, out, err = run_main(capsys, "compare", "--epochs", "1")
    assert status == 2
    line, = err.strip().splitlines()
    assert "apt-get install dataset-fashion-mnist" in line
    assert "Keras cache" in line and "tfds" in line


def test_compare_writes_results_report_and_plots(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    folder = tiny_folder(tmp_path / "fm")
    out_dir = tmp_path / "out"
    status, out, err = run_main(
        capsys, "compare", "--data-dir", folder, "--epochs", "2",
        "--seeds", "1", "--batch-size", "32", "--schedule", "two-stage:0.1:1",
        "--label-noise", "0.1", "--out", str(out_dir), "--quiet")
    assert status == 0, err
    files = sorted(os.listdir(out_dir))
    assert files == sorted([
        "results.json", "report.md", "reliability.png",
        "confidence_histogram.png", "example.png", "val_curves.png"])
    for name in files:
        if name.endswith(".png"):
            with open(out_dir / name, "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out_dir / "results.json").read_text())
    assert results["config"]["epochs"] == 2
    assert results["config"]["label_noise"] == 0.1
    assert results["config"]["backend"] == keras.backend.backend()
    assert results["seeds"] == [0]
    assert set(results["metrics"]) == {"baseline", "smoothed", "scheduled"}
    assert len(results["metrics"]["smoothed"]["accuracy"]) == 1
    # One seed: no interval, written as null rather than NaN.
    assert results["differences"]["smoothed"]["nll"]["half_width"] is None
    hist = results["histories"]["scheduled"][0]
    assert hist["label_smoothing"] == pytest.approx([0.1, 0.0])
    report = (out_dir / "report.md").read_text()
    assert "keras-ls compare --data-dir" in report
    assert "| smoothed | accuracy |" in report
    # The table ends the terminal output (rich).
    assert "95% CI" in out and "confidence" in out


def test_python_dash_m_entry_point(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    proc = subprocess.run(
        [sys.executable, "-m", "keras_ls", "compare", "--epochs", "-2"],
        capture_output=True, text=True, env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "keras-ls: error: argument --epochs: expected an integer >= 1, "
        "got '-2'")
    assert "Traceback" not in proc.stderr
