"""Label-smoothing cross-entropy losses with a variable-backed ε.

The categorical loss uses the closed form

    loss = (1 - ε) · (lse - z_y) + ε · (lse - Σ_k u_k · z_k),

with ``lse = logsumexp(z)`` and ``u`` the smoothing distribution, so no
one-hot or smoothed-target tensor of the logits' shape is ever built. All
accumulation is float32, also for float16/bfloat16 logits, and the logits are
only cast inside the reductions so XLA can fuse the casts away.
"""

import math

import keras
from keras import ops

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls.losses import _closed_form
from keras_ls.losses._base import F32
from keras_ls.losses._base import SmoothingLoss
from keras_ls.losses._base import base_options
from keras_ls.losses._base import epsilon_tensor
from keras_ls.losses._base import not_ignored
from keras_ls.losses._base import standardize

CONVENTIONS = ("uniform", "others")


@keras_ls_export("keras_ls.losses.minimum_loss", "keras_ls.minimum_loss")
def minimum_loss(label_smoothing, num_classes, convention="uniform"):
    """The lowest value the smoothed cross-entropy can reach, in nats.

    It is the entropy of the smoothed target, reached when the predicted
    distribution equals that target. A smoothed loss that "never drops below
    0.5" at ε = 0.1 with 10 classes is sitting on this floor.

    Args:
        label_smoothing: ε in [0, 1).
        num_classes: K, at least 2.
        convention: `"uniform"` (true class gets 1 - ε + ε/K) or `"others"`
            (true class gets 1 - ε). Defaults to `"uniform"`.

    Returns:
        A Python float.

    Raises:
        ValueError: For ε outside [0, 1), fewer than 2 classes or an
            unknown `convention`.

    Examples:

    >>> import keras_ls
    >>> round(keras_ls.minimum_loss(0.1, 10), 3)
    0.5
    >>> keras_ls.minimum_loss(0.0, 10)
    0.0
    """
    eps = _validation.check_label_smoothing(label_smoothing)
    k = _validation.check_int(num_classes, "num_classes", minimum=2)
    _validation.check_choice(convention, "convention", CONVENTIONS)
    if convention == "uniform":
        top, rest = 1.0 - eps + eps / k, eps / k
    else:
        top, rest = 1.0 - eps, eps / (k - 1)

    def xlogx(p):
        return p * math.log(p) if p > 0 else 0.0

    return -(xlogx(top) + (k - 1) * xlogx(rest)) + 0.0


def _check_prior_convention(convention, prior):
    _validation.check_choice(convention, "convention", CONVENTIONS)
    if prior is not None and convention == "others":
        raise ValueError(
            "`prior` replaces the uniform distribution of convention="
            '"uniform"; convention="others" spreads ε over the other '
            "classes and has no use for it. Received: "
            'convention="others" with a prior'
        )


def _use_tf_fused_kernel(y_pred, labels):
    if keras.backend.backend() != "tensorflow" or labels is None:
        return False
    from keras_ls.losses import _tf_fused

    return _tf_fused.supports(y_pred, labels, from_logits=True)


