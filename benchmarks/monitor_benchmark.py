"""Cost of ConfidenceMonitor's pass against one `model.evaluate`.

Run once per backend, e.g.

    KERAS_BACKEND=jax python benchmarks/monitor_benchmark.py

It builds an MLP (784-256-128-10) and a random 10 000 x 784 validation set,
then times, warm (after one untimed call each), the median of `--repeats`
runs (also the minimum, and the process CPU time) of:

- `model.evaluate` with the model's compiled loss and "accuracy";
- the monitor's pass (all ten statistics) on the same data and batch size;
- the monitor's pass with one `compare=` model (two models, one pass);
- `evaluate` of the model compiled with only Keras' "accuracy", only
  `ExpectedCalibrationError`, or all ten keras_ls metrics, to isolate the
  metric update cost.

Ratios are against `model.evaluate` in the same process; the issue's
target is a monitor pass of at most 1.2x.
"""

import argparse
import statistics
import time

import keras
import numpy as np

from keras_ls import metrics as ls_metrics
from keras_ls.callbacks.monitor import ConfidenceMonitor


def mlp(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


def all_metrics():
    return [
        ls_metrics.ExpectedCalibrationError(),
        ls_metrics.ExpectedCalibrationError(norm="max"),
        ls_metrics.NegativeLogLikelihood(),
        ls_metrics.BrierScore(),
        ls_metrics.PredictiveEntropy(),
        ls_metrics.MeanConfidence(),
        ls_metrics.ConfidenceGap(),
        ls_metrics.TopLabelAccuracy(),
        ls_metrics.MeanConfidence("correct"),
        ls_metrics.MeanConfidence("incorrect"),
    ]


def timed_round_robin(runs, repeats):
    """(label, min wall s, median wall s, median process CPU s) per run.

    The runs alternate so that load from other processes hits them all
    alike; the minimum wall time is the least disturbed by that load.
    """
    for _, fn in runs:
        fn()  # warm-up: traces and compiles
    wall = {label: [] for label, _ in runs}
    cpu = {label: [] for label, _ in runs}
    for _ in range(repeats):
        for label, fn in runs:
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[label].append(time.perf_counter() - start)
            cpu[label].append(time.process_time() - start_cpu)
    return [
        (
            label,
            min(wall[label]),
            statistics.median(wall[label]),
            statistics.median(cpu[label]),
        )
        for label, _ in runs
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.examples, 784)).astype("float32")
    y = rng.integers(0, 10, size=args.examples).astype("int32")
    jit = keras.backend.backend() in ("tensorflow", "jax")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def compiled(metrics):
        model = mlp(0)
        model.compile(loss=loss, metrics=metrics, jit_compile=jit)
        return model

    bs, reps = args.batch_size, args.repeats
    model = compiled(["accuracy"])
    monitor = ConfidenceMonitor((x, y), batch_size=bs)
    paired = ConfidenceMonitor(
        (x, y), batch_size=bs, compare={"baseline": mlp(1)}
    )
    runs = [
        (
            "model.evaluate (loss + accuracy)",
            lambda: model.evaluate(x, y, batch_size=bs, verbose=0),
        ),
        ("ConfidenceMonitor pass, 1 model", lambda: monitor.evaluate(model)),
        (
            "ConfidenceMonitor pass, model + 1 compare",
            lambda: paired.evaluate(model),
        ),
    ]
    for label, metrics in (
        (
            "evaluate, metrics=[accuracy] (same as row 1: noise check)",
            ["accuracy"],
        ),
        (
            "evaluate, metrics=[ExpectedCalibrationError()]",
            [ls_metrics.ExpectedCalibrationError()],
        ),
        ("evaluate, all 10 keras_ls metrics", all_metrics()),
    ):
        other = compiled(metrics)
        runs.append(
            (label, lambda m=other: m.evaluate(x, y, batch_size=bs, verbose=0))
        )
    rows = timed_round_robin(runs, reps)
    base_min, base_median, base_cpu = rows[0][1:]

    print(
        f"backend={keras.backend.backend()} jit_compile={jit} "
        f"examples={args.examples} batch_size={bs} repeats={reps} "
        f"keras={keras.__version__}"
    )
    print(
        "| run | min wall s | ratio | median wall s | ratio "
        "| median CPU s | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, low, median, cpu in rows:
        print(
            f"| {label} | {low:.3f} | {low / base_min:.2f}x "
            f"| {median:.3f} | {median / base_median:.2f}x "
            f"| {cpu:.3f} | {cpu / base_cpu:.2f}x |"
        )


if __name__ == "__main__":
    main()
