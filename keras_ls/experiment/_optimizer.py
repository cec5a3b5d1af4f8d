"""The optimizer of the paired experiment: a new one for every trained
model, so that identical starts stay identical (an optimizer holds its
moments and its step count; two models must never share them).

`optimizer_factory` accepts what ``model.compile(optimizer=...)`` accepts
(a Keras identifier, a config dict, an optimizer, which is copied from its
config) and a function returning a fresh optimizer; it builds one at once,
so that a wrong name or argument fails before any training.
"""

import copy
import functools
import inspect
import warnings

import keras


def _known_names():
    """The lowercase identifiers of the optimizers `keras.optimizers`
    exports (``"adam"``, ``"sgd"``, …)."""
    names = []
    for name in dir(keras.optimizers):
        value = getattr(keras.optimizers, name)
        if (
            isinstance(value, type)
            and issubclass(value, keras.optimizers.Optimizer)
            and value is not keras.optimizers.Optimizer
            and name != "LossScaleOptimizer"
        ):
            names.append(name.lower())
    return sorted(set(names))


def _expected():
    return (
        "a Keras optimizer identifier ("
        + ", ".join(_known_names())
        + "), a config dict {'class_name': ..., 'config': {...}}, an "
        "optimizer or a function returning a fresh optimizer"
    )


def _arguments_of(cls):
    """The keyword arguments of optimizer class `cls`."""
    parameters = inspect.signature(cls.__init__).parameters
    return [
        name
        for name, p in parameters.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def _from_identifier(optimizer):
    """A function building the optimizer named by a string or described by
    a config dict, checked by building one."""
    if isinstance(optimizer, dict):
        name = optimizer.get("class_name")
        config = optimizer.get("config", {})
        if not isinstance(name, str) or not isinstance(config, dict):
            raise ValueError(
                "`optimizer` as a dict must be {'class_name': NAME, "
                "'config': {ARGUMENT: VALUE, ...}}. Received: "
                f"optimizer={optimizer!r}"
            )
    else:
        name, config = optimizer, {}
    cls = getattr(keras.optimizers, _class_name(name), None)
    if name.lower() not in _known_names() or cls is None:
        raise ValueError(
            f"Unknown optimizer {name!r}: expected {_expected()}. Received: "
            f"optimizer={optimizer!r}"
        )
    allowed = _arguments_of(cls)
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValueError(
            f"{cls.__name__} has no argument "
            f"{', '.join(repr(u) for u in unknown)}; its arguments are "
            f"{', '.join(allowed)}. Received: optimizer={optimizer!r}"
        )

    def new():
        return cls(**copy.deepcopy(config))

    return new


def _class_name(name):
    """The class of `keras.optimizers` that a lowercase identifier names."""
    for attribute in dir(keras.optimizers):
        if attribute.lower() == name.lower():
            return attribute
    return name


def optimizer_factory(optimizer=None, learning_rate=1e-3):
    """A function returning a fresh optimizer, and its config.

    Args:
        optimizer: `None` for Adam at `learning_rate`; a Keras identifier
            (``"sgd"``), a config dict (``{"class_name": "SGD", "config":
            {"learning_rate": 0.05, "momentum": 0.9}}``, what
            `keras.optimizers.serialize` returns), an optimizer (copied
            from its config for each model) or a function of no argument
            returning a new optimizer at each call.
        learning_rate: Adam's learning rate when `optimizer` is `None`.

    Returns:
        ``(new_optimizer, config)``: the function, and the full config of
        the optimizer it builds (`keras.optimizers.serialize`).

    Raises:
        ValueError: an unknown optimizer or argument, a value the
            optimizer refuses, or a function that returns no optimizer or
            the same one twice.
    """
    if optimizer is None:
        new = functools.partial(keras.optimizers.Adam, learning_rate)
    elif isinstance(optimizer, keras.optimizers.Optimizer):
        config = _serialize(optimizer)
        new = functools.partial(_deserialize, config)
    elif isinstance(optimizer, (str, dict)):
        new = _from_identifier(optimizer)
    elif callable(optimizer):
        new = optimizer
    else:
        raise ValueError(
            f"`optimizer` must be {_expected()}. Received: "
            f"optimizer={optimizer!r} of type {type(optimizer).__name__}"
        )
    try:
        first, second = new(), new()
    except (TypeError, ValueError) as e:
        message = " ".join(str(e).split()).rstrip(".")
        raise ValueError(
            f"`optimizer` could not be built: {message}. Received: "
            f"optimizer={optimizer!r}"
        ) from None
    if not isinstance(first, keras.optimizers.Optimizer):
        raise ValueError(
            f"`optimizer` must return a keras.optimizers.Optimizer. "
            f"Received: optimizer={_name(optimizer)}, which returned "
            f"{type(first).__name__}"
        )
    if first is second:
        raise ValueError(
            "`optimizer` must return a new optimizer at each call: every "
            "trained model needs its own moments and step count. "
            f"Received: optimizer={_name(optimizer)}, which returned the "
            "same object twice"
        )
    return new, _serialize(first)


def _serialize(optimizer):
    """`keras.optimizers.serialize`, without the DeprecationWarning that
    Keras' `get_config` raises on JAX with numpy 2 (``np.array`` of its
    learning-rate variable): that is Keras' to fix, and a caller that
    turns warnings into errors must not fail on it."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="__array__ implementation doesn't accept a copy",
            category=DeprecationWarning,
        )
        return keras.optimizers.serialize(optimizer)


def _deserialize(config):
    return keras.optimizers.deserialize(copy.deepcopy(config))


def _name(function):
    return getattr(function, "__qualname__", None) or repr(function)


def describe(config):
    """One line for report.md: the class and the arguments that differ from
    the class' defaults, from a `keras.optimizers.serialize` config.

    Examples:

    >>> describe({"class_name": "SGD", "config": {"learning_rate": 0.05,
    ...     "momentum": 0.9, "nesterov": False, "name": "SGD"}})
    'SGD (learning_rate=0.05, momentum=0.9)'
    >>> describe({"class_name": "Adam", "config": {"learning_rate": 0.001}})
    'Adam (learning_rate=0.001)'
    """
    name = config.get("class_name", "?")
    cls = getattr(keras.optimizers, name, None)
    defaults = {}
    if cls is not None:
        parameters = inspect.signature(cls.__init__).parameters
        defaults = {k: p.default for k, p in parameters.items()}
    shown = []
    for key, value in config.get("config", {}).items():
        # The learning rate always; other arguments where not default.
        if key == "name" or (
            key != "learning_rate"
            and _same(value, defaults.get(key, inspect.Parameter.empty))
        ):
            continue
        text = f"{value:.6g}" if isinstance(value, float) else repr(value)
        shown.append(f"{key}={text}")
    return f"{name} ({', '.join(shown)})" if shown else name


def _same(value, default):
    if isinstance(value, float) and isinstance(default, (int, float)):
        return abs(value - default) <= 1e-7 * max(1.0, abs(default))
    return value == default
