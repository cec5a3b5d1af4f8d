"""Makes ε variables part of the state a model passes into compiled steps.

A compiled train step reads model *state*, not Python attributes. On JAX the
step is a pure function of the trainable, non-trainable, optimizer and
metric variables that Keras passes in; any other `keras.Variable` (such as
the ε of a loss held only by `model.loss`) is read once while tracing and
baked into the compiled step as a constant, so assigning it later silently
changes nothing. TensorFlow (`tf.function`, XLA) and PyTorch read a variable
by reference and are not affected, but we track ε the same way everywhere so
that every backend runs the same code path.

ε is tracked as the only state of a hidden, no-op `keras.metrics.Metric`
appended to the model's metrics, and not as a weight of a hidden layer,
because:

- metric variables are part of the step state on every backend (mapped
  while the loss is computed on JAX, in train and test steps alike), so the
  loss reads the live value;
- metrics are not weights: `model.weights`, `get_weights()`/`set_weights()`,
  `count_params()` and `summary()` are unchanged, and weight files
  (`.weights.h5`, `.keras`) have exactly the same content with or without
  the holder, so weights load in both directions between a model that was
  trained with the scheduler and one built without it;
- a hidden layer would have to be appended to ``model._layers``, which on
  `Sequential` is the layer stack itself.

The holder's `reset_state` is a no-op (Keras resets metrics at every epoch
start, which must not zero ε), and its `result` is an empty dict, so it adds
nothing to `logs`, the progress bar or `History`.

Attaching needs the model's private tracker because a built Keras model
locks its state; this is the one place keras_ls touches Keras internals, and
`track_label_smoothing` checks that the holder really is in `model.metrics`
so a future Keras change fails loudly instead of silently freezing ε.
"""

import inspect
import threading
import warnings

import keras
import numpy as np
from keras import ops

from keras_ls import _keras_compat
from keras_ls._api import keras_ls_export

HOLDER_NAME = "keras_ls_label_smoothing_state"


