"""Makes ε (and other loss state) part of the state of compiled steps.

A compiled train step reads model *state*, not Python attributes. On JAX
the step is a pure function of the trainable, non-trainable, optimizer and
metric variables that Keras passes in; any other `keras.Variable` (such as
the ε of a loss held only by `model.loss`) is read once while tracing and
baked into the compiled step as a constant, so assigning it later silently
changes nothing. TensorFlow (`tf.function`, XLA) and PyTorch read a
variable by reference, but we track ε the same way everywhere so that
every backend runs the same code path.

ε is tracked as the state of a hidden, no-op `keras.metrics.Metric`
(`HiddenState`) appended to the model's metrics, and not as a weight of a
hidden layer, because:

- metric variables are part of the step state on every backend (mapped
  while the loss is computed on JAX, in train and test steps alike; see
  `steps` for custom JAX steps), so the loss reads the live value;
- metrics are not weights: `model.weights`, `get_weights()`,
  `count_params()` and `summary()` are unchanged, and weight files have
  exactly the same content with or without the holder;
- a hidden layer would have to be appended to ``model._layers``, which on
  `Sequential` is the layer stack itself.

A holder's `reset_state`, which Keras calls at every epoch start of `fit`
and at the start of `evaluate`, `train_on_batch` and `test_on_batch`, must
not zero ε: it is where keras_ls notices a schedule left on by a `fit` that
was interrupted (see `LabelSmoothingState.on_reset`). `OnlineLabelSmoothing`
keeps its soft labels in a `HiddenState` of its own.

Host reads and writes of a tracked variable (`read`, `assign`) first bring
the state of a running JAX `fit` back into the variables, so a value read
or assigned from a callback is the live one, and the fit loop re-reads
state before its next step.
"""

import warnings
import weakref

import keras
import numpy as np
from keras import ops

from keras_ls import _keras_compat
from keras_ls._api import keras_ls_export
from keras_ls._tracking import frames
from keras_ls._tracking import steps
from keras_ls._tracking import values

HOLDER_NAME = "keras_ls_label_smoothing_state"
_CARRIERS = "_keras_ls_carriers"
_BAKED = "_keras_ls_baked"
_PENDING = "_keras_ls_pending_model"


class HiddenState(keras.metrics.Metric):
    """A no-op metric whose variables are model state, and nothing else.

    It adds nothing to `logs`, the progress bar or `History` (`result` is
    an empty dict), saves nothing (its owner saves what must persist), and
    its `reset_state` calls `on_reset` instead of zeroing anything.
    """

    _keras_ls_hidden_state = True  # steps.HIDDEN_STATE

    def update_state(self, *args, **kwargs):
        pass

    def result(self):
        return {}

    def reset_state(self):
        self.on_reset()

    def on_reset(self):
        """Called where Keras resets metrics (see the module docstring)."""

    def save_own_variables(self, store):
        pass

    def load_own_variables(self, store):
        pass

    @property
    def model(self):
        ref = getattr(self, "_keras_ls_model", None)
        return None if ref is None else ref()


def hidden_states(model, cls=HiddenState):
    return [m for m in _keras_compat.model_metrics(model) if isinstance(m, cls)]


def attach(model, holder):
    """Adds `holder` to `model`'s state and makes `model`'s steps open a
    step context (`steps.watch`)."""
    _keras_compat.add_state_metric(model, holder)
    object.__setattr__(holder, "_keras_ls_model", weakref.ref(model))
    steps.watch(model)


class _Driver:
    """How the train step computes one ε variable (see `drive`)."""

    def __init__(self, variable, key, function, per_epoch, active, table):
        self.variable = variable
        self.key = key
        self.function = function  # None: the host assigns the variable
        self.per_epoch = per_epoch
        self.active = active
        self.table = table
        self.size = None if table is None else int(table.shape[0])
        self.host = None  # the schedule as a Python function of t
        self.owner = None  # weakref to the scheduler that drives it
        self.active_on_host = False


