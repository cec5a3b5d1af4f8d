"""Everything keras_ls assumes about Keras' internals, in one file.

keras_ls supports Keras `MIN_KERAS` and newer (setup.cfg says the same).
Keras offers no public way to add a variable to a model's state after
compile, nor to tell a loss which model step calls it, so
`keras_ls._tracking` uses the private attributes and the method names below,
and only through this module. If a Keras release renames one, these raise
a `RuntimeError` naming the attribute and the installed Keras version,
instead of training with a silently frozen ε.

What keras_ls assumes:

- the names of Keras' methods that it looks for up the stack (the
  constants below), and that their `self` is the model;
- that Keras' loops reach `train_step`, `test_step`, `compute_loss`,
  `make_train_function` and `make_test_function` through the model
  instance, where `keras_ls._tracking.steps.watch` wraps them, and that
  JAX's `jit(self.train_step)` caches its trace by the callable's identity
  (so a rebuilt train function gets a freshly bound wrapper);
- `model._metrics` and `model._tracker` (adding a metric after compile);
- on JAX, `model._jax_state_synced` and `model.jax_state_sync()` (Keras
  3.16: `state_sync()`), since the fit loop holds the state outside the
  variables; that a JAX step's `state` argument ends with the metrics
  variables; and `Variable._value` / `Variable._initializer` (a variable
  whose value the loop took);
- `tensor._keras_history` on a functional model's outputs, and the
  `_inbound_nodes[i].input_tensors` of the operation that made them;
- that `Trainer.train_step`, `test_step`, `compute_loss` and
  `compute_metrics` pass the model's output to losses and metrics
  unchanged (so an override of them may not).

`is_chief_process` (which process of a multi-process job writes files) is
here too: it reads the launchers' own conventions, not Keras.
"""

import json
import os
import sys

import keras

MIN_KERAS = "3.10.0"

# Methods whose `self` is the model computing a loss or a metric: a loss
# called by one of them is in that model's step.
MODEL_STEP_METHODS = frozenset(
    (
        "compute_loss",
        "_compute_loss",
        "stateless_compute_loss",
        "compute_metrics",
        "train_step",
        "test_step",
    )
)
TRAIN_STEP_METHODS = frozenset(("train_step",))
TEST_STEP_METHODS = frozenset(("test_step",))
# Keras' symbolic build (shapes only, before the first step).
SYMBOLIC_BUILD_METHODS = frozenset(("_symbolic_build",))
# The model methods a user calls to train or evaluate; Keras resets the
# model's metrics at the start of each (and of each epoch of `fit`).
ENTRY_POINTS = frozenset(("fit", "evaluate", "train_on_batch", "test_on_batch"))
FIT_METHODS = frozenset(("fit",))
# Modules between a callback hook and the code that runs the loop (`fit`,
# or a loop of the user's that calls a `CallbackList`).
CALLBACK_MODULES = ("keras.src.callbacks.", "keras_ls.")
# The methods through which Keras' own steps hand the model's output to
# losses and metrics unchanged.
_OUTPUT_PASSING_METHODS = (
    "train_step",
    "test_step",
    "compute_loss",
    "compute_metrics",
)


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


def sync_jax_state(model):
    """Copies a running JAX fit's state back into `model`'s variables, and
    makes the loop re-read them before its next step (what Keras'
    `Callback.model` does). Nothing to do on other backends, or when the
    state is not gathered."""
    if keras.backend.backend() != "jax" or not jax_state_gathered(model):
        return
    # Keras 3.16 renamed it `state_sync`, keeping the old name as an alias.
    sync = getattr(model, "state_sync", None) or getattr(
        model, "jax_state_sync", None
    )
    if sync is None:
        raise internal_error("`state_sync()` or `jax_state_sync()`", model)
    sync()


def retrace_steps(model):
    """Makes `model`'s next train and test steps trace anew: the train
    function is rebuilt now (a running `fit` calls `model.train_function`
    at every step, so it must not be None), the test function at the next
    `evaluate`."""
    if getattr(model, "train_function", None) is not None:
        model.make_train_function(force=True)
    model.test_function = None


def variable_value(variable):
    """`variable`'s value where it can be read, else None.

    Keras' JAX fit loop sets the model's variables' `_value` to None while
    it holds their values as state; only a `keras.StatelessScope` that maps
    the variable (Keras' `stateless_*` methods, or keras_ls' step wrappers)
    can read it then. Reading it elsewhere would call its spent
    initializer: None says so instead.
    """
    if (
        getattr(variable, "_value", True) is None
        and getattr(variable, "_initializer", True) is None
    ):
        try:
            return variable.value
        except TypeError:  # the spent initializer: not mapped here
            return None
    return variable.value


def jax_step_metrics(state, model):
    """The metrics variables' values in a JAX step's `state` argument, or
    None where `state` is not Keras' `(..., metrics_variables)` tuple."""
    if not isinstance(state, (tuple, list)) or len(state) not in (3, 4):
        return None
    metrics = state[-1]
    if not isinstance(metrics, (tuple, list)) or len(metrics) != len(
        model.metrics_variables
    ):
        return None
    return metrics


def jax_step_with_metrics(outputs, changed, model):
    """A JAX step's `(logs, state)` with the metrics values at the indices
    of `changed` replaced; unchanged where the step returned another
    shape (Keras then reports the step's own error)."""
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 2:
        return outputs
    logs, state = outputs
    metrics = jax_step_metrics(state, model)
    if metrics is None:
        return outputs
    metrics = list(metrics)
    for index, value in changed.items():
        metrics[index] = value
    state = type(state)([*state[:-1], metrics])
    return type(outputs)((logs, state))


def passes_outputs_unchanged(model):
    """Whether `model` uses Keras' own steps, `compute_loss` and
    `compute_metrics`, which hand its output to losses and metrics as it
    is (an override may transform it first)."""
    cls = type(model)
    return all(
        getattr(cls, name, None) is getattr(keras.Model, name, None)
        for name in _OUTPUT_PASSING_METHODS
    )


def keras_history(tensor):
    """`tensor._keras_history` of a functional model's output tensor."""
    history = getattr(tensor, "_keras_history", None)
    if history is None or not hasattr(history, "operation"):
        raise internal_error(
            "`_keras_history.operation` on a functional model's outputs",
            tensor,
        )
    return history


def producing_call(tensor):
    """`(operation, input tensors)` of the call that produced a functional
    model's output `tensor` (its `_keras_history` and the operation's
    `_inbound_nodes[...].input_tensors`), or `None` where `tensor` has no
    history."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None
    history = keras_history(tensor)
    nodes = getattr(history.operation, "_inbound_nodes", None)
    if nodes is None or not hasattr(nodes[history.node_index], "input_tensors"):
        raise internal_error(
            "`operation._inbound_nodes[i].input_tensors`", history.operation
        )
    return history.operation, list(nodes[history.node_index].input_tensors)


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
