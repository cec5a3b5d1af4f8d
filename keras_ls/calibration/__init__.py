"""Offline calibration: a float64 reference report, temperature scaling,
the reliability and confidence plots (matplotlib, imported when drawing)
and the penultimate-layer geometry of label smoothing.
"""

from keras_ls.calibration.geometry import cluster_tightness
from keras_ls.calibration.geometry import penultimate_features
from keras_ls.calibration.geometry import template_plane_projection
from keras_ls.calibration.geometry import tightness_of_features
from keras_ls.calibration.report import apply_temperature
from keras_ls.calibration.report import calibration_report
from keras_ls.calibration.report import fit_temperature
from keras_ls.plots import confidence_histogram
from keras_ls.plots import reliability_diagram

__all__ = [
    "apply_temperature",
    "calibration_report",
    "cluster_tightness",
    "confidence_histogram",
    "fit_temperature",
    "penultimate_features",
    "reliability_diagram",
    "template_plane_projection",
    "tightness_of_features",
]
