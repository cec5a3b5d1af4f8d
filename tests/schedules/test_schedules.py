import math

import keras
import numpy as np
import pytest

from keras_ls import schedules
from keras_ls.schedules import Constant
from keras_ls.schedules import CosineDecay
from keras_ls.schedules import ExponentialDecay
from keras_ls.schedules import LabelSmoothingSchedule
from keras_ls.schedules import LinearDecay
from keras_ls.schedules import LinearWarmup
from keras_ls.schedules import PiecewiseConstant
from keras_ls.schedules import TwoStage

ALL = [
    Constant(0.1),
    LinearDecay(0.2, 0.05, duration=5, start=2),
    CosineDecay(0.3, 0.0, duration=8, start=1),
    ExponentialDecay(0.2, rate=0.7, final=0.02),
    PiecewiseConstant([2, 5], [0.2, 0.1, 0.0]),
    TwoStage(0.1, switch=6),
    LinearWarmup(0.15, duration=4),
]


def test_constant():
    assert [Constant(0.25)(t) for t in (0, 1, 100)] == [0.25] * 3
    assert Constant(0)(3) == 0.0


def test_linear_decay_hand_computed():
    s = LinearDecay(0.2, 0.05, duration=5, start=2)
    # Flat at 0.2 through t = 2, then -0.03 per step, flat at 0.05 from 7.
    expected = [0.2, 0.2, 0.2, 0.17, 0.14, 0.11, 0.08, 0.05, 0.05, 0.05]
    np.testing.assert_allclose([s(t) for t in range(10)], expected, atol=1e-12)
    rising = LinearDecay(0.0, 0.1, duration=2)
    np.testing.assert_allclose(
        [rising(t) for t in range(4)], [0.0, 0.05, 0.1, 0.1], atol=1e-12
    )


def test_cosine_decay_hand_computed():
    s = CosineDecay(0.3, 0.0, duration=8, start=1)
    expected = (
        [0.3, 0.3]
        + [0.15 * (1 + math.cos(math.pi * k / 8)) for k in range(1, 8)]
        + [0.0, 0.0]
    )
    got = [s(t) for t in range(11)]
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert s(5) == pytest.approx(0.15)  # halfway


def test_exponential_decay_hand_computed():
    s = ExponentialDecay(0.2, rate=0.5)
    assert [s(t) for t in range(4)] == [0.2, 0.1, 0.05, 0.025]
    floor = ExponentialDecay(0.2, rate=0.7, final=0.02)
    np.testing.assert_allclose(
        [floor(t) for t in range(5)],
        [0.02 + 0.18 * 0.7**t for t in range(5)],
        atol=1e-12,
    )
    assert floor(10_000) == pytest.approx(0.02)
    assert ExponentialDecay(0.1, rate=1.0)(50) == pytest.approx(0.1)


def test_piecewise_constant_right_inclusive_boundaries():
    s = PiecewiseConstant([2, 5], [0.2, 0.1, 0.0])
    assert [s(t) for t in range(7)] == [0.2, 0.2, 0.1, 0.1, 0.1, 0.0, 0.0]
    assert s(1.999) == 0.2 and s(2.0) == 0.1
    assert PiecewiseConstant([], [0.3])(9) == 0.3


@pytest.mark.parametrize("switch", [0, 1, 6])
def test_two_stage_switches_exactly_at_its_epoch(switch):
    s = TwoStage(0.1, switch=switch)
    assert [s(t) for t in range(switch)] == [0.1] * switch
    assert s(switch) == 0.0
    assert s(switch + 1) == 0.0
    if switch:
        assert s(switch - 1) == 0.1
    equivalent = PiecewiseConstant([switch], [0.1, 0.0])
    assert [s(t) for t in range(10)] == [equivalent(t) for t in range(10)]


