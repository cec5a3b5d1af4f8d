"""Callbacks: anneal ε during fit, and monitor confidence and calibration.

`LabelSmoothingScheduler` writes ε (see `keras_ls.callbacks.scheduler`);
`ConfidenceMonitor` reads predictions (see `keras_ls.callbacks.monitor`).
"""

from keras_ls.callbacks.monitor import ConfidenceMonitor
from keras_ls.callbacks.scheduler import LabelSmoothingScheduler

__all__ = ["ConfidenceMonitor", "LabelSmoothingScheduler"]
