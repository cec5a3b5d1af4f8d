"""The smoothed cross-entropy of a model's output layer, fused into the loss.

`LinearLabelSmoothingCrossentropy` takes hidden states as `y_pred` and
reads its output projection from a layer (`from_embedding`), so a language
model's (tokens × vocabulary) logits are never built; the math is
`keras_ls.ops.linear_label_smoothing_crossentropy`.
"""

import keras
from keras import ops

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._tracking import state as _state
from keras_ls.losses import _head_routing
from keras_ls.losses._base import SmoothingLoss
from keras_ls.losses._base import not_ignored
from keras_ls.losses._reduction import match_rank
from keras_ls.losses.crossentropy import label_smoothing_crossentropy
from keras_ls.ops import linear_crossentropy


def _check_layer(layer):
    """Refuses a layer whose float output weight the loss cannot read."""
    if not isinstance(layer, (keras.layers.Embedding, keras.layers.Dense)):
        raise ValueError(
            "`layer` must be an `Embedding`, a `ReversibleEmbedding` or a "
            f"`Dense` layer. Received: {type(layer).__name__} "
            f"{getattr(layer, 'name', '')!r}"
        )
    mode = getattr(layer, "quantization_mode", None) or getattr(
        getattr(layer, "dtype_policy", None), "quantization_mode", None
    )
    if mode:
        raise ValueError(
            "The fused head reads the float weight of its layer; a "
            f"quantized layer ({mode}) has none. Received: "
            f"{type(layer).__name__} {layer.name!r}"
        )
    activation = getattr(layer, "activation", None)
    if activation is not None and activation is not keras.activations.linear:
        raise ValueError(
            "The output layer must have no activation: the loss applies "
            f"the softmax. Received: activation={activation.__name__} on "
            f"{layer.name!r}"
        )


def _layer_head(layer):
    """(weight, layout, bias, soft cap) of an output layer, read now."""
    _check_layer(layer)
    if not layer.built:
        raise ValueError(
            f"The output layer {layer.name!r} is not built yet: call the "
            "model once (or build it) before the loss."
        )
    cap = getattr(layer, "logit_soft_cap", None)
    if isinstance(layer, keras.layers.Dense):
        bias = layer.bias if layer.use_bias else None
        return layer.kernel, "dv", bias, cap
    if not getattr(layer, "tie_weights", True):
        # keras-hub's and Keras' untied ReversibleEmbedding: (D, V).
        return layer.reverse_embeddings, "dv", None, cap
    return layer.embeddings, "vd", None, cap


# The loss's own options that the op takes as they are.
_OP_OPTIONS = ("convention", "prior", "ignore_class", "z_loss", "chunk_size")


