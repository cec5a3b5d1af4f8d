"""A linear layer and the smoothed cross-entropy, without the logits.

`linear_label_smoothing_crossentropy(hidden, weight, labels, ε)` is the
loss of the logits `hidden @ weightᵀ (+ bias)` under label smoothing,
computed tile by tile (`_tiles`, `_passes`) with one custom gradient per
backend (`_gradient`): no (tokens, vocabulary) tensor is ever built, in
the forward or the backward pass.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls.losses._base import _class_ids
from keras_ls.losses._base import epsilon_tensor
from keras_ls.losses._base import not_ignored
from keras_ls.losses._reduction import REDUCTIONS
from keras_ls.losses._reduction import reduce_weighted
from keras_ls.ops import _gradient
from keras_ls.ops._tiles import Config

F32 = "float32"
LAYOUTS = ("vd", "dv")
CONVENTIONS = ("uniform", "others")
# Tokens × classes of one float32 tile: 4,096 × 1,024 · 4 B = 16 MiB.
DEFAULT_CHUNK = (1024, 4096)


def _chunks(chunk_size, n, v):
    if chunk_size is None:
        tokens, classes = DEFAULT_CHUNK
    elif isinstance(chunk_size, (tuple, list)):
        if len(chunk_size) != 2:
            raise ValueError(
                "`chunk_size` must be an integer (tokens per chunk) or a "
                "pair (tokens, classes). Received: "
                f"chunk_size={chunk_size!r}"
            )
        tokens = _validation.check_int(chunk_size[0], "chunk_size", 1)
        classes = _validation.check_int(chunk_size[1], "chunk_size", 1)
    else:
        tokens = _validation.check_int(chunk_size, "chunk_size", 1)
        classes = DEFAULT_CHUNK[1]
    return min(tokens, n), min(classes, v)


def _shapes(hidden, weight, layout, bias):
    """(D, V) after checking that hidden, weight and bias agree."""
    if len(hidden.shape) < 1 or len(weight.shape) != 2:
        raise ValueError(
            "`hidden` must be (..., D) and `weight` 2-D. Received: "
            f"hidden.shape={tuple(hidden.shape)}, "
            f"weight.shape={tuple(weight.shape)}"
        )
    d = hidden.shape[-1]
    v, d_w = weight.shape if layout == "vd" else weight.shape[::-1]
    if d != d_w:
        expected = "(V, D)" if layout == "vd" else "(D, V)"
        raise ValueError(
            f'With weight_layout="{layout}", `weight` must be {expected} '
            f"with D = hidden.shape[-1] = {d}. Received: "
            f"hidden.shape={tuple(hidden.shape)}, "
            f"weight.shape={tuple(weight.shape)}"
        )
    if v < 2:
        raise ValueError(
            "`weight` must hold at least 2 classes. Received: "
            f"weight.shape={tuple(weight.shape)} with "
            f'weight_layout="{layout}"'
        )
    if bias is not None and tuple(bias.shape) != (v,):
        raise ValueError(
            f"`bias` must have shape ({v},), one entry per class. "
            f"Received: bias.shape={tuple(bias.shape)}"
        )
    return int(d), int(v)


def _labels(labels, hidden, v, ignore_class):
    labels = ops.convert_to_tensor(labels)
    dtype = keras.backend.standardize_dtype(labels.dtype)
    if "int" not in dtype:
        raise ValueError(
            "`labels` must hold integer class ids. Received: labels of "
            f"dtype {dtype}"
        )
    if tuple(labels.shape) != tuple(hidden.shape[:-1]):
        raise ValueError(
            "`labels` must have the shape of `hidden` without its last "
            f"axis, {tuple(hidden.shape[:-1])}. Received: "
            f"labels.shape={tuple(labels.shape)}"
        )
    valid = None
    if ignore_class is not None:
        valid = not_ignored(labels, ignore_class)
        labels = ops.where(valid, labels, ops.zeros_like(labels))
    return _class_ids(labels, v, ignore_class), valid


def _prior(prior, convention, v):
    if prior is None:
        return None
    if convention != "uniform":
        raise ValueError(
            '`prior` replaces the uniform distribution of convention="uniform"'
            f'. Received: convention="{convention}" with a prior'
        )
    prior = _validation.check_prior(prior)
    if len(prior) != v:
        raise ValueError(
            f"`prior` must have one entry per class ({v}). "
            f"Received: prior of length {len(prior)}"
        )
    return ops.convert_to_tensor(np.asarray(prior, np.float32))


def _tensor(x):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(x, (tf.Variable, keras.Variable)):
            return tf.convert_to_tensor(x)
    if isinstance(x, keras.Variable):
        return x.value
    return ops.convert_to_tensor(x)


def fused_values(
    hidden,
    weight,
    labels,
    label_smoothing=0.0,
    *,
    weight_layout="vd",
    bias=None,
    convention="uniform",
    prior=None,
    ignore_class=None,
    z_loss=0.0,
    logit_soft_cap=None,
    chunk_size=None,
):
    """Per-token (loss, nll, correct, valid), shaped like `labels`.

    `loss` is differentiable for `hidden`, `weight` and `bias`; `nll` (the
    unsmoothed cross-entropy) and `correct` (1.0 where the arg-max logit
    is the label) are for metrics; `valid` is the mask of the tokens that
    are not `ignore_class` (or `None`). See
    `linear_label_smoothing_crossentropy` for the arguments.
    """
    z_loss, logit_soft_cap, ignore_class = _check_options(
        weight_layout, convention, z_loss, logit_soft_cap, ignore_class
    )
    eps = epsilon_tensor(label_smoothing, hidden)
    hidden, weight = _tensor(hidden), _tensor(weight)
    bias = None if bias is None else _tensor(bias)
    if not keras.backend.is_float_dtype(hidden.dtype):
        raise ValueError(
            "`hidden` must be floating point. Received: hidden of dtype "
            f"{hidden.dtype}"
        )
    d, v = _shapes(hidden, weight, weight_layout, bias)
    prior = _prior(prior, convention, v)
    ids, valid = _labels(labels, hidden, v, ignore_class)
    dtype = hidden.dtype
    if weight.dtype != dtype:
        # The compute dtype is that of the hidden states, as a layer's
        # autocast makes it (a float32 weight under mixed_bfloat16).
        weight = ops.cast(weight, dtype)
    if bias is not None and bias.dtype != dtype:
        bias = ops.cast(bias, dtype)
    shape = tuple(ids.shape)
    options = (prior, convention, z_loss, logit_soft_cap, weight_layout)
    if None in shape:
        return _dynamic_tokens(
            hidden, weight, bias, ids, valid, eps, v, chunk_size, options
        )
    n = math.prod(shape)
    if n == 0:
        zeros = ops.zeros(shape, F32)
        return zeros, zeros, zeros, valid
    tokens, classes = _chunks(chunk_size, n, v)
    cfg = _config(n, v, tokens, classes, *options)
    h2 = ops.reshape(hidden, (n, d))
    flat = ops.reshape(ids, (n,))
    loss, nll, correct = _gradient.fused(
        h2, weight, bias, flat, eps, prior, cfg
    )
    outputs = [ops.reshape(x, shape) for x in (loss, nll, correct)]
    if valid is not None:
        outputs = [ops.where(valid, x, 0.0) for x in outputs]
    return (*outputs, valid)


def _check_options(weight_layout, convention, z_loss, cap, ignore_class):
    """The checked `(z_loss, logit_soft_cap, ignore_class)`."""
    _validation.check_choice(weight_layout, "weight_layout", LAYOUTS)
    _validation.check_choice(convention, "convention", CONVENTIONS)
    z_loss = _validation.check_number(z_loss, "z_loss", minimum=0.0)
    if cap is not None:
        cap = _validation.check_number(
            cap, "logit_soft_cap", minimum=0.0, exclusive_minimum=True
        )
    if ignore_class is not None:
        ignore_class = _validation.check_int(ignore_class, "ignore_class")
    return z_loss, cap, ignore_class


def _config(n, v, tokens, classes, prior, convention, z_loss, cap, layout):
    return Config(
        num_tokens=n,
        num_classes=v,
        token_chunk=tokens,
        class_chunk=classes,
        convention="prior" if prior is not None else convention,
        z_loss=z_loss,
        soft_cap=cap,
        layout=layout,
    )


def _dynamic_tokens(
    hidden, weight, bias, ids, valid, eps, v, chunk_size, options
):
    """The fused values where the number of tokens is only known when the
    step runs (a TensorFlow graph traced with a `None` batch size).

    One token chunk of zero rows is appended, so that the clamped last
    chunk never starts before the first token, and the loops run a
    dynamic number of times; the padded rows get no upstream gradient.
    """
    d = hidden.shape[-1]
    tokens, classes = _chunks(chunk_size, 2**62, v)
    h2 = ops.reshape(hidden, (-1, d))
    flat = ops.reshape(ids, (-1,))
    n = ops.shape(flat)[0]
    h2 = ops.concatenate([h2, ops.zeros((tokens, d), h2.dtype)], axis=0)
    flat = ops.concatenate([flat, ops.zeros((tokens,), flat.dtype)], axis=0)
    cfg = _config(None, v, tokens, classes, *options)
    loss, nll, correct = _gradient.fused(
        h2, weight, bias, flat, eps, options[0], cfg
    )
    outputs = [ops.reshape(x[:n], ops.shape(ids)) for x in (loss, nll, correct)]
    if valid is not None:
        outputs = [ops.where(valid, x, 0.0) for x in outputs]
    return (*outputs, valid)


@keras_ls_export("keras_ls.ops.linear_label_smoothing_crossentropy")
def linear_label_smoothing_crossentropy(
    hidden,
    weight,
    labels,
    label_smoothing=0.0,
    *,
    weight_layout="vd",
    bias=None,
    convention="uniform",
    prior=None,
    ignore_class=None,
    sample_weight=None,
    z_loss=0.0,
    logit_soft_cap=None,
    reduction="sum_over_batch_size",
    chunk_size=None,
):
    """Smoothed cross-entropy of `hidden @ weightᵀ`, never building logits.

    loss = lse(z) - (1 - ε)·z_y - ε·Σ_v u_v·z_v + z_loss·lse(z)², with
    z = hidden @ weightᵀ + bias (soft-capped to cap·tanh(z/cap) when
    `logit_soft_cap` is set) and u the smoothing distribution, as in
    `keras_ls.LabelSmoothingCrossentropy`. Tokens and classes are walked
    in chunks: at most one (tokens × classes) tile of float32 logits
    exists at a time, in the forward and in the backward pass, whose
    gradients for `hidden`, `weight` and `bias` are exact. At ε = 0 and
    without the extras it equals
    `keras.losses.SparseCategoricalCrossentropy(from_logits=True,
    ignore_class=…)` on the dense logits, for every reduction.

    Args:
        hidden: Hidden states (..., D), float.
        weight: The output projection: (V, D) with `weight_layout="vd"`
            (a tied embedding matrix), (D, V) with `"dv"` (a `Dense`
            kernel, keras-hub's untied `reverse_embeddings`). Never
            transposed or copied.
        labels: Integer class ids shaped like `hidden` without its last
            axis.
        label_smoothing: ε in [0, 1): a float, a scalar tensor or a
            `keras.Variable` (read inside compiled steps). Defaults to
            `0.0`.
        weight_layout: `"vd"` or `"dv"`. Defaults to `"vd"`.
        bias: Optional (V,) bias. Defaults to `None`.
        convention: `"uniform"` or `"others"`. Defaults to `"uniform"`.
        prior: Optional length-V probability vector replacing the uniform
            distribution. Defaults to `None`.
        ignore_class: Optional class id (e.g. a padding id, or -100) whose
            tokens contribute 0 and are left out of the mean. Defaults to
            `None`.
        sample_weight: Optional weights shaped like `labels` (or
            broadcastable to it). Defaults to `None`.
        z_loss: Weight of the z-loss lse(z)² (PaLM). Defaults to `0.0`.
        logit_soft_cap: Optional cap c: logits become c·tanh(z/c) (Gemma
            2 uses 30). Defaults to `None`.
        reduction: One of `"sum_over_batch_size"`, `"sum"`, `"mean"`,
            `"mean_with_sample_weight"` (the mean over real tokens), or
            `"none"`/`None`, as in Keras. Defaults to
            `"sum_over_batch_size"`.
        chunk_size: Tokens per chunk, or a pair (tokens, classes).
            Defaults to `None`: (1024, 4096).

    Returns:
        A float32 scalar, or float32 values shaped like `labels` for
        `reduction="none"`.

    Raises:
        ValueError: When `hidden`, `weight`, `bias`, `weight_layout` or
            `prior` do not fit together; for labels that are not integers
            or not shaped like `hidden[..., 0]`; where values are concrete,
            for a class id outside [0, V) that is not `ignore_class`
            (compiled steps clip it, as `LabelSmoothingCrossentropy`
            does); and for an invalid option.

    Examples:

    >>> import numpy as np
    >>> import keras_ls
    >>> hidden = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    >>> weight = np.array([[2.0, 0.0], [0.0, 2.0]], "float32")  # (V, D)
    >>> loss = keras_ls.ops.linear_label_smoothing_crossentropy(
    ...     hidden, weight, np.array([0, 1]), 0.1)
    >>> round(float(loss), 4)
    0.2269
    """
    _validation.check_choice(reduction, "reduction", REDUCTIONS)
    values, _, _, valid = fused_values(
        hidden,
        weight,
        labels,
        label_smoothing,
        weight_layout=weight_layout,
        bias=bias,
        convention=convention,
        prior=prior,
        ignore_class=ignore_class,
        z_loss=z_loss,
        logit_soft_cap=logit_soft_cap,
        chunk_size=chunk_size,
    )
    return reduce_weighted(
        values, sample_weight, mask=valid, reduction=reduction
    )
