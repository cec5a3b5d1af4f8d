"""Assertions shared by the TensorFlow and JAX distribution tests.

Each takes the JSON printed by `tests/distributed/distributed_worker.py` and
compares
the one-device and the 2-device runs with numpy and with each other, within
1e-5.
"""

import json
import os
import subprocess
import sys

import numpy as np

from tests import oracle

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
TOL = 1e-5
BATCH = 8


def run_worker(backend, extra_env=None):
    """Runs the worker in a fresh process and returns its JSON."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    env.update(extra_env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "tests.distributed.distributed_worker", backend],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [s for s in proc.stdout.splitlines() if s.startswith("JSON:")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len("JSON:") :])
    assert result["backend"] == backend
    return result


def run_example(backend):
    """Runs examples/distributed_example.py --small; checks what it prints."""
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=ROOT,
    )
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "examples", "distributed_example.py"),
            "--small",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"backend={backend} replicas=2" in proc.stdout
    # TwoStage(0.1, switch=2) over 3 epochs.
    assert "label_smoothing [0.1, 0.1, 0.0]" in proc.stdout
    assert "val_ece [" in proc.stdout


def section(runs, name):
    result = runs[name]
    assert "error" not in result, result.get("error")
    return result

    result = runs[name]
    assert "error" not in result, result.get("error")
    return result


def close(actual, expected, tol=TOL):
    np.testing.assert_allclose(
        np.asarray(actual, np.float64),
        np.asarray(expected, np.float64),
        rtol=tol,
        atol=tol,
    )


def sgd_reference(x, y, kernel, bias, eps, lr, epochs):
    """Mini-batch SGD on the mean smoothed loss, by hand."""
    w, b = np.array(kernel, np.float64), np.array(bias, np.float64)
    k = w.shape[1]
    for _ in range(epochs):
        for start in range(0, len(x), BATCH):
            xb, yb = x[start : start + BATCH], y[start : start + BATCH]
            z = xb @ w + b
            grad_z = (
                oracle.softmax(z) - oracle.smoothed_targets(yb, k, eps)
            ) / len(xb)
            w -= lr * xb.T @ grad_z
            b -= lr * grad_z.sum(0)
    return w, b


def check_loss(runs):
    result = section(runs, "loss")
    x, y = np.array(result["x"], np.float64), np.array(result["y"])
    expected = oracle.smoothed_loss(y, x, 0.2)
    single, parallel = result["single"], result["parallel"]
    assert (single["replicas"], parallel["replicas"]) == (1, 2)
    assert parallel["kernel_devices"] == 2  # the weights are replicated
    for run in (single, parallel):
        close(run["fit_loss"], expected.mean())
        close(run["evaluate_loss"], expected.mean())
        if "custom_loop_values" in run:  # TensorFlow only
            close(run["custom_loop_values"], expected)
            close(
                run["custom_loop_batch_means"],
                expected.reshape(-1, BATCH).mean(1),
            )
    kernel, bias = result["initial_kernel"]
    w, b = sgd_reference(x, y, kernel, bias, 0.2, lr=0.5, epochs=2)
    assert np.abs(w - np.array(kernel)).max() > 0.01  # it did train
    close(parallel["trained_kernel"], w)
    close(parallel["trained_bias"], b)
    close(parallel["trained_kernel"], single["trained_kernel"])
    close(parallel["trained_bias"], single["trained_bias"])


def check_scheduler(runs):
    result = section(runs, "scheduler")
    x, y = np.array(result["x"], np.float64), np.array(result["y"])

    def loss_at(eps, rows=slice(None)):
        return oracle.smoothed_loss(y[rows], x[rows], eps).mean()

    epoch_eps = [0.3, 0.2, 0.1, 0.0]
    steps = len(x) // BATCH
    for name in ("single", "parallel"):
        by_epoch = result[name]["epoch"]
        close(by_epoch["label_smoothing"], epoch_eps)
        close(by_epoch["loss"], [loss_at(e) for e in epoch_eps])
        replicas = 2 if name == "parallel" else 1
        # ε lives on every device (a MirroredVariable on TensorFlow, a
        # replicated array on JAX), and each copy holds the scheduled value.
        assert by_epoch["variable_devices"] == replicas
        close(
            by_epoch["per_replica_at_epoch_end"],
            [[e] * replicas for e in epoch_eps],
        )
        close(by_epoch["read_in_replicas"], [0.0] * replicas)

        by_batch = result[name]["batch"]
        step_eps = [0.3 - 0.05 * t for t in range(2 * steps)]
        step_loss = [
            loss_at(
                max(e, 0.0), slice((t % steps) * BATCH, (t % steps + 1) * BATCH)
            )
            for t, e in enumerate(step_eps)
        ]
        close(
            by_batch["loss"],
            [np.mean(step_loss[:steps]), np.mean(step_loss[steps:])],
        )
        close(by_batch["label_smoothing"], [step_eps[steps - 1], 0.0])
        close(
            by_batch["per_replica_at_epoch_end"],
            [[step_eps[steps - 1]] * replicas, [0.0] * replicas],
        )


def check_metrics(runs):
    result = section(runs, "metrics")
    x, y = np.array(result["x"], np.float64), np.array(result["y"])
    expected = oracle.calibration(y, x, num_bins=5)
    wrong = oracle.mean_of_shard_ece(y, x, 5, BATCH, shards=2)
    # The data make per-replica averaging visibly wrong.
    assert abs(wrong - expected["ece"]) > 0.02
    for name in ("single", "parallel"):
        got = result[name]
        close(got["ece"], expected["ece"])
        close(got["mce"], expected["mce"])
        close(got["nll"], expected["nll"])
        close(got["confidence"], expected["confidence"])
        close(got["gap"], expected["confidence_gap"])
        close(got["brier"], expected["brier"])
        close(got["loss"], oracle.smoothed_loss(y, x, 0.1).mean())


def check_monitor(runs):
    result = section(runs, "monitor")
    xv = np.array(result["x_val"], np.float64)
    yv = np.array(result["y_val"])
    kernel, bias = (np.array(w, np.float64) for w in result["baseline_weights"])
    ours = oracle.calibration(yv, xv, num_bins=5)
    base = oracle.calibration(yv, xv @ kernel + bias, num_bins=5)
    single, parallel = result["single"], result["parallel"]
    for key in (
        "ece",
        "mce",
        "nll",
        "confidence",
        "confidence_gap",
        "top1_accuracy",
        "brier",
        "entropy",
    ):
        for run in (single, parallel):
            close(run[f"val_{key}"], [ours[key]] * 2)
            close(run[f"baseline_val_{key}"], [base[key]] * 2)
            close(run[f"delta_val_{key}"], [ours[key] - base[key]] * 2)
    parallel = {k: v for k, v in parallel.items() if k != "default_jit_error"}
    assert set(parallel) == set(single)
    for key in single:
        close(parallel[key], single[key])


def check_monitor_default_jit_compile(runs):
    """ConfidenceMonitor() with no jit_compile under the strategy."""
    result = section(runs, "monitor")
    assert result["parallel"]["default_jit_error"] is None
