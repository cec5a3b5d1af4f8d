"""ConfidenceMonitor: calibration statistics per epoch, a comparison with a
baseline model, and early stopping on the validation ECE.

    python examples/confidence_monitor.py [--small]
"""

import argparse

import keras
import numpy as np

from keras_ls.callbacks.monitor import ConfidenceMonitor
from keras_ls.data import as_dataset
from keras_ls.data import load_fashion_mnist
from keras_ls.experiment import build_model
from keras_ls.losses import LabelSmoothingCrossentropy

parser = argparse.ArgumentParser()
parser.add_argument("--small", action="store_true", help="tiny, fast run")
args = parser.parse_args()
# XLA on TensorFlow and JAX; on PyTorch True means torch.compile, slow on CPU.
JIT = keras.backend.backend() != "torch"

(x, y), (x_val, y_val) = load_fashion_mnist()
epochs = 10
if args.small:
    (x, y), (x_val, y_val), epochs = (
        (x[:512], y[:512]),
        (x_val[:200], y_val[:200]),
        3,
    )
x, x_val = x[..., None] / np.float32(255), x_val[..., None] / np.float32(255)


def train(label_smoothing, callbacks):
    keras.utils.set_random_seed(0)  # same initial weights for both models
    model = build_model("mlp")
    model.compile(
        "adam",
        LabelSmoothingCrossentropy(label_smoothing),
        metrics=["accuracy"],
        jit_compile=JIT,
    )
    history = model.fit(
        as_dataset(
            x, y, batch_size=128, shuffle=True, seed=0, drop_remainder=True
        ),
        epochs=epochs,
        shuffle=False,
        verbose=2,
        callbacks=callbacks,
    )
    return model, history


# 1. A baseline without smoothing, monitored on its own.
baseline, _ = train(0.0, [ConfidenceMonitor((x_val, y_val))])

# 2. A smoothed model, compared with the trained baseline in the same
#    validation pass, and stopped when its ECE stops improving. The monitor
#    must come before EarlyStopping: callbacks share one `logs` dict.
monitor = ConfidenceMonitor(
    (x_val, y_val), compare={"baseline": baseline}, verbose=1
)
stop = keras.callbacks.EarlyStopping(
    monitor="val_ece", mode="min", patience=2, restore_best_weights=True
)
_, history = train(0.1, [monitor, stop])

for key in ("val_ece", "baseline_val_ece", "delta_val_confidence"):
    print(key, [round(v, 4) for v in history.history[key]])
print(f"stopped after {len(history.history['loss'])} of {epochs} epochs")
