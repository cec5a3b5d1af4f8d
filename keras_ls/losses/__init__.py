"""Label-smoothing losses: ε in a `keras.Variable`, closed forms, no one-hot.

`LabelSmoothingCrossentropy` and `BinaryLabelSmoothingCrossentropy` (and
their functional forms) live in `crossentropy`; the private modules hold
the closed form with its fused gradient (`_closed_form`), TensorFlow's
fused kernel outside XLA (`_tf_fused`) and Keras' masks and reductions
(`_reduction`).

The smoothing family, one module each: `MaxSuppression` (`max_suppression`),
`MarginLabelSmoothing` (`margin`) and `ConfidencePenalty`
(`confidence_penalty`) add a penalty on the logits to the cross-entropy
(`_logit_penalty`); `OnlineLabelSmoothing` (`online`) learns its smoothing
distribution per class from the model's own correct predictions.
"""

from keras_ls._tracking.state import track_label_smoothing
from keras_ls.losses.confidence_penalty import ConfidencePenalty
from keras_ls.losses.crossentropy import CONVENTIONS
from keras_ls.losses.crossentropy import BinaryLabelSmoothingCrossentropy
from keras_ls.losses.crossentropy import LabelSmoothingCrossentropy
from keras_ls.losses.crossentropy import binary_label_smoothing_crossentropy
from keras_ls.losses.crossentropy import label_smoothing_crossentropy
from keras_ls.losses.crossentropy import minimum_loss
from keras_ls.losses.margin import MarginLabelSmoothing
from keras_ls.losses.max_suppression import MaxSuppression
from keras_ls.losses.online import OnlineLabelSmoothing

__all__ = [
    "CONVENTIONS",
    "BinaryLabelSmoothingCrossentropy",
    "ConfidencePenalty",
    "LabelSmoothingCrossentropy",
    "MarginLabelSmoothing",
    "MaxSuppression",
    "OnlineLabelSmoothing",
    "binary_label_smoothing_crossentropy",
    "label_smoothing_crossentropy",
    "minimum_loss",
    "track_label_smoothing",
]
