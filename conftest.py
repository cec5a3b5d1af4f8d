"""Root pytest configuration: doctest collection and namespace."""

import importlib.util

import pytest

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

# Backend-only private modules import their framework at module level; an
# environment without it (the Keras-floor venv has no torch) cannot collect
# their doctests.
for _module, _path in (
    ("tensorflow", "keras_ls/losses/_tf_fused.py"),
    ("torch", "keras_ls/losses/_torch_eager.py"),
):
    if importlib.util.find_spec(_module) is None:
        collect_ignore.append(_path)


@pytest.fixture(autouse=True, scope="session")
def _doctest_names(doctest_namespace):
    """Docstring examples use full public paths: ``keras_ls.losses.…``.

    Every doctest starts with `keras_ls`, `keras` and `np` (numpy) in its
    namespace, so an example reads as a user's code would, without import
    lines that repeat in every block.
    """
    import keras
    import numpy as np

    import keras_ls

    doctest_namespace["keras_ls"] = keras_ls
    doctest_namespace["keras"] = keras
    doctest_namespace["np"] = np
