"""Data-parallel training with keras_ls on 2 devices, runnable on one CPU.

    KERAS_BACKEND=tensorflow python examples/distributed_example.py [--small]
    KERAS_BACKEND=jax python examples/distributed_example.py [--small]

TensorFlow uses `tf.distribute.MirroredStrategy`, JAX uses
`keras.distribution.DataParallel`. Without 2 GPUs the CPU is split into 2
devices, which must happen before the framework starts, hence the set-up at
the top. The loss, the ε schedule, the calibration metrics and the
ConfidenceMonitor need no change: they are created under the strategy (or
distribution) like any Keras object. See docs/distributed.md.
"""

import argparse
import os
import sys

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
if BACKEND == "jax":
    # Must be set before JAX is imported; harmless with 2+ real GPUs.
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + " --xla_force_host_platform_device_count=2"
    )
elif BACKEND == "tensorflow":
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) < 2:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
else:
    sys.exit(
        "This example needs the tensorflow or jax backend: "
        "keras.distribution does not support PyTorch."
    )

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_ls import metrics as ls_metrics  # noqa: E402
from keras_ls.callbacks.monitor import ConfidenceMonitor  # noqa: E402
from keras_ls.callbacks.scheduler import LabelSmoothingScheduler  # noqa: E402
from keras_ls.losses import LabelSmoothingCrossentropy  # noqa: E402
from keras_ls.schedules import TwoStage  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--small", action="store_true", help="tiny, fast run")
args = parser.parse_args()


def distribution_scope():
    """The scope to build, compile and fit in, and the number of replicas."""
    if BACKEND == "tensorflow":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [
            d.name
            for d in (
                gpus
                if len(gpus) >= 2
                else tf.config.list_logical_devices("CPU")
            )
        ]
        strategy = tf.distribute.MirroredStrategy(devices)
        return strategy.scope(), strategy.num_replicas_in_sync
    import jax

    devices = jax.devices()
    distribution = keras.distribution.DataParallel(devices=devices)
    return distribution.scope(), len(devices)


# Synthetic 10-class data; the global batch is split across the replicas.
n, epochs = (1024, 3) if args.small else (8192, 8)
rng = np.random.default_rng(0)
centers = rng.standard_normal((10, 32)).astype("float32")
y = rng.integers(0, 10, size=n).astype("int32")
x = centers[y] + rng.standard_normal((n, 32)).astype("float32")
x_val, y_val = x[: n // 8], y[: n // 8]

scope, replicas = distribution_scope()
print(f"backend={BACKEND} replicas={replicas}")
with scope:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer="adam",
        loss=LabelSmoothingCrossentropy(0.1),
        metrics=[
            ls_metrics.ExpectedCalibrationError(name="ece"),
            ls_metrics.NegativeLogLikelihood(name="nll"),
        ],
        # XLA steps under MirroredStrategy fail in TensorFlow 2.21 (variables
        # on another device); JAX always compiles with XLA.
        jit_compile=BACKEND == "jax",
    )
    history = model.fit(
        x,
        y,
        batch_size=128,
        epochs=epochs,
        verbose=2,
        callbacks=[
            LabelSmoothingScheduler(TwoStage(0.1, switch=epochs - 1)),
            ConfidenceMonitor(
                (x_val, y_val), batch_size=128, jit_compile=BACKEND == "jax"
            ),
        ],
    )

for key in ("label_smoothing", "loss", "ece", "val_ece", "val_confidence"):
    print(key, [round(v, 4) for v in history.history[key]])
