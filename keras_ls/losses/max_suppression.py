"""Max suppression (MaxSup): label smoothing that penalises the top logit.

Label smoothing with ε is, exactly, CE + ε·(z_y − mean_k z_k). MaxSup
(Zhou et al., 2025) replaces the true-class logit by the largest one:

    loss = CE(y, z) + ε·(max_k z_k − mean_k z_k).

When the prediction is right (argmax z = y) the two losses are equal; when
it is wrong, label smoothing still pushes z_y down (against the correction
the cross-entropy asks for), while MaxSup pushes down the wrong top logit.
The authors' code (github.com/ZhouYuxuanYX/Maximum-Suppression-
Regularization, `Conv/ffcv/losses.py` and `LT/loss/MAXsupLoss.py`) computes
`ce + λ·(z_max − z_mean).mean()`, in one variant with λ growing linearly
from 0.1 to 0.2 over training: here ε is a variable, so
`keras_ls.LabelSmoothingScheduler` with `keras_ls.schedules` runs that
schedule inside compiled steps.
"""

from keras import ops

from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls.losses._base import base_options
from keras_ls.losses._base import epsilon_tensor
from keras_ls.losses._logit_penalty import LogitPenaltyLoss


@keras_ls_export("keras_ls.losses.MaxSuppression", "keras_ls.MaxSuppression")
class MaxSuppression(LogitPenaltyLoss):
    """Cross-entropy plus ε times the gap between the top and mean logit.

    loss = CE(y, z) + ε·(max_k z_k − mean_k z_k). Label smoothing is
    CE + ε·(z_y − mean_k z_k): MaxSup penalises the most confident logit
    whatever its class, so it lowers the confidence of wrong predictions
    too, and never pushes the true class down on a misclassified example.
    The penalty is linear in the logits, like label smoothing's, so the
    predicted distribution still has a floor on its entropy (confidence is
    capped), but the true-class logit is left free to rise above the rest.

    ε lives in `label_smoothing_variable`, a float32 non-trainable
    `keras.Variable` that `keras_ls.LabelSmoothingScheduler` can schedule
    (the authors' 0.1 → 0.2 ramp over E epochs is
    `keras_ls.schedules.LinearDecay(0.1, 0.2, E)`); `loss.label_smoothing`
    reads and assigns it.

    `sparse`, `axis`, `reduction`, `dtype` and `check_logits` mean what
    they mean in `keras_ls.LabelSmoothingCrossentropy`.

    Args:
        label_smoothing: ε in [0, 1), the weight of the penalty. Defaults
            to `0.1`.
        from_logits: Whether `y_pred` holds logits; probabilities are
            renormalised, clipped to [1e-7, 1 - 1e-7] and their logarithm
            used as logits (the penalty depends on logit differences only).
            Defaults to `True`.
        name: Name of the loss. Defaults to `"max_suppression"`.

    Standalone usage:

    >>> import numpy as np
    >>> import keras_ls
    >>> logits = np.array([[2.0, 0.0], [0.0, 2.0]])
    >>> loss = keras_ls.MaxSuppression(label_smoothing=0.1)
    >>> round(float(loss(np.array([1, 1]), logits)), 4)
    1.2269
    >>> ls = keras_ls.LabelSmoothingCrossentropy(0.1)
    >>> round(float(ls(np.array([1, 1]), logits)), 4)
    1.1269

    Usage with the `compile()` API:

    ```python
    model.compile(
        optimizer="adam",
        loss=keras_ls.MaxSuppression(label_smoothing=0.1),
        jit_compile=True,
    )
    ```

    Raises:
        ValueError: For an invalid option (ε outside [0, 1) included), for
            `y_true` that does not fit `y_pred`, and, with
            `from_logits=True`, for a model that ends in softmax.

    References:
        - Zhou et al., 2025. MaxSup: Overcoming Representation Collapse in
          Label Smoothing. https://arxiv.org/abs/2502.15798
        - Szegedy et al., 2016. Rethinking the Inception Architecture for
          Computer Vision. CVPR. https://arxiv.org/abs/1512.00567
    """

    def __init__(
        self,
        *,
        label_smoothing=0.1,
        from_logits=True,
        sparse=None,
        axis=-1,
        reduction="sum_over_batch_size",
        name="max_suppression",
        dtype=None,
        check_logits=True,
    ):
        super().__init__(**base_options(locals()))

    def penalty(self, z):
        # Through the losses' reader, as LabelSmoothingCrossentropy: it
        # gives the value the scheduler sets for this step.
        eps = epsilon_tensor(self.label_smoothing_variable, z)
        # mean(max - z), not max - mean: max - z is exact in float32 near
        # the max, where a mean of raw logits loses about one ulp of |z|
        # (3e-5 relative at a common offset of 1e5).
        gap = ops.mean(ops.max(z, axis=-1, keepdims=True) - z, axis=-1)
        # At ε = 0 the penalty is absent, not 0·inf = NaN for a −inf logit.
        return ops.where(eps > 0, eps * gap, 0.0)


__all__ = public_names(__name__)
