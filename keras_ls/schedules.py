"""ε schedules: pure, serializable functions of the epoch or global step.

A schedule maps t (the epoch, or the global step when
`LabelSmoothingScheduler(update="batch")`) to ε in [0, 1). Arguments are
validated once, when the schedule is built, so a schedule that builds can
only return valid values. Every schedule returns a Python float, holds no
state and round-trips through `keras.saving.serialize_keras_object`.

Called with a scalar tensor step instead of a number, every built-in
schedule returns a float32 tensor computed with `keras.ops`, like Keras'
learning-rate schedules, so `LabelSmoothingScheduler` evaluates it inside
the compiled train step (see docs/schedules.md).

Boundaries are inclusive on the right: a value that changes "at t = s"
applies from t = s on. `TwoStage(0.1, switch=6)` smooths epochs 0–5 and
trains on hard labels from epoch 6, the same as
`PiecewiseConstant([6], [0.1, 0.0])`. (Keras' `PiecewiseConstantDecay`
switches one step later, after t = s.)
"""

import bisect
import math

import keras
from keras import ops

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names


def _check_step(step):
    return _validation.check_number(
        step, "step", minimum=0, context="the epoch or global step"
    )


def _clip01(x):
    return min(max(x, 0.0), 1.0)


def _is_tensor(step):
    """Whether `step` is a backend tensor (traced or not), not a number."""
    return isinstance(step, (keras.Variable, keras.KerasTensor)) or (
        ops.is_tensor(step)
    )


def _float32_step(step):
    return ops.cast(ops.convert_to_tensor(step), "float32")


@keras_ls_export("keras_ls.schedules.LabelSmoothingSchedule")
class LabelSmoothingSchedule:
    """Base class of ε schedules: `schedule(step)` returns ε as a float.

    Subclasses implement `__call__(step)` and `get_config()`; every
    constructor argument must appear in the config so that
    `from_config(get_config())` rebuilds an equal schedule. Any Python
    callable `f(epoch)` or `f(epoch, current)` can be used instead where a
    schedule is expected. Calling any built-in schedule with a `step` that
    is not a finite number >= 0 raises `ValueError`.

    A schedule that also implements `_tensor_value(t)` (t a float32
    tensor, result computed with `keras.ops`) is evaluated inside the
    compiled train step by `LabelSmoothingScheduler`; every built-in one
    does, and then accepts a tensor `step` in `__call__`. Other schedules
    are called from Python (see docs/schedules.md for the cost).
    """

    # Set by subclasses whose `_tensor_value` computes ε with keras.ops.
    _in_graph = False

    def _tensor_value(self, t):
        raise NotImplementedError

    def __call__(self, step):
        raise NotImplementedError(
            f"{type(self).__name__} must implement `__call__(step)`."
        )

    def get_config(self):
        raise NotImplementedError(
            f"{type(self).__name__} must implement `get_config()`."
        )

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and (
            self.get_config() == other.get_config()
        )

    def __hash__(self):
        return hash((type(self).__name__, repr(self)))


@keras_ls_export("keras_ls.schedules.Constant")
class Constant(LabelSmoothingSchedule):
    """ε = `value` at every step.

    Args:
        value: ε in [0, 1).

    Raises:
        ValueError: when `value` is not a number in [0, 1).

    Examples:

    Standalone usage:

    >>> keras_ls.schedules.Constant(0.1)(7)
    0.1

    References:
        - Szegedy et al., 2016. [Rethinking the Inception Architecture for
          Computer Vision](https://arxiv.org/abs/1512.00567).
    """

    def __init__(self, value):
        self.value = _validation.check_label_smoothing(value, "value")

    _in_graph = True

    def __call__(self, step):
        if _is_tensor(step):
            return self._tensor_value(_float32_step(step))
        _check_step(step)
        return self.value

    def _tensor_value(self, t):
        return ops.zeros_like(t) + self.value

    def get_config(self):
        return {"value": self.value}


