"""examples/causal_lm_smoothing.py runs with --small, and its fused and
dense losses of the same weights agree."""

import os
import re
import subprocess
import sys

import keras

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_causal_lm_example_runs_and_fused_equals_dense(tmp_path):
    env = {
        **os.environ,
        "KERAS_BACKEND": keras.backend.backend(),
        "PYTHONPATH": os.path.abspath(ROOT),
    }
    script = os.path.join(ROOT, "examples", "causal_lm_smoothing.py")
    proc = subprocess.run(
        [sys.executable, script, "--small"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    fused, dense = re.search(
        r"fused ([0-9.]+) dense ([0-9.]+)", proc.stdout
    ).groups()
    assert abs(float(fused) - float(dense)) <= 1e-4 * float(dense)
    assert "generated:" in proc.stdout
