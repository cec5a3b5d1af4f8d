"""Writes a `ComparisonResult` as results.json, report.md and a table.

The numbers are formatted once here, so the Markdown report, the terminal
table and the README all show the same digits.
"""

import json
import math
import os

import numpy as np

from keras_ls.data import CLASS_NAMES
from keras_ls.experiment import BASELINE
from keras_ls.experiment import METRICS

LABELS = {
    "accuracy": "accuracy",
    "nll": "NLL (unsmoothed)",
    "ece": "ECE (15 bins)",
    "confidence": "mean confidence",
    "confidence_correct": "confidence, correct",
    "confidence_incorrect": "confidence, incorrect",
}


def _finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, np.generic):
        return _finite_or_none(value.item())
    return value


def to_json(result):
    """The result as strict JSON (NaN, e.g. a one-seed interval, is null)."""
    return json.dumps(_finite_or_none(result.to_dict()), indent=2,
                      allow_nan=False)


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
            interval = (
                f"[{fmt(d['low'], True)}, {fmt(d['high'], True)}]"
                if math.isfinite(d["half_width"]) else "n/a (1 seed)"
            )
            table.append((
                name, LABELS[metric],
                fmt(_mean(result.metrics[BASELINE][metric])),
                fmt(_mean(result.metrics[name][metric])),
                fmt(d["mean"], True), interval,
            ))
    return table


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


def markdown(result, command=None):
    """The report as Markdown text."""
    c = result.config
    out = ["# Label smoothing: paired comparison", ""]
    if command:
        out += ["Command:", "", "```", command, "```", ""]
    out += [
        f"- model `{c['model']}`, {c['epochs']} epochs, batch size "
        f"{c['batch_size']}, Adam {c['learning_rate']:g}, "
        f"{c['num_train']} training / {c['num_test']} test examples",
        f"- label noise {c['label_noise']:g}; seeds {c['seeds']}; backend "
        f"{c['backend']} (Keras {c['keras_version']}), jit_compile="
        f"{c['jit_compile']}",
        "- variants: " + "; ".join(
            f"{k}: {v}" for k, v in result.variants.items()),
        f"- wall-clock time: {result.seconds:.0f} s",
        "",
        "Test-set means over seeds, and the paired difference "
        "(variant − baseline, same seed) with its 95% Student-t interval. "
        "An interval that contains 0 is not a significant difference.",
        "",
        "| variant | metric | baseline | variant | Δ | 95% CI |",
        "|---|---|---|---|---|---|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in rows(result)]
    out += ["", "## Largest confidence drop", ""]
    out += [f"- {line}" for line in example_lines(result)]
    for name, ex in result.examples.items():
        if ex is None:
            continue
        out += ["", f"Class probabilities ({name}):", "",
                "| class | baseline | " + name + " |", "|---|---|---|"]
        for k, (pa, pb) in enumerate(zip(ex["probs_baseline"],
                                         ex["probs_other"])):
            cls = class_name(result, k)
            out.append(f"| {cls} | {pa:.4f} | {pb:.4f} |")
    out += ["", "Per-seed test values:", "",
            "| variant | metric | " + " | ".join(
                f"seed {s}" for s in result.seeds) + " |",
            "|---|---|" + "---|" * len(result.seeds)]
    for name, values in result.metrics.items():
        for metric in METRICS:
            out.append(f"| {name} | {LABELS[metric]} | " + " | ".join(
                fmt(v) for v in values[metric]) + " |")
    return "\n".join(out) + "\n"


def write(result, out_dir, command=None):
    """Writes results.json and report.md into `out_dir`; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "results.json"),
             os.path.join(out_dir, "report.md")]
    with open(paths[0], "w", encoding="utf-8") as f:
        f.write(to_json(result) + "\n")
    with open(paths[1], "w", encoding="utf-8") as f:
        f.write(markdown(result, command))
    return paths


def print_table(result, console=None):
    """Prints the comparison as a rich table (plain text without rich)."""
    title = (f"{result.config['model']}, {result.config['epochs']} epochs, "
             f"{len(result.seeds)} seeds, label noise "
             f"{result.config['label_noise']:g}")
    header = ("variant", "metric", "baseline", "variant mean", "Δ", "95% CI")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        for r in (header, *rows(result)):
            print("  ".join(f"{cell:>22}" for cell in r))
        for line in example_lines(result):
            print(line)
        return
    table = Table(title=title)
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i < 2 else "right")
    for r in rows(result):
        table.add_row(*r)
    console = console or Console()
    console.print(table)
    for line in example_lines(result):
        console.print(line)
