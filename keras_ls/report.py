"""Deprecated alias of `keras_ls.experiment.report`, kept for one release."""

from keras_ls._deprecation import alias_deprecated_module

alias_deprecated_module(
    __name__, "keras_ls.experiment.report", use="keras_ls.experiment.report"
)
