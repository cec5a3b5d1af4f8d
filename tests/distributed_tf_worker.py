"""Runs keras_ls under `tf.distribute.MirroredStrategy` on 2 logical CPUs.

Run as a script (`python -m tests.distributed_tf_worker`), never imported by
the suite: the two logical devices must be configured before TensorFlow
initializes its devices, which a pytest process has usually done already.
It runs each check on one device and under the strategy and prints one JSON
object; `tests/test_distributed_tf.py` computes the expected values with
numpy and compares. A failing check reports its traceback under "error"
instead of stopping the other checks.

Every model here is compiled with `jit_compile=False`: in TensorFlow 2.21 an
XLA-compiled step under `MirroredStrategy` fails for any loss, Keras' own
included ("Trying to access resource ... located in device CPU:1 from
device CPU:0"), see docs/distributed.md.
"""

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
        [keras.Input((NUM_CLASSES,)), keras.layers.Dense(NUM_CLASSES,
                                                         use_bias=False)]
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
    model.layers[0].set_weights([
        rng.standard_normal((NUM_CLASSES, NUM_CLASSES)).astype("float32"),
        rng.standard_normal(NUM_CLASSES).astype("float32"),
    ])
    return model


def _per_replica_floats(strategy, variable):
    # `.value` is the backing tf.Variable: a MirroredVariable under the
    # strategy, with one component per replica.
    return [
        float(v.numpy())
        for v in strategy.experimental_local_results(variable.value)
    ]


def check_loss(strategies):
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_ls.losses import LabelSmoothingCrossentropy

    x, y = _data(32, seed=1)
    out = {"x": x.tolist(), "y": y.tolist()}
    for name, strategy in strategies.items():
        with strategy.scope():
            frozen = _identity_model()
            frozen.compile(optimizer=keras.optimizers.SGD(0.0),
                           loss=LabelSmoothingCrossentropy(0.2),
                           jit_compile=False)
            trained = _random_model(seed=2)
            trained.compile(optimizer=keras.optimizers.SGD(0.5),
                            loss=LabelSmoothingCrossentropy(0.2),
                            jit_compile=False)
        history = frozen.fit(x, y, batch_size=BATCH, epochs=1, verbose=0,
                             shuffle=False)
        trained.fit(x, y, batch_size=BATCH, epochs=2, verbose=0,
                    shuffle=False)
        kernel, bias = trained.layers[0].get_weights()

        # A custom training loop: per-example values on each replica, then
        # tf.nn.compute_average_loss over the global batch.
        per_example = LabelSmoothingCrossentropy(0.2, reduction=None)
        dataset = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
        )
        values, averages = [], []
        for xb, yb in dataset:
            def step(xr, yr):
                v = per_example(yr, xr)
                return v, tf.nn.compute_average_loss(
                    v, global_batch_size=BATCH)

            v, avg = strategy.run(step, args=(xb, yb))
            for part in strategy.experimental_local_results(v):
                values.extend(np.asarray(part).tolist())
            averages.append(float(strategy.reduce("SUM", avg, axis=None)))
        out[name] = {
            "replicas": strategy.num_replicas_in_sync,
            "fit_loss": history.history["loss"][0],
            "evaluate_loss": float(
                frozen.evaluate(x, y, batch_size=BATCH, verbose=0)
            ),
            "trained_kernel": kernel.tolist(),
            "trained_bias": bias.tolist(),
            "custom_loop_values": values,
            "custom_loop_batch_means": averages,
        }
    out["initial_kernel"] = [
        w.tolist() for w in _random_model(seed=2).layers[0].get_weights()
    ]
    return out


