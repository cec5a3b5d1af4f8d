"""Offline calibration: a float64 reference report, temperature scaling and
the reliability and confidence plots (matplotlib, imported when drawing).
"""

from keras_ls.calibration.plots import confidence_histogram
from keras_ls.calibration.plots import reliability_diagram
from keras_ls.calibration.report import apply_temperature
from keras_ls.calibration.report import calibration_report
from keras_ls.calibration.report import fit_temperature

__all__ = [
    "apply_temperature",
    "calibration_report",
    "confidence_histogram",
    "fit_temperature",
    "reliability_diagram",
]
