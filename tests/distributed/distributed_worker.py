"""Runs keras_ls on one device and data-parallel over 2 CPU devices.

`python -m tests.distributed.distributed_worker tensorflow|jax [check ...]`:

- tensorflow: `tf.distribute.MirroredStrategy` over 2 logical CPUs
  (`tf.config.set_logical_device_configuration`);
- jax: `keras.distribution.DataParallel` over 2 host devices
  (`XLA_FLAGS=--xla_force_host_platform_device_count=2`).

Both must be set up before the framework initializes its devices, which a
pytest process has usually done already, so this runs as a script, never
imported by the suite. It prints one JSON object; `test_distributed_tf.py`
and `test_distributed_jax.py` compute the expected values with numpy and
compare. A failing check reports its traceback under "error" instead of
stopping the other checks.

On TensorFlow every model is compiled with `jit_compile=setup.jit_compile`: in
TensorFlow 2.21 an XLA-compiled step under `MirroredStrategy` fails for any
loss, Keras' own included ("Trying to access resource ... located in device
CPU:1 from device CPU:0"), see docs/distributed.md. JAX steps are always
XLA-compiled.
"""

import contextlib
import json
import os
import sys
import traceback

NUM_CLASSES = 5
BATCH = 8


def _data(n, seed, scale=2.0):
    import numpy as np

    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, NUM_CLASSES)) * scale).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, size=n).astype("int32")
    return logits, labels


def _identity_model():
    """A model whose output is its input, so the logits are known exactly."""
    import keras
    import numpy as np

    model = keras.Sequential(
        [
            keras.Input((NUM_CLASSES,)),
            keras.layers.Dense(NUM_CLASSES, use_bias=False),
        ]
    )
    model.layers[0].set_weights([np.eye(NUM_CLASSES, dtype="float32")])
    return model


def _random_model(seed):
    import keras
    import numpy as np

    rng = np.random.default_rng(seed)
    model = keras.Sequential(
        [keras.Input((NUM_CLASSES,)), keras.layers.Dense(NUM_CLASSES)]
    )
    model.layers[0].set_weights(
        [
            rng.standard_normal((NUM_CLASSES, NUM_CLASSES)).astype("float32"),
            rng.standard_normal(NUM_CLASSES).astype("float32"),
        ]
    )
    return model


class _TFSetup:
    """One `tf.distribute` strategy: its scope and its per-replica reads."""

    jit_compile = False

    def __init__(self, strategy):
        self.strategy = strategy
        self.replicas = strategy.num_replicas_in_sync

    def scope(self):
        return self.strategy.scope()

    def local(self, x, y):
        # Keras splits each global batch over the replicas (and workers).
        return x, y, BATCH

    def per_replica(self, variable):
        # `.value` is the backing tf.Variable: a MirroredVariable under the
        # strategy, with one component per replica.
        return [
            float(v.numpy())
            for v in self.strategy.experimental_local_results(variable.value)
        ]

    def read_in_replicas(self, variable):
        import tensorflow as tf

        values = self.strategy.run(lambda: tf.identity(variable.value))
        return [
            float(v) for v in self.strategy.experimental_local_results(values)
        ]


class _JaxSetup:
    """One `keras.distribution` (or none) and per-device reads."""

    jit_compile = True

    def __init__(self, distribution):
        self.distribution = distribution
        self.replicas = (
            1
            if distribution is None
            else len(distribution.device_mesh.devices.ravel())
        )

    def scope(self):
        if self.distribution is None:
            return contextlib.nullcontext()
        return self.distribution.scope()

    def local(self, x, y):
        """This process's rows of every global batch, and its batch size.

        One process feeds all its devices; in a multi-process job each
        process feeds its own share of each global batch (Keras does not
        split host data across processes: `auto_shard_dataset=False`).
        """
        import jax

        count, index = jax.process_count(), jax.process_index()
        if count == 1:
            return x, y, BATCH
        rows = [
            r
            for start in range(0, len(x), BATCH)
            for r in _share(start, min(start + BATCH, len(x)), count, index)
        ]
        return x[rows], y[rows], BATCH // count

    def per_replica(self, variable):
        try:
            return [float(s.data) for s in variable.value.addressable_shards]
        except ValueError:
            # Multi-process (JAX 0.10.2, Keras 3.15.1): a variable placed by
            # Keras' `jax.device_put` onto the global mesh cannot list its
            # shards ("input arrays must have one shard each"); its value
            # is right. Read this process's copies through a compiled copy.
            return self.read_in_replicas(variable)

    def read_in_replicas(self, variable):
        import jax

        # A compiled function reading ε on every device of its sharding.
        sharding = variable.value.sharding
        return [
            float(s.data)
            for s in jax.jit(lambda v: v * 1.0, out_shardings=sharding)(
                variable.value
            ).addressable_shards
        ]


