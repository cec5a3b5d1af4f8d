"""`LabelSmoothingScheduler`: anneal ε during `model.fit`.

ε lives in each keras_ls loss's `label_smoothing_variable`. The callback
makes those variables part of the state the model passes into its compiled
train and test steps (see `keras_ls._tracking` for why and how), and
coordinates one of two paths (`_schedule_paths`, docs/schedules.md):

- in the step, inside `fit`: a built-in `keras_ls.schedules` schedule or a
  Keras `LearningRateSchedule` is evaluated with keras.ops inside the
  compiled train step, from a step counter that is model state and that
  the train step advances; any other `f(t)` is tabulated once per `fit`
  and read at the counter;
- from the host: `f(t, current)`, a table that cannot be sized, and any
  schedule driven outside `fit` (a loop of your own that calls a
  `CallbackList`) are assigned through `Variable.assign` before each
  epoch or batch.

No retrace and no recompilation follow in either. A schedule stays on only
while the `fit` (or loop) that started it runs: an interrupted fit leaves
nothing on (`_tracking.state.LabelSmoothingState.drop_stale`).
"""

import inspect

import keras
import numpy as np

from keras_ls import _keras_compat
from keras_ls import _validation
from keras_ls import schedules as _schedules
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls._tracking import frames as _frames
from keras_ls._tracking import state as _state
from keras_ls._tracking import values as _values
from keras_ls.callbacks._schedule_paths import MAX_TABLE
from keras_ls.callbacks._schedule_paths import HostPath
from keras_ls.callbacks._schedule_paths import InStepPath

UPDATES = ("epoch", "batch")
LOG_KEY = "label_smoothing"


def schedule_path(schedule, arity=None):
    """ "graph", "table" or "host": how the scheduler applies `schedule`
    (before the number of steps is known; see the module docstring)."""
    if isinstance(schedule, _schedules.LabelSmoothingSchedule) and (
        schedule._in_graph
    ):
        return "graph"
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return "graph"
    if arity is None:
        arity = _schedule_arity(schedule)
    return "table" if arity == 1 else "host"


def is_smoothing_loss(obj):
    """Whether `obj` keeps its ε in a `label_smoothing_variable`."""
    return isinstance(
        getattr(obj, "label_smoothing_variable", None), keras.Variable
    )


def _schedule_arity(schedule):
    """1 for `f(t)`, 2 for `f(t, current)`; raises if neither fits."""
    if not callable(schedule):
        raise ValueError(
            "`schedule` must be a keras_ls schedule or a callable f(epoch) "
            f"or f(epoch, current). Received: schedule={schedule!r}"
        )
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):
        return 1
    for arity, args in ((2, (0, 0.0)), (1, (0,))):
        try:
            signature.bind(*args)
            return arity
        except TypeError:
            continue
    raise ValueError(
        "`schedule` must accept the epoch (or step), and optionally the "
        f"current label_smoothing. Received: schedule={schedule!r} with "
        f"signature {signature}"
    )


def _flat_losses(structure, output_names):
    """(output name or None, loss) for each loss in `model.loss`."""
    if isinstance(structure, dict):
        return [(str(k), v) for k, v in structure.items()]
    if isinstance(structure, (list, tuple)):
        names = list(output_names or [])
        return [
            (names[i] if i < len(names) else str(i), v)
            for i, v in enumerate(structure)
        ]
    names = list(output_names or [])
    return [(names[0] if len(names) == 1 else None, structure)]


def _check_loss_arg(loss):
    if loss is None:
        return None
    items = list(loss) if isinstance(loss, (list, tuple)) else [loss]
    if not items:
        raise ValueError(
            "`loss` must be None, a keras_ls smoothing loss, an output name, "
            "or a non-empty list of them. Received: loss=[]"
        )
    for item in items:
        if not (isinstance(item, str) or is_smoothing_loss(item)):
            raise ValueError(
                "`loss` must be None, a keras_ls smoothing loss (one with a "
                "`label_smoothing_variable`), an output name, or a list of "
                f"them. Received: loss={loss!r} (item {item!r} of type "
                f"{type(item).__name__})"
            )
    return items