@keras_ls_export(
    "keras_ls.losses.label_smoothing_crossentropy",
    "keras_ls.label_smoothing_crossentropy",
)
def label_smoothing_crossentropy(
    y_true,
    y_pred,
    label_smoothing=0.1,
    *,
    from_logits=True,
    sparse=None,
    convention="uniform",
    prior=None,
    ignore_class=None,
    axis=-1,
):
    """Per-position label-smoothing cross-entropy, without reduction.

    loss = (1 - ε)·CE(y, p) + ε·CE(u, p), where u is the smoothing
    distribution (uniform, the other classes, or `prior`).

    Args:
        y_true: Integer class ids shaped like `y_pred` without its class
            axis (sparse), or one-hot/soft targets shaped like `y_pred`.
        y_pred: Logits (or probabilities with `from_logits=False`).
        label_smoothing: ε in [0, 1): a float, a scalar tensor or a
            `keras.Variable`. Defaults to `0.1`.
        from_logits: Whether `y_pred` holds logits. Defaults to `True`.
        sparse: `True` for class ids, `False` for dense targets, `None` to
            infer from rank and dtype. Defaults to `None`.
        convention: `"uniform"` or `"others"`. Defaults to `"uniform"`.
        prior: Optional length-K probability vector used instead of the
            uniform distribution. Defaults to `None`.
        ignore_class: Optional class id (sparse labels only) whose positions
            get exactly 0. Defaults to `None`.
        axis: The class axis. Defaults to `-1`.

    Returns:
        A float32 tensor shaped like `y_pred` without its class axis.

    Raises:
        ValueError: For an invalid option (`convention`, `prior`, ε outside
            [0, 1), `convention="others"` with a `prior`); for `y_true`
            that does not fit `y_pred`; and, where the values are concrete
            (eager or standalone calls), for a class id outside [0, K)
            that is not `ignore_class`. Inside compiled code such ids are
            clipped into [0, K), value and gradient alike.

    Examples:

    >>> import keras
    >>> import numpy as np
    >>> import keras_ls
    >>> values = keras_ls.label_smoothing_crossentropy(
    ...     np.array([0, 1]), np.array([[2.0, 0.0], [0.0, 2.0]]), 0.1)
    >>> [round(float(v), 4) for v in keras.ops.convert_to_numpy(values)]
    [0.2269, 0.2269]
    """
    _check_prior_convention(convention, prior)
    if prior is not None:
        prior = _validation.check_prior(prior)

    def check_prior_length(logits):
        k = logits.shape[-1]
        if prior is not None and len(prior) != k:
            raise ValueError(
                f"`prior` must have one entry per class ({k}). "
                f"Received: prior of length {len(prior)}"
            )

    inputs = standardize(
        y_true,
        y_pred,
        label_smoothing,
        sparse=sparse,
        axis=axis,
        ignore_class=ignore_class,
        check_classes=check_prior_length,
    )
    return smoothed_crossentropy(
        inputs, from_logits=from_logits, convention=convention, prior=prior
    )


def smoothed_crossentropy(
    inputs, *, from_logits=True, convention="uniform", prior=None
):
    """Per-position smoothed cross-entropy of `standardize`d `inputs`, with
    their ε: float32, 0 where `inputs.valid` is False."""
    spec = _closed_form.SmoothingSpec(
        inputs.epsilon, inputs.num_classes, convention, prior
    )
    y_pred, labels, targets = inputs.logits, inputs.labels, inputs.targets
    if from_logits and _use_tf_fused_kernel(y_pred, labels):
        from keras_ls.losses import _tf_fused

        values = _tf_fused.sparse_from_logits(y_pred, labels, spec)
    elif from_logits and keras.backend.backend() == "torch":
        values = _closed_form.from_logits_eager(y_pred, spec, labels, targets)
    elif from_logits:
        values = _closed_form.from_logits(y_pred, spec, labels, targets)
    else:
        values = _closed_form.from_probabilities(
            y_pred, spec, labels, targets, clip=keras.config.epsilon()
        )
    if inputs.valid is not None:
        values = ops.where(inputs.valid, values, ops.zeros_like(values))
    return values


# The options of `LabelSmoothingCrossentropy` that its function takes as
# they are.
_FUNCTION_OPTIONS = (
    "from_logits",
    "sparse",
    "convention",
    "prior",
    "ignore_class",
    "axis",
)


