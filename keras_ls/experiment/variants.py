"""Variant specs: the short strings that name a method in `compare`.

A spec is ``KIND[:ARG[:ARG]]``, optionally followed by ``+ts`` (post-hoc
temperature scaling of that model, fitted on the validation split):

- ``baseline``: cross-entropy, ε = 0 (always trained; listing it is a
  no-op);
- ``ls:EPS`` (``ls:0.1``), or ``ls:SCHEDULE`` with a schedule of
  `parse_schedule` (``ls:two-stage:0.1:6``, ``ls:cosine:0.2:0``);
- ``ols[:ALPHA]``: `keras_ls.OnlineLabelSmoothing` (default α = 0.5);
- ``mbls[:MARGIN[:ALPHA]]``: `keras_ls.MarginLabelSmoothing` (default
  margin 10, α = 0.1);
- ``maxsup[:EPS]``: `keras_ls.MaxSuppression` (default ε = 0.1);
- ``cp[:BETA]``: `keras_ls.ConfidencePenalty` (default β = 0.1);
- ``ts``: the baseline's model with temperature scaling; ``ls:0.1+ts``:
  the ``ls:0.1`` model with temperature scaling.

A sweep is several specs of one kind: ``ls:0.05``, ``ls:0.1``, ``ls:0.2``.

This module only parses; it imports neither Keras nor a backend, so the
``keras-ls`` command checks ``--variant`` before it chooses the backend.
`keras_ls.experiment.compare` builds the losses.
"""

import math
import typing

#: Kind -> its form, as error messages and ``--help`` show it.
VARIANT_FORMS = {
    "baseline": "baseline",
    "ls": "ls:EPS or ls:SCHEDULE (e.g. ls:two-stage:0.1:6)",
    "ols": "ols[:ALPHA]",
    "mbls": "mbls[:MARGIN[:ALPHA]]",
    "maxsup": "maxsup[:EPS]",
    "cp": "cp[:BETA]",
    "ts": "ts, or SPEC+ts (e.g. ls:0.1+ts)",
}

#: Schedule name -> its form (see `keras_ls.experiment.parse_schedule`).
SCHEDULE_FORMS = {
    "constant": "constant:EPS",
    "two-stage": "two-stage:EPS:SWITCH_EPOCH",
    "linear": "linear:INITIAL:FINAL",
    "cosine": "cosine:INITIAL:FINAL",
    "exponential": "exponential:INITIAL:RATE",
    "warmup": "warmup:FINAL[:EPOCHS]",
}

TS_SUFFIX = "+ts"

# kind -> (argument names, allowed range of each: (low, high, high open)).
_ARGUMENTS = {
    "baseline": (),
    "ols": (("alpha", 0.0, 1.0, False),),
    "mbls": (("margin", 0.0, math.inf, True), ("alpha", 0.0, math.inf, True)),
    "maxsup": (("label_smoothing", 0.0, 1.0, True),),
    "cp": (("beta", 0.0, math.inf, True),),
}


class VariantSpec(typing.NamedTuple):
    """A parsed variant spec.

    Attributes:
        text: The spec as given (surrounding spaces removed); the
            variant's name in `compare`'s results.
        kind: One of `VARIANT_FORMS` but ``"ts"``: what is trained
            (``"ts"`` alone trains the baseline).
        arguments: The loss's keyword arguments given in the spec (its
            defaults apply to the others); for ``ls`` with a number,
            ``{"label_smoothing": EPS}``.
        schedule: For ``ls:SCHEDULE``, the schedule spec, else `None`.
        temperature_scaling: Whether the model's test logits are divided
            by a temperature fitted on the validation split.
        trains: The spec of the trained model (without ``+ts``): variants
            with the same `trains` share one trained model per seed.
    """

    text: str
    kind: str
    arguments: dict
    schedule: typing.Optional[str]
    temperature_scaling: bool
    trains: str


def _error(spec, message):
    return ValueError(f"Invalid `variant` {spec!r}: {message}")


