"""Root pytest configuration: what doctest collection must skip."""

# The deprecated module aliases (keras_ls/_deprecation.py) replace
# themselves in sys.modules with their new module, so pytest cannot import
# them by path to collect doctests; their targets are collected instead.
collect_ignore = [
    "keras_ls/cli.py",
    "keras_ls/monitor.py",
    "keras_ls/plots_experiment.py",
    "keras_ls/report.py",
    "keras_ls/scheduler.py",
]
