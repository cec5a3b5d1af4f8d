"""Fused vs dense smoothed cross-entropy of a linear head: time and memory.

Usage: python benchmarks/fused_loss_benchmark.py [--quick]

Each backend runs in a subprocess of its own (Keras fixes the backend at
import). Times are medians of interleaved repeats of the jitted value and
gradient (for hidden and weight), so the fused and dense rows of one table
share the machine's state; only their ratios are meant to be compared.

- speed: N = 2,048 tokens, D = 256, V = 32,000, float32, ε = 0.1 (and the
  fused head at ε = 0); JAX, TensorFlow (XLA) and PyTorch (eager).
- memory (JAX): XLA's temporary bytes of the compiled value and gradient
  at N = 8,192, D = 2,304, V = 256,000 (Gemma-2 2B), from shapes alone.
- memory (PyTorch, CPU): peak resident memory added by one value and
  gradient at N = 4,096, D = 256, V = 32,000, each in a fresh process.
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(backend, section, quick):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, __file__, "--child", section]
        + (["--quick"] if quick else []),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(lines[-1])


# -- children -----------------------------------------------------------------


def _inputs(n, d, v, dtype="float32", seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, d)).astype("float32")
    w = (rng.normal(size=(v, d)) / np.sqrt(d)).astype("float32")
    y = rng.integers(0, v, size=n).astype("int32")
    return h, w, y


def _losses():
    import keras

    import keras_ls
    from keras_ls.ops import linear_label_smoothing_crossentropy

    def dense(h, w, y, eps=0.1):
        logits = keras.ops.matmul(h, keras.ops.transpose(w))
        values = keras_ls.label_smoothing_crossentropy(y, logits, eps)
        return keras.ops.mean(values)

    def fused(h, w, y, eps=0.1):
        return linear_label_smoothing_crossentropy(h, w, y, eps)

    def fused_eps0(h, w, y):
        return linear_label_smoothing_crossentropy(h, w, y, 0.0)

    return {"dense": dense, "fused": fused, "fused_eps0": fused_eps0}


def _step(fn):
    """A compiled value-and-gradient step (eager on PyTorch)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        g = jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))
        return lambda *a: jax.block_until_ready(g(*a))
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def step(h, w, y):
            with tf.GradientTape() as tape:
                tape.watch([h, w])
                loss = fn(h, w, y)
            return loss, tape.gradient(loss, [h, w])

        return lambda *a: [t.numpy() for t in tf.nest.flatten(step(*a))]
    import torch

    def step(h, w, y):
        h = h.detach().requires_grad_(True)
        w = w.detach().requires_grad_(True)
        loss = fn(h, w, y)
        return torch.autograd.grad(loss, [h, w])

    return step


def _speed(quick):
    import time

    import keras
    import numpy as np

    n, d, v = 2048, 256, 32000
    args = [keras.ops.convert_to_tensor(x) for x in _inputs(n, d, v)]
    steps = {name: _step(fn) for name, fn in _losses().items()}
    for step in steps.values():
        step(*args)  # compile
    times = {name: [] for name in steps}
    order = list(steps)
    for i in range(3 if quick else 30):
        # Interleaved, in an order that turns each round, so that no
        # variant always follows the same one (caches, clocks).
        for name in order[i % len(order) :] + order[: i % len(order)]:
            start = time.perf_counter()
            steps[name](*args)
            times[name].append(time.perf_counter() - start)
    med = {k: float(np.median(t)) for k, t in times.items()}
    return {
        "dense_ms": 1e3 * med["dense"],
        "fused_ms": 1e3 * med["fused"],
        "fused_over_dense": med["fused"] / med["dense"],
        "eps_cost": med["fused"] / med["fused_eps0"] - 1.0,
    }


def _jax_memory(quick):
    import jax
    import jax.numpy as jnp

    n, d, v = 8192, 2304, 256000
    out = {}
    losses = _losses()
    for dtype in ("float32", "bfloat16"):
        specs = (
            jax.ShapeDtypeStruct((n, d), dtype),
            jax.ShapeDtypeStruct((v, d), dtype),
            jax.ShapeDtypeStruct((n,), jnp.int32),
        )
        for name in ("dense", "fused"):
            grad = jax.value_and_grad(losses[name], argnums=(0, 1))
            compiled = jax.jit(grad).lower(*specs).compile()
            stats = compiled.memory_analysis()
            out[f"{name}_{dtype}_temp_GiB"] = stats.temp_size_in_bytes / 2**30
    return out


def _torch_peak(which):
    import resource

    import keras

    n, d, v = 4096, 256, 32000
    args = [keras.ops.convert_to_tensor(x) for x in _inputs(n, d, v)]
    step = _step(_losses()[which])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step(*args)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_MiB": (after - before) / 1024}


def _child(section, quick):
    if section == "speed":
        result = _speed(quick)
    elif section == "jax_memory":
        result = _jax_memory(quick)
    else:
        result = _torch_peak(section.split(":")[1])
    print(json.dumps(result))


# -- the report ----------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.quick)
    print("## Speed (CPU, float32, N=2048, D=256, V=32000, eps=0.1)\n")
    print("| backend | dense ms | fused ms | fused / dense | eps 0.1 vs 0 |")
    print("|---|---|---|---|---|")
    for backend in ("jax", "tensorflow", "torch"):
        r = _run(backend, "speed", args.quick)
        print(
            f"| {backend} | {r['dense_ms']:.1f} | {r['fused_ms']:.1f} | "
            f"{r['fused_over_dense']:.2f} | {100 * r['eps_cost']:+.1f}% |"
        )
    print("\n## JAX temporaries (XLA:CPU, N=8192, D=2304, V=256000)\n")
    m = _run("jax", "jax_memory", args.quick)
    print("| dtype | dense GiB | fused GiB | dense / fused |")
    print("|---|---|---|---|")
    for dtype in ("float32", "bfloat16"):
        dense, fused = (
            m[f"dense_{dtype}_temp_GiB"],
            m[f"fused_{dtype}_temp_GiB"],
        )
        print(f"| {dtype} | {dense:.2f} | {fused:.3f} | {dense / fused:.1f} |")
    print("\n## PyTorch CPU peak memory (N=4096, D=256, V=32000)\n")
    dense = _run("torch", "peak:dense", args.quick)["peak_MiB"]
    fused = _run("torch", "peak:fused", args.quick)["peak_MiB"]
    print("| dense MiB | fused MiB | dense / fused |")
    print("|---|---|---|")
    print(f"| {dense:.0f} | {fused:.0f} | {dense / max(fused, 1e-9):.1f} |")
    print("\n## GPU (JAX, bfloat16, N=8192, V=128k and 256k)\n")
    print("not measured (no GPU was lent to this run)")


if __name__ == "__main__":
    main()