class LabelSmoothingState(keras.metrics.Metric):
    """A no-op metric whose only job is to carry ε variables as state."""

    def __init__(self, name=HOLDER_NAME):
        super().__init__(name=name)
        # A tracked list: each variable appended becomes a metric variable.
        self._label_smoothing_variables = []

    @property
    def label_smoothing_variables(self):
        return list(self._label_smoothing_variables)

    def add(self, variable):
        if not any(v is variable for v in self._label_smoothing_variables):
            self._label_smoothing_variables.append(variable)

    def update_state(self, *args, **kwargs):
        pass

    def result(self):
        return {}

    def reset_state(self):
        # Keras resets metrics at every epoch start; ε must survive that.
        pass

    # ε is not a weight: it is restored from the loss config by
    # `load_model` and recomputed by the schedule on resume, so weight files
    # stay identical to those of a model built without the scheduler.
    def save_own_variables(self, store):
        pass

    def load_own_variables(self, store):
        pass

    # In-graph schedules (LabelSmoothingScheduler) ------------------------
    #
    # `step` counts the training steps of the model (set from the host at
    # the first epoch of each `fit`: epoch·steps_per_epoch, so it follows
    # `initial_epoch` and BackupAndRestore), and the compiled train step
    # advances it; evaluation steps do not. Each driven ε variable has a
    # driver: a keras.ops function of the step (or epoch) and an `active`
    # flag that the scheduler raises for the duration of its `fit`. The
    # variables are metric variables, so they are step state on every
    # backend; "only_first_replica" keeps them identical on all replicas.

    def _state_variable(self, name, shape=(), initializer="zeros", dtype=None):
        return self.add_variable(
            shape=shape,
            initializer=initializer,
            dtype=dtype or "int",
            aggregation="only_first_replica",
            name=name,
        )

    @property
    def drivers(self):
        return getattr(self, "_drivers_by_id", None)

    def drive(
        self, variable, key, function, *, per_epoch, table=None, host=None
    ):
        """Computes `variable`'s ε in the train step from `function`.

        `function(t)` maps the step (or the epoch, with `per_epoch`), an
        integer tensor, to ε with keras.ops; `table` (a float32 numpy
        vector) is stored in a variable and passed as `function(t, table)`.
        `host(t)` gives the same ε as a Python float, for eager PyTorch
        steps (see `scheduled_values`). Returns whether already traced
        steps are stale (a new driver, or a table of a new length): the
        caller must then drop them.
        """
        changed = False
        if getattr(self, "step", None) is None:
            self.step = self._state_variable("step")
            self.steps_per_epoch = self._state_variable(
                "steps_per_epoch", initializer="ones"
            )
            object.__setattr__(self, "_drivers_by_id", {})
            changed = True
        current = self._drivers_by_id.get(id(variable))
        size = None if table is None else len(table)
        same = (
            current is not None
            and current.key == key
            and current.per_epoch == per_epoch
            and current.size == size
        )
        if same:
            current.host = host
            if table is not None:
                current.table.assign(table)
            return changed
        active = (
            current.active
            if current is not None
            else self._state_variable(f"active_{len(self._drivers_by_id)}")
        )
        table_variable = None
        if table is not None:
            table_variable = self._state_variable(
                f"table_{len(self._drivers_by_id)}_{size}",
                shape=(size,),
                dtype="float32",
            )
            table_variable.assign(table)
        driver = _Driver(
            variable, key, function, per_epoch, active, table_variable, size
        )
        driver.host = host
        self._drivers_by_id[id(variable)] = driver
        return True

    def set_step(self, step):
        """Sets the counter from the host (the first epoch of a fit)."""
        self.step.assign(step)
        self._host_step = int(step)

    def set_active(self, variable, active):
        driver = self._drivers_by_id[id(variable)]
        driver.active.assign(1 if active else 0)
        driver.active_on_host = bool(active)

    def _eager_torch(self):
        if keras.backend.backend() != "torch":
            return False
        import torch

        return not torch.compiler.is_compiling()

    def scheduled_values(self, training):
        """{id(ε variable): ε tensor} for the step being traced.

        A training step uses the schedule at the current step; an
        evaluation step the value of the last training step (the ε
        `fit`'s validation has always used). Inactive drivers give the
        variable's own value.
        """
        if self._eager_torch():
            return self._host_values(training)
        step = ops.convert_to_tensor(self.step)
        if not training:
            step = ops.maximum(step - 1, 0)
        epoch = ops.floor_divide(
            step, ops.maximum(ops.convert_to_tensor(self.steps_per_epoch), 1)
        )
        values = {}
        for key, driver in self._drivers_by_id.items():
            t = epoch if driver.per_epoch else step
            if driver.table is None:
                value = driver.function(t)
            else:
                value = driver.function(t, driver.table)
            values[key] = ops.where(
                ops.convert_to_tensor(driver.active) > 0,
                ops.cast(value, "float32"),
                ops.cast(driver.variable, "float32"),
            )
        return values

    def _host_values(self, training):
        """`scheduled_values` for an eager PyTorch step: the same values
        from a Python mirror of the counter and the schedule's Python form,
        as floats. Eager PyTorch runs this at every step, where the few
        scalar tensor ops of the in-graph form cost ~150 us on a CPU; this
        costs a few us, and reads nothing back from the device."""
        step = getattr(self, "_host_step", 0)
        if not training:
            step = max(step - 1, 0)
        per_epoch = max(int(getattr(self, "_host_steps_per_epoch", 1)), 1)
        values = {}
        for key, driver in self._drivers_by_id.items():
            if getattr(driver, "active_on_host", False) and driver.host:
                t = step // per_epoch if driver.per_epoch else step
                values[key] = driver.host(t)
        return values

    def set_steps_per_epoch(self, steps):
        self.steps_per_epoch.assign(steps)
        self._host_steps_per_epoch = int(steps)

    def advance(self):
        if self._eager_torch():
            import torch

            self._host_step = getattr(self, "_host_step", 0) + 1
            with torch.no_grad():
                self.step.value.add_(1)
            return
        self.step.assign_add(1)


class _Driver:
    """One ε variable computed in the train step (see `drive`)."""

    def __init__(self, variable, key, function, per_epoch, active, table, size):
        self.variable = variable
        self.key = key
        self.function = function
        self.per_epoch = per_epoch
        self.active = active
        self.table = table
        self.size = size


def find_holder(model):
    for metric in _keras_compat.model_metrics(model):
        if isinstance(metric, LabelSmoothingState):
            return metric
    return None