def test_linear_warmup_starts_at_zero():
    s = LinearWarmup(0.15, duration=4)
    np.testing.assert_allclose(
        [s(t) for t in range(7)],
        [0.0, 0.0375, 0.075, 0.1125, 0.15, 0.15, 0.15],
        atol=1e-12,
    )


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_returns_python_floats_in_range(schedule):
    for t in [0, 1, 2, 3, 7, 50, np.int64(4), 2.5]:
        value = schedule(t)
        assert type(value) is float
        assert 0.0 <= value < 1.0


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_serialization_round_trip(schedule):
    config = keras.saving.serialize_keras_object(schedule)
    assert config["module"] is None or "keras_ls" in str(config)
    rebuilt = keras.saving.deserialize_keras_object(config)
    assert type(rebuilt) is type(schedule)
    assert rebuilt.get_config() == schedule.get_config()
    assert rebuilt == schedule
    assert [rebuilt(t) for t in range(12)] == [schedule(t) for t in range(12)]
    assert schedules.deserialize(schedules.serialize(schedule)) == schedule
    # JSON-compatible, so it can sit in a model or experiment config.
    import json

    assert (
        keras.saving.deserialize_keras_object(json.loads(json.dumps(config)))
        == schedule
    )


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_config_holds_every_constructor_argument(schedule):
    import inspect

    params = set(inspect.signature(type(schedule).__init__).parameters)
    params.discard("self")
    assert params == set(schedule.get_config())


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: Constant(1.0), "value=1.0"),
        (lambda: Constant(-0.1), "value=-0.1"),
        (lambda: Constant(float("nan")), "value=nan"),
        (lambda: Constant("0.1"), "value='0.1'"),
        (lambda: LinearDecay(0.2, 1.5, 3), "final=1.5"),
        (lambda: LinearDecay(0.2, 0.0, 0), "duration=0"),
        (lambda: LinearDecay(0.2, 0.0, 2.5), "duration=2.5"),
        (lambda: CosineDecay(0.2, 0.0, 3, start=-1), "start=-1"),
        (lambda: ExponentialDecay(0.2, rate=0.0), "rate=0.0"),
        (lambda: ExponentialDecay(0.2, rate=1.5), "rate=1.5"),
        (lambda: ExponentialDecay(0.2, 0.9, final=1.0), "final=1.0"),
        (
            lambda: PiecewiseConstant([3, 2], [0.1, 0.2, 0.3]),
            "strictly increasing",
        ),
        (lambda: PiecewiseConstant([2], [0.1]), "one more entry"),
        (lambda: PiecewiseConstant([2], [0.1, 1.0]), "values=1.0"),
        (lambda: PiecewiseConstant(2, [0.1, 0.0]), "boundaries=2"),
        (lambda: TwoStage(0.1, switch=-2), "switch=-2"),
        (lambda: TwoStage(0.1, switch=True), "switch=True"),
        (lambda: LinearWarmup(0.1, duration=0), "duration=0"),
    ],
)
def test_invalid_arguments_raise_when_built(build, match):
    with pytest.raises(ValueError, match=match.replace("(", r"\(")):
        build()


@pytest.mark.parametrize("step", [-1, float("nan"), "3", None])
def test_invalid_step_raises(step):
    with pytest.raises(ValueError, match="step"):
        LinearDecay(0.2, 0.0, 3)(step)


def test_base_class_requires_call_and_config():
    with pytest.raises(NotImplementedError):
        LabelSmoothingSchedule()(0)
    with pytest.raises(NotImplementedError):
        LabelSmoothingSchedule().get_config()


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_tensor_step_gives_the_float_value_in_float32(schedule):
    # LabelSmoothingScheduler evaluates built-in schedules inside the
    # compiled step, from a step tensor: the value must match the Python
    # one (float64) to float32 rounding, at every step and far out.
    steps = list(range(12)) + [1000, 123_456]
    expected = np.array([schedule(t) for t in steps], np.float64)
    single = [
        float(
            keras.ops.convert_to_numpy(schedule(keras.ops.convert_to_tensor(t)))
        )
        for t in steps
    ]
    np.testing.assert_allclose(single, expected, rtol=2e-6, atol=1e-7)
    vector = schedule(keras.ops.convert_to_tensor(np.array(steps, "int32")))
    assert keras.ops.convert_to_numpy(vector).dtype == np.float32
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(vector), expected, rtol=2e-6, atol=1e-7
    )
    assert schedule._in_graph


def test_user_subclass_is_not_in_graph():
    class Halving(LabelSmoothingSchedule):
        def __call__(self, step):
            return 0.2 / (1 + step)

        def get_config(self):
            return {}

    assert not Halving()._in_graph
