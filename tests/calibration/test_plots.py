import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

from keras_ls import plots  # noqa: E402
from keras_ls.experiment import plots as plots_experiment  # noqa: E402
from tests.experiment.fake_results import fake_result  # noqa: E402

EDGES = np.linspace(0, 1, 5)
COUNTS = np.array([0, 2, 50, 948])
ACCURACY = np.array([0.0, 0.5, 0.6, 0.95])
CONFIDENCE = np.array([0.0, 0.4, 0.62, 0.93])


def axes_pair():
    fig = Figure()
    return fig.subplots(2, 1)


def test_reliability_shows_examples_per_bin_beneath():
    ax, counts_ax = axes_pair()
    plots.draw_reliability(
        ax, EDGES, COUNTS, ACCURACY, CONFIDENCE, label="m", counts_ax=counts_ax
    )
    (steps,) = counts_ax.patches
    values, edges = steps.get_data()[:2]
    np.testing.assert_array_equal(edges, EDGES)
    # The empty bin is a gap, not a zero on a log axis.
    assert np.isnan(values[0])
    np.testing.assert_array_equal(values[1:], COUNTS[1:])
    assert counts_ax.get_yscale() == "log"
    assert counts_ax.get_ylim()[0] < 1, "a bin of one example is visible"
    # Bars: one per non-empty bin, at the bin's accuracy, and the fuller
    # the bin the more opaque its bar.
    bars = ax.patches
    np.testing.assert_allclose([b.get_height() for b in bars], ACCURACY[1:])
    alphas = [b.get_alpha() for b in bars]
    assert alphas == sorted(alphas) and alphas[0] < alphas[-1] / 3


def test_reliability_without_counts_axes_writes_counts_on_the_bars():
    ax = Figure().subplots()
    # Positional call, as keras_ls.callbacks.monitor makes it.
    plots.draw_reliability(
        ax, EDGES, COUNTS, ACCURACY, CONFIDENCE, ece=0.05, label="a"
    )
    plots.draw_reliability(
        ax, EDGES, COUNTS * 2, ACCURACY, CONFIDENCE, label="b"
    )
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["2", "50", "948", "4", "100", "1896"]
    # One row of numbers per model, in the model's color.
    rows = sorted({t.get_position()[1] for t in ax.texts})
    assert len(rows) == 2
    assert ax.texts[0].get_color() != ax.texts[3].get_color()
    assert "examples per bin" in ax.get_xlabel()


def test_reliability_diagram_new_figure_has_a_count_histogram():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    probs = rng.dirichlet(np.ones(3), 300)
    ax = plots.reliability_diagram(y, probs, num_bins=10)
    counts_ax = ax.keras_ls_counts_ax
    assert counts_ax is not None and counts_ax.figure is ax.figure
    confidence = probs.max(1)
    expected = np.histogram(confidence, bins=np.linspace(0, 1, 11))[0]
    values = counts_ax.patches[0].get_data()[0]
    np.testing.assert_array_equal(np.nan_to_num(values), expected)
    matplotlib.pyplot.close("all")


def test_minimum_span_keeps_a_small_gap_small():
    ax = Figure().subplots()
    ax.plot([1, 2], [0.850, 0.854])
    low, high = plots_experiment.set_minimum_span(ax, 0.05, bounds=(0.0, 1.0))
    assert high - low == pytest.approx(0.05)
    assert low < 0.850 and high > 0.854
    ax = Figure().subplots()
    ax.plot([1, 2], [0.99, 1.0])
    low, high = plots_experiment.set_minimum_span(ax, 0.05, bounds=(0.0, 1.0))
    assert high == 1.0 and low == pytest.approx(0.95)
    ax = Figure().subplots()
    ax.plot([1, 2], [0.2, 0.8])
    before = ax.get_ylim()
    assert plots_experiment.set_minimum_span(ax, 0.05) == before


def test_curves_say_what_they_show_and_do_not_blow_up_a_small_gap():
    result = fake_result(epochs=3, seeds=[3, 4, 5], accuracy_gap=0.004)
    fig = plots_experiment.curves_figure(result)
    accuracy_ax = fig.axes[0]
    assert "validation" in accuracy_ax.get_title()
    low, high = accuracy_ax.get_ylim()
    assert high - low >= 0.05
    assert fig._suptitle is not None
    title = fig._suptitle.get_text()
    assert "mean of 3 seeds" in title and "[3, 4, 5]" in title
    assert "validation" in title.lower()
    legend = [t.get_text() for t in accuracy_ax.get_legend().get_texts()]
    assert "band: lowest to highest of 3 seeds" in legend
    one = plots_experiment.curves_figure(fake_result(seeds=[7]))
    assert "seed 7" in one._suptitle.get_text()
    assert "mean" not in one._suptitle.get_text()
    assert not any(
        "band" in t.get_text() for t in one.axes[0].get_legend().get_texts()
    )


def test_test_set_figures_name_their_seed():
    result = fake_result(seeds=[6, 7])
    figures = [
        plots_experiment.reliability_figure(result),
        plots_experiment.histogram_figure(result),
        plots_experiment.example_figure(result, ["a", "b", "c"]),
    ]
    for fig in figures:
        titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
        assert titles and all("test set, seed 6" in t for t in titles), titles
    # Each reliability diagram sits over its own count histogram.
    reliability = figures[0]
    assert len(reliability.axes) == 4
    assert sum(ax.get_yscale() == "log" for ax in reliability.axes) == 2
