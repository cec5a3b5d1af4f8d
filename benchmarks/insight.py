"""Does label smoothing tighten the penultimate clusters? (docs/insight.md)

Müller, Kornblith and Hinton (2019), Fig. 1: with label smoothing, each
class's penultimate activations form a tight cluster. This script measures
it on Fashion-MNIST with `keras_ls.calibration.cluster_tightness` (mean
within-class RMS spread / mean distance between class means, full
penultimate space, on the test set; lower is tighter), for the built-in
networks, over paired seeds:

    KERAS_BACKEND=jax nice -n 5 python benchmarks/insight.py \\
        --models mlp cnn --seeds 5 --out runs/insight

For each model and seed, a baseline (ε = 0) and a smoothed model start from
the same initial weights and see the same batches in the same order (the
training of `keras_ls.compare`, without its validation split). It prints
and writes (``insight.json``) the per-seed tightness and test accuracy, and
the paired difference (smoothed - baseline) with its 95% Student-t
interval; with matplotlib, ``penultimate_<model>.png`` shows the first
seed's projections, baseline and smoothed side by side (`--classes`).
"""

import argparse
import json
import os
import time

import keras
import numpy as np

from keras_ls.calibration import cluster_tightness
from keras_ls.experiment import _compare


def train_pair(name, data, seed, args):
    keras.utils.set_random_seed(seed)
    shape, k = data.x_train.shape[1:], data.num_classes
    initial = _compare.build_model(name, input_shape=shape, num_classes=k)
    weights = initial.get_weights()
    models = {}
    for variant, eps in (("baseline", 0.0), ("smoothed", args.label_smoothing)):
        net = _compare.build_model(name, input_shape=shape, num_classes=k)
        net.set_weights(weights)
        _compare._train_variant(
            net,
            _compare.Variant(f"ε = {eps:g}", eps),
            (data.x_train, data.y_train),
            None,
            seed=seed,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=1e-3,
            num_bins=15,
            jit_compile=keras.backend.backend() != "torch",
            verbose=0,
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
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--classes", type=int, nargs=3, default=(0, 1, 8))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="runs/insight")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    data = _compare._prepare_data(None, args.data_dir, args.train_size)
    results = {"config": vars(args) | {"backend": keras.backend.backend()}}
    for name in args.models:
        start = time.perf_counter()
        rows = {
            v: {"tightness": [], "accuracy": []}
            for v in ("baseline", "smoothed")
        }
        for seed in range(args.seeds):
            models = train_pair(name, data, seed, args)
            for variant, net in models.items():
                rows[variant]["tightness"].append(
                    cluster_tightness(net, data.x_test, data.y_test)
                )
                rows[variant]["accuracy"].append(
                    accuracy(net, data.x_test, data.y_test)
                )
            print(
                name,
                "seed",
                seed,
                {v: round(r["tightness"][-1], 4) for v, r in rows.items()},
                flush=True,
            )
            if seed == 0:
                try:
                    figure(
                        models,
                        data.x_test,
                        data.y_test,
                        tuple(args.classes),
                        os.path.join(args.out, f"penultimate_{name}.png"),
                        name,
                    )
                except ImportError as error:  # no matplotlib: no figure
                    print(f"no figure: {error}")
        results[name] = {
            "per_seed": rows,
            "difference": {
                m: _compare.paired_difference(
                    rows["baseline"][m], rows["smoothed"][m]
                )
                for m in ("tightness", "accuracy")
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
