"""Writes a `ComparisonResult` as results.json, PNGs, report.md and a table.

The numbers are formatted once here, so the Markdown report, the terminal
table and the README all show the same digits.
"""

import json
import math
import os

import numpy as np

from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls.data import CLASS_NAMES
from keras_ls.experiment import _optimizer
from keras_ls.experiment import _result
from keras_ls.experiment import plots as plots_experiment
from keras_ls.experiment._evaluation import METRICS
from keras_ls.experiment.variants import BASELINE

LABELS = {
    "accuracy": "accuracy",
    "nll": "NLL (unsmoothed)",
    "ece": "ECE (15 bins)",
    "confidence": "mean confidence",
    "confidence_correct": "confidence, correct",
    "confidence_incorrect": "confidence, incorrect",
}


@keras_ls_export("keras_ls.experiment.report.to_json")
def to_json(result, command=None):
    """The result as strict JSON (NaN, e.g. a one-seed interval, is null).

    Args:
        result: A `ComparisonResult`.
        command: The command line that ran it, or `None` for the Python
            call recorded by `compare`. Defaults to `None`.

    Returns:
        A JSON string; it parses with any strict JSON reader.
    """
    record = result.to_dict()
    record["command"] = _command(result, command)
    return json.dumps(_result.finite_or_none(record), indent=2, allow_nan=False)


def _command(result, command):
    return command if command else result.config.get("call")


def plural(count, word):
    """``"1 epoch"``, ``"2 epochs"``.

    Examples:

    >>> plural(1, "epoch"), plural(3, "seed")
    ('1 epoch', '3 seeds')
    """
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _mean(values):
    values = [v for v in values if math.isfinite(v)]
    return sum(values) / len(values) if values else math.nan


def fmt(value, signed=False):
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def rows(result):
    """One row per (variant, metric): the means and the paired difference.

    Returns:
        A list of ``(variant, metric label, baseline mean, variant mean,
        difference, 95% interval)`` string tuples.
    """
    table = []
    for name, diffs in result.differences.items():
        for metric in METRICS:
            d = diffs[metric]
            interval = _interval(d)
            table.append(
                (
                    name,
                    LABELS[metric],
                    fmt(_mean(result.metrics[BASELINE][metric])),
                    fmt(_mean(result.metrics[name][metric])),
                    fmt(d["mean"], True),
                    interval,
                )
            )
    return table


#: The metrics of the summary table and of the accuracy-ECE plot.
SUMMARY = ("accuracy", "nll", "ece", "confidence")
SHORT = {
    "accuracy": "accuracy",
    "nll": "NLL",
    "ece": "ECE",
    "confidence": "confidence",
}


def _interval(d):
    if math.isfinite(d["half_width"]):
        return f"[{fmt(d['low'], True)}, {fmt(d['high'], True)}]"
    return "n/a (1 seed)" if d["n"] == 1 else "n/a"


def summary_header():
    """The column names of `summary_rows`."""
    header = ["variant"]
    for metric in SUMMARY:
        header += [SHORT[metric], f"Δ {SHORT[metric]} [95% CI]"]
    return tuple(header)


def summary_rows(result):
    """One row per model: every variant against the baseline.

    Returns:
        A list of string tuples (see `summary_header`): the variant's name,
        then for each of accuracy, NLL, ECE and mean confidence its
        test-set mean over seeds and the paired difference to the baseline
        with its 95% interval (``"—"`` on the baseline's row).
    """
    table = []
    for name, values in result.metrics.items():
        row = [name]
        for metric in SUMMARY:
            row.append(fmt(_mean(values[metric])))
            if name == BASELINE:
                row.append("—")
            else:
                d = result.differences[name][metric]
                row.append(f"{fmt(d['mean'], True)} {_interval(d)}")
        table.append(tuple(row))
    return table


def temperature_lines(result):
    """Sentences giving each temperature-scaled variant's fitted T."""
    lines = []
    for name, values in getattr(result, "temperatures", {}).items():
        per_seed = ", ".join(f"{t:.3f}" for t in values)
        lines.append(
            f"{name}: T = {_mean(values):.3f} (mean; per seed: {per_seed}), "
            "fitted on the validation split"
        )
    return lines


