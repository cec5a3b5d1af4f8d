"""Online label smoothing (OLS, Zhang et al., IEEE TIP 2021).

OLS replaces the uniform smoothing distribution by one learned per class:
a K×K matrix S whose row y is the mean predicted distribution of the
training examples of class y that the model classified correctly in the
previous epoch. The loss mixes the hard cross-entropy with the
cross-entropy against row y:

    loss = α·CE(y, p) + (1 − α)·CE(S[y], p).

The reference code (github.com/zhangchbin/OnlineLabelSmoothing,
`cifar/scripts/train_cifar_all_methods.py`) accumulates softmax outputs in
the training loop (`update_loss_lams`), where `argmax == target`, and at the
end of the epoch sets each row to their mean, or to the uniform 1/K for a
class without any correct example; α = 0.5 there. Its matrix starts at
zero (the first epoch is then 0.5·CE); here the first epoch uses uniform
smoothing (S = 1/K), as the paper describes.

State without a manual call. S, its running sums and counts are
non-trainable variables of the loss. The first time a model's step calls
the loss, a hidden metric that carries them is attached to the model (as
`keras_ls.track_label_smoothing` does for ε), so:

- compiled train steps read and update them on every backend (on JAX the
  step returns them as metric state);
- Keras resets metrics at the start of every epoch of `fit`; the hidden
  metric's reset is where the epoch's sums become the new S. `evaluate`
  (which `fit` calls for validation) and `train_on_batch`/`test_on_batch`
  also reset metrics: there the swap is skipped, and test steps never
  accumulate, so evaluation leaves the state unchanged;
- the loss saves and loads its variables itself, so S and the pending sums
  are in `.keras` files and `.weights.h5` checkpoints, and a resumed `fit`
  continues exactly.
"""

from keras import ops

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls._tracking import steps as _steps
from keras_ls.losses._base import SmoothingLoss
from keras_ls.losses._base import base_options
from keras_ls.losses._base import standardize
from keras_ls.losses._online_state import SoftLabelState
from keras_ls.losses._reduction import match_rank
from keras_ls.losses.crossentropy import label_smoothing_crossentropy

F32 = "float32"


