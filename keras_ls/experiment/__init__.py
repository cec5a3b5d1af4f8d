"""The paired experiment: `compare`, its variant specs, statistics, report,
plots and CLI.

Names are resolved lazily (PEP 562) so that the ``keras-ls`` command
(`keras_ls.experiment.cli`) can choose a Keras backend before anything here
imports Keras.

The parts, in the order of a run: `variants` (what is compared), `_data`
(what it is trained on), `_optimizer` (a new one per model), `_training`,
`_evaluation` (on the test set), `stats` (paired differences over seeds),
`_result`, and `_compare`, which runs them seed by seed and reports each
trained model through `_progress`; `report` and `plots` write the result,
`cli` is the command line and `distillation` reuses the parts for teachers
and students.
"""

import importlib

# Public name -> the submodule that defines it. The documented objects come
# first, in the order of docs/api.md (scripts/gen_api_docs.py reads it:
# they live in several files, so their source order says nothing).
_DEFINED_IN = {
    "t_quantile_975": "stats",
    "paired_difference": "stats",
    "flip_labels": "_data",
    "build_model": "_training",
    "evaluate_predictions": "_evaluation",
    "largest_confidence_drop": "_evaluation",
    "ComparisonResult": "_result",
    "environment": "_result",
    "Variant": "variants",
    "parse_schedule": "variants",
    "default_validation_size": "_data",
    "compare": "_compare",
    "BASELINE": "variants",
    "METRICS": "_evaluation",
    "MODELS": "_training",
    "SCHEDULE_SPECS": "variants",
    "VARIANT_FORMS": "variants",
    "VariantSpec": "variants",
    "parse_variant": "variants",
}

__all__ = sorted(_DEFINED_IN)


def __getattr__(name):
    if name not in _DEFINED_IN:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_DEFINED_IN[name]}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
