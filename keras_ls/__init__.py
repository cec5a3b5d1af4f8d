"""keras_ls: label smoothing as a first-class, measurable Keras 3 tool.

The package follows the data flow of a training run:
``data`` → ``losses`` (ε in a variable) → ``schedules`` and the
``LabelSmoothingScheduler`` (write ε) → ``metrics`` and the
``ConfidenceMonitor`` (read predictions) → ``calibration``, ``experiment``,
reports and plots. Public names are listed in ``__all__``.

Names are resolved lazily (PEP 562), so ``keras_ls.experiment.cli`` can
parse its arguments and choose a Keras backend before Keras is imported. A
library import still imports every public module at once, as before: that
registers the public classes for serialization, so
``keras.saving.load_model`` finds ``keras_ls>…`` objects right after
``import keras_ls``. Only the ``keras-ls`` command (the console script and
``python -m keras_ls``) defers it until it has chosen the backend.
"""

import importlib
import os
import sys

__version__ = "0.1.0"

# Public names defined in a submodule: name -> submodule.
_EXPORTS = {
    "BinaryLabelSmoothingCrossentropy": "losses",
    "ConfidenceMonitor": "callbacks",
    "ConfidencePenalty": "losses",
    "LabelSmoothingCrossentropy": "losses",
    "LabelSmoothingScheduler": "callbacks",
    "MarginLabelSmoothing": "losses",
    "MaxSuppression": "losses",
    "OnlineLabelSmoothing": "losses",
    "compare": "experiment",
    "label_smoothing_crossentropy": "losses",
    "load_fashion_mnist": "data",
    "minimum_loss": "losses",
    "track_label_smoothing": "losses",
}
# Submodules reachable as attributes (``keras_ls.plots``) without an
# import statement of their own (the old paths warn: see _deprecation).
_SUBMODULES = (
    "calibration",
    "callbacks",
    "cli",
    "data",
    "experiment",
    "losses",
    "metrics",
    "monitor",
    "ops",
    "plots",
    "plots_experiment",
    "report",
    "scheduler",
    "schedules",
)

__all__ = [
    "BinaryLabelSmoothingCrossentropy",
    "ConfidenceMonitor",
    "ConfidencePenalty",
    "LabelSmoothingCrossentropy",
    "LabelSmoothingScheduler",
    "MarginLabelSmoothing",
    "MaxSuppression",
    "OnlineLabelSmoothing",
    "__version__",
    "calibration",
    "callbacks",
    "compare",
    "data",
    "experiment",
    "label_smoothing_crossentropy",
    "load_fashion_mnist",
    "losses",
    "metrics",
    "minimum_loss",
    "ops",
    "schedules",
    "track_label_smoothing",
]


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))


def _started_as_command(argv=None, orig_argv=None):
    """Whether this process is the ``keras-ls`` command line.

    True for the console script (``sys.argv[0]`` is ``…/keras-ls``) and
    for ``python -m keras_ls``, during whose package import
    ``sys.argv[0]`` is ``"-m"`` (see the Python docs of ``-m``).
    """
    argv = sys.argv if argv is None else argv
    orig_argv = (
        getattr(sys, "orig_argv", []) if orig_argv is None else (orig_argv)
    )
    if not argv:
        return False
    name = os.path.basename(argv[0])
    if name in ("keras-ls", "keras-ls.exe", "keras-ls-script.py"):
        return True
    if argv[0] != "-m":
        return False
    for i, arg in enumerate(orig_argv):
        if arg == "-m":
            return orig_argv[i + 1 : i + 2] == [__name__]
        if arg == "-m" + __name__:
            return True
    return False


if "keras" in sys.modules or not _started_as_command():
    # Import every public module now: this registers the serializable
    # classes, and Keras is (or will be) imported with the backend the
    # caller chose, as for any Keras library.
    for _name in __all__:
        if _name not in globals():
            __getattr__(_name)
    del _name
