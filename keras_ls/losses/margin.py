"""Margin-based label smoothing (MbLS, Liu et al., CVPR 2022).

Label smoothing pushes every logit distance max_j z_j − z_k towards zero,
which is what makes LS-trained networks underconfident. MbLS penalises a
distance only where it exceeds a margin m:

    loss = CE(y, z) + λ·mean_k relu(max_j z_j − z_k − m).

This follows the authors' `LogitMarginL1` (github.com/by-liu/MbLS,
`calibrate/losses/logit_margin_l1.py`): `relu(max - z - margin).mean()`
over the classes (the top class contributes 0), m = 10 and λ = 0.1 as in
their `configs/loss/logit_margin.yaml`. Their optional schedules of λ are
not reproduced (the paper's results use none).
"""

from keras import ops

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls.losses._base import base_options
from keras_ls.losses._logit_penalty import LogitPenaltyLoss


@keras_ls_export(
    "keras_ls.losses.MarginLabelSmoothing", "keras_ls.MarginLabelSmoothing"
)
class MarginLabelSmoothing(LogitPenaltyLoss):
    """Cross-entropy plus a hinge on logit distances larger than a margin.

    loss = CE(y, z) + λ·mean_k relu(max_j z_j − z_k − m), with λ =
    `alpha` and m = `margin`. Distances up to m cost nothing, so, unlike
    label smoothing (whose equivalent penalty pulls every distance to 0),
    a confident prediction is allowed as long as its logits stay within m
    of each other: confidence is capped at the softmax of a gap of m
    rather than pushed toward uniform. At m = 0 the penalty is λ·(max_j z_j
    − mean_k z_k), MaxSup's.

    `sparse`, `axis`, `reduction`, `dtype` and `check_logits` mean what
    they mean in `keras_ls.LabelSmoothingCrossentropy`.

    Args:
        margin: m >= 0, the logit distance that is not penalised. Defaults
            to `10.0` (the paper's).
        alpha: λ >= 0, the weight of the penalty. Defaults to `0.1` (the
            paper's).
        from_logits: Whether `y_pred` holds logits; probabilities are
            renormalised, clipped to [1e-7, 1 - 1e-7] and their logarithm
            used as logits (distances between log-probabilities equal
            those between logits). Defaults to `True`.
        name: Name of the loss. Defaults to `"margin_label_smoothing"`.

    Standalone usage:

    >>> import numpy as np
    >>> import keras_ls
    >>> loss = keras_ls.MarginLabelSmoothing(margin=10.0, alpha=0.1)
    >>> # Distances 0, 12, 11: hinges 0, 2, 1, mean 1; CE is 2.3e-5.
    >>> round(float(loss(np.array([0]), np.array([[12.0, 0.0, 1.0]]))), 4)
    0.1

    Usage with the `compile()` API:

    ```python
    model.compile(
        optimizer="adam",
        loss=keras_ls.MarginLabelSmoothing(margin=10.0, alpha=0.1),
    )
    ```

    Raises:
        ValueError: For a negative or non-finite `margin` or `alpha`, an
            invalid option, `y_true` that does not fit `y_pred`, and, with
            `from_logits=True`, for a model that ends in softmax.

    References:
        - Liu, Ben Ayed, Galdran and Dolz, 2022. The Devil is in the
          Margin: Margin-based Label Smoothing for Network Calibration.
          CVPR. https://arxiv.org/abs/2111.15430
    """

    def __init__(
        self,
        *,
        margin=10.0,
        alpha=0.1,
        from_logits=True,
        sparse=None,
        axis=-1,
        reduction="sum_over_batch_size",
        name="margin_label_smoothing",
        dtype=None,
        check_logits=True,
    ):
        margin = _validation.check_number(margin, "margin", minimum=0)
        alpha = _validation.check_number(alpha, "alpha", minimum=0)
        super().__init__(**base_options(locals()))
        self.margin = margin
        self.alpha = alpha

    def penalty(self, z):
        distance = ops.max(z, axis=-1, keepdims=True) - z
        hinge = ops.mean(ops.relu(distance - self.margin), -1)
        # At α = 0 the penalty is absent, not 0·inf = NaN for a −inf logit.
        return self.alpha * hinge if self.alpha > 0 else ops.zeros_like(hinge)


__all__ = public_names(__name__)