def tightness_lines(result):
    """Sentences giving each model's penultimate-cluster tightness and its
    paired difference to the baseline (lower is tighter)."""
    values = getattr(result, "tightness", {}) or {}
    if not values.get(BASELINE):
        return []
    differences = result.tightness_differences()
    lines = []
    for name, per_seed in values.items():
        if per_seed is None:
            continue
        line = f"{name}: tightness {_mean(per_seed):.4f}"
        if name in differences:
            d = differences[name]
            line += f", Δ {fmt(d['mean'], True)} {_interval(d)}"
        lines.append(line)
    return lines


def example_lines(result):
    """Sentences about each variant's largest-confidence-drop example."""
    lines = []
    for name, ex in result.examples.items():
        if ex is None:
            lines.append(f"{name}: no test example is correct for both.")
            continue
        cls = class_name(result, ex["label"])
        lines.append(
            f"{name} (seed {result.seeds[0]}): test example {ex['index']} "
            f"({cls}), correct for both, confidence "
            f"{ex['confidence_baseline']:.1%} → {ex['confidence_other']:.1%}."
        )
    return lines


def class_name(result, k):
    """Fashion-MNIST's name of class `k`, or the id for other data."""
    if result.config.get("dataset") == "fashion_mnist":
        return CLASS_NAMES[k]
    return f"class {k}"


def _versions(result):
    env = result.environment
    if not env:
        return f"Keras {result.config.get('keras_version', '?')}"
    return (
        f"keras_ls {env['keras_ls']}, Keras {env['keras']}, "
        f"{env['backend']} {env['backend_version']}, numpy "
        f"{env['numpy']}, Python {env['python']} on {env['platform']}"
    )


