"""Value and gradient of label-smoothing losses w.r.t. the logits.

Compares, side by side in one run on the active Keras backend:
  ours  keras_ls.LabelSmoothingCrossentropy(ε) on integer labels
  (a)   keras.losses.CategoricalCrossentropy(from_logits=True,
        label_smoothing=ε) on one-hot targets
  (b)   keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        no smoothing
  (c)   torch.nn.functional.cross_entropy(label_smoothing=ε) (torch only)
  and the smoothing family on integer labels: MaxSuppression(ε),
  MarginLabelSmoothing() (m=10, λ=0.1), ConfidencePenalty(β=ε) and
  OnlineLabelSmoothing() (α=0.5; S read as it is, no update outside fit)

JAX: jitted value_and_grad, plus XLA's temporary memory for each.
TensorFlow: GradientTape inside tf.function, with and without XLA.
PyTorch: eager autograd (Keras' default on torch).
On a GPU (JAX), also the time of reading and writing the logits once, the
memory-bandwidth floor, and each loss's ratio to it.

With --fit: `model.fit` of the scheduler benchmark's MLP (784-256-128-10,
Adam, K = 10, no jit) with ours, (a) and (b), one epoch per repeat, the
variants interleaved in rotating order; reports the minimum wall and
process CPU time of each and its ratio to (b). On eager PyTorch this is
where a per-step Python overhead in the loss shows.

Usage:
    KERAS_BACKEND=jax python benchmarks/loss_benchmark.py [--quick]
    KERAS_BACKEND=torch python benchmarks/loss_benchmark.py --fit \
        [--fit-samples 6400] [--repeats 7]
"""

import argparse
import statistics
import time

import keras
import numpy as np
from keras import ops

import keras_ls

EPS = 0.1
SHAPES = [(4096, 1000), (1024, 32768), (256, 131072)]


def _sync(x):
    backend = keras.backend.backend()
    if backend == "jax":
        x.block_until_ready()
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    else:
        x.numpy()


def median_ms(fn, args, repeats, warmup=2):
    for _ in range(warmup):
        _sync(fn(*args)[1])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _sync(fn(*args)[1])
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def loss_fns():
    ours = keras_ls.LabelSmoothingCrossentropy(EPS)
    cce = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=EPS
    )
    scce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    fns = {
        "ours": lambda z, labels, onehot: ours(labels, z),
        "(a) keras one-hot+ls": lambda z, labels, onehot: cce(onehot, z),
        "(b) keras sparse": lambda z, labels, onehot: scce(labels, z),
    }
    fns.update(family_loss_fns())
    if keras.backend.backend() == "torch":
        import torch.nn.functional as F

        fns["(c) torch F.cross_entropy"] = lambda z, labels, onehot: (
            F.cross_entropy(z.float(), labels.long(), label_smoothing=EPS)
        )
    return fns


def family_loss_fns():
    """The smoothing family (issue 11), each on integer labels."""
    family = {
        "MaxSuppression": keras_ls.MaxSuppression(label_smoothing=EPS),
        "MarginLabelSmoothing": keras_ls.MarginLabelSmoothing(),
        "ConfidencePenalty": keras_ls.ConfidencePenalty(beta=EPS),
    }
    fns = {
        name: lambda z, labels, onehot, loss=loss: loss(labels, z)
        for name, loss in family.items()
    }
    online = {}  # K -> loss: S is K×K, made before the first trace.

    def online_fn(z, labels, onehot):
        return online[z.shape[-1]](labels, z)

    def with_k(fn):
        def call(z, labels, onehot):
            k = int(z.shape[-1])
            if k not in online:
                online[k] = keras_ls.OnlineLabelSmoothing(num_classes=k)
            return fn(z, labels, onehot)

        return call

    fns["OnlineLabelSmoothing"] = with_k(online_fn)
    return fns


