"""Masks and reductions for keras_ls losses, as Keras' own losses do them.

Keras' ``Loss.__call__`` casts ``y_true`` to the loss dtype, which would turn
integer label 997 into 996 under bfloat16. keras_ls losses therefore own
their ``__call__``, and this module reproduces the rest of Keras' semantics
with public API only: the Keras mask attached to ``y_pred`` (read through a
layer's automatic ``mask`` argument), ``sample_weight`` broadcasting and every
reduction, including the per-replica scaling under ``tf.distribute``.
"""

import math

import keras
from keras import ops

REDUCTIONS = (
    "sum_over_batch_size",
    "sum",
    "mean",
    "mean_with_sample_weight",
    "none",
    None,
)


class _MaskReader(keras.layers.Layer):
    """Returns its input unchanged and records the Keras mask it carried."""

    def __init__(self):
        super().__init__(autocast=False, name="keras_ls_mask_reader")
        self.supports_masking = True
        self.seen_mask = None

    def call(self, inputs, mask=None):
        self.seen_mask = mask
        return inputs


_reader = None


def keras_mask_of(x):
    """The Keras mask attached to tensor `x`, or None."""
    global _reader
    if not hasattr(x, "shape") or isinstance(x, keras.KerasTensor):
        return None
    # Keras keeps the mask in the tensor's `_keras_mask` attribute (the
    # name its masking guide prints) wherever the tensor type accepts
    # attributes, as every torch.Tensor does. Reading it is exactly what
    # the layer below sees, without a layer call per step: on eager
    # PyTorch that call cost more than the whole loss (perf_G2 notes).
    # Elsewhere (JAX arrays keep masks in a side table) the layer reads it;
    # there it runs once per trace, not per step.
    mask = getattr(x, "_keras_mask", None)
    if mask is not None or keras.backend.backend() == "torch":
        return mask
    if _reader is None:
        _reader = _MaskReader()
    _reader.seen_mask = None
    _reader(x)
    mask, _reader.seen_mask = _reader.seen_mask, None
    return mask


def match_rank(values, weights):
    """Squeezes or expands a trailing 1 so `weights` broadcasts to `values`."""
    v_rank, w_rank = len(values.shape), len(weights.shape)
    if w_rank == v_rank + 1 and weights.shape[-1] == 1:
        weights = ops.squeeze(weights, axis=-1)
    elif v_rank == w_rank + 1 and values.shape[-1] == 1:
        weights = ops.expand_dims(weights, axis=-1)
    return weights


def _num_elements(x, dtype):
    """The number of elements of `x`: a Python int where the shape is
    static (no ops on an eager step), else a `dtype` tensor."""
    shape = tuple(x.shape)
    if all(isinstance(d, int) for d in shape):
        return math.prod(shape)
    return ops.cast(ops.prod(ops.convert_to_tensor(ops.shape(x))), dtype)


def _divide_no_nan(total, divisor):
    if isinstance(divisor, int):
        # A static count: 0 only for an empty batch, whose total is 0.
        return total / divisor if divisor else total * 0.0
    return ops.divide_no_nan(total, divisor)


def _scale_for_replicas(value):
    # Keras divides a reduced loss by the number of replicas under
    # tf.distribute, because gradients are summed across replicas.
    if keras.backend.backend() != "tensorflow":
        return value
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:
        value = value * (1.0 / replicas)
    return value


def reduce_weighted(
    values, sample_weight=None, mask=None, reduction="sum_over_batch_size"
):
    """Weights, masks and reduces per-position float32 loss `values`.

    Matches ``keras.losses.Loss``: masked positions are left out of the
    mean, ``"mean_with_sample_weight"`` divides by the sum of the weights,
    and ``None``/``"none"`` returns the weighted per-position values.
    """
    dtype = values.dtype
    weights = None
    if sample_weight is not None:
        weights = match_rank(values, ops.cast(sample_weight, dtype))
    if mask is not None:
        mask = ops.cast(mask, "bool")
        if reduction in ("mean", "sum_over_batch_size"):
            valid = ops.sum(ops.cast(mask, dtype))
            count = _num_elements(mask, dtype)
            if isinstance(count, int):
                count = ops.convert_to_tensor(float(count), dtype)
            scale = ops.divide_no_nan(count, valid)
            float_mask = ops.where(mask, scale, ops.zeros_like(scale))
        else:
            float_mask = ops.cast(mask, dtype)
        float_mask = match_rank(values, float_mask)
        weights = float_mask if weights is None else weights * float_mask
    if weights is not None:
        values = values * weights
    if reduction in (None, "none") or len(values.shape) == 0:
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weights is not None:
        divisor = ops.sum(weights)
    else:
        divisor = _num_elements(values, dtype)
    return _scale_for_replicas(_divide_no_nan(total, divisor))
