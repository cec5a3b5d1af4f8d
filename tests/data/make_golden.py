"""Writes tests/data/golden_v0_1_0.keras and the values stored beside it.

Run once, with the release whose files later releases must still load:

    KERAS_BACKEND=jax .venv/bin/python tests/data/make_golden.py

It saves a tiny Dense model compiled with
`keras_ls.LabelSmoothingCrossentropy` and `keras_ls.metrics.
ExpectedCalibrationError`, and writes golden_v0_1_0.json: ε, the input,
the labels, and the logits and loss computed in float64 numpy from the
weights (not by Keras or keras_ls). tests/test_serialization.py loads the
file in a fresh process after only ``import keras, keras_ls`` and compares.
Do not rerun it to make a failing test pass: the file is the promise.
"""

import json
import pathlib

import keras
import numpy as np

import keras_ls

HERE = pathlib.Path(__file__).resolve().parent
EPSILON = 0.15


def main():
    rng = np.random.default_rng(14)
    kernel = rng.normal(size=(4, 3)).round(3)
    bias = np.array([0.1, -0.2, 0.05])
    x = rng.normal(size=(5, 4)).round(3)
    y = np.array([0, 2, 1, 1, 0])

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="logits")]
    )
    model.layers[0].set_weights([kernel, bias])
    model.compile(
        optimizer="sgd",
        loss=keras_ls.LabelSmoothingCrossentropy(EPSILON),
        metrics=[keras_ls.metrics.ExpectedCalibrationError(num_bins=5)],
    )
    model.save(HERE / "golden_v0_1_0.keras")

    logits = x.astype(np.float32).astype(np.float64) @ kernel.astype(
        np.float32
    ).astype(np.float64) + bias.astype(np.float32)
    log_p = logits - logits.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    k = logits.shape[-1]
    target = np.full((len(y), k), EPSILON / k)
    target[np.arange(len(y)), y] += 1.0 - EPSILON
    loss = float(-(target * log_p).sum(-1).mean())
    values = {
        "keras_ls_version": keras_ls.__version__,
        "keras_version": keras.__version__,
        "loss_class": "LabelSmoothingCrossentropy",
        "loss_registered_name": "keras_ls>LabelSmoothingCrossentropy",
        "metric_registered_name": "keras_ls>ExpectedCalibrationError",
        "label_smoothing": EPSILON,
        "x": x.tolist(),
        "y": y.tolist(),
        "logits": logits.tolist(),
        "loss": loss,
    }
    (HERE / "golden_v0_1_0.json").write_text(json.dumps(values, indent=1))


if __name__ == "__main__":
    main()
