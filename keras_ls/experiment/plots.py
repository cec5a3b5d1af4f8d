"""The PNG figures of a `ComparisonResult` (matplotlib, optional).

Figures are built with `matplotlib.figure.Figure`, not pyplot, so writing
them needs no display and leaves the caller's pyplot state alone. Every
figure says what it shows: the test set of one named seed, or the
validation split averaged over seeds, with the band explained in the
legend.
"""

import os

import numpy as np

from keras_ls.experiment._compare import BASELINE
from keras_ls.plots import confidence_histogram
from keras_ls.plots import draw_projection
from keras_ls.plots import new_figure
from keras_ls.plots import reliability_axes
from keras_ls.plots import reliability_diagram

#: ``(history key, title, minimum y span)``: the span keeps a difference of
#: a few thousandths from filling the panel as if it were large.
CURVES = (
    ("val_top1_accuracy", "accuracy", 0.05),
    ("val_nll", "NLL (unsmoothed)", 0.1),
    ("val_ece", "ECE", 0.05),
    ("val_confidence", "mean confidence", 0.05),
)

#: File name -> what the figure shows, as report.md links it (a format
#: string: ``seed`` is the first seed, ``n`` the number of seeds).
FIGURES = {
    "reliability.png": "Reliability diagrams and examples per bin (test "
    "set, seed {seed})",
    "confidence_histogram.png": "Confidence histograms (test set, seed {seed})",
    "example.png": "Largest confidence drop (test set, seed {seed})",
    "val_curves.png": "Per-epoch curves on the validation split "
    "(mean of {n} seeds, band: lowest to highest)",
    "accuracy_ece.png": "Accuracy against ECE (test set, mean of {n} "
    "seeds; bars: paired 95% interval of the difference to the baseline)",
    "penultimate.png": "Penultimate-layer activations of three classes "
    "projected on the plane of their templates (Müller et al. 2019, "
    "Fig. 1; test set, seed {seed})",
}
#: At most this many models side by side in ``penultimate.png``.
MAX_PROJECTIONS = 4


def _figure(width, height):
    return new_figure(width, height, layout="constrained")


def _label(result, name):
    return f"{name} ({result.variants[name]})"


def _first_seed(result):
    return f"test set, seed {result.seeds[0]}"


def set_minimum_span(ax, span, *, bounds=(-np.inf, np.inf)):
    """Widens the y range of `ax` to at least `span`, around its middle.

    Matplotlib fits the y axis to the data, so two curves 0.004 apart fill
    the panel and read like a large effect.

    Args:
        ax: The axes.
        span: The smallest y range shown.
        bounds: Limits the range may not cross (e.g. ``(0, 1)`` for a
            fraction); the range is shifted inside them. Defaults to no
            limits.

    Returns:
        The new ``(low, high)``.
    """
    low, high = ax.get_ylim()
    if high - low < span:
        middle = (low + high) / 2
        low, high = middle - span / 2, middle + span / 2
    if low < bounds[0]:
        low, high = bounds[0], max(high, bounds[0] + span)
    if high > bounds[1]:
        low, high = max(min(low, bounds[1] - span), bounds[0]), bounds[1]
    ax.set_ylim(low, high)
    return low, high


#: Reliability diagrams per row of the figure.
COLUMNS = 4


