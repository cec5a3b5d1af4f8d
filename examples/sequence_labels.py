"""Sparse labels on a (batch, time, vocab) output, with padding ignored.

Padded positions carry the label `PAD`; `ignore_class=PAD` removes them
from both the smoothed cross-entropy and its mean, as PyTorch's
`ignore_index` does. The toy task: predict the next token of a short
counting sequence.

    python examples/sequence_labels.py [--small]
"""

import argparse

import keras
import numpy as np

from keras_ls.losses import LabelSmoothingCrossentropy

parser = argparse.ArgumentParser()
parser.add_argument("--small", action="store_true", help="tiny, fast run")
args = parser.parse_args()
# XLA on TensorFlow and JAX; on PyTorch True means torch.compile, slow on CPU.
JIT = keras.backend.backend() != "torch"

VOCAB, TIME, PAD = 16, 12, -1
n, epochs = (256, 2) if args.small else (4096, 10)
rng = np.random.default_rng(0)
starts = rng.integers(0, VOCAB, n)
lengths = rng.integers(3, TIME + 1, n)
tokens = (starts[:, None] + np.arange(TIME + 1)) % VOCAB
x = tokens[:, :-1].astype("int32")
y = tokens[:, 1:].astype("int32")
padding = np.arange(TIME) >= lengths[:, None]
x[padding], y[padding] = 0, PAD

keras.utils.set_random_seed(0)
model = keras.Sequential(
    [
        keras.Input((TIME,), dtype="int32"),
        keras.layers.Embedding(VOCAB, 32),
        keras.layers.GRU(64, return_sequences=True),
        keras.layers.Dense(VOCAB),  # logits, shape (batch, TIME, VOCAB)
    ]
)
loss = LabelSmoothingCrossentropy(0.1, ignore_class=PAD)
model.compile("adam", loss, jit_compile=JIT)
history = model.fit(x, y, batch_size=64, epochs=epochs, verbose=2)

logits = model.predict(x[:256], verbose=0)
valid = y[:256] != PAD
accuracy = (logits.argmax(-1) == y[:256])[valid].mean()
print(
    f"loss {history.history['loss'][-1]:.4f}; next-token accuracy on "
    f"{valid.sum()} real positions: {accuracy:.3f}"
)
# The loss averages over real positions only: a fully padded batch adds 0.
all_padding = np.full((2, TIME), PAD, "int32")
print("loss of an all-padding batch:", float(loss(all_padding, logits[:2])))