def select_smoothing_losses(model_loss, output_names, loss=None):
    """The keras_ls smoothing losses a scheduler drives, from `model.loss`.

    Args:
        model_loss: `model.loss`: one loss, a list (matched to
            `output_names` by position) or a dict keyed by output name.
        output_names: `model.output_names`, or None.
        loss: The scheduler's `loss=`: None for every smoothing loss found,
            or one or a list of loss objects and/or output names.

    Returns:
        `(targets, drives_all, num_found)`: the (output name or None, loss)
        pairs to drive, without duplicates and in the order asked; whether
        they are every smoothing loss of the model; and how many it has.

    Raises:
        ValueError: if `loss` is malformed, if `loss` is None and the model
            has no smoothing loss, or if `loss` names an output without one.
    """
    items = _check_loss_arg(loss)
    found = [
        (name, obj)
        for name, obj in _flat_losses(model_loss, output_names)
        if is_smoothing_loss(obj)
    ]
    if items is None:
        if not found:
            raise ValueError(
                "LabelSmoothingScheduler found no keras_ls smoothing loss "
                "in `model.loss` (compile the model with one, or pass "
                f"`loss=`). Received: model.loss={model_loss!r}"
            )
        return found, True, len(found)
    by_name = {name: obj for name, obj in found if name is not None}
    targets = []
    for item in items:
        if isinstance(item, str):
            if item not in by_name:
                raise ValueError(
                    f"`loss` names output {item!r}, which has no keras_ls "
                    "smoothing loss. Outputs with one: "
                    f"{sorted(by_name)}. Received: loss={loss!r}"
                )
            pair = (item, by_name[item])
        else:
            names = [n for n, obj in found if obj is item]
            pair = (names[0] if names else item.name, item)
        if not any(obj is pair[1] for _, obj in targets):
            targets.append(pair)
    chosen = {id(obj) for _, obj in targets}
    drives_all = all(id(obj) in chosen for _, obj in found)
    return targets, drives_all, len(found)


