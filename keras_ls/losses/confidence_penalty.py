"""The confidence penalty (Pereyra et al., 2017): CE minus β·entropy.

    loss = CE(y, p) − β·H(p),   H(p) = −Σ_k p_k·log p_k,  p = softmax(z).

The sign matters and published code disagrees on it: with β > 0 the loss
*rewards* entropy, so a gradient step raises the entropy of the
predictions (tests/losses/test_family_losses.py checks that direction).
"""

from keras import ops

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls.losses._base import base_options
from keras_ls.losses._logit_penalty import LogitPenaltyLoss


@keras_ls_export(
    "keras_ls.losses.ConfidencePenalty", "keras_ls.ConfidencePenalty"
)
class ConfidencePenalty(LogitPenaltyLoss):
    """Cross-entropy minus β times the entropy of the prediction.

    loss = CE(y, p) − β·H(p), with H(p) = −Σ_k p_k·log p_k and p the
    softmax of the logits. Where label smoothing is a KL divergence from
    the uniform distribution to p, the confidence penalty is the reverse
    KL (up to a constant): it penalises low-entropy, confident outputs
    directly, whatever the label, and leaves the order of the logits to
    the cross-entropy. H is computed from the log-softmax in float32.

    `sparse`, `axis`, `reduction`, `dtype` and `check_logits` mean what
    they mean in `keras_ls.LabelSmoothingCrossentropy`.

    Args:
        beta: β >= 0, the weight of the entropy reward. Defaults to `0.1`.
        from_logits: Whether `y_pred` holds logits; probabilities are
            renormalised and clipped to [1e-7, 1 - 1e-7]. Defaults to
            `True`.
        name: Name of the loss. Defaults to `"confidence_penalty"`.

    Standalone usage:

    >>> import numpy as np
    >>> import keras_ls
    >>> loss = keras_ls.ConfidencePenalty(beta=0.1)
    >>> # CE 0.1269, entropy 0.3653 nats: 0.1269 - 0.0365.
    >>> round(float(loss(np.array([0]), np.array([[2.0, 0.0]]))), 4)
    0.0904

    Usage with the `compile()` API:

    ```python
    model.compile(
        optimizer="adam", loss=keras_ls.ConfidencePenalty(beta=0.1)
    )
    ```

    Raises:
        ValueError: For a negative or non-finite `beta`, an invalid option,
            `y_true` that does not fit `y_pred`, and, with
            `from_logits=True`, for a model that ends in softmax.

    References:
        - Pereyra, Tucker, Chorowski, Kaiser and Hinton, 2017. Regularizing
          Neural Networks by Penalizing Confident Output Distributions.
          ICLR workshop. https://arxiv.org/abs/1701.06548
    """

    def __init__(
        self,
        *,
        beta=0.1,
        from_logits=True,
        sparse=None,
        axis=-1,
        reduction="sum_over_batch_size",
        name="confidence_penalty",
        dtype=None,
        check_logits=True,
    ):
        beta = _validation.check_number(beta, "beta", minimum=0)
        super().__init__(**base_options(locals()))
        self.beta = beta

    def penalty(self, z):
        log_p = ops.log_softmax(z, axis=-1)
        p = ops.exp(log_p)
        # 0·log 0 = 0: a class of probability 0 (a −inf logit) adds
        # nothing. Its log is replaced before the product, so neither the
        # value nor the gradient meets 0·(−inf) = NaN.
        log_p = ops.where(p > 0, log_p, 0.0)
        entropy = -ops.sum(p * log_p, axis=-1)
        return -self.beta * entropy


__all__ = public_names(__name__)