def _share(start, stop, count, index):
    """Rows of process `index` of `count` in the global batch start:stop."""
    size = -(-(stop - start) // count)
    return range(start + index * size, min(start + (index + 1) * size, stop))


def _devices_of(variable):
    """How many devices of this process hold a copy of `variable`."""
    value = variable.value
    if hasattr(value, "sharding"):  # JAX
        return len(value.sharding.addressable_devices)
    if hasattr(value, "values"):
        return len(value.values)
    return 1


def _custom_loop(setup, x, y):
    """Per-example values on each replica, then tf.nn.compute_average_loss."""
    import numpy as np
    import tensorflow as tf

    from keras_ls.losses import LabelSmoothingCrossentropy

    strategy = setup.strategy
    with setup.scope():
        per_example = LabelSmoothingCrossentropy(0.2, reduction=None)
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    )
    values, averages = [], []
    for xb, yb in dataset:

        def step(xr, yr):
            v = per_example(yr, xr)
            return v, tf.nn.compute_average_loss(v, global_batch_size=BATCH)

        v, avg = strategy.run(step, args=(xb, yb))
        for part in strategy.experimental_local_results(v):
            values.extend(np.asarray(part).tolist())
        averages.append(float(strategy.reduce("SUM", avg, axis=None)))
    return {"custom_loop_values": values, "custom_loop_batch_means": averages}


def check_loss(setups):
    import keras

    from keras_ls.losses import LabelSmoothingCrossentropy

    x, y = _data(32, seed=1)
    out = {"x": x.tolist(), "y": y.tolist()}
    for name, setup in setups.items():
        with setup.scope():
            frozen = _identity_model()
            frozen.compile(
                optimizer=keras.optimizers.SGD(0.0),
                loss=LabelSmoothingCrossentropy(0.2),
                jit_compile=setup.jit_compile,
            )
            trained = _random_model(seed=2)
            trained.compile(
                optimizer=keras.optimizers.SGD(0.5),
                loss=LabelSmoothingCrossentropy(0.2),
                jit_compile=setup.jit_compile,
            )
            xl, yl, batch = setup.local(x, y)
            history = frozen.fit(
                xl, yl, batch_size=batch, epochs=1, verbose=0, shuffle=False
            )
            evaluated = frozen.evaluate(xl, yl, batch_size=batch, verbose=0)
            trained.fit(
                xl, yl, batch_size=batch, epochs=2, verbose=0, shuffle=False
            )
        kernel, bias = trained.layers[0].get_weights()
        out[name] = {
            "replicas": setup.replicas,
            "kernel_devices": _devices_of(trained.layers[0].kernel),
            "fit_loss": history.history["loss"][0],
            "evaluate_loss": float(evaluated),
            "trained_kernel": kernel.tolist(),
            "trained_bias": bias.tolist(),
        }
        if isinstance(setup, _TFSetup):
            out[name].update(_custom_loop(setup, x, y))
    out["initial_kernel"] = [
        w.tolist() for w in _random_model(seed=2).layers[0].get_weights()
    ]
    return out


def check_scheduler(setups):
    import keras

    from keras_ls.callbacks.scheduler import LabelSmoothingScheduler
    from keras_ls.losses import LabelSmoothingCrossentropy
    from keras_ls.schedules import LinearDecay

    x, y = _data(32, seed=3)
    out = {"x": x.tolist(), "y": y.tolist()}
    for name, setup in setups.items():
        result = {}
        for update, epochs in (("epoch", 4), ("batch", 2)):
            seen = []

            class Record(keras.callbacks.Callback):
                def on_epoch_end(self, epoch, logs=None):
                    seen.append(setup.per_replica(variable))

            duration = 3 if update == "epoch" else 6
            with setup.scope():
                model = _identity_model()
                loss = LabelSmoothingCrossentropy(0.3)
                variable = loss.label_smoothing_variable
                model.compile(
                    optimizer=keras.optimizers.SGD(0.0),
                    loss=loss,
                    jit_compile=setup.jit_compile,
                )
                xl, yl, batch = setup.local(x, y)
                history = model.fit(
                    xl,
                    yl,
                    batch_size=batch,
                    epochs=epochs,
                    verbose=0,
                    shuffle=False,
                    callbacks=[
                        LabelSmoothingScheduler(
                            LinearDecay(0.3, 0.0, duration), update=update
                        ),
                        Record(),
                    ],
                )
                in_replicas = setup.read_in_replicas(variable)
            result[update] = {
                "loss": history.history["loss"],
                "label_smoothing": history.history["label_smoothing"],
                "per_replica_at_epoch_end": seen,
                "read_in_replicas": in_replicas,
                "variable_devices": _devices_of(variable),
                "variable_type": type(variable.value).__name__,
            }
        out[name] = result
    return out