class LabelSmoothingState(HiddenState):
    """Carries ε variables, and the schedule's step counter, as state.

    In-step schedules (`LabelSmoothingScheduler`): `step` counts the
    model's training steps. The scheduler sets it from the host at the
    first epoch of each `fit` (epoch·steps_per_epoch, so it follows
    `initial_epoch` and `BackupAndRestore`), and every training step
    advances it once, at the first read of a driven ε in that step
    (`scheduled`); evaluation steps read the ε of the last training step
    and advance nothing. A driver with a function computes ε from the
    counter with keras.ops while its `active` flag is up (the scheduler
    raises it for its `fit`); a driver without one only counts steps while
    the host assigns ε. The variables use "only_first_replica" aggregation
    so that every replica holds the same values.
    """

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

    def carries(self, variable):
        return any(v is variable for v in self._label_smoothing_variables)

    # -- drivers -----------------------------------------------------------

    def _state_variable(self, name, shape=(), dtype="int", initializer=None):
        return self.add_variable(
            shape=shape,
            initializer=initializer or "zeros",
            dtype=dtype,
            aggregation="only_first_replica",
            name=name,
        )

    @property
    def drivers(self):
        return getattr(self, "_drivers_by_id", None) or {}

    def driver(self, variable):
        return self.drivers.get(id(variable))

    def drive(self, variable, key, function, *, per_epoch, table=None):
        """Registers how the train step computes `variable`.

        `function(t)` maps the step (or the epoch, with `per_epoch`), an
        integer tensor, to ε with keras.ops; with a `table` (a float32
        numpy vector, kept in a variable) it is called as
        `function(t, table)`; `None` leaves ε to the host and only counts
        steps. Returns `(driver, stale)`: `stale` says that already traced
        steps do not compute this (a new driver, or a table of a new
        length), and the caller must drop them.
        """
        stale = False
        if getattr(self, "step", None) is None:
            self.step = self._state_variable("step")
            self.steps_per_epoch = self._state_variable(
                "steps_per_epoch", initializer="ones"
            )
            object.__setattr__(self, "_drivers_by_id", {})
            stale = True
        current = self._drivers_by_id.get(id(variable))
        size = None if table is None else len(table)
        if (
            current is not None
            and current.key == key
            and current.per_epoch == per_epoch
            and current.size == size
        ):
            if table is not None:
                current.table.assign(table)
            return current, stale
        index = len(self._drivers_by_id)
        active = (
            current.active
            if current is not None
            else self._state_variable(f"active_{index}")
        )
        table_variable = None
        if table is not None:
            table_variable = self._state_variable(
                f"table_{index}_{size}", shape=(size,), dtype="float32"
            )
            table_variable.assign(table)
        driver = _Driver(
            variable, key, function, per_epoch, active, table_variable
        )
        self._drivers_by_id[id(variable)] = driver
        return driver, True

    def set_step(self, step):
        """Sets the counter from the host (the first epoch of a fit)."""
        self.step.assign(step)

    def set_steps_per_epoch(self, steps_per_epoch):
        self.steps_per_epoch.assign(steps_per_epoch)
        self._host_steps_per_epoch = int(steps_per_epoch)  # set only here

    def set_active(self, variable, active, owner=None):
        driver = self._drivers_by_id[id(variable)]
        driver.active.assign(1 if active else 0)
        driver.active_on_host = bool(active)
        driver.owner = None if owner is None else weakref.ref(owner)

    def read_step(self):
        """The counter as a Python int (host read, after the JAX sync)."""
        model = self.model
        if model is not None:
            _keras_compat.sync_jax_state(model)
        return int(np.asarray(values.to_numpy(self.step.value)))

    def on_reset(self):
        self.drop_stale()

    def drop_stale(self):
        """Turns off every schedule whose scheduler's run is over.

        A `fit` interrupted by Ctrl-C or by a callback's exception skips
        `on_train_end`, where the scheduler turns its schedule off; the
        next entry point (Keras resets metrics at the start of each epoch
        of `fit` and of `evaluate`, `train_on_batch` and `test_on_batch`)
        finds the run gone from the stack and turns it off here, so the
        variable's own value, `loss.label_smoothing`, applies again.
        """
        for driver in self.drivers.values():
            if not driver.active_on_host:
                continue
            owner = driver.owner() if driver.owner is not None else None
            if owner is None or not owner.running():
                self.set_active(driver.variable, False)

    # -- the value a step uses ---------------------------------------------

    def _eager_torch(self):
        if keras.backend.backend() != "torch":
            return False
        import torch

        return not torch.compiler.is_compiling()

    def _step_of(self, step_context):
        """The step whose ε this computation uses, as a tensor (or a Python
        int on eager PyTorch), advancing the counter once per training
        step."""
        training = step_context is not None and step_context.training is True
        if self._eager_torch():
            # Read from the counter itself, not from a Python mirror: a
            # compiled step (or one Dynamo ran compiled before falling back
            # to eager, past its recompile limit) advances only the counter.
            t = int(self.step.value.item())
            if training and not step_context.advanced:
                step_context.advanced = True
                import torch

                with torch.no_grad():
                    self.step.value.add_(1)
                return t
            return max(t - 1, 0)
        # A read now, not the variable: TensorFlow's convert_to_tensor
        # returns a tf.Variable as it is, and torch the variable's own
        # storage, which the increment below would change under it.
        t = ops.add(self.step, 0)
        if training and not step_context.advanced:
            step_context.advanced = True
            self.step.assign_add(1)
            return t
        return ops.maximum(t - 1, 0)

    def scheduled(self, driver, step_context):
        """ε of `driver`'s variable for the step being computed."""
        t = self._step_of(step_context)
        if driver.function is None:
            return None  # the host assigns the variable
        if isinstance(t, int):  # eager PyTorch: the Python form
            if not driver.active_on_host or driver.host is None:
                return None
            per_epoch = max(int(getattr(self, "_host_steps_per_epoch", 1)), 1)
            return driver.host(t // per_epoch if driver.per_epoch else t)
        if driver.per_epoch:
            t = ops.floor_divide(
                t,
                ops.maximum(ops.convert_to_tensor(self.steps_per_epoch), 1),
            )
        if driver.table is None:
            value = driver.function(t)
        else:
            value = driver.function(t, driver.table)
        return ops.where(
            ops.convert_to_tensor(driver.active) > 0,
            ops.cast(value, "float32"),
            ops.cast(driver.variable, "float32"),
        )


def find_holder(model):
    for metric in hidden_states(model, LabelSmoothingState):
        return metric
    return None


def _carriers(variable):
    carriers = getattr(variable, _CARRIERS, None)
    if carriers is None:
        carriers = weakref.WeakSet()
        object.__setattr__(variable, _CARRIERS, carriers)
    return carriers


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
def track_label_smoothing(model, variables=None, *, losses=None):
    """Makes `model` carry ε variables as state; returns the holder.

    keras_ls losses call this themselves the first time a model's step
    calls them (Keras' symbolic build, before the first compiled step), so
    `loss.label_smoothing = x` reaches compiled train and test steps on
    every backend without a retrace. Call it yourself where a loss is
    called only inside a step that Keras never builds symbolically, before
    the first `fit`: a loss that `compile` did not get, as in
    `keras.distillation.Distiller` (on JAX its fit would otherwise gather
    the model's state before the loss meets the model), or to track other
    ε variables.

    Idempotent: a model gets at most one holder, and a variable is tracked
    once however often this is called (e.g. `fit` called twice). The
    holder is a hidden metric: weights and weight files are unchanged.

    Args:
        model: The `keras.Model` whose compiled steps read ε.
        variables: The ε variables to track. Defaults to `None`: the
            `label_smoothing_variable` of every keras_ls loss in `losses`,
            or in `model.loss` when `losses` is `None` too.
        losses: keras_ls losses whose state the model must carry: their
            ε, and `OnlineLabelSmoothing`'s soft labels. Defaults to
            `None`.

    Returns:
        The hidden holder metric.

    Raises:
        ValueError: When neither `variables` nor `losses` is given and
            `model.loss` holds no keras_ls loss.
        RuntimeError: When this Keras version does not let the variables
            become model state (a compiled step would then ignore ε).

    Examples:

    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.compile(loss=keras_ls.LabelSmoothingCrossentropy(0.1))
    >>> holder = keras_ls.track_label_smoothing(model)
    >>> model.loss.label_smoothing_variable in holder.label_smoothing_variables
    True
    """
    if losses is not None:
        losses = keras.tree.flatten(losses)
        for loss in losses:
            track_state = getattr(loss, "track_state", None)
            if track_state is not None:
                track_state(model)
        if variables is None:
            variables = [
                loss.label_smoothing_variable
                for loss in losses
                if isinstance(
                    getattr(loss, "label_smoothing_variable", None),
                    keras.Variable,
                )
            ]
    if variables is None:
        variables = _loss_variables(model)
        if not variables:
            raise ValueError(
                "`model.loss` holds no keras_ls loss, so there is no ε to "
                "track; pass `variables=` or `losses=`. Received: "
                f"model.loss={getattr(model, 'loss', None)!r}"
            )
    holder = find_holder(model)
    if holder is None:
        holder = LabelSmoothingState()
        attach(model, holder)
    for variable in variables:
        holder.add(variable)
        _carriers(variable).add(model)
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


def calling_model():
    """The keras.Model whose training or evaluation step calls us, or None:
    the current step context, else a look up the stack (Keras' symbolic
    build, before the model is watched)."""
    step = steps.current()
    if step is not None:
        return step.model
    return frames.calling_model(_keras_compat.MODEL_STEP_METHODS)


def track_calling_model(loss, y_pred):
    """Tracks `loss`'s ε in the model whose step calls it (see above).

    Looks for the model only on symbolic calls (Keras' symbolic build, a
    trace), and on concrete calls until a model was found once: an eager
    step then pays one attribute read. On JAX, a model whose `fit` has
    already gathered its state without ε (a loss that Keras' symbolic
    build never called, as in `keras.distillation.Distiller`) cannot take
    it in the middle of the step: ε is then a constant of that compiled
    step, and assigning a new one warns (`assign`).
    """
    kind = values.kind(y_pred)
    if kind == "compiling" or (
        kind == "concrete" and getattr(loss, _TRACKED, False)
    ):
        return
    model = calling_model()
    if model is None:
        return
    variable = loss.label_smoothing_variable
    holder = find_holder(model)
    if (
        keras.backend.backend() == "jax"
        and _keras_compat.jax_state_gathered(model)
        and not (holder is not None and holder.carries(variable))
    ):
        # Tracked on the next host assignment instead (see `assign`).
        object.__setattr__(variable, _PENDING, weakref.ref(model))
        return
    track_label_smoothing(model, [variable])
    setattr(loss, _TRACKED, True)


def epsilon(variable, y_pred=None):
    """ε of `variable` for the computation running now, as a tensor.

    In a step of a model that carries `variable` under an in-step schedule,
    the scheduled value (see `LabelSmoothingState.scheduled`); else the
    variable's value, which in compiled steps is state. A JAX trace that
    would read it as a concrete array (nothing maps it) gets:

    - in a model's step (a model whose `fit` gathered its state before the
      loss met it, such as a `keras.distillation.Distiller`): the live
      value through a host callback, for that fit; the model carries ε as
      state from the next host assignment on (see `assign`);
    - in a function of your own under `jax.jit`: the value as a constant,
      recorded so that assigning another value later warns.
    """
    step = steps.current()
    if step is not None:
        holder = find_holder(step.model)
        driver = None if holder is None else holder.driver(variable)
        if driver is not None:
            value = holder.scheduled(driver, step)
            if value is not None:
                return value
    value = _keras_compat.variable_value(variable)
    if value is None:
        raise RuntimeError(
            "keras_ls cannot read label_smoothing here: Keras' JAX `fit` "
            "holds the model's variables outside them during an epoch, and "
            "this step does not map them (a custom `train_step` must take "
            "`state` as its first argument, as Keras' JAX guide writes it, "
            "or compute the loss with `self.stateless_compute_loss(...)`)."
        )
    if (
        keras.backend.backend() == "jax"
        and y_pred is not None
        and values.kind(y_pred) == "traced"
        and not values.is_jax_tracer(value)
        and not _symbolic_build()
    ):
        model = step.model if step is not None else calling_model()
        if model is not None:
            object.__setattr__(variable, _PENDING, weakref.ref(model))
            return _live_jax_read(variable)
        object.__setattr__(
            variable, _BAKED, float(np.asarray(value, np.float64))
        )
    # The variable, not `value`: on TensorFlow that is the tf.Variable,
    # which a custom_gradient would then read inside itself and refuse.
    return variable


def _live_jax_read(variable):
    """The variable's host value at each run of the compiled step, through
    a JAX host callback (one small device-host exchange per step)."""
    import jax
    from jax.experimental import io_callback

    def read():
        return np.asarray(values.to_numpy(variable.value), np.float32)

    return io_callback(
        read, jax.ShapeDtypeStruct((), np.float32), ordered=False
    )


def _symbolic_build():
    """Whether this is Keras' symbolic build (shapes only, before any step
    runs), not a trace of a step that will run."""
    frame, model = frames.method_frame(_keras_compat.SYMBOLIC_BUILD_METHODS)
    del frame
    return model is not None


def read(variable):
    """The host value of `variable` as a numpy array, live during a JAX
    fit (the loop's state is synced into the variables first)."""
    for model in list(_carriers(variable)):
        _keras_compat.sync_jax_state(model)
    return np.asarray(values.to_numpy(variable.value))


def assign(variable, value):
    """Assigns `value` from the host so that the next step uses it.

    During a JAX fit the loop's state is synced into the variables first,
    and the loop re-reads it before the next step. Where a JAX trace baked
    the variable in as a constant (see `epsilon`), a different value warns
    that it does not reach that compiled function.
    """
    for model in list(_carriers(variable)):
        _keras_compat.sync_jax_state(model)
    pending = getattr(variable, _PENDING, None)
    model = None if pending is None else pending()
    if model is not None and not _keras_compat.jax_state_gathered(model):
        # A model whose step baked ε in (its fit had gathered the state
        # before the loss met it) takes it as state from the next fit on.
        object.__setattr__(variable, _PENDING, None)
        object.__setattr__(variable, _BAKED, None)
        track_label_smoothing(model, [variable])
        _keras_compat.retrace_steps(model)
    baked = getattr(variable, _BAKED, None)
    if baked is not None and np.float32(value) != np.float32(baked):
        object.__setattr__(variable, _BAKED, None)
        warnings.warn(
            f"label_smoothing={float(value):g} does not reach a function "
            "that JAX compiled with label_smoothing as the constant "
            f"{baked:g}: it was traced outside a Keras model's state (a "
            "function of your own under `jax.jit`, or a model whose `fit` "
            "started before it carried this loss, such as a "
            "keras.distillation.Distiller). Call "
            "`keras_ls.track_label_smoothing(model, "
            "[loss.label_smoothing_variable])` before `fit`, or map the "
            "variable in your function with "
            "`keras.StatelessScope(state_mapping=[(loss."
            "label_smoothing_variable, value)])`.",
            UserWarning,
            stacklevel=3,
        )
    variable.assign(value)


def drop_stale_schedules(model):
    holder = find_holder(model)
    if holder is not None and holder.drivers:
        holder.drop_stale()


steps.CUSTOM_LOOP_HOOKS.append(drop_stale_schedules)