def check_scheduler(strategies):
    import keras
    import tensorflow as tf

    from keras_ls.losses import LabelSmoothingCrossentropy
    from keras_ls.scheduler import LabelSmoothingScheduler
    from keras_ls.schedules import LinearDecay

    x, y = _data(32, seed=3)
    out = {"x": x.tolist(), "y": y.tolist()}
    for name, strategy in strategies.items():
        result = {}
        for update, epochs in (("epoch", 4), ("batch", 2)):
            with strategy.scope():
                model = _identity_model()
                loss = LabelSmoothingCrossentropy(0.3)
                model.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss,
                              jit_compile=False)
            variable = loss.label_smoothing_variable
            seen = []

            class Record(keras.callbacks.Callback):
                def on_epoch_end(self, epoch, logs=None):
                    seen.append(_per_replica_floats(strategy, variable))

            duration = 3 if update == "epoch" else 6
            history = model.fit(
                x, y, batch_size=BATCH, epochs=epochs, verbose=0,
                shuffle=False,
                callbacks=[
                    LabelSmoothingScheduler(LinearDecay(0.3, 0.0, duration),
                                            update=update),
                    Record(),
                ],
            )
            # What each replica reads inside a replica function now.
            in_replica = strategy.run(lambda: tf.identity(variable.value))
            result[update] = {
                "loss": history.history["loss"],
                "label_smoothing": history.history["label_smoothing"],
                "per_replica_at_epoch_end": seen,
                "read_in_replica": [
                    float(t) for t in
                    strategy.experimental_local_results(in_replica)
                ],
                "variable_type": type(variable.value).__name__,
            }
        out[name] = result
    return out


def check_metrics(strategies):
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
        x[start:start + half] = confident[start:start + half]
    out = {"x": x.tolist(), "y": y.tolist()}
    for name, strategy in strategies.items():
        with strategy.scope():
            model = _identity_model()
            model.compile(
                optimizer=keras.optimizers.SGD(0.0),
                loss=LabelSmoothingCrossentropy(0.1),
                metrics=[
                    ls_metrics.ExpectedCalibrationError(5, name="ece"),
                    ls_metrics.ExpectedCalibrationError(
                        5, norm="max", name="mce"),
                    ls_metrics.NegativeLogLikelihood(name="nll"),
                    ls_metrics.MeanConfidence(name="confidence"),
                    ls_metrics.ConfidenceGap(name="gap"),
                    ls_metrics.BrierScore(name="brier"),
                ],
                jit_compile=False,
            )
        out[name] = model.evaluate(x, y, batch_size=BATCH, verbose=0,
                                   return_dict=True)
    return out


def check_monitor(strategies):
    import keras

    from keras_ls.losses import LabelSmoothingCrossentropy
    from keras_ls.monitor import ConfidenceMonitor

    x, y = _data(32, seed=5)
    xv, yv = _data(20, seed=6, scale=3.0)
    out = {"x_val": xv.tolist(), "y_val": yv.tolist()}
    for name, strategy in strategies.items():
        with strategy.scope():
            model = _identity_model()
            model.compile(optimizer=keras.optimizers.SGD(0.0),
                          loss=LabelSmoothingCrossentropy(0.1),
                          jit_compile=False)
            baseline = _random_model(seed=7)
        monitor = ConfidenceMonitor((xv, yv), compare={"baseline": baseline},
                                    num_bins=5, batch_size=BATCH,
                                    jit_compile=False)
        history = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0,
                            shuffle=False, callbacks=[monitor])
        out[name] = {
            key: values for key, values in history.history.items()
        }
    out["baseline_weights"] = [
        w.tolist() for w in _random_model(seed=7).layers[0].get_weights()
    ]
    return out


CHECKS = {
    "loss": check_loss,
    "scheduler": check_scheduler,
    "metrics": check_metrics,
    "monitor": check_monitor,
}


def main(names):
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras

    keras.utils.set_random_seed(0)
    strategies = {
        "single": tf.distribute.get_strategy(),
        "mirrored": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
    }
    results = {}
    for name in names:
        try:
            results[name] = CHECKS[name](strategies)
        except Exception:  # reported per check, so the others still run
            results[name] = {"error": traceback.format_exc()}
    print("JSON:" + json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:] or list(CHECKS))
