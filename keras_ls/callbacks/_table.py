"""The side-by-side table that ConfidenceMonitor prints at train end."""

import math


def _fmt(value, signed=False):
    if not math.isfinite(value):
        return str(value)
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def print_statistics_table(title, names, statistics, keys, prefix):
    """Prints one row per statistic: each model's value, then the first
    model minus each other one (rich).

    `statistics` holds one {statistic: float} per name in `names`.
    """
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("statistic")
    for name in names:
        table.add_column(name, justify="right")
    for name in names[1:]:
        table.add_column(f"{names[0]} - {name}", justify="right")
    mine = statistics[0]
    for key in keys:
        row = [prefix + key]
        row += [_fmt(stats[key]) for stats in statistics]
        row += [
            _fmt(mine[key] - stats[key], signed=True)
            for stats in statistics[1:]
        ]
        table.add_row(*row)
    Console().print(table)