def _carries(model, variable):
    """Whether `model`'s holder already carries `variable` as state."""
    holder = find_holder(model)
    return holder is not None and any(
        v is variable for v in holder.label_smoothing_variables
    )


def _attach(model, holder):
    _keras_compat.add_state_metric(model, holder)


def _loss_variables(model):
    """The ε variables of every keras_ls loss in `model.loss`."""
    found = []
    for loss in keras.tree.flatten(getattr(model, "loss", None) or []):
        variable = getattr(loss, "label_smoothing_variable", None)
        if isinstance(variable, keras.Variable):
            found.append(variable)
    return found


@keras_ls_export(
    "keras_ls.losses.track_label_smoothing", "keras_ls.track_label_smoothing"
)
def track_label_smoothing(model, variables=None):
    """Makes `model` carry ε variables as state; returns the holder.

    keras_ls losses call this themselves the first time a model's step
    calls them (Keras' symbolic build, before the first compiled step), so
    `loss.label_smoothing = x` reaches compiled train and test steps on
    every backend without a retrace. Call it yourself only where a loss
    warned that it could not find its model (a JAX function compiled
    outside `fit`/`evaluate`), or to track other ε variables.

    Idempotent: a model gets at most one holder, and a variable is tracked
    once however often this is called (e.g. `fit` called twice). The
    holder is a hidden metric: weights and weight files are unchanged.

    Args:
        model: The `keras.Model` whose compiled steps read ε.
        variables: The ε variables to track. Defaults to `None`: the
            `label_smoothing_variable` of every keras_ls loss in
            `model.loss`.

    Returns:
        The hidden holder metric.

    Raises:
        ValueError: When `variables` is `None` and `model.loss` holds no
            keras_ls loss.
        RuntimeError: When this Keras version does not let the variables
            become model state (a compiled step would then ignore ε).

    Examples:

    >>> import keras, keras_ls
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.compile(loss=keras_ls.LabelSmoothingCrossentropy(0.1))
    >>> holder = keras_ls.track_label_smoothing(model)
    >>> model.loss.label_smoothing_variable in holder.label_smoothing_variables
    True
    """
    if variables is None:
        variables = _loss_variables(model)
        if not variables:
            raise ValueError(
                "`model.loss` holds no keras_ls loss, so there is no ε to "
                "track; pass `variables=`. Received: "
                f"model.loss={getattr(model, 'loss', None)!r}"
            )
    holder = find_holder(model)
    if holder is None:
        holder = LabelSmoothingState()
        _attach(model, holder)
    for variable in variables:
        holder.add(variable)
    watch_steps(model)
    state = {id(v) for v in model.metrics_variables}
    if not all(id(v) in state for v in variables):
        raise RuntimeError(
            "keras_ls could not make label_smoothing part of the state "
            f"of {type(model).__name__} on Keras {keras.__version__}: the "
            "variable is not in `model.metrics_variables`, so a compiled "
            "train step would not see its changes."
        )
    return holder


_TRACKED = "_keras_ls_tracked"
_WARNED_UNTRACKED = "_keras_ls_warned_untracked"


def track_calling_model(loss, y_pred):
    """Tracks `loss`'s ε in the model whose step calls it (see above).

    Walks the frames only on symbolic calls (Keras' symbolic build, a
    trace), and on concrete calls until a model was found once: an eager
    step then pays one attribute read. Warns once where a JAX trace has no
    model to carry ε, since ε is then a constant of that compiled function.
    """
    kind = _values_kind(y_pred)
    if kind == "compiling" or (
        kind == "concrete" and getattr(loss, _TRACKED, False)
    ):
        return
    model = calling_model()
    jax_trace = (
        kind == "traced"
        and keras.backend.backend() == "jax"
        and not isinstance(y_pred, keras.KerasTensor)
    )
    if model is not None and not (
        jax_trace
        and _keras_compat.jax_state_gathered(model)
        and not _carries(model, loss.label_smoothing_variable)
    ):
        track_label_smoothing(model, [loss.label_smoothing_variable])
        setattr(loss, _TRACKED, True)
        return
    # A JAX step gathers the model's state before it is traced (Keras'
    # symbolic build, also a JAX trace, comes before that): a variable added
    # to the model in the step's trace (a loss the symbolic build never
    # called, as in `keras.distillation.Distiller`, which compiles with
    # loss=None) would be missing from that state and break the step, so ε
    # stays a constant there.
    if jax_trace and not getattr(loss, _WARNED_UNTRACKED, False):
        setattr(loss, _WARNED_UNTRACKED, True)
        warnings.warn(
            f"{type(loss).__name__} is traced by JAX outside a Keras "
            "model's train or test step, or in the step of a model that did "
            "not carry its ε as state when fit started (e.g. a "
            "keras.distillation.Distiller), so its label_smoothing is baked "
            "into the compiled function as a constant: assigning "
            "`loss.label_smoothing` later will not change it. Call "
            "`keras_ls.track_label_smoothing(model)` after compile, or use "
            "`keras_ls.LabelSmoothingScheduler`; a function of your own "
            "must take ε as an argument.",
            UserWarning,
            stacklevel=4,
        )


