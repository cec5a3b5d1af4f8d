"""keras_ls: label smoothing as a first-class, measurable Keras 3 tool.

Public names are listed in ``__all__``; everything else is private.
"""

from keras_ls import losses
from keras_ls.losses import BinaryLabelSmoothingCrossentropy
from keras_ls.losses import LabelSmoothingCrossentropy
from keras_ls.losses import label_smoothing_crossentropy
from keras_ls.losses import minimum_loss

__version__ = "0.1.0"

__all__ = [
    "BinaryLabelSmoothingCrossentropy",
    "LabelSmoothingCrossentropy",
    "__version__",
    "label_smoothing_crossentropy",
    "losses",
    "minimum_loss",
]