class _Interpolation(LabelSmoothingSchedule):
    """Shared arguments of the schedules that go from `initial` to `final`."""

    def __init__(self, initial, final, duration, start=0):
        self.initial = _validation.check_label_smoothing(initial, "initial")
        self.final = _validation.check_label_smoothing(final, "final")
        self.duration = _validation.check_int(duration, "duration", minimum=1)
        self.start = _validation.check_int(start, "start", minimum=0)

    _in_graph = True

    def __call__(self, step):
        if _is_tensor(step):
            return self._tensor_value(_float32_step(step))
        return self._float_value(
            _clip01((_check_step(step) - self.start) / self.duration)
        )

    def _tensor_value(self, t):
        p = ops.clip((t - float(self.start)) / float(self.duration), 0.0, 1.0)
        return self._ops_value(p)

    def get_config(self):
        return {
            "initial": self.initial,
            "final": self.final,
            "duration": self.duration,
            "start": self.start,
        }


@keras_ls_export("keras_ls.schedules.LinearDecay")
class LinearDecay(_Interpolation):
    """Linear interpolation from `initial` to `final` over `duration` steps.

    ε(t) = initial + (final - initial)·p with
    p = clip((t - start) / duration, 0, 1): `initial` up to t = start,
    `final` from t = start + duration on. `final` may exceed `initial`.

    Args:
        initial: ε up to `start`, in [0, 1).
        final: ε from `start + duration` on, in [0, 1).
        duration: Number of epochs (or steps) the change takes, >= 1.
        start: Epoch (or step) at which the change begins, >= 0.
            Defaults to `0`.

    Raises:
        ValueError: when `initial` or `final` is not in [0, 1),
            `duration` is not an integer >= 1 or `start` not one >= 0.

    Examples:

    Standalone usage:

    >>> schedule = keras_ls.schedules.LinearDecay(0.2, 0.0, duration=4)
    >>> [round(schedule(t), 3) for t in range(6)]
    [0.2, 0.15, 0.1, 0.05, 0.0, 0.0]

    References:
        - Szegedy et al., 2016. [Rethinking the Inception Architecture for
          Computer Vision](https://arxiv.org/abs/1512.00567).
        - Xu et al., 2020. [Towards Understanding Label Smoothing](
          https://arxiv.org/abs/2006.11653).
    """

    def _float_value(self, p):
        return self.initial + (self.final - self.initial) * p

    def _ops_value(self, p):
        return self.initial + (self.final - self.initial) * p


@keras_ls_export("keras_ls.schedules.CosineDecay")
class CosineDecay(_Interpolation):
    """Half-cosine from `initial` to `final` over `duration` steps.

    ε(t) = final + (initial - final)·(1 + cos(π·p))/2 with
    p = clip((t - start) / duration, 0, 1). Flat at both ends, steepest
    half-way.

    Args:
        initial: ε before the change, in [0, 1).
        final: ε once the change is done, in [0, 1).
        duration: Length of the change in epochs (or steps), >= 1.
        start: First epoch (or step) of the change, >= 0. Defaults to `0`.

    Raises:
        ValueError: for the values `LinearDecay` refuses (ε outside
            [0, 1), `duration` < 1, `start` < 0, non-integers).

    Examples:

    Standalone usage:

    >>> schedule = keras_ls.schedules.CosineDecay(0.2, 0.0, duration=4)
    >>> [round(schedule(t), 4) for t in range(5)]
    [0.2, 0.1707, 0.1, 0.0293, 0.0]

    References:
        - Loshchilov and Hutter, 2017. [SGDR: Stochastic Gradient Descent
          with Warm Restarts](https://arxiv.org/abs/1608.03983) (the cosine
          shape).
        - Xu et al., 2020. [Towards Understanding Label Smoothing](
          https://arxiv.org/abs/2006.11653).
    """

    def _float_value(self, p):
        cosine = 0.5 * (1.0 + math.cos(math.pi * p))
        return self.final + (self.initial - self.final) * cosine

    def _ops_value(self, p):
        cosine = 0.5 * (1.0 + ops.cos(math.pi * p))
        return self.final + (self.initial - self.final) * cosine