def check_metrics(setups):
    import keras
    import numpy as np

    from keras_ls import metrics as ls_metrics
    from keras_ls.losses import LabelSmoothingCrossentropy

    x, y = _data(40, seed=4, scale=3.0)
    # Replica 0 gets confident correct rows, replica 1 the rest: ECE over
    # the global batch then differs from the mean of per-replica ECEs.
    half = BATCH // 2
    confident = np.eye(NUM_CLASSES, dtype="float32")[y] * 6.0
    for start in range(0, len(x), BATCH):
        x[start : start + half] = confident[start : start + half]
    out = {"x": x.tolist(), "y": y.tolist()}
    for name, setup in setups.items():
        with setup.scope():
            model = _identity_model()
            model.compile(
                optimizer=keras.optimizers.SGD(0.0),
                loss=LabelSmoothingCrossentropy(0.1),
                metrics=[
                    ls_metrics.ExpectedCalibrationError(5, name="ece"),
                    ls_metrics.ExpectedCalibrationError(
                        5, norm="max", name="mce"
                    ),
                    ls_metrics.NegativeLogLikelihood(name="nll"),
                    ls_metrics.MeanConfidence(name="confidence"),
                    ls_metrics.ConfidenceGap(name="gap"),
                    ls_metrics.BrierScore(name="brier"),
                ],
                jit_compile=setup.jit_compile,
            )
            xl, yl, batch = setup.local(x, y)
            out[name] = model.evaluate(
                xl, yl, batch_size=batch, verbose=0, return_dict=True
            )
    return out


def check_monitor(setups):
    import keras

    from keras_ls.callbacks.monitor import ConfidenceMonitor
    from keras_ls.losses import LabelSmoothingCrossentropy

    x, y = _data(32, seed=5)
    xv, yv = _data(20, seed=6, scale=3.0)
    out = {"x_val": xv.tolist(), "y_val": yv.tolist()}
    for name, setup in setups.items():
        with setup.scope():
            model = _identity_model()
            model.compile(
                optimizer=keras.optimizers.SGD(0.0),
                loss=LabelSmoothingCrossentropy(0.1),
                jit_compile=setup.jit_compile,
            )
            baseline = _random_model(seed=7)
            xvl, yvl, batch = setup.local(xv, yv)
            monitor = ConfidenceMonitor(
                (xvl, yvl),
                compare={"baseline": baseline},
                num_bins=5,
                batch_size=batch,
                jit_compile=setup.jit_compile,
            )
            xl, yl, batch = setup.local(x, y)
            history = model.fit(
                xl,
                yl,
                batch_size=batch,
                epochs=2,
                verbose=0,
                shuffle=False,
                callbacks=[monitor],
            )
        out[name] = dict(history.history)
        if isinstance(setup, _TFSetup) and setup.replicas > 1:
            out[name]["default_jit_error"] = _monitor_default_jit(setup, x, y)
    out["baseline_weights"] = [
        w.tolist() for w in _random_model(seed=7).layers[0].get_weights()
    ]
    return out


def _monitor_default_jit(setup, x, y):
    """The error, if any, of ConfidenceMonitor with its default jit_compile."""
    import keras

    from keras_ls.callbacks.monitor import ConfidenceMonitor
    from keras_ls.losses import LabelSmoothingCrossentropy

    with setup.scope():
        model = _identity_model()
        model.compile(
            optimizer=keras.optimizers.SGD(0.0),
            loss=LabelSmoothingCrossentropy(0.1),
            jit_compile=False,
        )
        try:
            model.fit(
                x,
                y,
                batch_size=BATCH,
                epochs=1,
                verbose=0,
                callbacks=[ConfidenceMonitor((x, y), batch_size=BATCH)],
            )
        except Exception as e:  # reported to the test
            return f"{type(e).__name__}: {str(e)[-300:]}"
    return None


CHECKS = {
    "loss": check_loss,
    "scheduler": check_scheduler,
    "metrics": check_metrics,
    "monitor": check_monitor,
}


def _tensorflow_setups():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    return {
        "single": _TFSetup(tf.distribute.get_strategy()),
        "parallel": _TFSetup(
            tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        ),
    }


def _jax_setups():
    flag = "--xla_force_host_platform_device_count=2"
    if flag not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + " " + flag
        ).strip()
    import jax
    import keras

    devices = jax.devices("cpu")
    if len(devices) != 2:
        raise RuntimeError(f"Expected 2 host devices, got {devices}")
    return {
        "single": _JaxSetup(None),
        "parallel": _JaxSetup(keras.distribution.DataParallel(devices=devices)),
    }


def main(backend, names):
    os.environ["KERAS_BACKEND"] = backend
    if backend == "tensorflow":
        setups = _tensorflow_setups()
    elif backend == "jax":
        setups = _jax_setups()
    else:
        raise SystemExit(f"Unknown backend {backend!r}")
    import keras

    keras.utils.set_random_seed(0)
    results = {"backend": keras.backend.backend()}
    for name in names:
        try:
            results[name] = CHECKS[name](setups)
        except Exception:  # reported per check, so the others still run
            results[name] = {"error": traceback.format_exc()}
    print("JSON:" + json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or list(CHECKS))