# Training or evaluation step ---------------------------------------------
#
# Code inside a loss sometimes has to know whether the step that runs it is
# a training step (Keras' `train_step`) or an evaluation step (`test_step`,
# also the validation inside `fit`): a step counter or running statistics
# must advance in training steps only. Every Keras trainer (TensorFlow, JAX,
# PyTorch) computes the loss through `model._compute_loss(...,
# training=...)`, which calls `model.compute_loss`. `watch_steps` shadows
# that method on the model instance with one that records `training` for
# the duration of the call, in a thread-local stack (MirroredStrategy runs
# each replica's step in its own thread). Compiled steps run Python only
# while tracing, so the flag is read at trace time and costs nothing per
# step; an eager step (PyTorch) pays one attribute read per call.

_STEP_STATE = threading.local()
_WATCHED = "_keras_ls_watched_compute_loss"
_TRAIN_FRAMES = frozenset(("train_step",))
_TEST_FRAMES = frozenset(("test_step", "predict_step"))
_LOSS_FRAMES = frozenset(
    (
        "compute_loss",
        "_compute_loss",
        "stateless_compute_loss",
        "compute_loss_and_updates",
    )
)


def _step_stack():
    stack = getattr(_STEP_STATE, "stack", None)
    if stack is None:
        stack = _STEP_STATE.stack = []
    return stack


def _training_from_frames(max_depth=32):
    """`training` of the innermost Keras loss frame, or of the train/test
    step that runs it; None when no model step is on the stack."""
    frame = inspect.currentframe()
    try:
        frame = frame.f_back
        for _ in range(max_depth):
            if frame is None:
                return None
            name = frame.f_code.co_name
            if (
                name in _LOSS_FRAMES
                or name in _TRAIN_FRAMES
                or (name in _TEST_FRAMES)
            ):
                owner = frame.f_locals.get("self")
                if isinstance(owner, keras.Model):
                    if name in _TRAIN_FRAMES:
                        return True
                    if name in _TEST_FRAMES:
                        return False
                    training = frame.f_locals.get("training")
                    if isinstance(training, (bool, np.bool_)):
                        return bool(training)
            frame = frame.f_back
        return None
    finally:
        del frame


def is_training_step():
    """Whether the model step computing the loss right now is a training step.

    Returns `True` inside a training step (`train_step`: `fit`), `False`
    inside an evaluation step (`test_step`: `evaluate` and the validation
    of `fit`), and `None` outside any model step (a loss called on its
    own). Call it from code that runs inside a loss: in compiled steps
    (TensorFlow graphs and XLA, JAX) it is read while the step is traced,
    so branch on it in Python to build a different training and evaluation
    step; on eager PyTorch it is read at every call.

    On models that `watch_steps` has seen (every model that calls a keras_ls
    loss or `track_label_smoothing`) this is a thread-local read; elsewhere
    it walks at most 32 Python frames to the model's loss computation.
    """
    stack = getattr(_STEP_STATE, "stack", None)
    if stack:
        return stack[-1][0]
    return _training_from_frames()


def _training_argument(args, kwargs):
    if "training" in kwargs:
        training = kwargs["training"]
    elif len(args) >= 5:
        training = args[4]
    else:
        # A custom `train_step`/`test_step` calling `compute_loss(y=...,
        # y_pred=...)`, whose `training` defaults to True even in a test
        # step: ask the frames which step this is.
        training = _training_from_frames()
        if training is None:
            training = True
    if isinstance(training, (bool, np.bool_, int)):
        return bool(training)
    return None  # a tensor: unknown at trace time


