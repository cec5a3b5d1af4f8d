"""The few Keras internals keras_ls reads, each failing loudly.

keras_ls supports Keras `MIN_KERAS` and newer (setup.cfg says the same).
Keras offers no public way to add a variable to a model's state after
compile, so `keras_ls._tracking` uses Keras' private attributes through the
functions below, and only through them. If a Keras release renames one,
these raise a `RuntimeError` naming the attribute and the installed Keras
version, instead of training with a silently frozen ε.

`is_chief_process` (which process of a multi-process job writes files) is
here too: it reads the launchers' own conventions, not Keras.
"""

import json
import os
import sys

import keras

MIN_KERAS = "3.10.0"


def _version_tuple(version):
    parts = []
    for part in version.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def internal_error(what, obj):
    """The RuntimeError for a Keras internal that is missing or changed."""
    return RuntimeError(
        f"keras_ls needs {what}, which {type(obj).__name__} does not have "
        f"in Keras {keras.__version__}. keras_ls supports Keras >= "
        f"{MIN_KERAS}; if this Keras is newer, please report it at "
        "the keras_ls issue tracker with this message."
    )


def model_metrics(model):
    """`model._metrics`: the list of metrics a model tracks as state."""
    metrics = getattr(model, "_metrics", None)
    if not isinstance(metrics, list):
        raise internal_error("the list `model._metrics`", model)
    return metrics


def add_state_metric(model, metric):
    """Adds `metric` to `model`'s state (its `metrics_variables`), the way
    Keras' tracker adds a metric assigned as an attribute before compile."""
    tracker = getattr(model, "_tracker", None)
    if tracker is None or not all(
        hasattr(tracker, name)
        for name in ("add_to_store", "locked", "lock", "unlock")
    ):
        raise internal_error(
            "the state tracker `model._tracker` (with add_to_store, "
            "locked, lock and unlock)",
            model,
        )
    was_locked = tracker.locked
    tracker.unlock()
    try:
        tracker.add_to_store("metrics", metric)
    finally:
        if was_locked:
            tracker.lock()


def jax_state_gathered(model):
    """Whether a JAX `fit`/`evaluate` loop of `model` holds its variables'
    values as state now (`model._jax_state_synced` is False between
    gathering the state and syncing it back): a variable added to the model
    then is missing from the state of the step being traced. `None` (never
    set: before the first loop) and `True` mean not gathered."""
    return model.__dict__.get("_jax_state_synced") is False


def keras_history(tensor):
    """`tensor._keras_history` of a functional model's output tensor."""
    history = getattr(tensor, "_keras_history", None)
    if history is None or not hasattr(history, "operation"):
        raise internal_error(
            "`_keras_history.operation` on a functional model's outputs",
            tensor,
        )
    return history


def check_keras_version(version=None):
    """Raises ImportError for a Keras older than `MIN_KERAS`."""
    version = keras.__version__ if version is None else version
    if _version_tuple(version) < _version_tuple(MIN_KERAS):
        raise ImportError(
            f"keras_ls needs Keras >= {MIN_KERAS}; Keras {version} is "
            f'installed. Upgrade it: pip install "keras>={MIN_KERAS}".'
        )


def is_chief_process():
    """Whether this process writes files (plots, reports) for the job.

    In a multi-process job every process runs the same callbacks; only one
    should write, or they overwrite each other's files. The chief is:

    - TensorFlow (`TF_CONFIG`): the task of type "chief", or worker 0 when
      the cluster has no chief (MultiWorkerMirroredStrategy's rule);
    - JAX: process 0 (`jax.process_index()`), once JAX is imported;
    - PyTorch: rank 0 once `torch.distributed` is initialized.

    A single process is always the chief.
    """
    config = os.environ.get("TF_CONFIG")
    if config:
        try:
            parsed = json.loads(config)
        except ValueError:
            parsed = {}
        task = parsed.get("task") or {}
        kind, index = task.get("type"), int(task.get("index", 0) or 0)
        if kind is not None:
            if kind == "chief":
                return True
            cluster = parsed.get("cluster") or {}
            return kind == "worker" and index == 0 and "chief" not in cluster
    backend = keras.backend.backend()
    if backend == "jax" and "jax" in sys.modules:
        import jax

        return jax.process_index() == 0
    if backend == "torch" and "torch" in sys.modules:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank() == 0
    return True


check_keras_version()
