"""ε schedules: two-stage (Xu et al. 2020) and cosine decay, with the ε
actually used in each epoch read back from `history.history`.

    python examples/epsilon_schedules.py [--small] [--out schedules.png]
"""

import argparse

import keras
import numpy as np

from keras_ls.callbacks.scheduler import LabelSmoothingScheduler
from keras_ls.data import as_dataset
from keras_ls.data import load_fashion_mnist
from keras_ls.experiment import build_model
from keras_ls.losses import LabelSmoothingCrossentropy
from keras_ls.schedules import CosineDecay
from keras_ls.schedules import TwoStage

parser = argparse.ArgumentParser()
parser.add_argument("--small", action="store_true", help="tiny, fast run")
parser.add_argument("--out", default="epsilon_schedules.png")
args = parser.parse_args()
# XLA on TensorFlow and JAX; on PyTorch True means torch.compile, slow on CPU.
JIT = keras.backend.backend() != "torch"

(x, y), _ = load_fashion_mnist()
epochs = 10
if args.small:
    x, y, epochs = x[:512], y[:512], 4
x = x[..., None] / np.float32(255)

switch = int(0.6 * epochs)  # smooth for the first 60% of the epochs
schedules = {
    f"two-stage: 0.1 for {switch} epochs, then 0": TwoStage(0.1, switch),
    "cosine: 0.2 -> 0": CosineDecay(0.2, 0.0, epochs),
}
histories = {}
for name, schedule in schedules.items():
    keras.utils.set_random_seed(0)
    model = build_model("mlp")
    # The initial ε is overwritten by the scheduler before the first step.
    model.compile(
        "adam",
        LabelSmoothingCrossentropy(schedule(0)),
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
        callbacks=[LabelSmoothingScheduler(schedule, verbose=1)],
    )
    histories[name] = history.history
    print(name, [round(e, 3) for e in history.history["label_smoothing"]])

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot")
else:
    fig, (ax_eps, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.5))
    for name, h in histories.items():
        epoch = np.arange(1, len(h["label_smoothing"]) + 1)
        ax_eps.step(epoch, h["label_smoothing"], where="mid", label=name)
        ax_loss.plot(epoch, h["loss"], marker=".", label=name)
    ax_eps.set(xlabel="epoch", ylabel="ε (history['label_smoothing'])")
    ax_loss.set(xlabel="epoch", ylabel="training loss (smoothed)")
    ax_eps.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print("wrote", args.out)
