"""Argument checks shared by the public API: one validator per concept.

Every check raises a ``ValueError`` that names the argument, the value
received and what is allowed, also when the value has the wrong type:
that is Keras' own convention ("`axis` must be of type `int`. Received:
axis=…"), so code that catches Keras' argument errors catches ours.
`context` adds where the value came from, e.g. "returned by the schedule
at step 12", for values that are not a constructor argument.
"""

import math
import numbers

import numpy as np


def _received(name, value, context):
    where = f" ({context})" if context else ""
    return f"Received: {name}={value!r}{where}"


def _type_name(value):
    return type(value).__name__


def _is_real_number(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    return (
        isinstance(value, np.ndarray)
        and value.shape == ()
        and (
            np.issubdtype(value.dtype, np.floating)
            or np.issubdtype(value.dtype, np.integer)
        )
    )


def check_label_smoothing(value, name="label_smoothing", *, context=None):
    """Returns `value` as a Python float in [0, 1), or raises ValueError."""
    if not _is_real_number(value):
        raise ValueError(
            f"`{name}` must be a real number in [0, 1). "
            f"{_received(name, value, context)} of type {_type_name(value)}"
        )
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"`{name}` must be a finite number in [0, 1). "
            f"{_received(name, value, context)}"
        )
    return value


def check_number(
    value,
    name,
    *,
    minimum=None,
    maximum=None,
    exclusive_minimum=False,
    exclusive_maximum=False,
    context=None,
):
    """Returns `value` as a finite Python float within the bounds given.

    Accepts Python and numpy reals (not bools), and 0-d numpy arrays.
    `minimum`/`maximum` are inclusive unless `exclusive_minimum` /
    `exclusive_maximum`. The message says the range, e.g. "`beta` must be a
    finite number >= 0. Received: beta=-1.0".
    """
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if exclusive_minimum else '>='} {minimum:g}")
    if maximum is not None:
        bounds.append(f"{'<' if exclusive_maximum else '<='} {maximum:g}")
    wanted = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
    if not _is_real_number(value):
        raise ValueError(
            f"`{name}` must be {wanted}. "
            f"{_received(name, value, context)} of type {_type_name(value)}"
        )
    number = float(value)
    below = minimum is not None and (
        number <= minimum if exclusive_minimum else number < minimum
    )
    above = maximum is not None and (
        number >= maximum if exclusive_maximum else number > maximum
    )
    if not math.isfinite(number) or below or above:
        raise ValueError(
            f"`{name}` must be {wanted}. {_received(name, value, context)}"
        )
    return number


def check_choice(value, name, allowed, *, context=None):
    """Returns `value` if it is one of `allowed` (in the order given).

    Membership uses ``==`` but a bool never matches an int or the reverse
    (``True == 1`` in Python), so ``jit_compile=1`` is refused.
    """
    for option in allowed:
        if type(option) is bool or type(value) is bool:
            if value is option:
                return value
        elif value == option:
            return value
    options = ", ".join(repr(option) for option in allowed)
    raise ValueError(
        f"`{name}` must be one of {options}. {_received(name, value, context)}"
    )


def check_bool(value, name, *, context=None):
    """Returns `value` if it is True or False (not 0, 1 or None)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"`{name}` must be True or False. "
            f"{_received(name, value, context)} of type {_type_name(value)}"
        )
    return bool(value)


def check_int(value, name, minimum=None, *, context=None):
    """Returns `value` as an int (>= `minimum` when given)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (numbers.Integral, np.integer)
    ):
        raise ValueError(
            f"`{name}` must be an integer. "
            f"{_received(name, value, context)} of type {_type_name(value)}"
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. "
            f"{_received(name, value, context)}"
        )
    return value


def check_prior(prior, name="prior"):
    """Returns `prior` as a tuple of floats, or raises ValueError."""
    try:
        array = np.asarray(prior, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a 1-D sequence of probabilities. "
            f"Received: {name}={prior!r}"
        ) from None
    if array.ndim != 1 or array.shape[0] < 2:
        raise ValueError(
            f"`{name}` must be a 1-D sequence of at least 2 probabilities. "
            f"Received: {name}={prior!r} (shape {array.shape})"
        )
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(
            f"`{name}` must contain finite, non-negative probabilities. "
            f"Received: {name}={prior!r}"
        )
    total = float(array.sum())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(
            f"`{name}` must sum to 1 (within 1e-6). "
            f"Received: {name}={prior!r}, which sums to {total!r}"
        )
    return tuple(float(p) for p in array)