@keras_ls_export("keras_ls.experiment.report.markdown")
def markdown(result, command=None, *, figures=()):
    """The report as Markdown text.

    Args:
        result: A `ComparisonResult`.
        command: The command line that ran it, or `None` for the Python
            call recorded by `compare`. Defaults to `None`.
        figures: File names of PNGs beside the report, linked from it.
            Defaults to `()`.

    Returns:
        The Markdown text of report.md.
    """
    out = ["# Label smoothing: paired comparison", ""]
    out += _setup_lines(result, command)
    out += _summary_lines(result)
    out += _note_lines(result)
    out += [
        "",
        "## All metrics",
        "",
        "| variant | metric | baseline | variant | Δ | 95% CI |",
        "|---|---|---|---|---|---|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in rows(result)]
    out += _figure_lines(result, figures)
    out += _drop_lines(result)
    out += _per_seed_lines(result)
    out += _reproduce_lines(result)
    return "\n".join(out) + "\n"


def _setup_lines(result, command):
    """The command (or Python call) and the run's setup, as a list."""
    c = result.config
    out = []
    shown = _command(result, command)
    if shown:
        label = "Command" if command else "Python call"
        out += [f"{label}:", "", "```", shown, "```", ""]
    split = (
        f"{c['num_train']} training / {c['num_validation']} "
        f"validation / {c['num_test']} test examples"
        if "num_validation" in c
        else f"{c['num_train']} training / {c['num_test']} test examples"
    )
    return out + [
        f"- model `{c['model']}`, {plural(c['epochs'], 'epoch')}, batch "
        f"size {c['batch_size']}, {_optimizer_text(c)}, {split}",
        f"- data: {c.get('data_source', c.get('dataset', '?'))}",
        f"- label noise {c['label_noise']:g}; seeds {c['seeds']}; backend "
        f"{c['backend']}, jit_compile={c['jit_compile']}",
        f"- versions: {_versions(result)}",
        "- variants: "
        + "; ".join(f"{k}: {v}" for k, v in result.variants.items()),
        f"- wall-clock time: {result.seconds:.0f} s",
    ]


def _optimizer_text(config):
    if config.get("optimizer"):
        return _optimizer.describe(config["optimizer"])
    return f"Adam {config['learning_rate']:g}"


def _reproduce_lines(result):
    """The model's layers, the optimizer's full config and the data's
    source and shapes: what a rerun needs besides the command."""
    c = result.config
    model, data = c.get("model_details"), c.get("data")
    if not model or not data or not c.get("optimizer"):
        return []
    out = [
        "",
        "## Model, optimizer and data",
        "",
        f"Model `{model['name']}` from `{model['source']}`: "
        f"{plural(len(model['layers']), 'layer')}, {model['params']:,} "
        f"parameters ({model['trainable_params']:,} trainable), a fresh "
        "copy per trained model, all of a seed from the same initial "
        "weights.",
        "",
        "| layer | class | output shape | parameters |",
        "|---|---|---|---|",
    ]
    for layer in model["layers"]:
        shape = layer["output_shape"]
        shape = "?" if shape is None else str(tuple(shape))
        shape = shape.replace("None", "batch")
        out.append(
            f"| {layer['name']} | {layer['class']} | {shape} "
            f"| {layer['params']:,} |"
        )
    out += _code_lines(model.get("code"))
    out += [
        "",
        f"Optimizer: {_optimizer.describe(c['optimizer'])}, a new one per "
        "trained model. Its full config (`keras.optimizers.serialize`):",
        "",
        "```json",
        json.dumps(c["optimizer"]["config"], sort_keys=True),
        "```",
        "",
        f"Data: {data['source']}; x_train {tuple(data['x_train'])}, y_train "
        f"{tuple(data['y_train'])}, x_test {tuple(data['x_test'])}, y_test "
        f"{tuple(data['y_test'])} (after `train_size`; images as float32, "
        f"uint8 divided by 255); {data['num_classes']} classes.",
    ]
    return out + _code_lines(data.get("code"))


def _code_lines(code):
    """A user's function, as the report shows it."""
    if not code:
        return []
    return ["", "```python", code.rstrip("\n"), "```"]


def _summary_lines(result):
    """The summary table, after the sentence that says how to read it."""
    out = [
        "",
        "Test-set means over seeds, and the paired difference "
        "(variant − baseline, same seed) with its 95% Student-t interval. "
        "An interval that contains 0 is not a significant difference. "
        "The test set is used only for this final evaluation; the "
        "per-epoch curves are measured on a validation split held out "
        "from the training data.",
        "",
        "| " + " | ".join(summary_header()) + " |",
        "|---" * len(summary_header()) + "|",
    ]
    return out + ["| " + " | ".join(r) + " |" for r in summary_rows(result)]


def _note_lines(result):
    """The fitted temperatures and the penultimate tightness, when
    measured."""
    out = []
    temperatures = temperature_lines(result)
    if temperatures:
        out += [
            "",
            "Temperature scaling: the test logits divided by T, fitted "
            "(minimum NLL) on the validation split, never on the test set:",
            "",
        ]
        out += [f"- {line}" for line in temperatures]
    tightness = tightness_lines(result)
    if tightness:
        out += [
            "",
            "Penultimate-layer tightness on the test set "
            "(`keras_ls.calibration.cluster_tightness`: the mean "
            "within-class spread over the mean distance between class "
            "means; lower is tighter; paired Δ to the baseline with its "
            "95% interval):",
            "",
        ]
        out += [f"- {line}" for line in tightness]
    return out


def _figure_lines(result, figures):
    """A titled link to each PNG of `figures`."""
    if not figures:
        return []
    out = ["", "## Figures", ""]
    for name in figures:
        title = plots_experiment.FIGURES.get(name, name).format(
            seed=result.seeds[0], n=len(result.seeds)
        )
        out += [f"### {title}", "", f"![{title}]({name})", ""]
    return out[:-1]


def _drop_lines(result):
    """The largest confidence drop of each variant, with the example's
    class probabilities."""
    out = ["", "## Largest confidence drop", ""]
    out += [f"- {line}" for line in example_lines(result)]
    for name, ex in result.examples.items():
        if ex is None:
            continue
        out += [
            "",
            f"Class probabilities ({name}):",
            "",
            "| class | baseline | " + name + " |",
            "|---|---|---|",
        ]
        for k, (pa, pb) in enumerate(
            zip(ex["probs_baseline"], ex["probs_other"])
        ):
            cls = class_name(result, k)
            out.append(f"| {cls} | {pa:.4f} | {pb:.4f} |")
    return out


def _per_seed_lines(result):
    """Every metric of every variant, seed by seed."""
    out = [
        "",
        "Per-seed test values:",
        "",
        "| variant | metric | "
        + " | ".join(f"seed {s}" for s in result.seeds)
        + " |",
        "|---|---|" + "---|" * len(result.seeds),
    ]
    for name, values in result.metrics.items():
        for metric in METRICS:
            out.append(
                f"| {name} | {LABELS[metric]} | "
                + " | ".join(fmt(v) for v in values[metric])
                + " |"
            )
    return out


def _write_figures(result, out_dir):
    """Writes the PNGs when matplotlib is installed; returns their paths."""
    names = [class_name(result, k) for k in range(_num_classes(result))]
    try:
        return plots_experiment.write(result, out_dir, names)
    except ImportError:
        return []


def _num_classes(result):
    probs = next(iter(result.test_probs.values()), None)
    if probs is not None:
        return int(np.shape(probs)[-1])
    return int(np.max(result.test_labels)) + 1


@keras_ls_export("keras_ls.experiment.report.write")
def write(result, out_dir, command=None, *, plots=True):
    """Writes results.json, the PNG figures and report.md into `out_dir`.

    Args:
        result: A `ComparisonResult`.
        out_dir: The folder (created when missing).
        command: The command line that ran it (the CLI passes it), or
            `None` to record the Python call. Defaults to `None`.
        plots: Whether to write the PNGs (skipped silently without
            matplotlib). Defaults to `True`.

    Returns:
        The paths written: results.json, the PNGs, report.md.

    Examples:

    >>> result = keras_ls.compare(epochs=2, seeds=2)  # doctest: +SKIP
    >>> keras_ls.experiment.report.write(result, "runs/ls")  # doctest: +SKIP
    ['runs/ls/results.json', ..., 'runs/ls/report.md']
    """
    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, "results.json")
    with open(json_path, "w", encoding="utf-8") as f:
        f.write(to_json(result, command) + "\n")
    figure_paths = _write_figures(result, out_dir) if plots else []
    report_path = os.path.join(out_dir, "report.md")
    with open(report_path, "w", encoding="utf-8") as f:
        f.write(
            markdown(
                result,
                command,
                figures=[os.path.basename(p) for p in figure_paths],
            )
        )
    return [json_path, *figure_paths, report_path]


