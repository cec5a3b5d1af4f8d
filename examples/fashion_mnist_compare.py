"""Label smoothing on Fashion-MNIST: same initial weights, paired seeds.
Training is watched on a validation split held out from the training data;
the test set is used only after training. Run with --small for a quick
smoke run (10 epochs and 5 seeds otherwise)."""

import argparse

import keras
import numpy as np

from keras_ls.callbacks.monitor import ConfidenceMonitor
from keras_ls.data import as_dataset
from keras_ls.data import load_fashion_mnist
from keras_ls.experiment import build_model
from keras_ls.experiment import largest_confidence_drop
from keras_ls.experiment import paired_difference
from keras_ls.losses import LabelSmoothingCrossentropy

parser = argparse.ArgumentParser()
parser.add_argument("--small", action="store_true", help="tiny, fast run")
args = parser.parse_args()
# XLA on TensorFlow and JAX; on PyTorch True means torch.compile, slow on CPU.
JIT = keras.backend.backend() != "torch"
(x, y), (x_test, y_test) = load_fashion_mnist()
epochs, seeds = 10, 5
if args.small:
    (x, y), (x_test, y_test), epochs, seeds = (
        (x[:1024], y[:1024]),
        (x_test[:256], y_test[:256]),
        1,
        2,
    )
x, x_test = x[..., None] / np.float32(255), x_test[..., None] / np.float32(255)
# Hold out 1/12 of the training data (5,000 of 60,000) for the monitor.
held_out = len(x) // 12
x, y, x_val, y_val = x[held_out:], y[held_out:], x[:held_out], y[:held_out]

acc, conf, first = {0.0: [], 0.1: []}, {0.0: [], 0.1: []}, {}
for seed in range(seeds):
    keras.utils.set_random_seed(seed)
    initial = build_model("mlp").get_weights()  # one start for both models
    models = {}
    for eps in (0.0, 0.1):
        model = build_model("mlp")
        model.set_weights(initial)
        model.compile(
            "adam",
            LabelSmoothingCrossentropy(eps),
            metrics=["accuracy"],
            jit_compile=JIT,
        )
        # The smoothed model is compared with the trained baseline.
        monitor = ConfidenceMonitor((x_val, y_val), compare=dict(models))
        model.fit(
            as_dataset(
                x,
                y,
                batch_size=128,
                shuffle=True,
                seed=seed,
                drop_remainder=True,
            ),
            epochs=epochs,
            shuffle=False,
            callbacks=[monitor],
            verbose=2,
        )
        models[f"eps{eps}"] = model
        # The test set, once, after training.
        probs = keras.ops.convert_to_numpy(
            keras.ops.softmax(model.predict(x_test, verbose=0))
        )
        acc[eps].append(float((probs.argmax(-1) == y_test).mean()))
        conf[eps].append(float(probs.max(-1).mean()))
        if seed == 0:
            first[eps] = probs

for name, values in (("accuracy", acc), ("mean confidence", conf)):
    d = paired_difference(values[0.0], values[0.1])
    print(
        f"{name}: {np.mean(values[0.0]):.4f} -> {np.mean(values[0.1]):.4f}"
        f", paired Δ {d['mean']:+.4f} ± {d['half_width']:.4f} (95% CI)"
    )
ex = largest_confidence_drop(y_test, first[0.0], first[0.1])
print(
    f"test example {ex['index']} (class {ex['label']}): confidence "
    f"{ex['confidence_baseline']:.0%} -> {ex['confidence_other']:.0%}"
)