def reliability_figure(result):
    """Reliability diagrams of every model of the first seed, side by side
    (`COLUMNS` per row), each over a histogram of its examples per
    confidence bin."""
    names = list(result.test_probs)
    columns = min(len(names), COLUMNS)
    lines = -(-len(names) // columns)
    fig = _figure(4.2 * columns, 5.4 * lines)
    pairs = reliability_axes(fig, len(names), columns=columns)
    for name, (ax, counts_ax) in zip(names, pairs):
        reliability_diagram(
            result.test_labels,
            result.test_probs[name],
            num_bins=result.config["num_bins"],
            ax=ax,
            counts_ax=counts_ax,
            label=_label(result, name),
        )
        ax.set_title(
            f"Reliability diagram ({_first_seed(result)})", fontsize="medium"
        )
    return fig


def histogram_figure(result):
    """Confidence histograms of every model of the first seed, overlaid."""
    fig = _figure(6, 4)
    ax = fig.subplots()
    for name, probs in result.test_probs.items():
        confidence_histogram(
            result.test_labels,
            probs,
            num_bins=result.config["num_bins"],
            ax=ax,
            label=_label(result, name),
        )
    ax.set_title(f"Confidence histogram ({_first_seed(result)})")
    return fig


def example_figure(result, class_names):
    """The largest-confidence-drop example's class probabilities as bars."""
    shown = {k: v for k, v in result.examples.items() if v is not None}
    fig = _figure(7, 3.2 * max(len(shown), 1))
    axes = fig.subplots(max(len(shown), 1), 1, squeeze=False)[:, 0]
    for ax, (name, ex) in zip(axes, shown.items()):
        k = np.arange(len(ex["probs_baseline"]))
        ax.bar(
            k - 0.2, ex["probs_baseline"], 0.4, label=_label(result, BASELINE)
        )
        ax.bar(k + 0.2, ex["probs_other"], 0.4, label=_label(result, name))
        ax.set_xticks(
            k, class_names[: len(k)], rotation=30, ha="right", fontsize="small"
        )
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        ax.set_title(
            f"{_first_seed(result)}, example {ex['index']} (true: "
            f"{class_names[ex['label']]}): {ex['confidence_baseline']:.0%}"
            f" → {ex['confidence_other']:.0%}",
            fontsize="medium",
        )
        ax.legend(fontsize="small")
    return fig


def curves_figure(result):
    """Per-epoch validation-split curves: the mean over seeds, and a band
    from the lowest to the highest seed."""
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    keys = [
        c
        for c in CURVES
        if all(c[0] in h for hs in result.histories.values() for h in hs)
    ]
    if not keys:
        keys = [
            (k, k, 0.0)
            for k in sorted(next(iter(result.histories.values()))[0])
            if k.startswith("val_")
        ]
    n = len(result.seeds)
    fig = _figure(4 * max(len(keys), 1), 3.6)
    axes = fig.subplots(1, max(len(keys), 1), squeeze=False)[0]
    for ax, (key, title, span) in zip(axes, keys):
        for name, per_seed in result.histories.items():
            values = np.array([h[key] for h in per_seed], np.float64)
            epochs = np.arange(1, values.shape[1] + 1)
            (line,) = ax.plot(
                epochs, values.mean(0), marker=".", label=_label(result, name)
            )
            if len(values) > 1:
                ax.fill_between(
                    epochs,
                    values.min(0),
                    values.max(0),
                    color=line.get_color(),
                    alpha=0.2,
                )
        set_minimum_span(
            ax, span, bounds=((0.0, np.inf) if key == "val_nll" else (0.0, 1.0))
        )
        ax.set_title(f"validation {title}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, _ = axes[0].get_legend_handles_labels()
    if n > 1:
        handles.append(
            Patch(
                color="gray",
                alpha=0.2,
                label=f"band: lowest to highest of {n} seeds",
            )
        )
    axes[0].legend(handles=handles, fontsize="small")
    fig.suptitle(
        f"Validation split held out from the training data: mean of "
        f"{n} seed{'s' if n != 1 else ''} {list(result.seeds)}"
        if n > 1
        else f"Validation split held out from the training data: seed "
        f"{result.seeds[0]}",
        fontsize="medium",
    )
    return fig


def accuracy_ece_figure(result):
    """Each model's test accuracy against its ECE (means over seeds), with
    the paired 95% interval of its difference to the baseline as bars."""
    fig = _figure(6.4, 4.6)
    ax = fig.subplots()
    for name, values in result.metrics.items():
        ece = np.nanmean(values["ece"])
        accuracy = np.nanmean(values["accuracy"])
        if name == BASELINE:
            ax.plot(ece, accuracy, "ks", label=_label(result, name))
        else:
            d = result.differences[name]
            ax.errorbar(
                ece,
                accuracy,
                xerr=d["ece"]["half_width"],
                yerr=d["accuracy"]["half_width"],
                fmt="o",
                capsize=3,
                label=_label(result, name),
            )
        ax.annotate(
            name,
            (ece, accuracy),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize="small",
        )
    ax.set_xlabel("ECE (test set; lower is better)")
    ax.set_ylabel("accuracy (test set)")
    n = len(result.seeds)
    ax.set_title(
        f"Mean of {n} seed{'s' if n != 1 else ''}; bars: paired 95% "
        "interval of the difference to the baseline",
        fontsize="medium",
    )
    ax.legend(fontsize="x-small", loc="best")
    return fig


def penultimate_figure(result, class_names):
    """The first seed's template-plane projections, the baseline and the
    other trained models side by side (the first `MAX_PROJECTIONS`; the
    temperature-scaled variants share their model's picture)."""
    shown, seen = [], set()
    for name, projection in result.projections.items():
        key = id(projection)
        if key not in seen:
            seen.add(key)
            shown.append((name, projection))
    shown = shown[:MAX_PROJECTIONS]
    fig = _figure(4.2 * len(shown), 4.4)
    axes = np.atleast_1d(fig.subplots(1, len(shown)))
    tightness = getattr(result, "tightness", {})
    for ax, (name, projection) in zip(axes, shown):
        draw_projection(ax, projection)
        for text in ax.get_legend().get_texts():
            label = text.get_text()
            if label.startswith("class "):
                text.set_text(class_names[int(label.split()[1])])
        values = tightness.get(name)
        title = _label(result, name)
        if values:
            title += f"\ntightness {np.mean(values):.3f} (mean of seeds)"
        ax.set_title(title, fontsize="medium")
    return fig


def write(result, out_dir, class_names):
    """Writes the PNGs of `FIGURES` into `out_dir`; returns their paths.

    The validation curves are skipped when nothing was watched during
    training (``validation_size=0``).
    """
    os.makedirs(out_dir, exist_ok=True)
    figures = {
        "reliability.png": reliability_figure(result),
        "confidence_histogram.png": histogram_figure(result),
        "example.png": example_figure(result, class_names),
    }
    figures["accuracy_ece.png"] = accuracy_ece_figure(result)
    if getattr(result, "projections", None):
        figures["penultimate.png"] = penultimate_figure(result, class_names)
    if any(
        k.startswith("val_")
        for hs in result.histories.values()
        for h in hs
        for k in h
    ):
        figures["val_curves.png"] = curves_figure(result)
    paths = []
    for name, fig in figures.items():
        path = os.path.join(out_dir, name)
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths
