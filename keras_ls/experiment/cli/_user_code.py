"""The user's own code on the command line: ``--model FILE.py:FUNCTION``
or ``package.module:FUNCTION``, ``--dataset`` likewise, and
``--optimizer NAME[:KEY=VALUE,…]``.

The forms are checked while the arguments are parsed (Keras-free);
`load_function` imports the user's file or module once the backend is
chosen, since that code usually imports Keras.
"""

import argparse
import ast
import importlib
import importlib.util
import os
import re
import sys

from keras_ls.experiment.cli._options import UsageError

_IDENTIFIER = r"[A-Za-z_]\w*"
_DOTTED = re.compile(rf"{_IDENTIFIER}(\.{_IDENTIFIER})*\Z")
FUNCTION_FORMS = "FILE.py:FUNCTION or package.module:FUNCTION"


def function_spec(builtins):
    """An argparse type: one of `builtins`, or a function of the user's
    code (`FUNCTION_FORMS`), returned as given."""

    def parse(text):
        if text in builtins or _split(text) is not None:
            return text
        raise argparse.ArgumentTypeError(
            f"expected {', '.join(builtins)}, {FUNCTION_FORMS}, got {text!r}"
        )

    return parse


def _split(text):
    """``(where, function)`` of a ``where:function`` spec, or `None`."""
    where, colon, function = text.rpartition(":")
    if not colon or not where or not _DOTTED.match(function):
        return None
    if where.endswith(".py") or _DOTTED.match(where):
        return where, function
    return None


def load_function(spec, option):
    """The function a spec names, importing its file or module.

    Raises:
        UsageError: the file, the module or the function does not exist,
            or is not callable (one line, naming `option` and `spec`).
    """
    where, name = _split(spec)
    if where.endswith(".py"):
        module = _import_file(where, option, spec)
    else:
        module = _import_module(where, option, spec)
    value = module
    for part in name.split("."):
        if not hasattr(value, part):
            defined = _functions_of(module)
            raise UsageError(
                f"{option} {spec}: {where} has no function {name!r} (it "
                f"defines: {', '.join(defined) or 'no function'})"
            )
        value = getattr(value, part)
    if not callable(value):
        raise UsageError(
            f"{option} {spec}: {where}'s {name!r} is a "
            f"{type(value).__name__}, not a function"
        )
    return value


def _functions_of(module):
    return sorted(
        name
        for name, value in vars(module).items()
        if callable(value)
        and not name.startswith("_")
        and getattr(value, "__module__", None) == module.__name__
    )


def _import_file(path, option, spec):
    """The module of a ``.py`` file, named after the file, its folder on
    ``sys.path`` (for its own imports); no ``__pycache__`` is written
    beside it."""
    if not os.path.isfile(path):
        raise UsageError(f"{option} {spec}: no such file {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = os.path.splitext(os.path.basename(path))[0]
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    # Registered, as an import would (dataclasses and pickle look it
    # up), unless that name is taken.
    sys.modules.setdefault(name, module)
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        module_spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write
    return module


def _import_module(where, option, spec):
    """An importable module, from the current folder too (as ``python
    -m`` would find it)."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as e:
        # Only a missing `where` is the user's typo; a module that its
        # code imports and lacks is a traceback worth reading.
        missing = e.name or ""
        if where != missing and not where.startswith(missing + "."):
            raise
        raise UsageError(
            f"{option} {spec}: no module named {missing!r} (run from the "
            "folder that holds it, or install it)"
        ) from None


OPTIMIZER_FORM = "NAME[:KEY=VALUE,...]"


def optimizer_spec(text):
    """An argparse type: ``NAME[:KEY=VALUE,…]`` (``sgd``,
    ``sgd:learning_rate=0.05,momentum=0.9``), checked for its form and
    returned as given; `optimizer_config` reads it."""
    try:
        optimizer_config(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def optimizer_config(text):
    """The Keras config dict of an ``--optimizer`` spec: the values are
    Python literals (``0.9``, ``True``, ``None``), other text a string.

    Examples:

    >>> optimizer_config("sgd:learning_rate=0.05,nesterov=True")
    {'class_name': 'sgd', 'config': {'learning_rate': 0.05, 'nesterov': True}}
    """
    name, colon, arguments = text.partition(":")
    if not re.fullmatch(_IDENTIFIER, name):
        raise ValueError(f"expected {OPTIMIZER_FORM}, got {text!r}")
    config = {}
    for pair in arguments.split(",") if colon else []:
        key, equals, value = (p.strip() for p in pair.partition("="))
        if not equals or not re.fullmatch(_IDENTIFIER, key) or key in config:
            raise ValueError(
                f"expected {OPTIMIZER_FORM} with distinct KEYs, got {text!r}"
            )
        try:
            config[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            config[key] = value
    return {"class_name": name, "config": config}
