"""Variants: the models `compare` trains, and the spec strings that name
them.

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

`build_variants` turns `compare`'s arguments into `Variant` objects, the
models of a seed. This module imports neither Keras nor a backend when it
is imported (the factory imports them when it runs), so the ``keras-ls``
command checks ``--variant`` before it chooses the backend.
"""

import inspect
import math
import typing
import warnings

from keras_ls import _validation
from keras_ls._api import keras_ls_export

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

#: Schedule name -> its form (see `parse_schedule`).
SCHEDULE_FORMS = {
    "constant": "constant:EPS",
    "two-stage": "two-stage:EPS:SWITCH_EPOCH",
    "linear": "linear:INITIAL:FINAL",
    "cosine": "cosine:INITIAL:FINAL",
    "exponential": "exponential:INITIAL:RATE",
    "warmup": "warmup:FINAL[:EPOCHS]",
}

#: The old name of `SCHEDULE_FORMS` (``keras_ls.experiment.SCHEDULE_SPECS``).
SCHEDULE_SPECS = SCHEDULE_FORMS

TS_SUFFIX = "+ts"
#: The name of the ε = 0 model that every variant is compared with.
BASELINE = "baseline"

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


def _number(spec, text, name, low, high, open_high):
    """The number `text` of `spec`, in [low, high], or [low, high) when
    `open_high`; the errors name it as the spec does (``EPS``, ``alpha``),
    since the command line shows them as they are."""
    try:
        value = float(text)
    except ValueError:
        raise _error(spec, f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise _error(spec, f"{name} must be finite, got {text!r}")
    try:
        return _validation.check_number(
            value, name, minimum=low, maximum=high, exclusive_maximum=open_high
        )
    except ValueError:
        bracket = ")" if open_high else "]"
        raise _error(
            spec, f"{name} must be in [{low:g}, {high:g}{bracket}, got {text!r}"
        ) from None


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
            eps = _number(spec, args[0], "EPS", 0.0, 1.0, True)
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
        arguments = {
            name: _number(spec, arg, name, low, high, open_high)
            for arg, (name, low, high, open_high) in zip(args, names)
        }
    return VariantSpec(text, kind, arguments, schedule, scaled, base)


@keras_ls_export("keras_ls.experiment.parse_schedule")
def parse_schedule(spec, *, epochs):
    """Builds a `keras_ls.schedules` object from a command-line spec.

    ``linear`` and ``cosine`` decay over all `epochs`; ``warmup`` rises
    over `epochs` unless given its own duration.

    Args:
        spec: ``NAME:ARG[:ARG]``, one of ``constant:0.1``,
            ``two-stage:0.1:6`` (ε = 0.1 until epoch 6, then 0),
            ``linear:0.2:0``, ``cosine:0.2:0``, ``exponential:0.2:0.5``,
            ``warmup:0.1[:5]``.
        epochs: The number of training epochs.

    Returns:
        A schedule object, callable as ``schedule(epoch) -> float``.

    Raises:
        ValueError: naming the spec and the accepted forms.

    Examples:

    >>> keras_ls.experiment.parse_schedule("two-stage:0.1:6", epochs=10)
    TwoStage(value=0.1, switch=6)
    >>> keras_ls.experiment.parse_schedule("cosine:0.2:0", epochs=10)
    CosineDecay(initial=0.2, final=0.0, duration=10, start=0)
    """
    forms = ", ".join(SCHEDULE_FORMS.values())
    name, _, rest = str(spec).partition(":")
    args = rest.split(":") if rest else []
    try:
        values = [float(a) for a in args]
    except ValueError:
        values = None
    builders = {
        "constant": (1, lambda v: schedules.Constant(v[0])),
        "two-stage": (2, lambda v: schedules.TwoStage(v[0], int(v[1]))),
        "linear": (2, lambda v: schedules.LinearDecay(v[0], v[1], epochs)),
        "cosine": (2, lambda v: schedules.CosineDecay(v[0], v[1], epochs)),
        "exponential": (2, lambda v: schedules.ExponentialDecay(v[0], v[1])),
        "warmup": (
            (1, 2),
            lambda v: schedules.LinearWarmup(
                v[0], int(v[1]) if len(v) > 1 else epochs
            ),
        ),
    }
    if name not in builders or values is None:
        raise ValueError(
            f"`schedule` must be one of {forms}. Received: schedule={spec!r}"
        )
    arity, build = builders[name]
    if len(values) not in (arity if isinstance(arity, tuple) else (arity,)):
        raise ValueError(
            f"`schedule` {name!r} takes the form {SCHEDULE_FORMS[name]}. "
            f"Received: schedule={spec!r}"
        )
    from keras_ls import schedules  # noqa: F811 (read by the builders)

    try:
        return build(values)
    except (TypeError, ValueError) as e:
        raise ValueError(f"Invalid `schedule` {spec!r}: {e}") from None


@keras_ls_export("keras_ls.experiment.Variant")
class Variant(typing.NamedTuple):
    """One model of a seed: its loss, schedule and post-hoc scaling.

    Attributes:
        description: What the variant is, in words (report and plots).
        label_smoothing: ε of a `LabelSmoothingCrossentropy` variant (the
            first epoch's under a schedule); `None` for another loss.
        schedule: A schedule applied with `LabelSmoothingScheduler`, or
            `None`.
        loss: A function of no argument returning a fresh loss for one
            training run; `None` for
            ``LabelSmoothingCrossentropy(label_smoothing)``.
        temperature_scaling: Whether the test logits are divided by a
            temperature fitted on the validation split (`fit_temperature`)
            after training.
        trains: Variants of a seed with the same `trains` key share one
            trained model (``"ts"`` is the baseline's model, rescaled).
            `None`: the variant trains its own.
    """

    description: str
    label_smoothing: typing.Optional[float]
    schedule: object = None
    loss: typing.Optional[typing.Callable] = None
    temperature_scaling: bool = False
    trains: typing.Optional[str] = None

    def make_loss(self):
        """A fresh loss for one training run."""
        if self.loss is not None:
            return self.loss()
        from keras_ls.losses import LabelSmoothingCrossentropy

        return LabelSmoothingCrossentropy(self.label_smoothing)


def build_variants(label_smoothing, schedule, epochs, variants=None):
    """``{name: Variant}``, the baseline first; every check before
    training."""
    if variants is None:
        return _legacy_variants(label_smoothing, schedule, epochs)
    if schedule is not None or label_smoothing not in (0.1, None):
        raise ValueError(
            "Give the smoothed models either as `variants` or as "
            "`label_smoothing`/`schedule`, not both. Received: "
            f"label_smoothing={label_smoothing!r}, schedule={schedule!r}, "
            f"variants={variants!r}"
        )
    named = named_variants(variants)
    result = {BASELINE: Variant("ε = 0", 0.0, trains=BASELINE)}
    for name, entry in named.items():
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"Variant names must be non-empty strings. Received: {name!r}"
            )
        variant = _variant(entry, epochs, name)
        if name == BASELINE:
            if variant.trains == BASELINE and not variant.temperature_scaling:
                continue  # always there
            raise ValueError(
                f"{BASELINE!r} names the ε = 0 model that every variant is "
                f"compared with; give this variant another name. Received: "
                f"{entry!r}"
            )
        result[name] = variant
    if len(result) == 1:
        raise ValueError(
            "Nothing to compare: `variants` holds only the baseline. "
            f"Received: variants={variants!r}"
        )
    return result


