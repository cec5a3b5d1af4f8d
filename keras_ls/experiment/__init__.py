"""The paired experiment: `compare`, its statistics, report, plots and CLI.

Names are resolved lazily (PEP 562) so that the ``keras-ls`` command
(`keras_ls.experiment.cli`) can choose a Keras backend before anything here
imports Keras.
"""

import importlib

_PUBLIC = (
    "BASELINE",
    "METRICS",
    "MODELS",
    "SCHEDULE_SPECS",
    "ComparisonResult",
    "Variant",
    "build_model",
    "compare",
    "default_validation_size",
    "environment",
    "evaluate_predictions",
    "flip_labels",
    "largest_confidence_drop",
    "paired_difference",
    "parse_schedule",
    "t_quantile_975",
)

__all__ = list(_PUBLIC)


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}._compare"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