def _number(spec, text, name):
    try:
        value = float(text)
    except ValueError:
        raise _error(spec, f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise _error(spec, f"{name} must be finite, got {text!r}")
    return value


def check_schedule_form(spec):
    """Checks the form of a schedule spec (its numbers, not their ranges).

    Args:
        spec: ``NAME:ARG[:ARG]``, see `SCHEDULE_FORMS`.

    Returns:
        `spec`, unchanged.

    Raises:
        ValueError: naming the spec and the accepted forms.
    """
    name, _, rest = str(spec).partition(":")
    if name not in SCHEDULE_FORMS:
        raise ValueError(
            f"expected one of {', '.join(SCHEDULE_FORMS.values())}; "
            f"got {spec!r}"
        )
    form = SCHEDULE_FORMS[name]
    fields = form.replace("[", "").replace("]", "").split(":")[1:]
    required = form.split("[")[0].count(":")
    args = rest.split(":") if rest else []
    ok = required <= len(args) <= len(fields)
    for arg, field in zip(args, fields):
        try:
            value = float(arg)
        except ValueError:
            ok = False
        else:
            ok = ok and ("EPOCH" not in field or value.is_integer())
    if not ok:
        integers = [f for f in fields if "EPOCH" in f]
        note = f"; {' and '.join(integers)} an integer" if integers else ""
        raise ValueError(f"expected {form} (numbers{note}); got {spec!r}")
    return spec


def parse_variant(spec):
    """Parses a variant spec (see the module docstring).

    Args:
        spec: A string such as ``"ls:0.1"``, ``"ls:two-stage:0.1:6"``,
            ``"ols"``, ``"mbls:10:0.1"``, ``"maxsup:0.1"``, ``"cp:0.1"``,
            ``"ts"`` or ``"ls:0.1+ts"``.

    Returns:
        A `VariantSpec`.

    Raises:
        TypeError: when `spec` is not a string.
        ValueError: naming the spec, what is wrong with it and the
            accepted forms: an unknown kind, too many arguments, a value
            that is not a number or is out of range.

    Examples:

    >>> from keras_ls.experiment.variants import parse_variant
    >>> parse_variant("ls:0.1+ts")
    ... # doctest: +NORMALIZE_WHITESPACE
    VariantSpec(text='ls:0.1+ts', kind='ls',
                arguments={'label_smoothing': 0.1}, schedule=None,
                temperature_scaling=True, trains='ls:0.1')
    >>> parse_variant("ls:two-stage:0.1:6").schedule
    'two-stage:0.1:6'
    >>> parse_variant("mbls:5").arguments
    {'margin': 5.0}
    """
    if not isinstance(spec, str):
        raise TypeError(
            "`variant` must be a spec string such as 'ls:0.1'. "
            f"Received: variant={spec!r} of type {type(spec).__name__}"
        )
    text = spec.strip()
    base = text
    scaled = text.endswith(TS_SUFFIX)
    if scaled:
        base = text[: -len(TS_SUFFIX)]
        if not base:
            raise _error(spec, f"nothing before {TS_SUFFIX!r}")
    if base == "ts":
        if scaled:
            raise _error(spec, "temperature scaling is applied once")
        return VariantSpec(text, "baseline", {}, None, True, "baseline")
    kind, _, rest = base.partition(":")
    args = rest.split(":") if rest else []
    forms = "; ".join(VARIANT_FORMS.values())
    if kind not in VARIANT_FORMS or kind == "ts":
        raise _error(spec, f"unknown kind {kind!r}; expected one of {forms}")
    schedule = None
    if kind == "ls":
        if len(args) == 1:
            eps = _number(spec, args[0], "EPS")
            if not 0.0 <= eps < 1.0:
                raise _error(spec, f"EPS must be in [0, 1), got {args[0]!r}")
            arguments = {"label_smoothing": eps}
        elif args and args[0] in SCHEDULE_FORMS:
            try:
                schedule = check_schedule_form(rest)
            except ValueError as e:
                raise _error(spec, str(e)) from None
            arguments = {}
        else:
            raise _error(spec, f"expected {VARIANT_FORMS['ls']}")
    else:
        names = _ARGUMENTS[kind]
        if len(args) > len(names):
            raise _error(spec, f"expected {VARIANT_FORMS[kind]}")
        arguments = {}
        for arg, (name, low, high, open_high) in zip(args, names):
            value = _number(spec, arg, name)
            inside = low <= value and (
                value < high if open_high else value <= high
            )
            if not inside:
                bracket = ")" if open_high else "]"
                raise _error(
                    spec,
                    f"{name} must be in [{low:g}, {high:g}{bracket}, got "
                    f"{arg!r}",
                )
            arguments[name] = value
    return VariantSpec(text, kind, arguments, schedule, scaled, base)


# Not through keras_ls._api: that imports Keras, and the command line
# parses --variant before it chooses the backend.
__all__ = ["SCHEDULE_FORMS", "VARIANT_FORMS", "VariantSpec", "parse_variant"]
