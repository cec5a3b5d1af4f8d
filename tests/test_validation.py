"""The shared argument validators (keras_ls._validation)."""

import numpy as np
import pytest

from keras_ls import _validation


def test_check_choice_with_mixed_types_raises_a_clear_value_error():
    # Sorting ("auto", True, False) raised TypeError: '<' not supported.
    with pytest.raises(ValueError) as info:
        _validation.check_choice(2, "jit_compile", ("auto", True, False))
    message = str(info.value)
    assert "`jit_compile` must be one of 'auto', True, False." in message
    assert "Received: jit_compile=2" in message


@pytest.mark.parametrize("value", ["auto", True, False])
def test_check_choice_accepts_each_option(value):
    assert _validation.check_choice(value, "x", ("auto", True, False)) is (
        value
    )


@pytest.mark.parametrize("value,allowed", [(1, (True, False)), (True, (1,))])
def test_check_choice_does_not_confuse_bools_and_ints(value, allowed):
    with pytest.raises(ValueError, match="must be one of"):
        _validation.check_choice(value, "x", allowed)


def test_check_choice_keeps_the_given_order_and_context():
    with pytest.raises(ValueError) as info:
        _validation.check_choice(
            "z", "update", ("epoch", "batch"), context="from the config"
        )
    assert str(info.value) == (
        "`update` must be one of 'epoch', 'batch'. "
        "Received: update='z' (from the config)"
    )


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_check_bool_accepts_bools(value):
    assert _validation.check_bool(value, "from_logits") is bool(value)


@pytest.mark.parametrize("value", [0, 1, None, "True", 1.0])
def test_check_bool_rejects_everything_else(value):
    with pytest.raises(ValueError) as info:
        _validation.check_bool(value, "from_logits")
    assert "`from_logits` must be True or False" in str(info.value)
    assert f"from_logits={value!r}" in str(info.value)


def test_context_names_where_a_value_came_from():
    with pytest.raises(ValueError) as info:
        _validation.check_label_smoothing(
            1.5, context="returned by the schedule at step 12"
        )
    assert str(info.value) == (
        "`label_smoothing` must be a finite number in [0, 1). "
        "Received: label_smoothing=1.5 (returned by the schedule at step 12)"
    )


@pytest.mark.parametrize("value", [True, 2.0, "3", None])
def test_check_int_rejects_non_integers_with_value_error(value):
    with pytest.raises(ValueError, match="`epochs` must be an integer"):
        _validation.check_int(value, "epochs")


def test_check_int_minimum():
    assert _validation.check_int(np.int64(3), "epochs", minimum=1) == 3
    with pytest.raises(ValueError, match=r"integer >= 1\. Received: epochs=0"):
        _validation.check_int(0, "epochs", minimum=1)


def test_check_number_bounds_types_and_messages():
    from keras_ls._validation import check_number

    assert check_number(1, "x") == 1.0 and type(check_number(1, "x")) is float
    assert check_number(np.float32(0.5), "x", minimum=0, maximum=1) == 0.5
    assert check_number(np.array(2.0), "x", minimum=2) == 2.0
    for bad, kwargs, pattern in [
        (True, {}, r"`x` must be a finite number\. Received: x=True of type"),
        ("1", {}, r"Received: x='1' of type str"),
        (float("nan"), {}, r"`x` must be a finite number\. Received: x=nan"),
        (float("inf"), {"minimum": 0}, r"finite number >= 0\. Received"),
        (-1.0, {"minimum": 0}, r"`x` must be a finite number >= 0\. "),
        (0.0, {"minimum": 0, "exclusive_minimum": True}, r"> 0\. Received"),
        (1.0, {"maximum": 1, "exclusive_maximum": True}, r"< 1\. Received"),
        (2.0, {"minimum": 0, "maximum": 1}, r">= 0 and <= 1\. Received"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            check_number(bad, "x", **kwargs)
    with pytest.raises(ValueError, match=r"\(returned by f\)"):
        check_number(-1, "x", minimum=0, context="returned by f")