def _legacy_variants(label_smoothing, schedule, epochs):
    """The variants of `label_smoothing` and `schedule` (no `variants`)."""
    variants = {BASELINE: Variant("ε = 0", 0.0, trains=BASELINE)}
    if label_smoothing is not None:
        eps = _validation.check_label_smoothing(label_smoothing)
        variants["smoothed"] = Variant(f"ε = {eps:g}", eps)
    if schedule is not None:
        variants["scheduled"] = _schedule_variant(schedule, epochs)
    if len(variants) == 1:
        raise ValueError(
            "Nothing to compare: give `label_smoothing` and/or `schedule`. "
            "Received: label_smoothing=None, schedule=None"
        )
    return variants


def named_variants(variants):
    """``{name: entry}`` from a dict, a list or a single entry."""
    if isinstance(variants, dict):
        return dict(variants)
    if (
        isinstance(variants, Variant)
        or not isinstance(variants, (list, tuple))
        or _is_pair(variants)
    ):
        variants = [variants]
    named = {}
    for entry in variants:
        name = _default_name(entry)
        if name in named:
            raise ValueError(
                f"Two variants are named {name!r}; pass a dict to give "
                f"them different names. Received: variants={variants!r}"
            )
        named[name] = entry
    return named


def _default_name(entry):
    if isinstance(entry, str):
        return entry.strip()
    if _is_pair(entry):
        return f"{_loss_name(entry[0])}+schedule"
    if isinstance(entry, Variant):
        return entry.description
    return _loss_name(entry)


