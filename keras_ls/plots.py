"""Every keras_ls plot in one namespace (matplotlib, imported when drawing).

The reliability and confidence plots and the penultimate-layer projection
are defined in `keras_ls.calibration.plots`; this module is their public
home.
"""

from keras_ls.calibration.plots import confidence_histogram
from keras_ls.calibration.plots import draw_reliability
from keras_ls.calibration.plots import penultimate_projection
from keras_ls.calibration.plots import reliability_diagram

__all__ = [
    "confidence_histogram",
    "draw_reliability",
    "penultimate_projection",
    "reliability_diagram",
]
