"""Reliability diagrams and confidence histograms (matplotlib, optional).

matplotlib is the `plot` extra (`pip install keras-ls[plot]`) and is imported
only inside these functions. Each function draws one model on `ax` and
returns it; call it again with the same `ax` and another `label` to overlay
models. `draw_reliability` draws from per-bin statistics, which is all that
the streaming `ConfidenceMonitor` keeps.
"""

import numpy as np

_DIAGONAL_LABEL = "perfect calibration"


def _new_axes(ax):
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "Plotting needs matplotlib: pip install 'keras-ls[plot]'."
        ) from error
    _, ax = plt.subplots(figsize=(4.5, 4.5))
    return ax


def _next_color(ax):
    """The next color of the style's cycle, counted per axes by us so that
    bars, lines and histograms of one model share a color."""
    import matplotlib

    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()
    colors = cycle.get("color", ["C0"])
    index = getattr(ax, "_keras_ls_models", 0)
    ax._keras_ls_models = index + 1
    return colors[index % len(colors)]


def draw_reliability(ax, bin_edges, bin_counts, bin_accuracy,
                     bin_confidence, *, ece=None, label=None):
    """Draws one reliability curve from per-bin statistics onto `ax`.

    Bars show each non-empty bin's accuracy over its confidence interval;
    the line joins (mean confidence, accuracy) per non-empty bin. The
    diagonal is drawn once per axes.
    """
    edges = np.asarray(bin_edges, dtype=np.float64)
    counts = np.asarray(bin_counts, dtype=np.float64)
    filled = counts > 0
    accuracy = np.asarray(bin_accuracy, dtype=np.float64)[filled]
    confidence = np.asarray(bin_confidence, dtype=np.float64)[filled]
    color = _next_color(ax)
    legend = label if label is not None else "model"
    if ece is not None:
        legend = f"{legend} (ECE {ece:.3f})"
    if not any(line.get_label() == _DIAGONAL_LABEL for line in ax.lines):
        ax.plot([0, 1], [0, 1], linestyle="--", color="gray", linewidth=1,
                label=_DIAGONAL_LABEL)
    ax.bar(edges[:-1][filled], accuracy, width=np.diff(edges)[filled],
           align="edge", alpha=0.25, color=color, edgecolor=color)
    ax.plot(confidence, accuracy, marker="o", markersize=3, color=color,
            label=legend)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram")
    ax.legend(loc="upper left", fontsize="small")
    return ax


def reliability_diagram(y_true, probs, num_bins=15, ax=None, label=None):
    """Plots accuracy against confidence per equal-width bin.

    A calibrated model lies on the diagonal; points below it are
    overconfident, above it underconfident (typical after label smoothing).

    Args:
        y_true: Class ids or one-hot rows, as for `calibration_report`.
        probs: Predicted probabilities, shape (..., num_classes).
        num_bins: Number of equal-width confidence bins. Defaults to `15`.
        ax: matplotlib axes to draw on (to overlay models); `None` makes a
            new figure. Defaults to `None`.
        label: Legend label for this model. Defaults to `None`.

    Returns:
        The matplotlib axes.

    Examples:

    ```python
    ax = reliability_diagram(y, baseline_probs, label="ε = 0")
    reliability_diagram(y, smoothed_probs, ax=ax, label="ε = 0.1")
    ax.figure.savefig("reliability.png")
    ```

    References:
        Guo, Pleiss, Sun, Weinberger. On Calibration of Modern Neural
        Networks. ICML 2017.
    """
    from keras_ls.calibration import calibration_report

    report = calibration_report(y_true, probs, num_bins=num_bins)
    ax = _new_axes(ax)
    return draw_reliability(
        ax, report["bin_edges"], report["bin_counts"], report["bin_accuracy"],
        report["bin_confidence"], ece=report["ece"], label=label,
    )


def confidence_histogram(y_true, probs, num_bins=15, ax=None, label=None):
    """Plots the share of predictions per confidence bin.

    A dashed vertical line marks the mean confidence and a dotted one the
    accuracy, in the model's color; their distance is the confidence gap.

    Args:
        y_true: Class ids or one-hot rows, as for `calibration_report`.
        probs: Predicted probabilities, shape (..., num_classes).
        num_bins: Number of equal-width confidence bins. Defaults to `15`.
        ax: matplotlib axes to draw on (to overlay models); `None` makes a
            new figure. Defaults to `None`.
        label: Legend label for this model. Defaults to `None`.

    Returns:
        The matplotlib axes.

    Examples:

    ```python
    ax = confidence_histogram(y, baseline_probs, label="ε = 0")
    confidence_histogram(y, smoothed_probs, ax=ax, label="ε = 0.1")
    ```

    References:
        Guo, Pleiss, Sun, Weinberger. On Calibration of Modern Neural
        Networks. ICML 2017.
    """
    from keras_ls.calibration import calibration_report

    report = calibration_report(y_true, probs, num_bins=num_bins)
    ax = _new_axes(ax)
    color = _next_color(ax)
    share = report["bin_counts"] / report["num_examples"]
    legend = label if label is not None else "model"
    ax.stairs(share, report["bin_edges"], color=color, fill=False,
              linewidth=1.5, label=legend)
    ax.axvline(report["confidence"], color=color, linestyle="--",
               linewidth=1)
    ax.axvline(report["accuracy"], color=color, linestyle=":", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence (dashed: mean, dotted: accuracy)")
    ax.set_ylabel("share of predictions")
    ax.set_title("Confidence histogram")
    ax.legend(loc="upper left", fontsize="small")
    return ax