@keras_ls_export(
    "keras_ls.losses.LabelSmoothingCrossentropy",
    "keras_ls.LabelSmoothingCrossentropy",
)
class LabelSmoothingCrossentropy(SmoothingLoss):
    """Cross-entropy with label smoothing whose ε can change during training.

    loss = (1 - ε)·(lse - z_y) + ε·(lse - Σ_k u_k·z_k), with lse the
    logsumexp of the logits z and u the smoothing distribution. With
    `convention="uniform"` the target is (1 - ε)·y + ε/K, exactly
    `keras.losses.CategoricalCrossentropy(label_smoothing=ε)` and PyTorch's
    `CrossEntropyLoss(label_smoothing=ε)`. With `convention="others"` the
    true class keeps 1 - ε and each other class gets ε/(K - 1) (fairseq);
    ε_others = ε_uniform·(K - 1)/K gives the same targets.

    ε lives in `label_smoothing_variable`, a float32 non-trainable
    `keras.Variable`; `loss.label_smoothing` reads it as a float and
    assigning to it validates and assigns the variable. The lowest reachable
    value is `minimum_loss(ε, K)`, the entropy of the smoothed target.

    Args:
        label_smoothing: ε in [0, 1). Defaults to `0.1`.
        from_logits: Whether `y_pred` holds logits (the usual Keras model
            ends in softmax: then remove the activation, or pass `False`);
            probabilities are renormalised and clipped to [1e-7, 1 - 1e-7]
            like Keras. Defaults to `True`.
        sparse: `True` for integer class ids shaped like `y_pred` without
            its class axis, `False` for one-hot or soft targets, `None` to
            infer from rank and dtype. Integer ids are never cast to a float
            dtype. Defaults to `None`.
        convention: `"uniform"` or `"others"`. Defaults to `"uniform"`.
        prior: Optional length-K probability vector replacing the uniform
            distribution, e.g. class frequencies. Defaults to `None`.
        ignore_class: Optional class id (sparse labels) whose positions
            contribute 0 and are left out of the mean; may lie outside
            [0, K), e.g. -100. Defaults to `None`.
        axis: The class axis of `y_pred`, e.g. `1` for PyTorch-style
            channel-first outputs; dense `y_true` has `y_pred`'s layout,
            class ids lack that axis (or have a 1 there). Defaults to `-1`.
        reduction: One of `"sum_over_batch_size"`, `"sum"`, `"mean"`,
            `"mean_with_sample_weight"`, `"none"` or `None`, as in Keras.
            Defaults to `"sum_over_batch_size"`.
        name: Name of the loss. Defaults to
            `"label_smoothing_crossentropy"`.
        dtype: Dtype of the returned value; accumulation is always float32.
            Defaults to `None` (float32).
        check_logits: With `from_logits=True`, whether to check that
            `y_pred` are not probabilities: an error before the first step
            when the model ends in softmax or sigmoid and Keras' own steps
            pass its output to the loss, a warning when concrete values
            look like probabilities (see docs/schedules.md for what the
            check sees). Pass `False` when a custom `compute_loss` or
            `train_step` turns such outputs into logits. Defaults to
            `True`.

    Standalone usage:

    >>> import numpy as np
    >>> import keras_ls
    >>> loss = keras_ls.LabelSmoothingCrossentropy(0.1)
    >>> round(float(loss(np.array([0, 1]),
    ...                  np.array([[2.0, 0.0], [0.0, 2.0]]))), 4)
    0.2269
    >>> loss.label_smoothing = 0.0
    >>> round(float(loss(np.array([0]), np.array([[2.0, 0.0]]))), 4)
    0.1269

    Usage with the `compile()` API:

    ```python
    loss = keras_ls.LabelSmoothingCrossentropy(0.1)
    model.compile(optimizer="adam", loss=loss, jit_compile=True)
    model.fit(x, y, epochs=5)
    loss.label_smoothing = 0.0  # reaches the compiled step, no retrace
    model.fit(x, y, epochs=5)
    ```

    The loss makes ε part of the model's state the first time the model's
    step calls it, so an assigned ε (between fits, or from a callback)
    reaches compiled train and test steps on every backend; see
    `keras_ls.track_label_smoothing`.

    Raises:
        ValueError: For an invalid option (`convention="others"` with a
            `prior` included); for `y_true` that does not fit `y_pred`;
            for a class id outside [0, K) that is not `ignore_class`, where
            values are concrete (compiled steps clip it into [0, K));
            and, with `from_logits=True`, when the model that trains or
            evaluates with this loss ends in softmax or sigmoid (raised
            before the first step). Probabilities passed as logits where
            values are visible (eager or standalone calls) give a
            `UserWarning` instead, once.

    References:
        - Szegedy et al., 2016. Rethinking the Inception Architecture for
          Computer Vision. CVPR. https://arxiv.org/abs/1512.00567
        - Müller, Kornblith and Hinton, 2019. When Does Label Smoothing
          Help? NeurIPS. https://arxiv.org/abs/1906.02629
    """

    def __init__(
        self,
        label_smoothing=0.1,
        *,
        from_logits=True,
        sparse=None,
        convention="uniform",
        prior=None,
        ignore_class=None,
        axis=-1,
        reduction="sum_over_batch_size",
        name="label_smoothing_crossentropy",
        dtype=None,
        check_logits=True,
    ):
        _check_prior_convention(convention, prior)
        if ignore_class is not None:
            _validation.check_int(ignore_class, "ignore_class")
        prior = None if prior is None else _validation.check_prior(prior)
        super().__init__(**base_options(locals()))
        self.convention = convention
        self.prior = None if prior is None else list(prior)
        self.ignore_class = None if ignore_class is None else int(ignore_class)

    def call(self, y_true, y_pred):
        return label_smoothing_crossentropy(
            y_true,
            y_pred,
            self.label_smoothing_variable,
            **{name: getattr(self, name) for name in _FUNCTION_OPTIONS},
        )

    def _ignored_positions_mask(self, y_true, values):
        # Ignored positions are excluded from the mean, as in Keras'
        # SparseCategoricalCrossentropy(ignore_class=...).
        if self.ignore_class is None:
            return None
        labels = ops.convert_to_tensor(y_true)
        if len(labels.shape) == len(values.shape) + 1:
            # Ids shaped like y_pred, with a 1 on its class axis.
            labels = ops.squeeze(labels, axis=self.axis)
        return not_ignored(labels, self.ignore_class)


