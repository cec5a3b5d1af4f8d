"""Cost of LabelSmoothingScheduler inside `model.fit`, on the active backend.

Times `fit` of an MLP (784-256-128-10, Adam, jit_compile=True where the
backend supports it) on random float32 inputs (60 000 x 784 by default;
pass a smaller `--samples` on PyTorch, whose eager CPU steps are slow) for
3 epochs, side by side in one process: no callback, `update="epoch"` and
`update="batch"` with a schedule that changes ε at every step (the worst
case), each with a built-in schedule (computed inside the compiled step)
and, with `--callable`, with a plain Python f(t) (a table read in the step).
Each variant has its own model, compiled and warmed up first with the very
schedule it is timed with (so tracing and compilation are excluded); the
timed fits then alternate in a rotating order so that load from other
processes hits all variants alike. Reports the minimum and median wall time
and the minimum process CPU time (all threads of this process: steadier on
a shared machine than wall time), each as an overhead against no callback,
and the share of fit time spent inside the scheduler's own hooks.

Targets (issue 10): `update="batch"` adds <= 2% to fit time, `"epoch"`
<= 1%, judged by the minimum of >= 5 interleaved repeats and by CPU time.

Usage:
    KERAS_BACKEND=jax python benchmarks/scheduler_benchmark.py --repeats 5
    KERAS_BACKEND=torch python benchmarks/scheduler_benchmark.py \
        --repeats 5 --samples 12800
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
CALLABLE_VARIANTS = ("epoch_f", "batch_f")


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

    def set_params(self, params):  # fills the table of a Python f(t)
        self._timed(super().set_params, params)

    def on_train_begin(self, logs=None):
        self._timed(super().on_train_begin, logs)

    def on_train_end(self, logs=None):
        self._timed(super().on_train_end, logs)

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


def _linear(total):
    def f(t):  # a plain Python schedule: tabulated when fit starts
        return 0.2 - 0.2 * min(t, total) / total

    return f


def callbacks_for(variant, epochs, steps):
    """The variant's callbacks; the same schedule for warm-up and timing,
    since a different schedule is different step code (one more trace)."""
    if variant == "none":
        return []
    if variant == "epoch":
        return [TimedScheduler(LinearDecay(0.2, 0.0, epochs))]
    if variant == "batch":
        return [
            TimedScheduler(
                LinearDecay(0.2, 0.0, epochs * steps), update="batch"
            )
        ]
    if variant == "epoch_f":
        return [TimedScheduler(_linear(epochs))]
    return [TimedScheduler(_linear(epochs * steps), update="batch")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument(
        "--callable",
        action="store_true",
        help="also time a plain Python schedule (the table path)",
    )
    args = parser.parse_args()

    backend = keras.backend.backend()
    # torch.compile on CPU would dominate and is not what is measured here.
    jit_compile = backend != "torch"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.samples, 784)).astype("float32")
    y = rng.integers(0, 10, size=args.samples).astype("int32")
    steps = -(-args.samples // args.batch_size)

    variants = VARIANTS + (CALLABLE_VARIANTS if args.callable else ())
    models = {v: build(jit_compile) for v in variants}
    for variant, model in models.items():  # trace/compile, not timed
        model.fit(
            x,
            y,
            batch_size=args.batch_size,
            epochs=1,
            verbose=0,
            callbacks=callbacks_for(variant, args.epochs, steps),
        )

    times = {v: [] for v in variants}
    cpu = {v: [] for v in variants}
    hooks = {v: [] for v in variants}
    for r in range(args.repeats):
        shift = r % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            TimedScheduler.spent = 0.0
            start, start_cpu = time.perf_counter(), time.process_time()
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
            cpu[variant].append(time.process_time() - start_cpu)
            hooks[variant].append(TimedScheduler.spent)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"load average {load:.1f} at the end (other processes share the "
        "CPUs; ratios within one run are comparable)"
    )
    print(
        f"backend={backend} keras={keras.__version__} "
        f"jit_compile={jit_compile} samples={args.samples} "
        f"batch_size={args.batch_size} steps/epoch={steps} "
        f"epochs={args.epochs} repeats={args.repeats} cpus={os.cpu_count()}"
    )
    base_min, base_med = min(times["none"]), statistics.median(times["none"])
    base_cpu = min(cpu["none"])
    print(
        f"{'variant':<8} {'min s':>7} {'median s':>9} {'cpu min s':>10} "
        f"{'+wall(min)':>11} {'+wall(med)':>11} {'+cpu(min)':>10} "
        f"{'in hooks':>9}"
    )
    for variant in variants:
        t, c = times[variant], cpu[variant]
        med = statistics.median(t)
        print(
            f"{variant:<8} {min(t):7.2f} {med:9.2f} {min(c):10.2f} "
            f"{(min(t) / base_min - 1) * 100:+10.1f}% "
            f"{(med / base_med - 1) * 100:+10.1f}% "
            f"{(min(c) / base_cpu - 1) * 100:+9.1f}% "
            f"{statistics.median(hooks[variant]) / med * 100:8.2f}%"
        )
    if backend == "torch":
        eager_step_work(models["batch"], steps * args.epochs, base_cpu)


def eager_step_work(model, steps, none_cpu, repeats=2000):
    """PyTorch runs the scheduler's per-step work (ε of the step, counter
    increment) in Python at every eager step: its process CPU time per
    step, alone, against the CPU time per step of the fit without a
    callback (steadier under load than the fit-time difference)."""
    from keras_ls._tracking import state
    from keras_ls._tracking import steps as step_contexts

    holder = state.find_holder(model)
    drivers = list(holder.drivers.values())

    def one_step():
        with step_contexts._Open(step_contexts.Step(model, True, True)):
            for driver in drivers:
                holder.scheduled(driver, step_contexts.current())

    for _ in range(100):
        one_step()
    start = time.process_time()
    for _ in range(repeats):
        one_step()
    per_step = (time.process_time() - start) / repeats
    print(
        f"eager per-step scheduler work: {per_step * 1e6:.1f} us CPU, "
        f"{per_step / (none_cpu / steps) * 100:.2f}% of a no-callback "
        f"step's {none_cpu / steps * 1e3:.2f} ms CPU"
    )


if __name__ == "__main__":
    main()
