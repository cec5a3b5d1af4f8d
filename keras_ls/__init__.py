"""keras_ls: label smoothing as a first-class, measurable Keras 3 tool.

The package follows the data flow of a training run:
``data`` → ``losses`` (ε in a variable) → ``schedules`` and the
``LabelSmoothingScheduler`` (write ε) → ``metrics`` and the
``ConfidenceMonitor`` (read predictions) → ``calibration``, ``experiment``,
reports and plots. Public names are listed in ``__all__``.
"""

from keras_ls import calibration
from keras_ls import callbacks
from keras_ls import data
from keras_ls import experiment
from keras_ls import losses
from keras_ls import metrics
from keras_ls import schedules
from keras_ls.callbacks import ConfidenceMonitor
from keras_ls.callbacks import LabelSmoothingScheduler
from keras_ls.data import load_fashion_mnist
from keras_ls.experiment import compare
from keras_ls.losses import BinaryLabelSmoothingCrossentropy
from keras_ls.losses import LabelSmoothingCrossentropy
from keras_ls.losses import label_smoothing_crossentropy
from keras_ls.losses import minimum_loss

__version__ = "0.1.0"

__all__ = [
    "BinaryLabelSmoothingCrossentropy",
    "ConfidenceMonitor",
    "LabelSmoothingCrossentropy",
    "LabelSmoothingScheduler",
    "__version__",
    "calibration",
    "callbacks",
    "compare",
    "data",
    "experiment",
    "label_smoothing_crossentropy",
    "load_fashion_mnist",
    "losses",
    "metrics",
    "minimum_loss",
    "schedules",
]