@keras_ls_export("keras_ls.schedules.ExponentialDecay")
class ExponentialDecay(LabelSmoothingSchedule):
    """Exponential approach from `initial` toward `final`.

    ε(t) = final + (initial - final)·rate^t. With `final=0` this is
    initial·rate^t; `final` is the asymptote, never passed.

    Args:
        initial: ε at t = 0, in [0, 1).
        rate: Factor per epoch (or step), in (0, 1].
        final: The asymptote, in [0, 1). Defaults to `0.0`.

    Raises:
        ValueError: when `initial` or `final` is not in [0, 1), or
            `rate` not in (0, 1].

    Examples:

    Standalone usage:

    >>> schedule = keras_ls.schedules.ExponentialDecay(0.2, rate=0.5)
    >>> [round(schedule(t), 3) for t in range(4)]
    [0.2, 0.1, 0.05, 0.025]

    References:
        - Xu et al., 2020. [Towards Understanding Label Smoothing](
          https://arxiv.org/abs/2006.11653).
    """

    def __init__(self, initial, rate, final=0.0):
        self.initial = _validation.check_label_smoothing(initial, "initial")
        self.rate = _validation.check_number(
            rate, "rate", minimum=0, maximum=1, exclusive_minimum=True
        )
        self.final = _validation.check_label_smoothing(final, "final")

    _in_graph = True

    def __call__(self, step):
        if _is_tensor(step):
            return self._tensor_value(_float32_step(step))
        t = _check_step(step)
        return self.final + (self.initial - self.final) * self.rate**t

    def _tensor_value(self, t):
        decay = ops.power(ops.cast(self.rate, "float32"), t)
        return self.final + (self.initial - self.final) * decay

    def get_config(self):
        return {"initial": self.initial, "rate": self.rate, "final": self.final}


@keras_ls_export("keras_ls.schedules.PiecewiseConstant")
class PiecewiseConstant(LabelSmoothingSchedule):
    """ε = `values[i]` where i is the number of boundaries <= t.

    `values[0]` applies for t < boundaries[0], `values[i]` for
    boundaries[i - 1] <= t < boundaries[i], and `values[-1]` from
    boundaries[-1] on.

    Args:
        boundaries: Strictly increasing integers >= 0 (epochs or steps).
        values: One more ε than `boundaries`, each in [0, 1).

    Raises:
        ValueError: when `boundaries` are not strictly increasing
            integers >= 0, or `values` are not one more ε than
            `boundaries`, each in [0, 1).

    Examples:

    Standalone usage:

    >>> schedule = keras_ls.schedules.PiecewiseConstant([2, 4], [0.2, 0.1, 0.0])
    >>> [schedule(t) for t in range(5)]
    [0.2, 0.2, 0.1, 0.1, 0.0]

    References:
        - Xu et al., 2020. [Towards Understanding Label Smoothing](
          https://arxiv.org/abs/2006.11653).
    """

    def __init__(self, boundaries, values):
        if isinstance(boundaries, (str, bytes)) or not hasattr(
            boundaries, "__len__"
        ):
            raise ValueError(
                "`boundaries` must be a list of integers. "
                f"Received: boundaries={boundaries!r}"
            )
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise ValueError(
                "`values` must be a list of numbers. "
                f"Received: values={values!r}"
            )
        checked_b = [
            _validation.check_int(b, "boundaries", minimum=0)
            for b in list(boundaries)
        ]
        if any(b >= c for b, c in zip(checked_b, checked_b[1:])):
            raise ValueError(
                "`boundaries` must be strictly increasing. "
                f"Received: boundaries={list(boundaries)!r}"
            )
        if len(values) != len(checked_b) + 1:
            raise ValueError(
                "`values` must have one more entry than `boundaries`. "
                f"Received: {len(values)} values for {len(checked_b)} "
                f"boundaries (values={list(values)!r})"
            )
        checked_v = [
            _validation.check_label_smoothing(v, "values") for v in values
        ]
        self.boundaries = checked_b
        self.values = checked_v

    _in_graph = True

    def __call__(self, step):
        if _is_tensor(step):
            return self._tensor_value(_float32_step(step))
        t = _check_step(step)
        return self.values[bisect.bisect_right(self.boundaries, t)]

    def _tensor_value(self, t):
        if not self.boundaries:
            return ops.zeros_like(t) + self.values[0]
        boundaries = ops.convert_to_tensor(self.boundaries, "float32")
        passed = ops.cast(ops.expand_dims(t, -1) >= boundaries, "int32")
        values = ops.convert_to_tensor(self.values, "float32")
        return ops.take(values, ops.sum(passed, axis=-1))

    def get_config(self):
        return {
            "boundaries": list(self.boundaries),
            "values": list(self.values),
        }


