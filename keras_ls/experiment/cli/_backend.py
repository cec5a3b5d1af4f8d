"""Chooses the Keras backend before Keras is imported (Keras reads
``KERAS_BACKEND`` once, at import): ``--backend``, else
``$KERAS_BACKEND``, else the ``backend`` of Keras' config file, else Keras'
default, TensorFlow, or the first installed backend when that one is not.
"""

import importlib.util
import json
import os
import sys

from keras_ls.experiment.cli._options import BACKENDS
from keras_ls.experiment.cli._options import PROG
from keras_ls.experiment.cli._options import UsageError

# The order in which an installed backend is picked when none is set.
PREFERENCE = ("jax", "torch", "tensorflow")


KERAS_DEFAULT_BACKEND = "tensorflow"


def is_installed(module):
    """Whether `module` can be found, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def keras_config_path():
    """Keras' config file, located as Keras itself locates it."""
    if "KERAS_HOME" in os.environ:
        home = os.environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~")
        if not os.access(base, os.W_OK):
            base = "/tmp"
        home = os.path.join(base, ".keras")
    return os.path.expanduser(os.path.join(home, "keras.json"))


def _config_backend():
    try:
        with open(keras_config_path(), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return None
    backend = config.get("backend") if isinstance(config, dict) else None
    return backend if isinstance(backend, str) and backend else None


def choose_backend(requested=None):
    """Chooses the Keras backend before Keras is imported.

    Args:
        requested: The ``--backend`` value, or `None`.

    Returns:
        ``(backend, why)``: the backend's name and why it was picked
        automatically, or `None` when it was set (``--backend``,
        ``$KERAS_BACKEND``, keras.json) or is Keras' default.

    Raises:
        UsageError: an explicitly requested backend (``--backend``,
            ``$KERAS_BACKEND``) is not installed, or no backend is.
    """
    installed = [b for b in PREFERENCE if is_installed(b)]
    hint = (
        "install one, e.g. pip install jax (or tensorflow, torch), "
        "then choose it with --backend"
    )
    if requested is not None:
        source = f"--backend {requested}"
    elif os.environ.get("KERAS_BACKEND"):
        requested = os.environ["KERAS_BACKEND"]
        source = f"KERAS_BACKEND={requested}"
    else:
        source = None
    if source is not None:
        # An explicit choice is honoured, or refused; never replaced.
        if requested in BACKENDS and not is_installed(requested):
            others = ", ".join(installed) or "none"
            raise UsageError(
                f"{source}: {requested} is not installed (installed "
                f"backends: {others}); pip install {requested}, or choose "
                "another with --backend"
            )
        return requested, None
    configured = _config_backend()
    wanted = configured or KERAS_DEFAULT_BACKEND
    if wanted not in BACKENDS or is_installed(wanted):
        return wanted, None
    if not installed:
        raise UsageError(
            f"no Keras backend is installed (jax, tensorflow or torch); {hint}"
        )
    why = (
        f"{keras_config_path()} names {wanted}, which"
        if configured
        else f"KERAS_BACKEND is not set and Keras' default, {wanted},"
    )
    return installed[0], f"{why} is not installed"


def backend_help():
    """What ``--backend`` defaults to on this machine, for --help."""
    if "keras" in sys.modules:
        import keras

        return f"; here: {keras.backend.backend()}, already imported"
    try:
        backend, why = choose_backend(None)
    except UsageError as e:
        return f"; here: none: {e}"
    return f"; here: {backend}" + (f", because {why}" if why else "")


def activate_backend(requested):
    """Sets ``KERAS_BACKEND`` for the Keras import that follows."""
    if "keras" in sys.modules:  # e.g. main() called from Python
        import keras

        current = keras.backend.backend()
        if requested is not None and requested != current:
            raise UsageError(
                f"--backend {requested}: Keras is already imported in this "
                f"process with the {current} backend; run {PROG} in a new "
                "process"
            )
        return current
    backend, why = choose_backend(requested)
    if why:
        print(
            f"{PROG}: using the {backend} backend: {why} (choose one "
            "with --backend or KERAS_BACKEND)",
            file=sys.stderr,
        )
    os.environ["KERAS_BACKEND"] = backend
    return backend
