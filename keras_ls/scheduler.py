"""Deprecated alias of `keras_ls.callbacks.scheduler`, kept for one release."""

from keras_ls._deprecation import alias_deprecated_module

alias_deprecated_module(
    __name__, "keras_ls.callbacks.scheduler", use="keras_ls.callbacks"
)