@keras_ls_export("keras_ls.schedules.TwoStage")
class TwoStage(LabelSmoothingSchedule):
    """Two-stage label smoothing: ε = `value` for t < switch, then 0.

    Train with smoothing first, then on hard labels (Xu et al., 2020). With
    10 epochs, `TwoStage(0.1, switch=6)` smooths epochs 0–5 (the first 60%)
    and uses hard labels for epochs 6–9.

    Args:
        value: ε before the switch, in [0, 1).
        switch: First epoch (or step) trained on hard labels, >= 0.

    Raises:
        ValueError: when `value` is not in [0, 1) or `switch` is not an
            integer >= 0.

    Examples:

    Standalone usage:

    >>> schedule = keras_ls.schedules.TwoStage(0.1, switch=3)
    >>> [schedule(t) for t in range(5)]
    [0.1, 0.1, 0.1, 0.0, 0.0]

    Usage with `keras_ls.LabelSmoothingScheduler` in `model.fit`:

    >>> scheduler = keras_ls.LabelSmoothingScheduler(
    ...     keras_ls.schedules.TwoStage(0.1, switch=6)
    ... )
    >>> scheduler.schedule(5), scheduler.schedule(6)
    (0.1, 0.0)
    >>> # model.fit(x, y, epochs=10, callbacks=[scheduler])

    References:
        - Xu, Xu, Qian, Li and Jin, 2020. [Towards Understanding Label
          Smoothing](https://arxiv.org/abs/2006.11653).
    """

    def __init__(self, value, switch):
        self.value = _validation.check_label_smoothing(value, "value")
        self.switch = _validation.check_int(switch, "switch", minimum=0)

    _in_graph = True

    def __call__(self, step):
        if _is_tensor(step):
            return self._tensor_value(_float32_step(step))
        return self.value if _check_step(step) < self.switch else 0.0

    def _tensor_value(self, t):
        return ops.where(t < float(self.switch), self.value, 0.0)

    def get_config(self):
        return {"value": self.value, "switch": self.switch}


@keras_ls_export("keras_ls.schedules.LinearWarmup")
class LinearWarmup(LabelSmoothingSchedule):
    """Linear ramp from 0 up to `final` over `duration` steps.

    ε(t) = final·min(t / duration, 1).

    Args:
        final: ε from t = duration on, in [0, 1).
        duration: Number of epochs (or steps) of the ramp, >= 1.

    Raises:
        ValueError: when `final` is not in [0, 1) or `duration` is not an
            integer >= 1.

    Examples:

    Standalone usage:

    >>> schedule = keras_ls.schedules.LinearWarmup(0.1, duration=4)
    >>> [round(schedule(t), 3) for t in range(6)]
    [0.0, 0.025, 0.05, 0.075, 0.1, 0.1]

    References:
        - Müller, Kornblith and Hinton, 2019. [When Does Label Smoothing
          Help?](https://arxiv.org/abs/1906.02629)
    """

    def __init__(self, final, duration):
        self.final = _validation.check_label_smoothing(final, "final")
        self.duration = _validation.check_int(duration, "duration", minimum=1)

    _in_graph = True

    def __call__(self, step):
        if _is_tensor(step):
            return self._tensor_value(_float32_step(step))
        return self.final * _clip01(_check_step(step) / self.duration)

    def _tensor_value(self, t):
        return self.final * ops.clip(t / float(self.duration), 0.0, 1.0)

    def get_config(self):
        return {"final": self.final, "duration": self.duration}


@keras_ls_export("keras_ls.schedules.serialize")
def serialize(schedule):
    """Serializes a schedule to a JSON-compatible dict.

    Examples:

    >>> config = keras_ls.schedules.serialize(
    ...     keras_ls.schedules.TwoStage(0.1, switch=6)
    ... )
    >>> config["registered_name"], config["config"]
    ('keras_ls>TwoStage', {'value': 0.1, 'switch': 6})
    """
    return keras.saving.serialize_keras_object(schedule)


@keras_ls_export("keras_ls.schedules.deserialize")
def deserialize(config):
    """Rebuilds a schedule from the output of `serialize`.

    Examples:

    >>> schedule = keras_ls.schedules.TwoStage(0.1, switch=6)
    >>> config = keras_ls.schedules.serialize(schedule)
    >>> keras_ls.schedules.deserialize(config) == schedule
    True
    """
    return keras.saving.deserialize_keras_object(config)


__all__ = public_names(__name__)