def _symbolic(args, kwargs):
    """Whether y_pred is a shape-inference placeholder (Keras' symbolic
    build), where scheduled values must not be computed."""
    y_pred = kwargs.get("y_pred", args[2] if len(args) > 2 else None)
    for x in keras.tree.flatten(y_pred):
        if isinstance(x, keras.KerasTensor) or getattr(x, "is_meta", False):
            return True
    return False


def _watched_compute_loss(self, *args, **kwargs):
    """`model.compute_loss`, recording whether this is a training step,
    and, under an in-graph schedule, computing ε and advancing the step
    counter (training steps only)."""
    training = _training_argument(args, kwargs)
    scheduled = None
    holder = find_holder(self)
    if (
        holder is not None
        and holder.drivers
        and training is not None
        and not _symbolic(args, kwargs)
    ):
        scheduled = holder.scheduled_values(training)
    stack = _step_stack()
    stack.append((training, scheduled))
    try:
        original = self.__dict__.get(_WATCHED)
        if original is None:
            loss = type(self).compute_loss(self, *args, **kwargs)
        else:
            loss = original(*args, **kwargs)
        if scheduled is not None and training:
            holder.advance()
        return loss
    finally:
        stack.pop()


def read_label_smoothing(variable):
    """ε of `variable` for the step being computed: the scheduled tensor
    in a step under an in-graph schedule, else `variable` itself."""
    stack = getattr(_STEP_STATE, "stack", None)
    if stack:
        scheduled = stack[-1][1]
        if scheduled:
            value = scheduled.get(id(variable))
            if value is not None:
                return value
    return variable


def watch_steps(model):
    """Makes `is_training_step` answer inside `model`'s steps; idempotent.

    Shadows `model.compute_loss` on the instance (not the class), keeping a
    user override, so custom `compute_loss` methods still run. Call it
    before the step is traced; keras_ls losses do it themselves at the
    model's symbolic build (see `track_calling_model`).
    """
    current = model.__dict__.get("compute_loss")
    if getattr(current, "__func__", None) is _watched_compute_loss:
        return
    if current is not None:
        # An instance-level compute_loss set by someone else: wrap it.
        object.__setattr__(model, _WATCHED, current)
    object.__setattr__(
        model, "compute_loss", _watched_compute_loss.__get__(model)
    )


def sync_state(callback):
    """Copies a compiled step's state back into the model's variables.

    On JAX the fit loop keeps the training state outside the variables
    during an epoch; Keras' `Callback.model` property writes it back
    (`jax_state_sync`) and makes the loop re-read the variables before the
    next step, so a value assigned afterwards (a new ε) reaches that step.
    Reading the property is the public way to ask for this; the other
    backends keep their variables current and it costs nothing there.
    Returns the model.
    """
    return callback.model


# Outputs that are probabilities -------------------------------------------
#
# keras_ls losses, metrics and ConfidenceMonitor default to logits
# (`from_logits=True`), while a Keras user ends a classifier in softmax,
# because Keras' own losses default to probabilities. Softmax outputs read as
# logits train without an error but badly, so they are checked once:
#
# - structurally, where the model is known: a loss or metric finds the
#   keras.Model that calls it by walking the Python frames up to the model's
#   `compute_loss`/`compute_metrics`/`train_step`/`test_step`. Keras calls
#   both once symbolically before the first step of `fit` and `evaluate` (its
#   symbolic build, which also runs before `torch.compile`), and compiled
#   steps run Python only while tracing, so the walk costs nothing per step;
# - by value, where values are concrete (eager PyTorch, a TensorFlow eager
#   step, standalone calls): once per object, on its first concrete call.
#
# Keras itself detects this only on TensorFlow, through an attribute that
# its softmax attaches to TF tensors; frames and layers work everywhere.

_STEP_FUNCTIONS = frozenset(
    ("compute_loss", "compute_metrics", "train_step", "test_step")
)
_SQUASHING = ("softmax", "sigmoid")
_CHECKED = "_keras_ls_logits_checked"
# Enough rows to tell probabilities from logits, few enough that copying
# them to the host once is free even for language-model logits.
_VALUE_ROWS = 256


