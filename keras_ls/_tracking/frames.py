"""The one place keras_ls reads the Python stack.

Keras gives a loss no handle on the model that calls it, and no hook at the
start or end of `fit`. Where keras_ls needs one (which model's step is
computing this loss; is the `fit` that started a schedule still running),
it looks up the stack here, and only here. The names of the Keras methods
it looks for are listed in `keras_ls._keras_compat`, with every other
assumption keras_ls makes about Keras.

Inside `torch.compile` nothing is read: Dynamo cannot trace
`sys._getframe`, and Keras' symbolic build has already run every check
before compiling. Compiled TensorFlow and JAX steps run Python only while
tracing, so a walk costs nothing per step there.
"""

import inspect
import sys

import keras

MAX_DEPTH = 64


def _compiling():
    if keras.backend.backend() != "torch" or "torch" not in sys.modules:
        return False
    import torch

    return torch.compiler.is_compiling()


def method_frame(names, *, owner=None, max_depth=MAX_DEPTH, start=None):
    """The innermost frame running a method named in `names`.

    Args:
        names: Method names (a set or tuple of strings).
        owner: The object whose method it must be; `None` for any
            `keras.Model`.
        max_depth: How many frames up to look.
        start: The frame to start from. Defaults to the caller's.

    Returns:
        `(frame, self)`, or `(None, None)`. The caller must not keep the
        frame beyond its own call.
    """
    if _compiling():
        return None, None
    frame = inspect.currentframe().f_back if start is None else start
    try:
        for _ in range(max_depth):
            if frame is None:
                break
            if frame.f_code.co_name in names:
                this = frame.f_locals.get("self")
                if (owner is None and isinstance(this, keras.Model)) or (
                    owner is not None and this is owner
                ):
                    return frame, this
            frame = frame.f_back
        return None, None
    finally:
        del frame


def calling_model(names, max_depth=MAX_DEPTH):
    """The `keras.Model` running one of the methods `names` up the stack."""
    frame, model = method_frame(names, max_depth=max_depth)
    del frame
    return model


def outside_caller(skip_prefixes, max_depth=MAX_DEPTH):
    """The first frame up the stack whose module does not start with one
    of `skip_prefixes` (module names), or None."""
    if _compiling():
        return None
    frame = inspect.currentframe().f_back
    try:
        for _ in range(max_depth):
            if frame is None:
                return None
            name = frame.f_globals.get("__name__", "")
            if not name.startswith(tuple(skip_prefixes)):
                return frame
            frame = frame.f_back
        return None
    finally:
        del frame


def on_stack(target, max_depth=4 * MAX_DEPTH):
    """Whether the frame `target` is still running (on the current stack).

    A frame object outlives its call while something refers to it, so
    identity with a frame on the stack is the test, not the object's
    existence.
    """
    if target is None:
        return False
    if _compiling():
        return True  # cannot look; Keras' own loop runs the checks
    frame = inspect.currentframe()
    try:
        for _ in range(max_depth):
            if frame is None:
                return False
            if frame is target:
                return True
            frame = frame.f_back
        return False
    finally:
        del frame
