"""Argument checks shared by the public API.

Each check raises a ``ValueError`` (or ``TypeError`` for a wrong type of
object) that names the argument, the value received and what is allowed.
"""

import math
import numbers

import numpy as np


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


def check_label_smoothing(value, name="label_smoothing"):
    """Returns `value` as a Python float in [0, 1), or raises ValueError."""
    if not _is_real_number(value):
        raise ValueError(
            f"`{name}` must be a real number in [0, 1). "
            f"Received: {name}={value!r} (of type {type(value).__name__})"
        )
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"`{name}` must be a finite number in [0, 1). "
            f"Received: {name}={value!r}"
        )
    return value


def check_choice(value, name, allowed):
    if value not in allowed:
        raise ValueError(
            f"`{name}` must be one of {sorted(allowed)}. "
            f"Received: {name}={value!r}"
        )
    return value


def check_int(value, name, minimum=None):
    if isinstance(value, bool) or not isinstance(
        value, (numbers.Integral, np.integer)
    ):
        raise ValueError(
            f"`{name}` must be an integer. "
            f"Received: {name}={value!r} (of type {type(value).__name__})"
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. "
            f"Received: {name}={value!r}"
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
