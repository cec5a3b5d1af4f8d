"""Label-smoothing losses: ε in a `keras.Variable`, closed forms, no one-hot.

Every loss derives from `_base.SmoothingLoss`: one `__call__` (the model
that carries ε, the logits check, Keras' masks, sample weights and
reductions from `_reduction`), the ε variable, the config, and
`standardize`, the one reading of `y_true` and `y_pred`.
`LabelSmoothingCrossentropy` and `BinaryLabelSmoothingCrossentropy` (and
their functional forms) live in `crossentropy`, on the closed form with
its fused gradient (`_closed_form`) and TensorFlow's fused kernel outside
XLA (`_tf_fused`).

The smoothing family, one module each: `MaxSuppression` (`max_suppression`),
`MarginLabelSmoothing` (`margin`) and `ConfidencePenalty`
(`confidence_penalty`) add a penalty on the logits to the cross-entropy
(`_logit_penalty`); `OnlineLabelSmoothing` (`online`, its state in
`_online_state`) learns its smoothing distribution per class from the
model's own correct predictions. `LinearLabelSmoothingCrossentropy`
(`linear`) fuses a model's output layer into the loss
(`keras_ls.ops`): for language-model vocabularies.
"""

from keras_ls._tracking.state import track_label_smoothing
from keras_ls.losses.confidence_penalty import ConfidencePenalty
from keras_ls.losses.crossentropy import CONVENTIONS
from keras_ls.losses.crossentropy import BinaryLabelSmoothingCrossentropy
from keras_ls.losses.crossentropy import LabelSmoothingCrossentropy
from keras_ls.losses.crossentropy import binary_label_smoothing_crossentropy
from keras_ls.losses.crossentropy import label_smoothing_crossentropy
from keras_ls.losses.crossentropy import minimum_loss
from keras_ls.losses.linear import FusedTokenMetric
from keras_ls.losses.linear import LinearLabelSmoothingCrossentropy
from keras_ls.losses.margin import MarginLabelSmoothing
from keras_ls.losses.max_suppression import MaxSuppression
from keras_ls.losses.online import OnlineLabelSmoothing

__all__ = [
    "CONVENTIONS",
    "BinaryLabelSmoothingCrossentropy",
    "ConfidencePenalty",
    "FusedTokenMetric",
    "LabelSmoothingCrossentropy",
    "LinearLabelSmoothingCrossentropy",
    "MarginLabelSmoothing",
    "MaxSuppression",
    "OnlineLabelSmoothing",
    "binary_label_smoothing_crossentropy",
    "label_smoothing_crossentropy",
    "minimum_loss",
    "track_label_smoothing",
]