def calling_model(max_depth=24):
    """The keras.Model whose training or evaluation step called us, or None.

    Looks for a `compute_loss`, `compute_metrics`, `train_step` or
    `test_step` frame whose `self` is a keras.Model, at most `max_depth`
    frames up; only those frames' locals are read.
    """
    frame = inspect.currentframe()
    try:
        frame = frame.f_back
        for _ in range(max_depth):
            if frame is None:
                return None
            if frame.f_code.co_name in _STEP_FUNCTIONS:
                owner = frame.f_locals.get("self")
                if isinstance(owner, keras.Model):
                    return owner
            frame = frame.f_back
        return None
    finally:
        del frame


def _squashing_activation(layer):
    """ "softmax" or "sigmoid" if `layer` ends in one, else None."""
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    if callable(activation) and name in _SQUASHING:
        return name
    # `keras.ops.softmax(x)` in a functional model is an op, not a layer.
    name = type(layer).__name__.lower()
    if name in _SQUASHING and isinstance(layer, keras.Operation):
        return name
    return None


def _output_layers(model):
    """[(operation producing an output, its shape or None)] of `model`."""
    if isinstance(model, keras.Sequential):
        return [(model.layers[-1], None)] if model.layers else []
    try:
        outputs = model.outputs
    except AttributeError:  # a subclassed model: `call` is arbitrary code
        return []
    found = []
    for tensor in keras.tree.flatten(outputs):
        history = _keras_compat.keras_history(tensor)
        found.append((history.operation, tuple(tensor.shape)))
    return found


def _final_layer(operation, depth=0):
    """The innermost operation producing `operation`'s output."""
    if isinstance(operation, keras.Model) and depth < 8:
        inner = _output_layers(operation)
        if len(inner) == 1:
            return _final_layer(inner[0][0], depth + 1)
    wrapped = getattr(operation, "layer", None)
    if isinstance(operation, keras.layers.Wrapper) and wrapped is not None:
        return _final_layer(wrapped, depth + 1)
    return operation


def _same_shape(a, b):
    return len(a) == len(b) and all(
        x is None or y is None or x == y for x, y in zip(a[1:], b[1:])
    )


def probability_output(model, y_pred_shape=None):
    """(activation, layer) if `model`'s output is softmax or sigmoid.

    With several outputs, only those shaped like `y_pred_shape` are
    candidates, and all of them must squash; a model whose structure is not
    known (subclassed) gives None.
    """
    outputs = _output_layers(model)
    if len(outputs) > 1 and y_pred_shape is not None:
        outputs = [
            (op, shape)
            for op, shape in outputs
            if shape is not None and _same_shape(shape, y_pred_shape)
        ]
    if not outputs:
        return None
    found = []
    for operation, _ in outputs:
        layer = _final_layer(operation)
        activation = _squashing_activation(layer)
        if activation is None:
            return None
        found.append((activation, layer))
    return found[0]


def probability_error(owner_name, activation, layer, of="the model"):
    return ValueError(
        f"The output layer {layer.name!r} of {of} applies {activation}, so "
        f"its outputs are probabilities, but {owner_name} has "
        "from_logits=True."
        " Remove the activation (recommended: the loss then applies it "
        "stably) or pass from_logits=False."
    )


def check_model_outputs(model, owner_name, y_pred_shape=None, of="the model"):
    """Raises the ValueError above if `model` ends in softmax or sigmoid."""
    found = probability_output(model, y_pred_shape)
    if found is not None:
        raise probability_error(owner_name, *found, of=of)


def _values_kind(x):
    """ "concrete", "traced" (symbolic: trace or shape inference) or
    "compiling" (inside torch.compile, where Python must stay out)."""
    if isinstance(x, keras.KerasTensor):
        return "traced"
    if isinstance(x, (np.ndarray, np.generic, list, tuple, float, int)):
        return "concrete"
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        if torch.compiler.is_compiling():
            return "compiling"
        return "traced" if getattr(x, "is_meta", False) else "concrete"
    if backend == "jax":
        import jax

        return (
            "traced"
            if isinstance(_primal(x), jax.core.Tracer)
            else ("concrete")
        )
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.is_symbolic_tensor(x):
            return "traced"
    return "concrete"


