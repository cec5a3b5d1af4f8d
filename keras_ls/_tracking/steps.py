"""The step context: which model step is computing a loss right now.

A loss sometimes has to know whether the step that runs it trains or
evaluates (a step counter or running statistics advance in training steps
only), and which model runs it (whose state carries ε). Keras passes
neither to a loss, so `watch(model)` shadows the model's `train_step`,
`test_step` and `compute_loss` on the instance (not the class; a user's
override still runs) with wrappers that open a `Step` for the length of
the call, in a thread-local stack (MirroredStrategy runs each replica's
step in its own thread). Every way a Keras user trains goes through one
of them: `fit`, `train_on_batch` and `evaluate` call `train_step` or
`test_step` (Keras' own or the user's), and a custom loop that calls
`model.compute_loss` opens a step there. Compiled steps run this Python
only while tracing, so it costs nothing per step.

On JAX, Keras keeps the model's state outside its variables during `fit`
and maps it back only inside its own `stateless_*` calls; a custom
`train_step` written as in Keras' JAX guide computes the loss with
`self.compute_loss` (or calls the loss) outside any mapping. The
`train_step`/`test_step` wrappers therefore map keras_ls' hidden state
(`state.HiddenState` variables) from the step's `state` argument for the
whole step, and return what the step changed in it, so ε and the
schedule's counter are state in every JAX step, Keras' own or not.

Modelled on Keras' execution-context modules (`stateless_scope.py`):
`current()` and `is_training_step()` read the context; nothing else
does.
"""

import threading

import keras

from keras_ls import _keras_compat
from keras_ls._tracking import frames

_LOCAL = threading.local()
_WRAPPED = "_keras_ls_wrapped"
# The class attribute that marks keras_ls' hidden state metrics, and what
# runs before a `compute_loss` outside fit/evaluate: both set by
# `state.py`, which builds on this module (this one imports nothing of it).
HIDDEN_STATE = "_keras_ls_hidden_state"
CUSTOM_LOOP_HOOKS = []


class Step:
    """One model step being computed.

    Attributes:
        model: The `keras.Model` whose step it is.
        training: True in a training step, False in an evaluation step.
        advanced: Whether the schedule's step counter already moved in
            this step (it moves once per training step, at the first read
            of a scheduled ε; see `state.LabelSmoothingState`).
        in_keras_step: Whether the step was opened by `train_step` or
            `test_step` (False for `compute_loss` called by a custom
            loop).
    """

    __slots__ = ("model", "training", "advanced", "in_keras_step")

    def __init__(self, model, training, in_keras_step):
        self.model = model
        self.training = training
        self.advanced = False
        self.in_keras_step = in_keras_step


def _stack():
    stack = getattr(_LOCAL, "stack", None)
    if stack is None:
        stack = _LOCAL.stack = []
    return stack


def current():
    """The innermost `Step` being computed, or None outside any step."""
    stack = getattr(_LOCAL, "stack", None)
    return stack[-1] if stack else None


def is_training_step():
    """Whether the model step computing the loss right now trains.

    Returns `True` inside a training step (`fit`, `train_on_batch`, a
    custom loop's `model.compute_loss(..., training=True)`), `False`
    inside an evaluation step (`evaluate`, the validation of `fit`), and
    `None` outside any step of a model `watch` has seen (a loss called on
    its own). In compiled steps it is read while tracing: branch on it in
    Python.
    """
    step = current()
    if step is not None:
        return step.training
    return _training_from_frames()


def _training_from_frames():
    """`training` of the innermost Keras step or loss frame up the stack,
    for a model `watch` has not seen yet (a loss first called inside a
    traced step); None outside any model step."""
    frame, _ = frames.method_frame(_keras_compat.MODEL_STEP_METHODS)
    try:
        while frame is not None:
            name = frame.f_code.co_name
            if name in _keras_compat.TRAIN_STEP_METHODS:
                return True
            if name in _keras_compat.TEST_STEP_METHODS:
                return False
            training = frame.f_locals.get("training")
            if isinstance(training, bool):
                return training
            frame, _ = frames.method_frame(
                _keras_compat.MODEL_STEP_METHODS, start=frame.f_back
            )
        return None
    finally:
        del frame


class _Open:
    """Pushes a `Step` for the duration of a `with` block."""

    __slots__ = ("step",)

    def __init__(self, step):
        self.step = step

    def __enter__(self):
        _stack().append(self.step)
        return self.step

    def __exit__(self, *exc):
        stack = _stack()
        if stack and stack[-1] is self.step:
            stack.pop()
        return False


