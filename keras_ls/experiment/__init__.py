"""The paired experiment: `compare`, its variant specs, statistics, report,
plots and CLI.

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

# Keras-free names of the spec parser (keras_ls.experiment.variants).
_VARIANTS = ("VARIANT_FORMS", "VariantSpec", "parse_variant")

__all__ = sorted(_PUBLIC + _VARIANTS)


def __getattr__(name):
    if name in _VARIANTS:
        module = "variants"
    elif name in _PUBLIC:
        module = "_compare"
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
