"""The two ways `LabelSmoothingScheduler` applies a schedule.

- `InStepPath`: inside `fit`, a built-in schedule or a Keras
  `LearningRateSchedule` ("graph"), or any `f(t)` tabulated when `fit`
  starts ("table"), is computed inside the train step from the step
  counter of the model's hidden state (`_tracking.state`): every step gets
  its own ε with no per-step work on the host.
- `HostPath`: `f(t, current)`, a table that cannot be sized (a dataset of
  unknown length with `update="batch"`, or more than `MAX_TABLE` entries),
  and any schedule driven outside `fit` (a loop of your own that calls a
  `CallbackList`) are assigned from Python before each epoch or batch.

Both count the train steps from the step counter, which the train step
advances, and not from the callback hooks: Keras calls
`on_train_batch_begin` once more than it runs steps on a dataset of unknown
length.
"""

import warnings

import keras
import numpy as np

from keras_ls import _keras_compat
from keras_ls._tracking import state as _state

# The most entries a schedule table may have (4 MiB of float32).
MAX_TABLE = 1 << 20


def _config_of(schedule):
    get_config = getattr(schedule, "get_config", None)
    try:
        return get_config() if get_config is not None else id(schedule)
    except NotImplementedError:
        return id(schedule)


class _Path:
    """What both paths share: the targets, the holder, the counter."""

    def __init__(self, scheduler, steps):
        self.scheduler = scheduler
        self.model = scheduler.model
        self.holder = _state.find_holder(self.model)
        self.per_epoch = scheduler.update == "epoch"
        self.steps = steps  # steps per epoch, None when unknown
        self.start = 0
        self.first_epoch = True
        self.last_value = None

    def variables(self):
        return [
            obj.label_smoothing_variable for _, obj in self.scheduler.targets
        ]

    def _drive(self, key, function, table=None):
        stale = False
        for variable in self.variables():
            driver, changed = self.holder.drive(
                variable, key, function, per_epoch=self.per_epoch, table=table
            )
            driver.host = self.host_value
            stale |= changed
        if stale:
            # Traced steps do not compute this schedule: trace again (once).
            _keras_compat.retrace_steps(self.model)

    def begin(self):
        self.first_epoch = True
        self.last_value = None
        self.holder.set_steps_per_epoch(self.steps or 1)

    def _start_counter(self, epoch):
        """The counter at the first epoch of this fit: epoch·steps, so the
        schedule continues after `initial_epoch` or a resume."""
        if self.steps is None and epoch > 0:
            raise ValueError(
                "LabelSmoothingScheduler needs the number of steps per "
                f"epoch to continue the schedule at epoch {epoch}, but the "
                "dataset has no known length. Pass `steps_per_epoch` to "
                "`fit`."
            )
        self.start = epoch * (self.steps or 0)
        self.holder.set_step(self.start)

    def epoch_begin(self, epoch):
        if self.first_epoch:
            self._start_counter(epoch)
            self.first_epoch = False

    def batch_begin(self, epoch, batch):
        pass

    def settle(self, epoch):
        pass

    def _steps_done(self, epoch):
        """The counter after this epoch; learns the steps per epoch of a
        dataset of unknown length from the first epoch."""
        done = self.holder.read_step()
        if self.steps is None and epoch == 0 and done > self.start:
            self.steps = done - self.start
        return done

    def _write(self, value):
        if value == self.last_value:
            return
        for variable in self.variables():
            _state.assign(variable, value)
        self.last_value = value

    def end(self):
        pass

    def host_value(self, t):
        return self.scheduler.value_at(t)


