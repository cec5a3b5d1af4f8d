"""Cost of LabelSmoothingScheduler inside `model.fit`, on the active backend.

Times `fit` of an MLP (784-256-128-10, Adam, jit_compile=True where the
backend supports it) on 60 000 x 784 random float32 inputs for 3 epochs,
three ways side by side in one process: no callback, `update="epoch"` and
`update="batch"` (a schedule that changes ε at every step, the worst case).
Each variant has its own model, compiled and warmed up first (so tracing
and compilation are excluded); the timed fits then alternate in a rotating
order so that load from other processes hits all variants alike. Reports
medians, the overhead ratio against no callback (of medians and of minima),
and the share of fit time spent inside the scheduler's own hooks, which is
the part of the overhead that load from other processes cannot blur.

Targets: per-batch scheduling adds <= 3% to fit time, per-epoch <= 1%.

Usage:
    KERAS_BACKEND=jax python benchmarks/scheduler_benchmark.py
    KERAS_BACKEND=tensorflow python benchmarks/scheduler_benchmark.py \
        --batch-size 128 --repeats 5
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_ls.callbacks.scheduler import LabelSmoothingScheduler  # noqa: E402
from keras_ls.losses import LabelSmoothingCrossentropy  # noqa: E402
from keras_ls.schedules import LinearDecay  # noqa: E402

VARIANTS = ("none", "epoch", "batch")


class TimedScheduler(LabelSmoothingScheduler):
    """Adds up the wall time spent in the scheduler's own hooks: the part
    of the overhead that other processes on a shared machine cannot blur.
    (On JAX the fit loop's re-read of the synced state after each changed
    ε is outside the hooks; the side-by-side fit times include it.)"""

    spent = 0.0

    def _timed(self, hook, *args):
        start = time.perf_counter()
        hook(*args)
        TimedScheduler.spent += time.perf_counter() - start

    def on_epoch_begin(self, epoch, logs=None):
        self._timed(super().on_epoch_begin, epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._timed(super().on_train_batch_begin, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._timed(super().on_epoch_end, epoch, logs)


def build(jit_compile):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=LabelSmoothingCrossentropy(0.2),
        jit_compile=jit_compile,
    )
    return model


def callbacks_for(variant, epochs, steps):
    if variant == "none":
        return []
    if variant == "epoch":
        return [TimedScheduler(LinearDecay(0.2, 0.0, epochs))]
    return [
        TimedScheduler(LinearDecay(0.2, 0.0, epochs * steps), update="batch")
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=60_000)
    args = parser.parse_args()

    backend = keras.backend.backend()
    # torch.compile on CPU would dominate and is not what is measured here.
    jit_compile = backend != "torch"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.samples, 784)).astype("float32")
    y = rng.integers(0, 10, size=args.samples).astype("int32")
    steps = -(-args.samples // args.batch_size)

    models = {v: build(jit_compile) for v in VARIANTS}
    for variant, model in models.items():  # trace/compile, not timed
        model.fit(
            x[: args.batch_size * 4],
            y[: args.batch_size * 4],
            batch_size=args.batch_size,
            epochs=1,
            verbose=0,
            callbacks=callbacks_for(variant, 1, 4),
        )
        # The partial last batch is another input signature: trace it too.
        rest = args.samples % args.batch_size
        if rest:
            model.fit(
                x[:rest],
                y[:rest],
                batch_size=args.batch_size,
                epochs=1,
                verbose=0,
                callbacks=callbacks_for(variant, 1, 1),
            )

    times = {v: [] for v in VARIANTS}
    hooks = {v: [] for v in VARIANTS}
    for r in range(args.repeats):
        order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]
        for variant in order:
            TimedScheduler.spent = 0.0
            start = time.perf_counter()
            models[variant].fit(
                x,
                y,
                batch_size=args.batch_size,
                epochs=args.epochs,
                verbose=0,
                shuffle=True,
                callbacks=callbacks_for(variant, args.epochs, steps),
            )
            times[variant].append(time.perf_counter() - start)
            hooks[variant].append(TimedScheduler.spent)

    base = statistics.median(times["none"])
    base_min = min(times["none"])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"load average {load:.1f} at the end (other processes share the "
        "CPUs; ratios within one run are comparable)"
    )
    print(
        f"backend={backend} keras={keras.__version__} "
        f"jit_compile={jit_compile} batch_size={args.batch_size} "
        f"steps/epoch={steps} epochs={args.epochs} "
        f"repeats={args.repeats} cpus={os.cpu_count()}"
    )
    # The min is the least disturbed by other processes; both are shown.
    print(
        f"{'variant':<8} {'median s':>9} {'min s':>8} {'max s':>8} "
        f"{'overhead (median)':>18} {'overhead (min)':>15} "
        f"{'in hooks':>9}"
    )
    for variant in VARIANTS:
        t = times[variant]
        med = statistics.median(t)
        print(
            f"{variant:<8} {med:9.2f} {min(t):8.2f} {max(t):8.2f} "
            f"{(med / base - 1) * 100:+17.1f}% "
            f"{(min(t) / base_min - 1) * 100:+14.1f}% "
            f"{statistics.median(hooks[variant]) / med * 100:8.2f}%"
        )


if __name__ == "__main__":
    main()
