"""Deprecated alias of `keras_ls.experiment.cli`, kept for one release."""

from keras_ls._deprecation import alias_deprecated_module

alias_deprecated_module(
    __name__, "keras_ls.experiment.cli", use="keras_ls.experiment.cli"
)