@keras_ls_export("keras_ls.losses.FusedTokenMetric")
class FusedTokenMetric(keras.metrics.Metric):
    """A per-token mean that the fused loss accumulates in its own pass.

    `SparseCategoricalAccuracy` cannot see logits that are never built, so
    `LinearLabelSmoothingCrossentropy` adds each step's unsmoothed NLL
    (`kind="nll"`) or arg-max hits (`kind="accuracy"`) here; Keras'
    `update_state` call does nothing. Pass the loss's
    `fused_metrics()` to `compile(metrics=...)`: as model metrics their
    variables are state of compiled steps on every backend.
    """

    def __init__(self, kind="accuracy", name=None, dtype=None):
        _validation.check_choice(kind, "kind", ("accuracy", "nll"))
        super().__init__(name=name or f"token_{kind}", dtype=dtype)
        self.kind = kind
        self.total = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="total"
        )
        self.count = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="count"
        )

    def update_state(self, *args, **kwargs):
        pass  # the loss adds to the sums (`accumulate`)

    def accumulate(self, values, weights):
        self.total.assign_add(ops.sum(values * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


@keras_ls_export("keras_ls.losses.LinearLabelSmoothingCrossentropy")
class LinearLabelSmoothingCrossentropy(SmoothingLoss):
    """Label-smoothed cross-entropy of a linear output layer, fused.

    loss = lse(z) - (1 - ε)·z_y - ε·Σ_v u_v·z_v with z = y_pred @ Wᵀ (+ b):
    `y_pred` holds the hidden states (..., D) that enter the output layer
    `head`, whose weight W is read at each call, and the logits are never
    built (see `keras_ls.ops.linear_label_smoothing_crossentropy`). ε lives
    in `label_smoothing_variable`, as for `LabelSmoothingCrossentropy`, so
    `LabelSmoothingScheduler` drives it.

    Args:
        label_smoothing: ε in [0, 1). Defaults to `0.1`.
        convention: `"uniform"` or `"others"`. Defaults to `"uniform"`.
        prior: Optional length-V probability vector replacing the uniform
            distribution. Defaults to `None`.
        ignore_class: Optional class id (a padding token) left out of the
            loss and of the mean. Defaults to `None`.
        z_loss: Weight of the z-loss lse(z)². Defaults to `0.0`.
        logit_soft_cap: Optional soft cap; `None` takes the head layer's
            `logit_soft_cap` where it has one. Defaults to `None`.
        chunk_size: Tokens per chunk, or a pair (tokens, classes).
            Defaults to `None`: (1024, 4096).
        reduction: As in Keras, plus `"mean_with_sample_weight"`. Defaults
            to `"sum_over_batch_size"`.
        name: Defaults to `"linear_label_smoothing_crossentropy"`.
        dtype: Dtype of the returned value. Defaults to `None` (float32).

    Standalone usage:

    >>> import keras
    >>> import numpy as np
    >>> import keras_ls
    >>> head = keras.layers.Dense(5, use_bias=False)
    >>> head.build((None, 3))
    >>> loss = keras_ls.losses.LinearLabelSmoothingCrossentropy.from_embedding(
    ...     head, label_smoothing=0.1)
    >>> hidden = np.zeros((2, 3), "float32")  # all logits 0: loss = log 5
    >>> round(float(loss(np.array([0, 4]), hidden)), 4)
    1.6094

    Usage with the `compile()` API, where the model outputs the hidden
    states and owns the head layer:

    ```python
    loss = LinearLabelSmoothingCrossentropy.from_embedding(model.head)
    model.compile(optimizer="adam", loss=loss)
    ```

    Raises:
        ValueError: For an invalid option, a head layer that is neither
            an `Embedding`, a `ReversibleEmbedding` nor a `Dense` layer
            (or is quantized, or has an activation), and for inputs that
            do not fit the head (see the op).
    """

    def __init__(
        self,
        label_smoothing=0.1,
        *,
        convention="uniform",
        prior=None,
        ignore_class=None,
        z_loss=0.0,
        logit_soft_cap=None,
        chunk_size=None,
        reduction="sum_over_batch_size",
        name="linear_label_smoothing_crossentropy",
        dtype=None,
    ):
        _validation.check_choice(
            convention, "convention", linear_crossentropy.CONVENTIONS
        )
        if ignore_class is not None:
            ignore_class = _validation.check_int(ignore_class, "ignore_class")
        super().__init__(
            label_smoothing=label_smoothing,
            reduction=reduction,
            name=name,
            dtype=dtype,
            check_logits=False,
        )
        self.convention = convention
        self.prior = None if prior is None else list(prior)
        self.ignore_class = ignore_class
        self.z_loss = float(z_loss)
        self.logit_soft_cap = logit_soft_cap
        self.chunk_size = chunk_size
        self.head = None
        self._token_metrics = None
        self._stats = None

    def fused_metrics(self):
        """`[token_accuracy, token_nll]`: Keras metrics this loss fills
        from its own pass (the unsmoothed NLL, and whether the arg-max
        logit is the label), for `compile(metrics=...)`."""
        if self._token_metrics is None:
            self._token_metrics = [
                FusedTokenMetric("accuracy"),
                FusedTokenMetric("nll"),
            ]
        return list(self._token_metrics)

    @classmethod
    def from_embedding(cls, layer, **kwargs):
        """The loss of `layer`'s logits: an `Embedding` or a tied
        `ReversibleEmbedding` (weight (V, D)), an untied one (its
        `reverse_embeddings`, (D, V)) or a `Dense` layer (kernel and bias).
        The layer's `logit_soft_cap`, where it has one, applies unless
        `logit_soft_cap` is given."""
        _check_layer(layer)
        loss = cls(**kwargs)
        loss.head = layer
        return loss

    def call(self, y_true, y_pred):
        if self.head is None:
            raise ValueError(
                "LinearLabelSmoothingCrossentropy needs its output layer: "
                "build it with `from_embedding(layer)` or set `loss.head`."
            )
        weight, layout, bias, cap = _layer_head(self.head)
        width, classes = weight.shape[::-1] if layout == "vd" else weight.shape
        if y_pred.shape[-1] == classes and classes != width:
            # The model hands us the head's logits: correct, from dense
            # logits, this once; its later steps stop at the head's input.
            model = _state.calling_model()
            if model is not None:
                _head_routing.route(model, self.head, y_pred)
            return self._dense_values(y_true, y_pred, cap)
        if self.logit_soft_cap is not None:
            cap = self.logit_soft_cap
        values, nll, correct, _ = linear_crossentropy.fused_values(
            y_pred,
            weight,
            y_true,
            self.label_smoothing_variable,
            weight_layout=layout,
            bias=bias,
            logit_soft_cap=cap,
            **{name: getattr(self, name) for name in _OP_OPTIONS},
        )
        self._stats = (correct, nll)
        return values

    def _dense_values(self, y_true, logits, layer_cap):
        """The same per-token values from logits the model already built
        (the layer applied its own soft cap)."""
        z = ops.cast(logits, "float32")
        if self.logit_soft_cap is not None and layer_cap is None:
            z = self.logit_soft_cap * ops.tanh(z / self.logit_soft_cap)
        values = label_smoothing_crossentropy(
            y_true,
            z,
            self.label_smoothing_variable,
            convention=self.convention,
            prior=self.prior,
            ignore_class=self.ignore_class,
        )
        labels = ops.cast(y_true, "int32")
        valid = None
        if self.ignore_class is not None:
            valid = ops.cast(
                ops.not_equal(labels, self.ignore_class), "float32"
            )
            labels = ops.where(valid > 0, labels, 0)
        lse = ops.logsumexp(z, axis=-1)
        z_y = ops.squeeze(
            ops.take_along_axis(z, ops.expand_dims(labels, -1), axis=-1), -1
        )
        correct = ops.cast(z_y >= ops.max(z, axis=-1), "float32")
        extra = self.z_loss * ops.square(lse) if self.z_loss else 0.0
        if valid is not None:
            extra = extra * valid
        self._stats = (correct, lse - z_y)
        return values + extra

    def _accumulate(self, inputs, values, sample_weight, mask):
        stats, self._stats = self._stats, None
        if self._token_metrics is None or stats is None:
            return
        weights = ops.ones_like(values)
        if sample_weight is not None:
            weights = weights * match_rank(
                values, ops.cast(sample_weight, "float32")
            )
        if mask is not None:
            weights = weights * match_rank(values, ops.cast(mask, "float32"))
        for metric, value in zip(self._token_metrics, stats):
            metric.accumulate(ops.stop_gradient(value), weights)

    def _ignored_positions_mask(self, y_true, values):
        if self.ignore_class is None:
            return None
        return not_ignored(ops.convert_to_tensor(y_true), self.ignore_class)
