"""Does label smoothing tighten the penultimate clusters? (docs/insight.md)

Müller, Kornblith and Hinton (2019), Fig. 1: with label smoothing, each
class's penultimate activations form a tight cluster. This script measures
it on Fashion-MNIST with `keras_ls.calibration.cluster_tightness` (mean
within-class RMS spread / mean distance between class means; lower is
tighter), in the full penultimate space, in the span of the template
differences (``space="templates"``) and for the three `--classes` on their
template plane (the figure's view), on the test set and on the first
`--train-examples` training examples, for the built-in networks, over
paired seeds:

    KERAS_BACKEND=jax nice -n 5 python benchmarks/insight.py \\
        --models mlp --seeds 5 --epochs 10 --out runs/insight

For each model and seed, a baseline (ε = 0) and a smoothed model start from
the same initial weights and see the same batches in the same order (the
training of `keras_ls.compare`, without its validation split). It prints
and writes (``insight.json``) the per-seed values and test accuracy, and
the paired differences (smoothed - baseline) with their 95% Student-t
intervals; with matplotlib, ``penultimate_<model>.png`` shows the first
seed's projections, baseline and smoothed side by side (`--classes`).
"""

import argparse
import json
import os
import time

import keras
import numpy as np

from keras_ls.calibration import penultimate_features
from keras_ls.calibration import tightness_of_features
from keras_ls.experiment import Variant
from keras_ls.experiment import build_model
from keras_ls.experiment import paired_difference
from keras_ls.experiment._data import prepare_data
from keras_ls.experiment._training import check_training
from keras_ls.experiment._training import train_variant

MEASURES = (
    "tightness_full",
    "tightness_templates",
    "train_tightness_full",
    "train_tightness_templates",
    "tightness_plane",
    "train_tightness_plane",
    "accuracy",
)


def train_pair(name, train, num_classes, seed, args):
    keras.utils.set_random_seed(seed)
    shape = train[0].shape[1:]
    weights = build_model(
        name, input_shape=shape, num_classes=num_classes
    ).get_weights()
    models = {}
    for variant, eps in (("baseline", 0.0), ("smoothed", args.label_smoothing)):
        net = build_model(name, input_shape=shape, num_classes=num_classes)
        net.set_weights(weights)
        train_variant(
            net,
            Variant(variant, eps),
            train,
            None,
            seed=seed,
            training=check_training(
                epochs=args.epochs,
                batch_size=args.batch_size,
                learning_rate=1e-3,
                num_bins=15,
                jit_compile=None,
                verbose=0,
            ),
        )
        models[variant] = net
    return models


def accuracy(net, x, y):
    logits = net.predict(x, batch_size=512, verbose=0)
    return float(np.mean(np.argmax(logits, -1) == y))


def figure(models, x, y, classes, path, title):
    from matplotlib.figure import Figure

    from keras_ls.plots import penultimate_projection

    fig = Figure(figsize=(9, 4.5), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, (variant, net) in zip(axes, models.items()):
        penultimate_projection(net, x, y, classes=classes, ax=ax)
        ax.set_title(f"{title}, {variant}")
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--classes", type=int, nargs=3, default=(0, 1, 8))
    parser.add_argument("--train-examples", type=int, default=10000)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="runs/insight")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    data = prepare_data(None, args.data_dir, args.train_size)
    train, test = (data.x_train, data.y_train), (data.x_test, data.y_test)
    num_classes = data.num_classes
    results = {"config": vars(args) | {"backend": keras.backend.backend()}}
    for name in args.models:
        start = time.perf_counter()
        rows = {v: {m: [] for m in MEASURES} for v in ("baseline", "smoothed")}
        seen = slice(0, args.train_examples)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            models = train_pair(name, train, num_classes, seed, args)
            for variant, net in models.items():
                for where, (x, y) in (
                    ("", test),
                    ("train_", (train[0][seen], train[1][seen])),
                ):
                    # One predict pass; the same values as
                    # cluster_tightness(net, x, y, space=...).
                    h, w = penultimate_features(net, x)
                    rows[variant][f"{where}tightness_full"].append(
                        tightness_of_features(h, y)
                    )
                    rows[variant][f"{where}tightness_templates"].append(
                        tightness_of_features(h, y, templates=w)
                    )
                    # The three --classes on their template plane: the
                    # figure's view.
                    rows[variant][f"{where}tightness_plane"].append(
                        tightness_of_features(
                            h, y, classes=tuple(args.classes), templates=w
                        )
                    )
                rows[variant]["accuracy"].append(accuracy(net, *test))
            print(
                name,
                "seed",
                seed,
                json.dumps(
                    {v: [r[m][-1] for m in MEASURES] for v, r in rows.items()}
                ),
                flush=True,
            )
            if seed == args.first_seed:
                try:
                    figure(
                        models,
                        *test,
                        tuple(args.classes),
                        os.path.join(args.out, f"penultimate_{name}.png"),
                        name,
                    )
                except ImportError as error:  # no matplotlib: no figure
                    print(f"no figure: {error}")
        results[name] = {
            "per_seed": rows,
            "difference": {
                m: paired_difference(rows["baseline"][m], rows["smoothed"][m])
                for m in MEASURES
            },
            "seconds": time.perf_counter() - start,
        }
        for m, d in results[name]["difference"].items():
            print(
                f"{name} {m}: baseline {np.mean(rows['baseline'][m]):.4f} "
                f"smoothed {np.mean(rows['smoothed'][m]):.4f} "
                f"diff {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]",
                flush=True,
            )
    with open(os.path.join(args.out, "insight.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