def make_value_and_grad(loss_fn, variant):
    """Returns (fn(z, labels, onehot) -> (value, grad), temp_bytes or None)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        fn = jax.jit(jax.value_and_grad(loss_fn))
        return fn, None
    if backend == "tensorflow":
        import tensorflow as tf

        def step(z, labels, onehot):
            with tf.GradientTape() as tape:
                tape.watch(z)
                value = loss_fn(z, labels, onehot)
            return value, tape.gradient(value, z)

        return tf.function(step, jit_compile=(variant == "xla")), None
    import torch

    def step(z, labels, onehot):
        z = z.detach().requires_grad_(True)
        value = loss_fn(z, labels, onehot)
        (grad,) = torch.autograd.grad(value, z)
        return value, grad

    return step, None


def jax_temp_bytes(fn, args):
    compiled = fn.lower(*args).compile()
    analysis = compiled.memory_analysis()
    return getattr(analysis, "temp_size_in_bytes", None)


def bandwidth_floor_ms(z, repeats):
    """Time to read and write the logits once (JAX): an elementwise negate."""
    import jax

    neg = jax.jit(lambda t: (None, -t))
    return median_ms(lambda t: neg(t), (z,), repeats)


def fit_benchmark(samples, repeats, batch_size=128):
    """Min wall and CPU seconds of one epoch of `fit`, ours vs Keras."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 784)).astype("float32")
    y = rng.integers(0, 10, size=samples).astype("int32")
    onehot = np.eye(10, dtype="float32")[y]
    losses = {
        "ours": (keras_ls.LabelSmoothingCrossentropy(EPS), y),
        "(a) keras one-hot+ls": (
            keras.losses.CategoricalCrossentropy(
                from_logits=True, label_smoothing=EPS
            ),
            onehot,
        ),
        "(b) keras sparse": (
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            y,
        ),
    }
    models = {}
    for name, (loss, targets) in losses.items():
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((784,)),
                keras.layers.Dense(256, activation="relu"),
                keras.layers.Dense(128, activation="relu"),
                keras.layers.Dense(10),
            ]
        )
        model.compile(optimizer="adam", loss=loss, jit_compile=False)
        # Warm-up: the first fit builds, traces and checks once.
        model.fit(x[:512], targets[:512], batch_size=batch_size, verbose=0)
        models[name] = (model, targets)
    names = list(models)
    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for r in range(repeats):
        for i in range(len(names)):
            name = names[(i + r) % len(names)]
            model, targets = models[name]
            start, start_cpu = time.perf_counter(), time.process_time()
            model.fit(x, targets, batch_size=batch_size, verbose=0)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    steps = -(-samples // batch_size)
    base = "(b) keras sparse"
    print(
        f"fit: {samples} samples, batch {batch_size} ({steps} steps), "
        f"{repeats} interleaved repeats, min of each"
    )
    for name in names:
        w, c = min(wall[name]), min(cpu[name])
        print(
            f"{name:26s} wall {w:7.3f} s ({1e3 * w / steps:6.2f} ms/step) "
            f"cpu {c:7.3f} s  x(b) wall {w / min(wall[base]):.3f} "
            f"cpu {c / min(cpu[base]):.3f}",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats (a smoke run)"
    )
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--shapes",
        default=None,
        help="comma-separated NxK list, e.g. 1024x32768",
    )
    parser.add_argument(
        "--gpu-shapes",
        action="store_true",
        help="also run N=8192, K=131072 (large GPU case)",
    )
    parser.add_argument(
        "--fit",
        action="store_true",
        help="time model.fit of a K=10 MLP instead (see the docstring)",
    )
    parser.add_argument("--fit-samples", type=int, default=6400)
    args = parser.parse_args()
    if args.fit:
        return fit_benchmark(args.fit_samples, args.repeats or 7)
    backend = keras.backend.backend()
    repeats = args.repeats or (3 if args.quick else 15)
    on_gpu = False
    if backend == "jax":
        import jax

        on_gpu = jax.devices()[0].platform == "gpu"
        print("devices:", jax.devices())
    shapes = list(SHAPES)
    if args.shapes:
        shapes = [
            tuple(int(v) for v in item.split("x"))
            for item in args.shapes.split(",")
        ]
    if args.gpu_shapes:
        shapes.append((8192, 131072))
    variants = ["xla", "no-xla"] if backend == "tensorflow" else ["default"]
    print(
        f"backend={backend} keras={keras.__version__} eps={EPS} "
        f"repeats={repeats} (median ms of value+grad w.r.t. logits)"
    )
    rows = []
    rng = np.random.default_rng(0)
    for n, k in shapes:
        for dtype in ("float32", "bfloat16"):
            logits = ops.cast(
                ops.convert_to_tensor(
                    rng.standard_normal((n, k)).astype("float32") * 3
                ),
                dtype,
            )
            labels_np = rng.integers(0, k, size=n).astype("int32")
            labels = ops.convert_to_tensor(labels_np)
            onehot = ops.one_hot(labels, k, dtype="float32")
            logit_bytes = n * k * (4 if dtype == "float32" else 2)
            floor = None
            if on_gpu:
                floor = bandwidth_floor_ms(logits, repeats)
            for variant in variants:
                times, temps = {}, {}
                for name, loss_fn in loss_fns().items():
                    fn, _ = make_value_and_grad(loss_fn, variant)
                    call_args = (logits, labels, onehot)
                    times[name] = median_ms(fn, call_args, repeats)
                    if backend == "jax":
                        temps[name] = jax_temp_bytes(fn, call_args)
                base_a = times["(a) keras one-hot+ls"]
                base_b = times["(b) keras sparse"]
                for name, ms in times.items():
                    row = {
                        "N": n,
                        "K": k,
                        "dtype": dtype,
                        "variant": variant,
                        "loss": name,
                        "ms": ms,
                        "vs_a": ms / base_a,
                        "vs_b": ms / base_b,
                    }
                    if "(c) torch F.cross_entropy" in times:
                        row["vs_c"] = ms / times["(c) torch F.cross_entropy"]
                    if name in temps and temps[name] is not None:
                        row["temp_bytes"] = temps[name]
                        row["temp_vs_logits"] = temps[name] / logit_bytes
                    if floor:
                        row["floor_ms"] = floor
                        row["vs_floor"] = ms / floor
                    rows.append(row)
                    print(_format(row), flush=True)
    return rows


def _format(row):
    text = (
        f"N={row['N']:5d} K={row['K']:6d} {row['dtype']:8s} "
        f"{row['variant']:7s} {row['loss']:26s} {row['ms']:9.2f} ms  "
        f"x(a)={row['vs_a']:.2f}  x(b)={row['vs_b']:.2f}"
    )
    if "vs_c" in row:
        text += f"  x(c)={row['vs_c']:.2f}"
    if "temp_bytes" in row:
        text += (
            f"  temp={row['temp_bytes'] / 1e6:8.2f} MB "
            f"({100 * row['temp_vs_logits']:.2f}% of logits)"
        )
    if "vs_floor" in row:
        text += (
            f"  floor={row['floor_ms']:.2f} ms x(floor)={row['vs_floor']:.2f}"
        )
    return text


if __name__ == "__main__":
    main()
