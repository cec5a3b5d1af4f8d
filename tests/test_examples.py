"""Every example script runs with --small, and the Colab notebook's code
cells run top to bottom with a tiny subset and one epoch."""

import os
import subprocess
import sys

import keras
import pytest

from keras_ls import data
from tests.testing import requires_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
HAS_DATA = os.path.isdir(data.SYSTEM_DIR) or bool(os.environ.get(data.ENV_VAR))
needs_data = pytest.mark.skipif(
    not HAS_DATA,
    reason="Fashion-MNIST not installed "
    "(apt-get install dataset-fashion-mnist)",
)


def run_script(name, *args, cwd):
    env = {
        **os.environ,
        "KERAS_BACKEND": keras.backend.backend(),
        "PYTHONPATH": ROOT,
        "MPLBACKEND": "Agg",
    }
    proc = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, name), "--small", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


@needs_data
def test_fashion_mnist_compare(tmp_path):
    out = run_script("fashion_mnist_compare.py", cwd=tmp_path)
    assert "paired Δ" in out and "accuracy:" in out
    assert "confidence" in out and "test example" in out


@needs_data
def test_epsilon_schedules(tmp_path):
    out = run_script(
        "epsilon_schedules.py", "--out", str(tmp_path / "eps.png"), cwd=tmp_path
    )
    # --small: 4 epochs; two-stage switches at int(0.6 * 4) = 2.
    assert "two-stage: 0.1 for 2 epochs, then 0 [0.1, 0.1, 0.0, 0.0]" in out
    assert "cosine: 0.2 -> 0 [0.2, 0.171, 0.1, 0.029]" in out
    if "no plot" not in out:
        assert (tmp_path / "eps.png").stat().st_size > 0


@needs_data
def test_confidence_monitor(tmp_path):
    out = run_script("confidence_monitor.py", cwd=tmp_path)
    for key in ("val_ece", "baseline_val_ece", "delta_val_confidence"):
        assert key in out
    assert "stopped after" in out


def test_sequence_labels(tmp_path):
    out = run_script("sequence_labels.py", cwd=tmp_path)
    assert "loss of an all-padding batch: 0.0" in out
    assert "next-token accuracy" in out


@needs_data
@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="the notebook runs once, on its default backend "
    "(jax); the scripts cover the other backends",
)
@requires_module("nbformat")
@requires_module("nbclient")
def test_colab_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    import nbclient
    import nbformat

    monkeypatch.setenv("KERAS_LS_EPOCHS", "1")
    monkeypatch.setenv("KERAS_LS_SEEDS", "1")
    monkeypatch.setenv("KERAS_LS_SMALL", "1")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", ROOT)
    nb = nbformat.read(
        os.path.join(EXAMPLES, "colab_fashion_mnist.ipynb"), as_version=4
    )
    first = nb.cells[[c.cell_type for c in nb.cells].index("code")]
    assert "KERAS_BACKEND" in first.source
    client = nbclient.NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    assert "backend jax" in outputs and "devices:" in outputs
    assert "accuracy:" in outputs and "Δ" in outputs