@keras_ls_export(
    "keras_ls.callbacks.LabelSmoothingScheduler",
    "keras_ls.LabelSmoothingScheduler",
)
class LabelSmoothingScheduler(keras.callbacks.Callback):
    """Sets ε of keras_ls losses from a schedule during `model.fit`.

    ε = schedule(t), with t the epoch (`update="epoch"`, applied at the start
    of each epoch) or the global step epoch·steps_per_epoch + batch
    (`update="batch"`, applied before each step), so a run resumed with
    `fit(initial_epoch=...)` continues the schedule where it stopped.

    The ε the compiled train step uses equals the schedule's value on
    TensorFlow (eager, `tf.function`, `jit_compile=True`), JAX (jit) and
    PyTorch, without retracing: the callback makes each loss's
    `label_smoothing_variable` part of the model's state (as the variable of
    a hidden no-op metric), so the step reads it as an input instead of
    baking it in at trace time. A built-in schedule or a Keras
    `LearningRateSchedule` is evaluated inside the compiled train step from
    a step counter that is model state, so every step (also with
    `steps_per_execution > 1`) gets its own ε with no per-step work in
    Python; any other `f(t)` is tabulated when `fit` starts and read in the
    step; `f(t, current)` is assigned from Python before each epoch or
    batch (docs/schedules.md). This holds for custom `train_step`s too
    (Keras' JAX guide's included), whether they call `self.compute_loss`
    or the loss itself, for `steps_per_execution > 1` and for datasets of
    unknown length; a loop of your own that drives callbacks through a
    `keras.callbacks.CallbackList` gets ε assigned from Python. A `fit`
    interrupted by Ctrl-C or an exception leaves no schedule on: the next
    `fit`, `evaluate` or `train_on_batch` computes with
    `loss.label_smoothing`. Weight files are unchanged by this, so
    `model.save`, `keras.saving.load_model` and `model.load_weights` into a
    model built without the callback keep working.

    At each epoch end it writes `logs["label_smoothing"]`, a Python float
    (the ε applied last in the epoch), so `History`, `CSVLogger`,
    `TensorBoard` and `EarlyStopping` see it; this key is written when the
    callback drives every smoothing loss of the model. With several outputs
    it also writes `logs["<output>_label_smoothing"]` for each loss it
    drives. Put it before the callbacks that read these keys.

    Validation during `fit` uses the current ε, as Keras does, so
    `val_loss` moves with the schedule; compare runs on an unsmoothed
    metric such as the negative log-likelihood instead.

    Args:
        schedule: A `keras_ls.schedules` schedule, a
            `keras.optimizers.schedules.LearningRateSchedule`, or any
            callable `f(epoch)` or `f(epoch, current)` returning ε in
            [0, 1) (like `keras.callbacks.LearningRateScheduler`).
        loss: Which losses to drive: `None` for every keras_ls smoothing
            loss in `model.loss` (a single loss, a list or a dict), or one
            or a list of loss objects and/or output names. Defaults to
            `None`.
        update: `"epoch"` or `"batch"`. Defaults to `"epoch"`.
        verbose: `0` is silent, `1` prints
            `Epoch N: LabelSmoothingScheduler setting label_smoothing to X.`
            at the start of each epoch. Defaults to `0`.

    Raises:
        ValueError: at construction, for a `schedule` that is not callable
            with the epoch (or step), or a malformed `update`, `verbose` or
            `loss`; when fit starts, if `loss` selects no smoothing loss
            (see `select_smoothing_losses`); during fit, if the schedule
            returns anything but a number in [0, 1) (the message names the
            value and the epoch or step). A refused value changes no ε.

    Examples:

    Usage with `fit()`:

    >>> import keras
    >>> import numpy as np
    >>> import keras_ls
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model.compile(
    ...     optimizer="sgd",
    ...     loss=keras_ls.losses.LabelSmoothingCrossentropy(0.2))
    >>> scheduler = keras_ls.callbacks.LabelSmoothingScheduler(
    ...     keras_ls.schedules.LinearDecay(0.2, 0.0, 2))
    >>> history = model.fit(
    ...     np.zeros((8, 4)), np.zeros(8, "int32"), epochs=3, verbose=0,
    ...     callbacks=[scheduler])
    >>> [round(e, 3) for e in history.history["label_smoothing"]]
    [0.2, 0.1, 0.0]

    ```python
    model.compile(optimizer="adam",
                  loss=keras_ls.LabelSmoothingCrossentropy(0.1),
                  jit_compile=True)
    model.fit(x, y, epochs=10, callbacks=[
        keras_ls.callbacks.LabelSmoothingScheduler(
            keras_ls.schedules.TwoStage(0.1, switch=6)),
    ])
    ```

    References:
        - Xu, Xu, Qian, Li and Jin, 2020. [Towards Understanding Label
          Smoothing](https://arxiv.org/abs/2006.11653) (two-stage label
          smoothing).
        - Müller, Kornblith and Hinton, 2019. [When Does Label Smoothing
          Help?](https://arxiv.org/abs/1906.02629) NeurIPS 2019.
    """

    def __init__(self, schedule, *, loss=None, update="epoch", verbose=0):
        super().__init__()
        self._arity = _schedule_arity(schedule)
        _validation.check_choice(update, "update", UPDATES)
        verbose = _validation.check_int(verbose, "verbose", minimum=0)
        _check_loss_arg(loss)
        self.schedule = schedule
        self.loss = loss
        self.update = update
        self.verbose = verbose
        self.targets = []
        self._drives_all = True
        self._num_found = 0
        self._epoch = 0
        self._path = None
        self._run = None

    def set_model(self, model):
        targets, drives_all, num_found = select_smoothing_losses(
            getattr(model, "loss", None),
            getattr(model, "output_names", None),
            self.loss,
        )
        # Before the first trace (fit calls set_model before building its
        # train function), so the compiled step takes ε as state.
        _state.track_label_smoothing(
            model, [obj.label_smoothing_variable for _, obj in targets]
        )
        super().set_model(model)
        self.targets = targets
        self._drives_all = drives_all
        self._num_found = num_found
        self._path = None

    def set_params(self, params):
        super().set_params(params)
        # fit builds its CallbackList (set_model, then set_params) before it
        # builds its train function: the last moment to drop traced steps
        # that do not compute this schedule yet.
        if self._model is not None and params and "epochs" in params:
            self._path = self._make_path(params)

    def _make_path(self, params):
        steps = int(params["steps"]) if params.get("steps") else None
        epochs = int(params.get("epochs") or 0)
        kind = schedule_path(self.schedule, self._arity)
        per_epoch = self.update == "epoch"
        frame, _ = _frames.method_frame(
            _keras_compat.FIT_METHODS, owner=self._model
        )
        in_fit = frame is not None
        del frame
        if kind == "table":
            size = epochs if per_epoch else epochs * (steps or 0)
            if steps is None or not 0 < size <= MAX_TABLE:
                kind = "host"
        if not in_fit or (per_epoch and steps is None):
            # Outside fit no Keras step may advance the counter; and the
            # epoch of a step is step // steps_per_epoch.
            kind = "host"
        if kind == "host":
            return HostPath(self, steps)
        return InStepPath(self, steps, epochs, tabulate=kind == "table")

    def running(self):
        """Whether the `fit` (or loop) that started this run still runs."""
        return _frames.on_stack(self._run)

    # -- applying values ---------------------------------------------------

    def _current(self):
        if self._path is not None and self._path.last_value is not None:
            return self._path.last_value
        variable = self.targets[0][1].label_smoothing_variable
        return float(_state.read(variable))

    def value_at(self, t):
        """The schedule's ε at `t` (epoch or step), checked, as a float."""
        if self._arity == 2:
            value = self.schedule(t, self._current())
        else:
            value = self.schedule(t)
        where = "epoch" if self.update == "epoch" else "step"
        if hasattr(value, "shape") and not isinstance(value, np.ndarray):
            # A scalar tensor, e.g. from a keras.optimizers.schedules one.
            try:
                value = np.asarray(_values.to_numpy(value))
            except (TypeError, ValueError):
                pass
        return _validation.check_label_smoothing(
            value,
            "label_smoothing",
            context=f"returned by the schedule at {where} {t}",
        )

    def _names(self):
        if self._drives_all:
            return LOG_KEY
        return ", ".join(f"{name}_{LOG_KEY}" for name, _ in self.targets)

    def _announce(self, epoch, value):
        if self.verbose > 0 and value is not None:
            print(
                f"\nEpoch {epoch + 1}: LabelSmoothingScheduler setting "
                f"{self._names()} to {value:.6g}."
            )

    # -- callback hooks ----------------------------------------------------

    def on_train_begin(self, logs=None):
        if self._path is None:  # a CallbackList built without `epochs`
            self._path = self._make_path(self.params or {})
        # The frame that runs this fit (or the loop that drives a
        # CallbackList): while it runs, the schedule is on.
        self._run = _frames.outside_caller(_keras_compat.CALLBACK_MODULES)
        self._path.begin()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._announce(epoch, self._path.epoch_begin(epoch))

    def on_train_batch_begin(self, batch, logs=None):
        # Here, not in on_train_batch_end: overriding that hook makes Keras
        # turn off asynchronous dispatch and wait for every step.
        value = self._path.batch_begin(self._epoch, batch)
        if batch == 0:
            self._announce(self._epoch, value)

    def on_test_begin(self, logs=None):
        # The validation of `fit` runs before on_epoch_end: it must use the
        # ε of the last train step, not of a step Keras announced but never
        # ran (the end of a dataset of unknown length).
        if self._path is not None and self.running():
            self._path.settle(self._epoch)

    def on_epoch_end(self, epoch, logs=None):
        value = self._path.epoch_end(epoch)
        if value is None:
            value = self._current()
        value = float(value)
        logs = logs if logs is not None else {}
        if self._drives_all:
            logs[LOG_KEY] = value
        if self._num_found > 1:
            for name, _ in self.targets:
                logs[f"{name}_{LOG_KEY}"] = value

    def on_train_end(self, logs=None):
        self._path.end()
        self._run = None

    def get_config(self):
        schedule = self.schedule
        if hasattr(schedule, "get_config"):
            schedule = keras.saving.serialize_keras_object(schedule)
        return {
            "schedule": schedule,
            "loss": self.loss,
            "update": self.update,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("schedule"), dict):
            config["schedule"] = keras.saving.deserialize_keras_object(
                config["schedule"]
            )
        return cls(**config)


__all__ = public_names(__name__)
