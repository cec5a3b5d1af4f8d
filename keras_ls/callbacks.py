"""Callbacks: anneal ε during fit, and monitor confidence and calibration.

`LabelSmoothingScheduler` writes ε (see `keras_ls.scheduler`);
`ConfidenceMonitor` reads predictions (see `keras_ls.monitor`).
"""

from keras_ls.monitor import ConfidenceMonitor
from keras_ls.scheduler import LabelSmoothingScheduler

__all__ = ["ConfidenceMonitor", "LabelSmoothingScheduler"]