def _original(model, name):
    """The method `name` that the wrapper replaced: an instance attribute
    set before `watch`, else the class's (a user override included)."""
    wrapped = model.__dict__.get(_WRAPPED, {})
    if name in wrapped:
        return wrapped[name]
    return getattr(type(model), name).__get__(model)


def _hidden_variables(model):
    """[(index in model.metrics_variables, variable)] of keras_ls' hidden
    state (`state.HiddenState` metrics, which carry `HIDDEN_STATE`) on
    `model`."""
    hidden = {
        id(v)
        for metric in _keras_compat.model_metrics(model)
        if getattr(metric, HIDDEN_STATE, False)
        for v in metric.variables
    }
    if not hidden:
        return []
    return [
        (i, v) for i, v in enumerate(model.metrics_variables) if id(v) in hidden
    ]


def _jax_step(model, method, training, args, kwargs):
    """Runs a JAX `train_step(state, data)`/`test_step` with keras_ls'
    hidden state mapped from `state`, and returns what changed in it."""
    state = args[0] if args else kwargs.get("state")
    hidden = _hidden_variables(model)
    metrics = _keras_compat.jax_step_metrics(state, model)
    if not hidden or metrics is None:
        with _Open(Step(model, training, True)):
            return method(*args, **kwargs)
    mapping = [(variable, metrics[i]) for i, variable in hidden]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        before = {i: scope.get_current_value(v) for i, v in hidden}
        with _Open(Step(model, training, True)):
            outputs = method(*args, **kwargs)
        changed = {
            i: scope.get_current_value(v)
            for i, v in hidden
            if scope.get_current_value(v) is not before[i]
        }
    if not changed:
        return outputs
    return _keras_compat.jax_step_with_metrics(outputs, changed, model)


def _step_wrapper(name, training):
    def step(self, *args, **kwargs):
        method = _original(self, name)
        if keras.backend.backend() == "jax":
            return _jax_step(self, method, training, args, kwargs)
        with _Open(Step(self, training, True)):
            return method(*args, **kwargs)

    step.__name__ = f"_keras_ls_{name}"
    return step


_train_step = _step_wrapper("train_step", True)
_test_step = _step_wrapper("test_step", False)


def _training_argument(args, kwargs):
    """`training` of a `compute_loss(x, y, y_pred, sample_weight,
    training)` call: Keras' default is True."""
    if "training" in kwargs:
        training = kwargs["training"]
    elif len(args) >= 5:
        training = args[4]
    else:
        training = True
    if isinstance(training, bool) or type(training).__name__ == "bool_":
        return bool(training)
    return None  # a tensor: unknown while tracing


def _compute_loss(self, *args, **kwargs):
    method = _original(self, "compute_loss")
    outer = current()
    if outer is not None and outer.model is self:
        return method(*args, **kwargs)
    # A custom loop calling `model.compute_loss` outside fit/evaluate.
    for hook in CUSTOM_LOOP_HOOKS:
        hook(self)
    with _Open(Step(self, _training_argument(args, kwargs), False)):
        return method(*args, **kwargs)


_compute_loss.__name__ = "_keras_ls_compute_loss"


def _rebinding(make_name, step_name):
    """`make_train_function`/`make_test_function`, binding the step wrapper
    anew first: JAX's `jit(self.train_step)` caches its trace by the
    callable's identity, and Keras counts on a fresh bound method (a
    recompile, or a scheduler that changes the step code, must retrace)."""

    def make(self, *args, **kwargs):
        object.__setattr__(self, step_name, _WRAPPERS[step_name].__get__(self))
        return _original(self, make_name)(*args, **kwargs)

    make.__name__ = f"_keras_ls_{make_name}"
    return make


_WRAPPERS = {
    "train_step": _train_step,
    "test_step": _test_step,
    "compute_loss": _compute_loss,
}
_WRAPPERS["make_train_function"] = _rebinding(
    "make_train_function", "train_step"
)
_WRAPPERS["make_test_function"] = _rebinding("make_test_function", "test_step")


def watch(model):
    """Makes `model`'s steps open a `Step`; idempotent.

    Call it before the step is traced; keras_ls losses do it themselves at
    the model's symbolic build (`state.track_calling_model`).
    """
    if _WRAPPED in model.__dict__:
        return
    wrapped = {}
    for name in _WRAPPERS:
        current_attr = model.__dict__.get(name)
        if current_attr is not None:
            # An instance-level method set by someone else: wrap it.
            wrapped[name] = current_attr
    object.__setattr__(model, _WRAPPED, wrapped)
    for name, function in _WRAPPERS.items():
        object.__setattr__(model, name, function.__get__(model))


def watched(model):
    return _WRAPPED in model.__dict__
