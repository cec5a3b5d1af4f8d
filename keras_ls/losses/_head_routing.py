"""Makes a model's training and evaluation steps stop at its head's input.

A model that ends in its output layer (a keras-hub `CausalLM`:
`backbone.token_embedding(hidden, reverse=True)`; any functional or
`Sequential` model ending in `Dense(V)`) hands its loss logits. When
`LinearLabelSmoothingCrossentropy` meets such a model in Keras' symbolic
build (before the first step is traced), `route` gives the model an
instance-level `call` that, inside that model's own training and
evaluation steps (the `_tracking.steps` context), runs a functional
sub-model from the model's inputs to the head's input, sharing every
layer: the steps hand the loss hidden states and the logits are never
built. Everywhere else (`predict`, `generate`, a plain `model(x)`) the
model is what it was.
"""

import keras

from keras_ls import _keras_compat
from keras_ls._tracking import steps
from keras_ls._tracking import values

_ROUTED = "_keras_ls_head_route"


def head_input_model(model, head):
    """A functional model from `model`'s inputs to the input of the `head`
    call that produces `model`'s only output, sharing the layers; `None`
    when `model` does not end in `head` (or is not graph-built)."""
    try:
        outputs = model.outputs
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    try:
        inputs = model.input  # a functional model's nested structure
    except (AttributeError, ValueError):
        if inputs and len(inputs) == 1:
            inputs = inputs[0]  # a Sequential model's one input
    if not outputs or len(outputs) != 1:
        return None
    produced = _keras_compat.producing_call(outputs[0])
    if produced is None or produced[0] is not head or len(produced[1]) != 1:
        return None
    hidden = produced[1][0]
    return keras.Model(inputs, hidden, name=f"{model.name}_to_{head.name}")


def routed(model):
    return _ROUTED in model.__dict__


def route(model, head, logits):
    """Makes `model`'s training and evaluation steps output `head`'s input.

    `logits` is what the step in progress handed the loss: where it is
    traced inside a compiled step (not Keras' symbolic build), that step
    keeps the logits, so the step functions are rebuilt to trace anew.
    Returns whether `model` is routed (now or before). Idempotent.
    """
    if routed(model):
        return True
    sub = head_input_model(model, head)
    if sub is None:
        return False
    steps.watch(model)
    original = model.call  # the class's (or a user's) bound call

    def call(*args, **kwargs):
        step = steps.current()
        if step is not None and step.model is model:
            return sub.call(*args, **kwargs)
        return original(*args, **kwargs)

    object.__setattr__(model, _ROUTED, sub)
    object.__setattr__(model, "call", call)
    if not isinstance(logits, keras.KerasTensor) and values.kind(logits) in (
        "traced",
        "compiling",
    ):
        _keras_compat.retrace_steps(model)
    return True