@keras_ls_export("keras_ls.experiment.report.print_table")
def print_table(result, console=None):
    """Prints the comparison as a rich table (plain text without rich).

    No cell is wrapped: the console is widened to the table for this print
    (a CI log is not a terminal, and rich would otherwise fold the
    intervals at its default 80 columns).
    """
    c = result.config
    title = (
        f"{c['model']}, {plural(c['epochs'], 'epoch')}, "
        f"{plural(len(result.seeds), 'seed')}, label noise "
        f"{c['label_noise']:g}; test set"
    )
    header = summary_header()
    lines = temperature_lines(result) + example_lines(result)
    try:
        from rich.console import Console
        from rich.measure import Measurement
        from rich.table import Table
    except ImportError:
        print(title)
        for r in (header, *summary_rows(result)):
            print("  ".join(f"{cell:>22}" for cell in r))
        for line in lines:
            print(line)
        return
    table = Table(title=title)
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i < 1 else "right", no_wrap=True)
    for r in summary_rows(result):
        table.add_row(*r)
    console = console or Console()
    needed = Measurement.get(
        console, console.options.update(width=10_000), table
    ).maximum
    width = console.width
    console.width = max(width, needed)
    try:
        console.print(table)
        for line in lines:
            console.print(line)
    finally:
        console.width = width


__all__ = public_names(__name__)
