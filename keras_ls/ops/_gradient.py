"""One custom gradient per backend around the fused passes.

`fused(h, w, b, labels, eps, prior, cfg)` returns per-token float32
(loss, nll, correct); only `loss` is differentiable (for `h`, `w` and
`b`). The forward pass keeps lse (N floats) and nothing of the logits;
the backward pass takes one upstream gradient per token, so every Keras
reduction, `"none"` with any upstream included, and a loss scale applied
by `mixed_float16` reach the logit gradient before its cast to a 16-bit
dtype.

Each backend uses its own mechanism rather than `keras.ops.custom_gradient`,
whose TensorFlow form refuses variables read inside it and whose PyTorch
form takes one upstream gradient and no extra outputs:
`jax.custom_vjp`, `tf.custom_gradient` (on tensors read from any variable
first) and a `torch.autograd.Function`.
"""

import functools

import keras
from keras import ops

from keras_ls.ops import _passes


def fused(h, w, b, labels, eps, prior, cfg):
    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_fused(h, w, b, labels, eps, prior, cfg)
    if backend == "tensorflow":
        return _tf_fused(h, w, b, labels, eps, prior, cfg)
    return _torch_fused(h, w, b, labels, eps, prior, cfg)


# -- JAX ---------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _jax_function():
    import jax

    @functools.partial(jax.custom_vjp, nondiff_argnums=(6,))
    def run(h, w, b, labels, eps, prior, cfg):
        loss, _, nll, correct = _passes.forward(
            h, w, b, labels, eps, prior, cfg
        )
        return loss, nll, correct

    def fwd(h, w, b, labels, eps, prior, cfg):
        loss, lse, nll, correct = _passes.forward(
            h, w, b, labels, eps, prior, cfg
        )
        return (loss, nll, correct), (h, w, b, labels, eps, prior, lse)

    def bwd(cfg, residuals, cotangents):
        h, w, b, labels, eps, prior, lse = residuals
        dh, dw, db = _passes.backward(
            h, w, b, labels, eps, prior, lse, cotangents[0], cfg
        )
        return (
            dh,
            dw,
            db,
            None,
            ops.zeros_like(eps),
            None if prior is None else ops.zeros_like(prior),
        )

    run.defvjp(fwd, bwd)
    # One compiled program per configuration also in eager calls (inside
    # a traced step the jit is inlined): op-by-op dispatch of the loops
    # would compile each of their ops separately.
    return jax.jit(run, static_argnums=(6,))


def _jax_fused(h, w, b, labels, eps, prior, cfg):
    return _jax_function()(h, w, b, labels, eps, prior, cfg)


# -- TensorFlow --------------------------------------------------------------


def _tf_fused(h, w, b, labels, eps, prior, cfg):
    import tensorflow as tf

    def read(x):
        # A tensor, never a variable: `tf.custom_gradient` refuses a
        # trainable variable read inside it.
        return None if x is None else tf.identity(tf.convert_to_tensor(x))

    h, w, b, eps = read(h), read(w), read(b), read(eps)
    labels, prior = read(labels), read(prior)

    def body(h, w, b, eps):
        loss, lse, nll, correct = _passes.forward(
            h, w, b, labels, eps, prior, cfg
        )

        def grad(d_loss, *_):
            dh, dw, db = _passes.backward(
                h, w, b, labels, eps, prior, lse, d_loss, cfg
            )
            grads = [dh, dw] + ([] if b is None else [db])
            return (*grads, tf.zeros_like(eps))

        return (loss, nll, correct), grad

    if b is None:

        @tf.custom_gradient
        def run(h, w, eps):
            return body(h, w, None, eps)

        return run(h, w, eps)

    @tf.custom_gradient
    def run_bias(h, w, b, eps):
        return body(h, w, b, eps)

    return run_bias(h, w, b, eps)


# -- PyTorch -----------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _torch_function():
    import torch

    class FusedLinearCrossentropy(torch.autograd.Function):
        @staticmethod
        def forward(ctx, h, w, b, labels, eps, prior, cfg):
            loss, lse, nll, correct = _passes.forward(
                h, w, b, labels, eps, prior, cfg
            )
            ctx.save_for_backward(h, w, b, labels, eps, prior, lse)
            ctx.cfg = cfg
            ctx.mark_non_differentiable(nll, correct)
            return loss, nll, correct

        @staticmethod
        def backward(ctx, d_loss, *_):
            h, w, b, labels, eps, prior, lse = ctx.saved_tensors
            with torch.no_grad():
                dh, dw, db = _passes.backward(
                    h, w, b, labels, eps, prior, lse, d_loss, ctx.cfg
                )
            return dh, dw, db, None, None, None, None

    return FusedLinearCrossentropy


def _torch_fused(h, w, b, labels, eps, prior, cfg):
    return _torch_function().apply(h, w, b, labels, eps, prior, cfg)
