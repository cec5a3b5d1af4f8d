"""The public surface, declared where each object is defined.

`keras_ls_export` marks a class or function as public. It records the
public paths under which users reach it (the first is its home, used by
docs/api.md), and registers a class that has a `get_config` for Keras
serialization under the unchanged name ``keras_ls>ClassName``, so
``keras.saving.load_model`` finds it without ``custom_objects``. Each
module's ``__all__`` is `public_names(__name__)`, and docs/api.md is
generated from `exported()` (scripts/gen_api_docs.py), so the three cannot
disagree. This follows keras-rs' ``api_export.py``.

Keras is imported only to register a serializable class, so a Keras-free
module (`keras_ls.experiment.variants`, which the command line reads
before it chooses the backend) can mark its public objects too.
"""

PACKAGE = "keras_ls"
_EXPORTED = {}  # id(obj) -> (obj, public paths)


def keras_ls_export(*paths):
    """Marks a public object; returns a decorator that returns it unchanged.

    Args:
        *paths: The dotted public paths of the object, home first, e.g.
            ``"keras_ls.losses.LabelSmoothingCrossentropy",
            "keras_ls.LabelSmoothingCrossentropy"``.

    Raises:
        ValueError: when no path is given, or a path does not end with the
            object's own name.
    """
    if not paths:
        raise ValueError("`keras_ls_export` needs at least one public path.")

    def decorate(obj):
        for path in paths:
            if not path.startswith(PACKAGE + ".") or (
                path.rsplit(".", 1)[-1] != obj.__name__
            ):
                raise ValueError(
                    f"A public path must be `{PACKAGE}.….{obj.__name__}`. "
                    f"Received: {path!r} for {obj!r}"
                )
        if isinstance(obj, type) and hasattr(obj, "get_config"):
            import keras

            keras.saving.register_keras_serializable(package=PACKAGE)(obj)
        _EXPORTED[id(obj)] = (obj, tuple(paths))
        return obj

    return decorate


def exported():
    """``[(obj, paths)]`` for every public object, in definition order."""
    return list(_EXPORTED.values())


def public_names(module_name):
    """The names a module defines and exports: its ``__all__``."""
    return [
        obj.__name__
        for obj, _ in _EXPORTED.values()
        if obj.__module__ == module_name
    ]
