"""Label-smoothing losses: ε in a `keras.Variable`, closed forms, no one-hot.

`LabelSmoothingCrossentropy` and `BinaryLabelSmoothingCrossentropy` (and
their functional forms) live in `crossentropy`; the private modules hold
the closed form with its fused gradient (`_closed_form`), TensorFlow's
fused kernel outside XLA (`_tf_fused`) and Keras' masks and reductions
(`_reduction`).
"""

from keras_ls._tracking import track_label_smoothing
from keras_ls.losses.crossentropy import CONVENTIONS
from keras_ls.losses.crossentropy import BinaryLabelSmoothingCrossentropy
from keras_ls.losses.crossentropy import LabelSmoothingCrossentropy
from keras_ls.losses.crossentropy import binary_label_smoothing_crossentropy
from keras_ls.losses.crossentropy import label_smoothing_crossentropy
from keras_ls.losses.crossentropy import minimum_loss

__all__ = [
    "CONVENTIONS",
    "BinaryLabelSmoothingCrossentropy",
    "LabelSmoothingCrossentropy",
    "binary_label_smoothing_crossentropy",
    "label_smoothing_crossentropy",
    "minimum_loss",
    "track_label_smoothing",
]