def _same_shape_targets(targets, logits):
    """`targets` shaped like `logits`, or a ValueError naming both shapes.

    As Keras' BinaryCrossentropy, a trailing 1 is added or removed to match
    ranks, and nothing else: broadcasting (3, 1) labels against (3, 3)
    outputs would silently score every label against every output.
    """
    true_shape, pred_shape = tuple(targets.shape), tuple(logits.shape)
    if len(true_shape) == len(pred_shape) - 1 and pred_shape[-1] in (1, None):
        targets = ops.expand_dims(targets, -1)
    elif len(true_shape) == len(pred_shape) + 1 and true_shape[-1] == 1:
        targets = ops.squeeze(targets, -1)
    shape = tuple(targets.shape)
    if len(shape) != len(pred_shape) or any(
        a is not None and b is not None and a != b
        for a, b in zip(shape, pred_shape)
    ):
        raise ValueError(
            "`y_true` and `y_pred` must have the same shape (up to a "
            f"trailing 1). Received: y_true.shape={true_shape}, "
            f"y_pred.shape={pred_shape}"
        )
    return targets


@keras_ls_export("keras_ls.losses.binary_label_smoothing_crossentropy")
def binary_label_smoothing_crossentropy(
    y_true, y_pred, label_smoothing=0.1, *, from_logits=True, axis=-1
):
    """Per-example binary cross-entropy with targets smoothed toward 0.5.

    target = y·(1 - ε) + ε/2 (Keras' convention), averaged over `axis`.

    Args:
        y_true: Binary or soft targets shaped like `y_pred` (a trailing 1
            may be added or missing, nothing else is broadcast).
        y_pred: Logits (or probabilities with `from_logits=False`).
        label_smoothing: ε in [0, 1): a float, tensor or `keras.Variable`.
            Defaults to `0.1`.
        from_logits: Whether `y_pred` holds logits. Defaults to `True`.
        axis: Axis to average over. Defaults to `-1`.

    Returns:
        A float32 tensor with `axis` reduced.

    Raises:
        ValueError: When `y_true` and `y_pred` differ in shape beyond a
            trailing 1, or ε is outside [0, 1).

    Examples:

    >>> import keras
    >>> import numpy as np
    >>> import keras_ls
    >>> values = keras_ls.losses.binary_label_smoothing_crossentropy(
    ...     np.array([[1.0, 0.0]]), np.array([[2.0, -2.0]]), 0.0)
    >>> [round(float(v), 4) for v in keras.ops.convert_to_numpy(values)]
    [0.1269]
    """
    eps = epsilon_tensor(label_smoothing, y_pred)
    y_pred = ops.convert_to_tensor(y_pred)
    logits = ops.cast(y_pred, F32)
    targets = ops.cast(ops.convert_to_tensor(y_true), F32)
    targets = _same_shape_targets(targets, logits)
    targets = targets * (1.0 - eps) + 0.5 * eps
    if from_logits:
        # max(z, 0) - z·t + log(1 + exp(-|z|)): stable for any |z|.
        values = (
            ops.relu(logits)
            - logits * targets
            + ops.log1p(ops.exp(-ops.abs(logits)))
        )
    else:
        eps_clip = keras.config.epsilon()
        probs = ops.clip(logits, eps_clip, 1.0 - eps_clip)
        values = -(
            targets * ops.log(probs) + (1.0 - targets) * ops.log1p(-probs)
        )
    return ops.mean(values, axis=axis)


