"""The PNG figures of a `ComparisonResult` (matplotlib, optional).

Figures are built with `matplotlib.figure.Figure`, not pyplot, so writing
them needs no display and leaves the caller's pyplot state alone.
"""

import os

import numpy as np

from keras_ls.experiment import BASELINE
from keras_ls.plots import confidence_histogram
from keras_ls.plots import reliability_diagram

CURVES = (
    ("val_top1_accuracy", "accuracy"),
    ("val_nll", "NLL (unsmoothed)"),
    ("val_ece", "ECE"),
    ("val_confidence", "mean confidence"),
)


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "The plots need matplotlib: pip install 'keras-ls[plot]'."
        ) from error
    return Figure(figsize=(width, height), layout="constrained")


def _label(result, name):
    return f"{name} ({result.variants[name]})"


def reliability_figure(result):
    """Reliability diagrams of every model of the first seed, side by side."""
    names = list(result.test_probs)
    fig = _figure(4.2 * len(names), 4.2)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        reliability_diagram(result.test_labels, result.test_probs[name],
                            num_bins=result.config["num_bins"], ax=ax,
                            label=_label(result, name))
    return fig


def histogram_figure(result):
    """Confidence histograms of every model of the first seed, overlaid."""
    fig = _figure(6, 4)
    ax = fig.subplots()
    for name, probs in result.test_probs.items():
        confidence_histogram(result.test_labels, probs,
                             num_bins=result.config["num_bins"], ax=ax,
                             label=_label(result, name))
    return fig


def example_figure(result, class_names):
    """The largest-confidence-drop example's class probabilities as bars."""
    shown = {k: v for k, v in result.examples.items() if v is not None}
    fig = _figure(7, 3.2 * max(len(shown), 1))
    axes = fig.subplots(max(len(shown), 1), 1, squeeze=False)[:, 0]
    for ax, (name, ex) in zip(axes, shown.items()):
        k = np.arange(len(ex["probs_baseline"]))
        ax.bar(k - 0.2, ex["probs_baseline"], 0.4,
               label=_label(result, BASELINE))
        ax.bar(k + 0.2, ex["probs_other"], 0.4, label=_label(result, name))
        ax.set_xticks(k, class_names[:len(k)], rotation=30, ha="right",
                      fontsize="small")
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        ax.set_title(
            f"test example {ex['index']} (true: {class_names[ex['label']]}):"
            f" {ex['confidence_baseline']:.0%} → {ex['confidence_other']:.0%}"
        )
        ax.legend(fontsize="small")
    return fig


def curves_figure(result):
    """Per-epoch validation curves, mean over seeds (min-max band)."""
    keys = [(k, t) for k, t in CURVES
            if all(k in h for hs in result.histories.values() for h in hs)]
    if not keys:
        keys = [(k, k) for k in sorted(
            next(iter(result.histories.values()))[0]) if k.startswith("val_")]
    fig = _figure(4 * max(len(keys), 1), 3.4)
    axes = fig.subplots(1, max(len(keys), 1), squeeze=False)[0]
    for ax, (key, title) in zip(axes, keys):
        for name, per_seed in result.histories.items():
            values = np.array([h[key] for h in per_seed], np.float64)
            epochs = np.arange(1, values.shape[1] + 1)
            line, = ax.plot(epochs, values.mean(0), marker=".",
                            label=_label(result, name))
            if len(values) > 1:
                ax.fill_between(epochs, values.min(0), values.max(0),
                                color=line.get_color(), alpha=0.2)
        ax.set_title(title)
        ax.set_xlabel("epoch")
    axes[0].legend(fontsize="small")
    return fig


def write(result, out_dir, class_names):
    """Writes the four PNGs into `out_dir`; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    figures = {
        "reliability.png": reliability_figure(result),
        "confidence_histogram.png": histogram_figure(result),
        "example.png": example_figure(result, class_names),
        "val_curves.png": curves_figure(result),
    }
    paths = []
    for name, fig in figures.items():
        path = os.path.join(out_dir, name)
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths
