"""A `ComparisonResult` built by hand, for report and plot tests that need
no training."""

import numpy as np

from keras_ls import experiment


def fake_result(
    *,
    epochs=2,
    seeds=(0, 1, 2),
    accuracy_gap=0.004,
    num_classes=3,
    environment=None,
):
    """Baseline and smoothed results with known numbers.

    Test probabilities: 60 rows over `num_classes` classes; validation
    accuracy per epoch: baseline 0.850 + 0.001 · epoch (+ 0.001 · seed),
    smoothed `accuracy_gap` higher.
    """
    rng = np.random.default_rng(0)
    seeds = list(seeds)
    n = len(seeds)
    metrics = {
        name: {
            m: [0.5 + 0.01 * i + shift for i in range(n)]
            for m in experiment.METRICS
        }
        for name, shift in (("baseline", 0.0), ("smoothed", 0.02))
    }
    histories = {
        name: [
            {
                "loss": [1.0 / (e + 1) for e in range(epochs)],
                "val_top1_accuracy": [
                    0.85 + gap + 0.001 * (e + s) for e in range(epochs)
                ],
                "val_nll": [0.4 - 0.01 * e + gap for e in range(epochs)],
                "val_ece": [0.03 + gap for _ in range(epochs)],
                "val_confidence": [0.9 - gap for _ in range(epochs)],
            }
            for s in range(n)
        ]
        for name, gap in (("baseline", 0.0), ("smoothed", accuracy_gap))
    }
    labels = rng.integers(0, num_classes, 60)
    probs = {
        name: rng.dirichlet(np.ones(num_classes) * a, 60)
        for name, a in (("baseline", 0.3), ("smoothed", 2.0))
    }
    example = {
        "index": 4,
        "label": 1,
        "confidence_baseline": 0.99,
        "confidence_other": 0.80,
        "probs_baseline": [0.005, 0.99, 0.005][:num_classes],
        "probs_other": [0.1, 0.8, 0.1][:num_classes],
    }
    return experiment.ComparisonResult(
        config={
            "dataset": "fashion_mnist",
            "data_source": "/data/fm (test)",
            "model": "mlp",
            "label_smoothing": 0.1,
            "schedule": None,
            "label_noise": 0.0,
            "epochs": epochs,
            "seeds": seeds,
            "batch_size": 128,
            "learning_rate": 1e-3,
            "num_bins": 10,
            "train_size": None,
            "validation_size": 5000,
            "jit_compile": True,
            "backend": "jax",
            "keras_version": "3",
            "num_train": 55000,
            "num_validation": 5000,
            "num_test": 60,
            "call": "keras_ls.compare(seeds=3)",
        },
        seeds=seeds,
        variants={"baseline": "ε = 0", "smoothed": "ε = 0.1"},
        metrics=metrics,
        differences={
            "smoothed": {
                m: experiment.paired_difference(
                    metrics["baseline"][m], metrics["smoothed"][m]
                )
                for m in experiment.METRICS
            }
        },
        histories=histories,
        examples={"smoothed": example},
        test_labels=labels,
        test_probs=probs,
        seconds=12.0,
        environment=environment
        if environment is not None
        else {
            "python": "3.11.7",
            "platform": "Linux",
            "numpy": "2.0",
            "keras": "3.15.1",
            "backend": "jax",
            "backend_version": "0.10.2",
            "keras_ls": "0.1.0",
        },
    )