@keras_ls_export(
    "keras_ls.losses.BinaryLabelSmoothingCrossentropy",
    "keras_ls.BinaryLabelSmoothingCrossentropy",
)
class BinaryLabelSmoothingCrossentropy(SmoothingLoss):
    """Binary cross-entropy with label smoothing and a variable-backed ε.

    target = y·(1 - ε) + ε/2, as `keras.losses.BinaryCrossentropy`, for
    sigmoid and multi-label outputs, with ε in `label_smoothing_variable`.

    Args:
        label_smoothing: ε in [0, 1). Defaults to `0.1`.
        from_logits: Whether `y_pred` holds logits rather than sigmoid
            outputs. Defaults to `True`.
        axis: Axis to average over. Defaults to `-1`.
        reduction: As in Keras. Defaults to `"sum_over_batch_size"`.
        name: Name of the loss. Defaults to
            `"binary_label_smoothing_crossentropy"`.
        dtype: Dtype of the returned value; accumulation is float32.
            Defaults to `None` (float32).
        check_logits: With `from_logits=True`, whether to check that
            `y_pred` are not sigmoid outputs (as in
            `LabelSmoothingCrossentropy`). Defaults to `True`.

    Standalone usage:

    >>> import numpy as np
    >>> import keras_ls
    >>> loss = keras_ls.BinaryLabelSmoothingCrossentropy(0.2)
    >>> round(float(loss(np.array([[1.0]]), np.array([[0.0]]))), 4)
    0.6931

    Usage with the `compile()` API:

    ```python
    model.compile(
        optimizer="adam",
        loss=keras_ls.BinaryLabelSmoothingCrossentropy(0.1),
    )
    ```

    Raises:
        ValueError: When `y_true` and `y_pred` differ in shape beyond a
            trailing 1 (Keras' rule: nothing is broadcast), and, with
            `from_logits=True`, when the model ends in sigmoid or softmax
            (before the first step; values that look like probabilities in
            an eager or standalone call warn once instead).

    References:
        - Müller, Kornblith and Hinton, 2019. When Does Label Smoothing
          Help? NeurIPS. https://arxiv.org/abs/1906.02629 (the binary
          target is that of `keras.losses.BinaryCrossentropy`'s
          `label_smoothing`, after Szegedy et al., 2016).
    """

    def __init__(
        self,
        label_smoothing=0.1,
        *,
        from_logits=True,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_label_smoothing_crossentropy",
        dtype=None,
        check_logits=True,
    ):
        super().__init__(**base_options(locals()))

    _binary = True

    def call(self, y_true, y_pred):
        return binary_label_smoothing_crossentropy(
            y_true,
            y_pred,
            self.label_smoothing_variable,
            from_logits=self.from_logits,
            axis=self.axis,
        )


__all__ = public_names(__name__)