def _primal(x):
    """The value under JAX's autodiff tracers: `fit` without jit runs each
    step under `jax.value_and_grad` alone, whose tracers wrap real arrays."""
    import jax

    while isinstance(x, jax.core.Tracer) and hasattr(x, "primal"):
        x = x.primal
    return x


def logits_check_needed(owner, y_pred):
    """Whether `check_logits` has anything left to do for this call.

    False, after the first concrete call, for concrete values and inside
    `torch.compile`: so an eager PyTorch step pays one attribute read, and
    a compiled step nothing.
    """
    if not getattr(owner, _CHECKED, False):
        return True
    return _values_kind(y_pred) == "traced"


def _rows_look_like_probabilities(values, binary):
    """Whether rows (class axis last) could be softmax/sigmoid outputs."""
    if values.size == 0 or not np.all(np.isfinite(values)):
        return False
    if values.min() < 0.0 or values.max() > 1.0:
        return False
    if binary:
        return bool(np.any((values > 0.0) & (values < 1.0)))
    # 1e-2 covers the rounding of a float16 or bfloat16 softmax.
    return bool(np.all(np.abs(values.sum(axis=-1) - 1.0) < 1e-2))


def _first_rows(x, axis):
    """A float64 numpy copy of at most `_VALUE_ROWS` rows of `x`, with the
    class axis last; only those rows leave the device."""
    if not isinstance(x, np.ndarray):
        x = ops.convert_to_tensor(x)
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            # A tf.Variable (logits differentiated in a custom loop) comes
            # out of ops.convert_to_tensor unchanged, and ops.moveaxis
            # needs the `ndim` that variables lack: read it as a tensor.
            if isinstance(x, tf.Variable):
                x = tf.convert_to_tensor(x)
        if len(x.shape) > 1:
            x = ops.moveaxis(x, axis, -1)
            x = ops.reshape(x, (-1, x.shape[-1]))[:_VALUE_ROWS]
        x = ops.convert_to_numpy(ops.cast(x, "float32"))
    else:
        x = np.moveaxis(x, axis, -1) if x.ndim > 1 else x
        x = x.reshape(-1, x.shape[-1])[:_VALUE_ROWS] if x.ndim else x
    return np.asarray(x, dtype=np.float64)


def warn_if_probabilities(
    owner_name, values, *, binary=False, axis=-1, stacklevel=3
):
    """UserWarning if concrete `values` look like probabilities."""
    values = _first_rows(values, axis)
    if values.ndim == 0 or not _rows_look_like_probabilities(values, binary):
        return False
    kind = (
        "every value lies in [0, 1], like sigmoid probabilities"
        if binary
        else "every row lies in [0, 1] and sums to 1, like softmax "
        "probabilities"
    )
    warnings.warn(
        f"{owner_name} has from_logits=True, but {kind}. If these are "
        "probabilities, remove the output activation (recommended) or pass "
        "from_logits=False; if they are logits, ignore this warning.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return True


def check_logits(owner, y_pred, *, binary=False, axis=-1):
    """Errors or warns if `owner` (from_logits=True) gets probabilities.

    Raises the structural ValueError whenever a calling model is found whose
    output squashes; warns on the first concrete call if the values look
    like probabilities. Call it only when `logits_check_needed` says so.
    Inside `torch.compile` it does nothing: a frame walk or a host copy
    there would break the compiled graph, and Keras' symbolic build has
    already run the structural check before `fit` or `evaluate` compiles.
    """
    kind = _values_kind(y_pred)
    if kind == "compiling":
        return
    name = type(owner).__name__
    model = calling_model()
    if model is not None:
        shape = getattr(y_pred, "shape", None)
        try:
            check_model_outputs(
                model, name, None if shape is None else tuple(shape)
            )
        except ValueError:
            # Keep checking: PyTorch's shape inference retries a failed
            # call with real tensors, which must fail the same way.
            setattr(owner, _CHECKED, False)
            raise
    if kind == "concrete":
        setattr(owner, _CHECKED, True)
        if keras.backend.backend() == "jax":
            y_pred = _primal(y_pred)
        warn_if_probabilities(
            name, y_pred, binary=binary, axis=axis, stacklevel=4
        )