@keras_ls_export(
    "keras_ls.losses.OnlineLabelSmoothing", "keras_ls.OnlineLabelSmoothing"
)
class OnlineLabelSmoothing(SoftLabelState, SmoothingLoss):
    """Label smoothing toward each class's own mean correct prediction.

    loss = α·CE(y, p) + (1 − α)·CE(S[y], p), where row y of the K×K matrix
    S is the mean softmax output of the training examples of class y that
    were classified correctly during the previous epoch (uniform 1/K for a
    class without one, and for every class in the first epoch). Dense
    targets t use t·S as the soft target and argmax t as the class.

    Unlike uniform smoothing, which pulls every wrong class up by the same
    ε/K and so erases how similar the classes are, OLS moves probability
    mass toward the classes the model itself confuses with y. The target
    for the true class is the model's own mean confidence on its correct
    examples, so confidence is held near what the network reaches, not at
    a fixed 1 − ε; under label noise, wrongly labelled examples (rarely
    "correct") barely shape S.

    S is updated without a manual call: see the module docstring. Only
    training steps (`fit`, `train_on_batch`) accumulate, and evaluation
    leaves the state unchanged. The sums become the new S at each epoch
    start of `fit`; a training loop of your own (`train_on_batch`, or
    custom steps that call `model.compute_loss`) calls `loss.end_epoch()`
    at its epoch boundaries.

    `sparse`, `axis`, `reduction`, `dtype` and `check_logits` mean what
    they mean in `keras_ls.LabelSmoothingCrossentropy`.

    Args:
        alpha: α in [0, 1], the weight of the hard cross-entropy. Defaults
            to `0.5` (the reference code's).
        num_classes: K, at least 2; `None` takes it from `y_pred` on the
            first call. Defaults to `None`.
        from_logits: Whether `y_pred` holds logits (probabilities are
            renormalised and clipped to [1e-7, 1 - 1e-7]). Defaults to
            `True`.
        name: Name of the loss. Defaults to `"online_label_smoothing"`.

    Standalone usage (first epoch: S is uniform, so this is label
    smoothing with ε = 1 − α):

    >>> import numpy as np
    >>> import keras_ls
    >>> loss = keras_ls.OnlineLabelSmoothing(alpha=0.5, num_classes=2)
    >>> round(float(loss(np.array([0]), np.array([[2.0, 0.0]]))), 4)
    0.6269
    >>> loss.soft_labels
    array([[0.5, 0.5],
           [0.5, 0.5]], dtype=float32)

    Usage with the `compile()` API:

    ```python
    model.compile(
        optimizer="adam",
        loss=keras_ls.OnlineLabelSmoothing(alpha=0.5),
        jit_compile=True,
    )
    model.fit(x, y, epochs=10)  # S is updated at every epoch start
    ```

    Raises:
        ValueError: For an invalid option, `y_pred` whose class axis does
            not have `num_classes` entries, `y_true` that does not fit
            `y_pred`, a class id outside [0, K) where values are concrete,
            and, with `from_logits=True`, a model that ends in softmax.

    References:
        - Zhang, Jiang, Hou, Wei, Han, Li and Cheng, 2021. Delving Deep
          into Label Smoothing. IEEE Transactions on Image Processing.
          https://arxiv.org/abs/2011.12562
    """

    def __init__(
        self,
        *,
        alpha=0.5,
        num_classes=None,
        from_logits=True,
        sparse=None,
        axis=-1,
        reduction="sum_over_batch_size",
        name="online_label_smoothing",
        dtype=None,
        check_logits=True,
    ):
        alpha = _validation.check_number(alpha, "alpha", minimum=0, maximum=1)
        if num_classes is not None:
            num_classes = _validation.check_int(
                num_classes, "num_classes", minimum=2
            )
        super().__init__(**base_options(locals()))
        self.alpha = alpha
        self._init_state(num_classes)

    def call(self, y_true, y_pred):
        return self._compute(self._prepare(y_true, y_pred))

    def _prepare(self, y_true, y_pred):
        # Before the model is found: the state it will carry needs K.
        return standardize(
            y_true,
            y_pred,
            sparse=self.sparse,
            axis=self.axis,
            check_classes=self._check_classes,
        )

    def _check_classes(self, y_pred):
        k = y_pred.shape[-1]
        if self.num_classes is None:
            self._build(k)
        elif k != self.num_classes:
            raise ValueError(
                f"`y_pred` must have num_classes={self.num_classes} entries "
                f"on its class axis. Received: y_pred.shape="
                f"{tuple(y_pred.shape)}"
            )

    def _compute(self, inputs):
        y_pred, labels, targets = inputs.logits, inputs.labels, inputs.targets
        matrix = ops.convert_to_tensor(self.soft_labels_variable)
        if labels is not None:
            hard = labels
            soft = ops.take(matrix, labels, axis=0)
        else:
            hard = targets
            soft = ops.matmul(targets, matrix)

        def ce(target):
            return label_smoothing_crossentropy(
                target, y_pred, 0.0, from_logits=self.from_logits
            )

        # A term of weight 0 is dropped: either may be +inf for a −inf
        # logit, and 0·inf would make the loss NaN.
        if self.alpha == 1.0:
            return ce(hard)
        if self.alpha == 0.0:
            return ce(soft)
        return self.alpha * ce(hard) + (1.0 - self.alpha) * ce(soft)

    def _accumulate(self, inputs, values, sample_weight, mask):
        # Read while tracing in compiled steps: only the train step gets
        # the accumulation ops; standalone calls (None) never accumulate.
        training = _steps.is_training_step()
        if training is None:
            self._outside_steps = True
        step = _steps.current()
        carried = step is None or step.model in self._models
        if training is not True or not carried:
            return
        weights = None
        if sample_weight is not None:
            weights = match_rank(values, ops.cast(sample_weight, F32))
            weights = ops.broadcast_to(weights, ops.shape(values))
        if mask is not None:
            keep = match_rank(values, ops.cast(mask, F32))
            keep = ops.broadcast_to(keep, ops.shape(values))
            weights = keep if weights is None else weights * keep
        self._add_to_sums(inputs.logits, inputs.labels, inputs.targets, weights)

    def _add_to_sums(self, y_pred, labels, targets, weights):
        """Adds the correct positions' predictions to the sums (no grad)."""
        k = self.num_classes
        z = ops.reshape(ops.stop_gradient(ops.cast(y_pred, F32)), (-1, k))
        if self.from_logits:
            probs = ops.softmax(z, axis=-1)
        else:
            probs = z / ops.sum(z, axis=-1, keepdims=True)
        if labels is not None:
            classes = ops.reshape(labels, (-1,))
        else:
            classes = ops.argmax(ops.reshape(targets, (-1, k)), axis=-1)
        classes = ops.cast(classes, "int32")
        predicted = ops.cast(ops.argmax(z, axis=-1), "int32")
        weight = ops.cast(ops.equal(predicted, classes), F32)
        if weights is not None:
            weight = weight * ops.reshape(weights, (-1,))
        self._sums.assign_add(
            ops.segment_sum(
                probs * ops.expand_dims(weight, -1), classes, num_segments=k
            )
        )
        self._counts.assign_add(
            ops.segment_sum(weight, classes, num_segments=k)
        )
        self._steps.assign_add(1.0)


__all__ = public_names(__name__)
