"""Train a small causal language model with the fused smoothed loss.

The text is the docstrings of a few standard-library modules (nothing to
download); the vocabulary is its words. The model outputs hidden states
and owns its tied token embedding, which
`keras_ls.losses.LinearLabelSmoothingCrossentropy.from_embedding` reads
as the output layer: the (tokens × vocabulary) logits are never built
during training. A `LabelSmoothingScheduler` takes ε from 0.1 to 0 per
step. At the end the fused and the dense loss of the same weights are
printed side by side, and a few words are generated greedily.

Usage: python examples/causal_lm_smoothing.py [--small]
"""

import argparse
import re

import keras
import numpy as np

import keras_ls

PAD = 0


def corpus():
    import argparse as a
    import collections
    import json
    import pathlib
    import string
    import textwrap

    modules = [a, collections, json, pathlib, string, textwrap]
    text = " ".join((m.__doc__ or "") for m in modules).lower()
    return re.findall(r"[a-z]+|[.,:;()]", text)


def windows(ids, length):
    rows = [ids[i : i + length + 1] for i in range(0, len(ids) - length, 7)]
    rows = np.asarray(rows, "int32")
    return rows[:, :-1], rows[:, 1:]


class TinyCausalLM(keras.Model):
    """Token embedding → causal convolutions → hidden states (no head)."""

    def __init__(self, vocabulary_size, width):
        super().__init__()
        self.token_embedding = keras.layers.Embedding(vocabulary_size, width)
        self.blocks = [
            keras.layers.Conv1D(width, 3, padding="causal", activation="gelu")
            for _ in range(2)
        ]
        self.norm = keras.layers.LayerNormalization()

    def call(self, tokens):
        x = self.token_embedding(tokens)
        for block in self.blocks:
            x = x + block(x)
        return self.norm(x)

    def logits(self, tokens):
        """The dense head, for evaluation and generation only."""
        weight = keras.ops.convert_to_tensor(self.token_embedding.embeddings)
        return keras.ops.matmul(self(tokens), keras.ops.transpose(weight))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    words = corpus()
    vocabulary = ["<pad>"] + sorted(set(words))
    index = {w: i for i, w in enumerate(vocabulary)}
    x, y = windows([index[w] for w in words], 16)
    epochs = 2 if args.small else 8
    print(f"{len(words)} words, vocabulary {len(vocabulary)}, {len(x)} rows")

    model = TinyCausalLM(len(vocabulary), 32 if args.small else 64)
    model(x[:1])  # builds the layers
    loss = keras_ls.losses.LinearLabelSmoothingCrossentropy.from_embedding(
        model.token_embedding, label_smoothing=0.1, ignore_class=PAD
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=loss)
    steps = epochs * -(-len(x) // 32)
    scheduler = keras_ls.LabelSmoothingScheduler(
        keras_ls.schedules.LinearDecay(0.1, 0.0, steps), update="batch"
    )
    history = model.fit(
        x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[scheduler]
    )
    print(
        "fused loss per epoch:", [round(v, 3) for v in history.history["loss"]]
    )

    loss.label_smoothing = 0.1
    fused = float(loss(y, model(x)))
    dense = float(
        keras_ls.LabelSmoothingCrossentropy(0.1, ignore_class=PAD)(
            y, model.logits(x)
        )
    )
    print(f"eps=0.1 fused {fused:.5f} dense {dense:.5f}")

    tokens = list(x[0, :8])
    for _ in range(8):
        context = np.asarray([tokens[-16:]], "int32")
        logits = keras.ops.convert_to_numpy(model.logits(context))
        tokens.append(int(logits[0, -1].argmax()))
    print("generated:", " ".join(vocabulary[t] for t in tokens))


if __name__ == "__main__":
    main()
