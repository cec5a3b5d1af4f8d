"""Every keras_ls plot in one namespace (matplotlib, imported when drawing).

Reliability diagrams, confidence histograms and the penultimate-layer
projection. matplotlib is the `plot` extra (`pip install keras-ls[plot]`)
and is imported only inside these functions. Each function draws one model
on `ax` and returns it; call it again with the same `ax` and another
`label` to overlay models. `draw_reliability` draws from per-bin
statistics, which is all that the streaming `ConfidenceMonitor` keeps.
"""

import numpy as np

from keras_ls._api import keras_ls_export
from keras_ls._api import public_names

_DIAGONAL_LABEL = "perfect calibration"


_INSTALL = "Plotting needs matplotlib: pip install 'keras-ls[plot]'."


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(_INSTALL) from error
    return plt


def new_figure(width, height, **kwargs):
    """A matplotlib `Figure` of `width` × `height` inches, made without
    pyplot: drawing it needs no display and leaves no open figure."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(_INSTALL) from error
    return Figure(figsize=(width, height), **kwargs)


def _new_axes(ax):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=(4.5, 4.5))
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


def _bar_alpha(share):
    """Opacity of a bin's bar: its share of the examples, so a bin with a
    handful of examples is faint and cannot look as weighty as a full one.
    """
    return 0.06 + 0.5 * np.sqrt(share)


@keras_ls_export("keras_ls.plots.draw_reliability")
def draw_reliability(
    ax,
    bin_edges,
    bin_counts,
    bin_accuracy,
    bin_confidence,
    *,
    ece=None,
    label=None,
    counts_ax=None,
):
    """Draws one reliability curve from per-bin statistics onto `ax`.

    Bars show each non-empty bin's accuracy over its confidence interval,
    with an opacity that grows with the bin's share of the examples; the
    line joins (mean confidence, accuracy) per non-empty bin. The diagonal
    is drawn once per axes. How many examples each bin holds is drawn as a
    histogram on `counts_ax` when given (log scale, the model's color);
    otherwise each bar is annotated with its count, one row per model.

    Args:
        ax: The matplotlib axes of the diagram.
        bin_edges: The ``num_bins + 1`` edges of the confidence bins.
        bin_counts: Examples per bin.
        bin_accuracy: Accuracy per bin (ignored where the count is 0).
        bin_confidence: Mean confidence per bin (same).
        ece: The model's ECE for its legend entry. Defaults to `None`.
        label: The model's legend label. Defaults to `None` ("model").
        counts_ax: Axes beneath `ax` for the count histogram. Defaults to
            `None` (counts written on the bars).

    Returns:
        `ax`.
    """
    edges = np.asarray(bin_edges, dtype=np.float64)
    counts = np.asarray(bin_counts, dtype=np.float64)
    filled = counts > 0
    accuracy = np.asarray(bin_accuracy, dtype=np.float64)[filled]
    confidence = np.asarray(bin_confidence, dtype=np.float64)[filled]
    model_index = getattr(ax, "_keras_ls_models", 0)
    color = _next_color(ax)
    legend = label if label is not None else "model"
    if ece is not None:
        legend = f"{legend} (ECE {ece:.3f})"
    if not any(line.get_label() == _DIAGONAL_LABEL for line in ax.lines):
        ax.plot(
            [0, 1],
            [0, 1],
            linestyle="--",
            color="gray",
            linewidth=1,
            label=_DIAGONAL_LABEL,
        )
    share = counts / max(counts.sum(), 1.0)
    lefts, widths = edges[:-1][filled], np.diff(edges)[filled]
    for left, width, height, alpha in zip(
        lefts, widths, accuracy, _bar_alpha(share[filled])
    ):
        ax.bar(
            left,
            height,
            width=width,
            align="edge",
            alpha=alpha,
            color=color,
            edgecolor=color,
        )
    ax.plot(
        confidence,
        accuracy,
        marker="o",
        markersize=3,
        color=color,
        label=legend,
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram")
    ax.legend(loc="upper left", fontsize="small")
    if counts_ax is None:
        _write_counts(ax, lefts, widths, counts[filled], model_index, color)
    else:
        _draw_counts(counts_ax, edges, counts, color, label)
        ax.set_xlabel("")
        ax.tick_params(labelbottom=False)
    return ax


def _write_counts(ax, lefts, widths, counts, model_index, color):
    """Writes each bar's count on it, one row of numbers per model."""
    ax.set_xlabel("confidence (bar opacity and numbers: examples per bin)")
    for left, width, count in zip(lefts, widths, counts):
        ax.text(
            left + width / 2,
            0.01 + 0.04 * model_index,
            f"{count:.0f}",
            ha="center",
            va="bottom",
            fontsize=5,
            color=color,
        )


def _draw_counts(counts_ax, edges, counts, color, label):
    """Draws the examples per bin as a histogram on a log scale (an empty
    bin is a gap)."""
    counts_ax.stairs(
        np.where(counts > 0, counts, np.nan),
        edges,
        color=color,
        linewidth=1.5,
        label=label,
    )
    counts_ax.set_xlim(0, 1)
    counts_ax.set_yscale("log")
    # One example must stay visible on the log axis, whatever was drawn.
    top = max(getattr(counts_ax, "_keras_ls_top", 1.0), counts.max() * 2)
    counts_ax._keras_ls_top = top
    counts_ax.set_ylim(0.5, top)
    counts_ax.set_xlabel("confidence")
    counts_ax.set_ylabel("examples")


def reliability_axes(figure, count, *, columns=1):
    """`count` pairs (diagram axes, count-histogram axes beneath it) on
    `figure`, `columns` pairs per row; slots left over are hidden."""
    columns = min(count, columns)
    lines = -(-count // columns)
    axes = figure.subplots(
        2 * lines,
        columns,
        squeeze=False,
        sharex="col",
        gridspec_kw={"height_ratios": (3, 1) * lines},
    )
    pairs = []
    for i in range(lines * columns):
        line, column = divmod(i, columns)
        pair = (axes[2 * line, column], axes[2 * line + 1, column])
        if i < count:
            pairs.append(pair)
        else:
            for ax in pair:
                ax.set_visible(False)
    return pairs


@keras_ls_export(
    "keras_ls.plots.reliability_diagram",
    "keras_ls.calibration.reliability_diagram",
)
def reliability_diagram(
    y_true, probs, num_bins=15, ax=None, label=None, *, counts_ax=None
):
    """Plots accuracy against confidence per equal-width bin.

    A calibrated model lies on the diagonal; points below it are
    overconfident, above it underconfident (typical after label smoothing).

    Args:
        y_true: Class ids or one-hot rows, as for `calibration_report`.
        probs: Predicted probabilities, shape (..., num_classes).
        num_bins: Number of equal-width confidence bins. Defaults to `15`.
        ax: matplotlib axes to draw on (to overlay models); `None` makes a
            new figure with a count histogram beneath the diagram.
            Defaults to `None`.
        label: Legend label for this model. Defaults to `None`.
        counts_ax: Axes for the histogram of examples per bin (see
            `draw_reliability`). Defaults to `None`: the new figure's when
            `ax` is `None`, else counts written on the bars.

    Returns:
        The matplotlib axes of the diagram (``ax.keras_ls_counts_ax`` is
        the histogram's, or `None`).

    Examples:

    ```python
    ax = reliability_diagram(y, baseline_probs, label="ε = 0")
    reliability_diagram(y, smoothed_probs, ax=ax,
                        counts_ax=ax.keras_ls_counts_ax, label="ε = 0.1")
    ax.figure.savefig("reliability.png")
    ```

    References:
        Guo, Pleiss, Sun, Weinberger. On Calibration of Modern Neural
        Networks. ICML 2017.
    """
    from keras_ls.calibration.report import calibration_report

    report = calibration_report(y_true, probs, num_bins=num_bins)
    if ax is None and counts_ax is None:
        figure = _pyplot().figure(figsize=(4.5, 5.6), layout="constrained")
        ((ax, counts_ax),) = reliability_axes(figure, 1)
    ax = _new_axes(ax)
    ax.keras_ls_counts_ax = counts_ax
    return draw_reliability(
        ax,
        report["bin_edges"],
        report["bin_counts"],
        report["bin_accuracy"],
        report["bin_confidence"],
        ece=report["ece"],
        label=label,
        counts_ax=counts_ax,
    )


@keras_ls_export(
    "keras_ls.plots.confidence_histogram",
    "keras_ls.calibration.confidence_histogram",
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
    from keras_ls.calibration.report import calibration_report

    report = calibration_report(y_true, probs, num_bins=num_bins)
    return draw_confidence_histogram(
        _new_axes(ax),
        report["bin_edges"],
        report["bin_counts"],
        report["confidence"],
        report["accuracy"],
        label=label,
    )


def draw_confidence_histogram(
    ax, bin_edges, bin_counts, confidence, accuracy, *, label=None
):
    """Draws one model's share of predictions per bin onto `ax`, with its
    mean confidence (dashed) and accuracy (dotted) in its color."""
    color = _next_color(ax)
    counts = np.asarray(bin_counts, dtype=np.float64)
    ax.stairs(
        counts / max(counts.sum(), 1.0),
        bin_edges,
        color=color,
        fill=False,
        linewidth=1.5,
        label=label if label is not None else "model",
    )
    ax.axvline(confidence, color=color, linestyle="--", linewidth=1)
    ax.axvline(accuracy, color=color, linestyle=":", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence (dashed: mean, dotted: accuracy)")
    ax.set_ylabel("share of predictions")
    ax.set_title("Confidence histogram")
    ax.legend(loc="upper left", fontsize="small")
    return ax


def binned_reliability_figure(num_bins, models, *, title):
    """One reliability diagram of several models, 4.5 × 4.5 inches, from
    what `ConfidenceMonitor` keeps: (label, ece, (bin counts, accuracy,
    confidence)) per model."""
    figure = new_figure(4.5, 4.5)
    ax = figure.subplots()
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    for label, ece, bins in models:
        draw_reliability(ax, edges, *bins, ece=ece, label=label)
    ax.set_title(title)
    figure.tight_layout()
    return figure


def binned_histogram_figure(num_bins, models, *, title):
    """One confidence histogram of several models, 4.5 × 3.5 inches, from
    what `ConfidenceMonitor` keeps: (label, statistics, bin counts) per
    model."""
    figure = new_figure(4.5, 3.5)
    ax = figure.subplots()
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    for label, stats, counts in models:
        draw_confidence_histogram(
            ax,
            edges,
            counts,
            stats["confidence"],
            stats["top1_accuracy"],
            label=label,
        )
    ax.set_title(title)
    figure.tight_layout()
    return figure


@keras_ls_export("keras_ls.plots.penultimate_projection")
def penultimate_projection(
    model, x, y, classes=(0, 1, 2), *, layer=None, ax=None
):
    """Scatters penultimate activations on the plane of three class templates.

    The picture of Müller, Kornblith and Hinton (2019), Fig. 1: the
    penultimate activations of the examples of three `classes` (by default
    the input of the model's last Dense layer, see
    `keras_ls.calibration.penultimate_features`) are projected onto the
    plane through those classes' templates (the last Dense layer's weight
    vectors; see `keras_ls.calibration.template_plane_projection`) and
    scattered, coloured by class; each template is marked with a black
    star. With label smoothing the paper sees each class in a tight
    cluster, equidistant from the others.

    Args:
        model: A functional or Sequential `keras.Model` whose last Dense
            layer gives the logits.
        x: Inputs (numpy).
        y: Class ids (N,), or one-hot rows.
        classes: Three different class ids. Defaults to `(0, 1, 2)`.
        layer: Name of the layer whose output is taken instead of the last
            Dense layer's input. Defaults to `None`.
        ax: matplotlib axes to draw on; `None` makes a new figure.
            Defaults to `None`.

    Returns:
        ``(figure, projection)``: the matplotlib figure, and the
        `TemplateProjection` (``projection.points`` (N, 2) and
        ``projection.labels`` of the examples of the three classes, in
        their order in `x`; ``projection.templates`` (3, 2)).

    Raises:
        ValueError: see `keras_ls.calibration.penultimate_features` and
            `keras_ls.calibration.template_plane_projection`.

    Examples:

    ```python
    figure, projection = keras_ls.plots.penultimate_projection(
        model, x_test, y_test, classes=(0, 1, 8))
    figure.savefig("penultimate.png")
    ```

    References:
        - Müller, Kornblith and Hinton, 2019. [When Does Label Smoothing
          Help?](https://arxiv.org/abs/1906.02629) NeurIPS 2019.
    """
    from keras_ls.calibration import geometry

    features, templates = geometry.penultimate_features(model, x, layer=layer)
    projection = geometry.template_plane_projection(
        features, y, templates, classes
    )
    ax = _new_axes(ax)
    draw_projection(ax, projection)
    return ax.figure, projection


def draw_projection(ax, projection, *, max_points=2000):
    """Draws a `TemplateProjection` on `ax` (at most `max_points` points
    per class, the first ones, so large sets stay readable)."""
    for c in projection.classes:
        points = projection.points[projection.labels == c][:max_points]
        color = _next_color(ax)
        ax.scatter(
            points[:, 0],
            points[:, 1],
            s=4,
            alpha=0.35,
            color=color,
            linewidths=0,
            label=f"class {c}",
        )
    ax.scatter(
        projection.templates[:, 0],
        projection.templates[:, 1],
        marker="*",
        s=120,
        color="black",
        label="templates",
    )
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("template plane, axis 1")
    ax.set_ylabel("template plane, axis 2")
    ax.set_title("Penultimate layer")
    ax.legend(loc="best", fontsize="small", markerscale=2)
    return ax


__all__ = public_names(__name__)