class InStepPath(_Path):
    """ε computed in the train step from the counter (graph or table)."""

    def __init__(self, scheduler, steps, epochs, tabulate):
        super().__init__(scheduler, steps)
        self.table = None
        schedule = scheduler.schedule
        if not tabulate:

            def function(t):
                return schedule(keras.ops.cast(t, "float32"))

            key = ("graph", type(schedule), repr(_config_of(schedule)))
        else:
            size = epochs if self.per_epoch else epochs * steps
            self.table = np.asarray(
                [scheduler.value_at(t) for t in range(size)], np.float32
            )
            last = size - 1

            def function(t, values):
                index = keras.ops.clip(keras.ops.cast(t, "int32"), 0, last)
                return keras.ops.take(values, index)

            key = ("table",)
        self._drive(key, function, self.table)

    def host_value(self, t):
        if self.table is not None:
            return float(self.table[min(t, len(self.table) - 1)])
        return self.scheduler.value_at(t)

    def begin(self):
        super().begin()
        for variable in self.variables():
            self.holder.set_active(variable, True, owner=self.scheduler)

    def epoch_begin(self, epoch):
        super().epoch_begin(epoch)
        t = epoch if self.per_epoch else epoch * (self.steps or 0)
        return self.host_value(t)

    def epoch_end(self, epoch):
        done = self._steps_done(epoch)
        t = epoch if self.per_epoch else max(done - 1, 0)
        value = self.host_value(t)
        # So that loss.label_smoothing, a saved config and a later
        # evaluate() see the ε the last step used.
        self._write(value)
        return value

    def end(self):
        for variable in self.variables():
            self.holder.set_active(variable, False)


class HostPath(_Path):
    """ε assigned from Python before each epoch or batch."""

    def __init__(self, scheduler, steps):
        super().__init__(scheduler, steps)
        self.seen = None
        self.counted = 0
        # A driver without a function only counts the train steps.
        self._drive(("host",), None)
        spe = getattr(self.model, "steps_per_execution", 1)
        if not self.per_epoch and spe > 1:
            warnings.warn(
                "LabelSmoothingScheduler(update='batch') assigns this "
                f"schedule ({scheduler.schedule!r}) from Python before each "
                "call of the train function, which runs "
                f"steps_per_execution={spe} steps: each ε applies to that "
                "many steps. Use a keras_ls.schedules schedule, a Keras "
                "LearningRateSchedule or f(step) with a dataset of known "
                "length to get one ε per step.",
                UserWarning,
                stacklevel=5,
            )

    def _apply(self, t):
        value = self.scheduler.value_at(t)
        self._write(value)
        return value

    def _global_step(self, epoch, batch):
        if self.steps is not None:
            return epoch * self.steps + batch
        if epoch == 0:
            return batch
        raise ValueError(
            "LabelSmoothingScheduler(update='batch') needs the number of "
            "steps per epoch to continue the schedule at epoch "
            f"{epoch}, but the dataset has no known length. Pass "
            "`steps_per_epoch` to `fit`."
        )

    def epoch_begin(self, epoch):
        super().epoch_begin(epoch)
        self.seen = 0
        if self.per_epoch:
            return self._apply(epoch)
        self.counted = self.holder.read_step()
        return None

    def batch_begin(self, epoch, batch):
        if self.per_epoch:
            return None
        self.seen = batch + 1
        return self._apply(self._global_step(epoch, batch))

    def settle(self, epoch):
        """Writes the ε of the last step that ran (see `epoch_end`); for
        the validation of `fit`, which runs before `on_epoch_end`."""
        return self.epoch_end(epoch)

    def epoch_end(self, epoch):
        if self.per_epoch:
            return self.last_value
        ran = self.holder.read_step() - self.counted
        if not 0 < ran <= (self.seen or 0):
            ran = self.seen  # no Keras train step counted (a custom loop)
        if self.steps is None and epoch == 0:
            self.steps = ran
        if not ran:
            return self.last_value
        # The ε of the last step that ran: Keras calls
        # on_train_batch_begin once more before it finds a dataset of
        # unknown length exhausted, for a step that never runs.
        return self._apply(self._global_step(epoch, ran - 1))