def _is_pair(entry):
    return (
        isinstance(entry, tuple)
        and len(entry) == 2
        and _is_keras_loss(entry[0])
        and not _is_keras_loss(entry[1])
    )


def _variant(entry, epochs, name):
    """A `Variant` from one entry of `compare`'s `variants`."""
    if isinstance(entry, Variant):
        return entry
    if isinstance(entry, str):
        return _spec_variant(entry, epochs)
    if isinstance(entry, tuple) and len(entry) == 2:
        loss, schedule = entry
        from keras_ls.callbacks.scheduler import is_smoothing_loss

        if not is_smoothing_loss(loss):
            raise ValueError(
                f"`variants[{name!r}]`: a (loss, schedule) pair needs a "
                "loss that keeps ε in a `label_smoothing_variable`, such as "
                f"keras_ls.LabelSmoothingCrossentropy. Received: {loss!r}"
            )
        return _schedule_variant(
            schedule, epochs, loss=loss, name=f"variants[{name!r}]"
        )
    if _is_keras_loss(entry) or callable(entry):
        eps = getattr(entry, "label_smoothing", None)
        return Variant(
            _loss_name(entry),
            eps if isinstance(eps, float) else None,
            loss=_loss_factory(entry),
        )
    raise TypeError(
        f"`variants[{name!r}]` must be a spec string (e.g. 'ls:0.1'), a "
        "loss, a (loss, schedule) pair or a `Variant`. Received: "
        f"{entry!r} of type {type(entry).__name__}"
    )


def _spec_variant(text, epochs):
    """A `Variant` from a spec string of `variants.parse_variant`."""
    spec = parse_variant(text)
    scaled = ", temperature-scaled" if spec.temperature_scaling else ""
    if spec.kind == "baseline":
        return Variant(
            f"ε = 0{scaled}",
            0.0,
            temperature_scaling=spec.temperature_scaling,
            trains=BASELINE,
        )
    if spec.kind == "ls":
        if spec.schedule is not None:
            try:
                variant = _schedule_variant(spec.schedule, epochs)
            except ValueError as e:
                raise ValueError(f"Invalid `variant` {text!r}: {e}") from None
        else:
            eps = spec.arguments["label_smoothing"]
            variant = Variant(f"ε = {eps:g}", eps)
        return variant._replace(
            description=variant.description + scaled,
            temperature_scaling=spec.temperature_scaling,
            trains=spec.trains,
        )
    import keras_ls

    class_name = _SPEC_LOSSES[spec.kind]
    cls = getattr(keras_ls, class_name, None)
    if cls is None:
        raise ValueError(
            f"Invalid `variant` {text!r}: it needs keras_ls.{class_name}, "
            "which this version of keras_ls does not have."
        )
    arguments = dict(spec.arguments)

    def make_loss():
        return cls(**arguments)

    try:
        make_loss()  # its own argument checks, before any training
    except (TypeError, ValueError) as e:
        raise ValueError(f"Invalid `variant` {text!r}: {e}") from None
    shown = ", ".join(f"{k}={v:g}" for k, v in arguments.items())
    return Variant(
        f"{class_name}({shown}){scaled}",
        None,
        loss=make_loss,
        temperature_scaling=spec.temperature_scaling,
        trains=spec.trains,
    )


# Spec kind -> the keras_ls loss class it trains.
_SPEC_LOSSES = {
    "ols": "OnlineLabelSmoothing",
    "mbls": "MarginLabelSmoothing",
    "maxsup": "MaxSuppression",
    "cp": "ConfidencePenalty",
}


def _schedule_variant(schedule, epochs, loss=None, name="schedule"):
    described = schedule
    if isinstance(schedule, str):
        schedule = parse_schedule(schedule, epochs=epochs)
    elif not callable(schedule):
        raise ValueError(
            f"`{name}` must be a spec string such as 'two-stage:0.1:6' "
            f"or a schedule callable. Received: {name}={schedule!r}"
        )
    first = _validation.check_label_smoothing(float(schedule(0)), f"{name}(0)")
    _warn_if_never_switches(schedule, epochs)
    if loss is None:
        return Variant(f"schedule {described}", first, schedule)
    return Variant(
        f"{_loss_name(loss)}, schedule {described}",
        first,
        schedule,
        loss=_loss_factory(loss),
    )


def _warn_if_never_switches(schedule, epochs):
    from keras_ls import schedules

    if isinstance(schedule, schedules.TwoStage) and schedule.switch >= epochs:
        warnings.warn(
            f"The two-stage schedule switches to ε = 0 at epoch "
            f"{schedule.switch}, but training has only {epochs} epochs "
            f"(0 to {epochs - 1}): every epoch is smoothed with ε = "
            f"{schedule.value:g}, as with a constant schedule. Give a "
            f"switch epoch below {epochs}.",
            UserWarning,
            stacklevel=_caller_level(),
        )


def _caller_level():
    """The `stacklevel` that points a warning at the first frame outside
    keras_ls (the user's `compare` call), however deep the helper."""
    level, frame = 1, inspect.currentframe().f_back
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        "keras_ls."
    ):
        level += 1
        frame = frame.f_back
    return level


def _is_keras_loss(obj):
    # Keras is imported here, when the factory runs, not with this module:
    # the command line parses specs before it chooses the backend.
    import keras

    return isinstance(obj, keras.losses.Loss)


def _loss_name(loss):
    return getattr(loss, "name", None) or type(loss).__name__


def _loss_factory(loss):
    """A function returning a fresh copy of `loss` for each training run
    (a loss may carry state, e.g. `OnlineLabelSmoothing`'s matrix)."""
    if _is_keras_loss(loss):
        config = loss.get_config()
        return lambda: type(loss).from_config(dict(config))
    return lambda: loss


def groups(variants):
    """``{trains key: [names]}``: the variants that share a trained model
    (their own name as key when `Variant.trains` is `None`)."""
    groups = {}
    for name, variant in variants.items():
        key = variant.trains or f"variant:{name}"
        groups.setdefault(key, []).append(name)
    return groups


def given_as(requested, variants):
    """``{name: spec}`` of every variant: its spec string as given, else
    its description."""
    given = {} if requested is None else named_variants(requested)
    return {
        name: given[name].strip()
        if isinstance(given.get(name), str)
        else (BASELINE if name == BASELINE else variant.description)
        for name, variant in variants.items()
    }


__all__ = [
    "BASELINE",
    "SCHEDULE_FORMS",
    "SCHEDULE_SPECS",
    "VARIANT_FORMS",
    "Variant",
    "VariantSpec",
    "parse_schedule",
    "parse_variant",
]
