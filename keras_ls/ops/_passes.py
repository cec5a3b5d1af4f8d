"""The forward and backward passes of the fused head, over tiles.

Both passes are written once in `keras.ops` and run their chunk loops
through `fori`: `jax.lax.fori_loop` on JAX, a `tf.while_loop` with
`parallel_iterations=1` on TensorFlow (its default of 10 would keep ten
tiles of logits alive at once), a Python loop on PyTorch.

- forward: token chunks outside, vocabulary chunks inside (an online
  logsumexp); it returns per-token loss, lse, unsmoothed NLL and whether
  the arg-max is the label, and keeps only lse for the backward pass.
- backward: vocabulary chunks outside, token chunks inside. Each tile's
  logits are recomputed once; its logit gradient, scaled by the upstream
  gradient of each token, feeds the hidden gradient (a float32 (N, D)
  accumulator), one vocabulary chunk's weight gradient (a float32
  (chunk, D) accumulator, written into the weight-dtype output when the
  chunk is done) and the bias gradient. No float32 (V, D) temporary
  exists unless the weight itself is float32, where it is the output.
"""

import keras
import numpy as np
from keras import ops

from keras_ls.ops import _tiles

F32 = "float32"


def fori(n, body, carry):
    """`carry = body(i, carry)` for i in [0, n), a tuple carry."""
    backend = keras.backend.backend()
    if isinstance(n, int) and n == 1:
        return body(ops.convert_to_tensor(0, "int32"), carry)
    if backend == "jax":
        import jax

        return jax.lax.fori_loop(0, n, body, carry)
    if backend == "tensorflow":
        import tensorflow as tf

        out = tf.while_loop(
            lambda i, *_: i < n,
            lambda i, *c: (i + 1, *body(i, tuple(c))),
            (tf.constant(0, tf.int32), *carry),
            parallel_iterations=1,
        )
        return tuple(out[1:])
    for i in range(n):
        carry = body(i, carry)
    return carry


def _rows(x, start, size):
    return ops.slice(
        x, (start,) + (0,) * (len(x.shape) - 1), (size,) + tuple(x.shape[1:])
    )


def _columns(x, start, size):
    return ops.slice(x, (start,), (size,))


def _add_rows(x, start, update):
    current = _rows(x, start, update.shape[0])
    return ops.slice_update(
        x,
        (start,) + (0,) * (len(x.shape) - 1),
        ops.cast(ops.cast(current, F32) + update, x.dtype),
    )


def _write_chunk(x, start, update, layout):
    """Writes a finished vocabulary chunk of the weight gradient into `x`
    (rows for "vd", columns for "dv"). A plain overwrite: the chunk holds
    the full gradient of each of its classes, also of those an earlier
    (overlapped) chunk wrote, so no read of `x` is needed. XLA:CPU turns
    any arithmetic on a 16-bit `x` around the update into a float32
    round trip and a copy of all of `x` at every chunk.
    """
    update = ops.cast(update, x.dtype)
    if layout == "vd":
        return ops.slice_update(x, (start, 0), update)
    return ops.slice_update(x, (0, start), update)


def _num_tokens(h, cfg):
    """N, static, or a tensor where only the running step knows it."""
    if cfg.num_tokens is not None:
        return cfg.num_tokens
    return ops.shape(h)[0]


def forward(h, w, b, labels, eps, prior, cfg):
    """Per-token (loss, lse, nll, correct), each float32 of shape (N,)."""
    n, v = _num_tokens(h, cfg), cfg.num_classes
    tc, vc = cfg.token_chunk, cfg.class_chunk
    rank_one = None
    if cfg.soft_cap is None:
        rank_one = _tiles.smoothing_sums(h, w, b, prior, cfg)

    def token_body(i, outputs):
        start = _tiles.chunk_start(i, n, tc)
        h_i = _rows(h, start, tc)
        y_i = _columns(labels, start, tc)

        def class_body(j, carry):
            v_start = _tiles.chunk_start(j, v, vc)
            mask = ops.where(_tiles.fresh(j, v_start, vc), 0.0, -np.inf)
            b_j = None if b is None else _columns(b, v_start, vc)
            p_j = None if prior is None else _columns(prior, v_start, vc)
            z = _tiles.logits(
                h_i, _tiles.weight_chunk(w, v_start, cfg), b_j, cfg
            )
            z_y = _tiles.label_logit(z, y_i, v_start, j, vc)
            return _tiles.forward_tile(carry, z, mask, z_y, p_j, cfg)

        init = (
            ops.full((tc,), -np.inf, F32),
            ops.zeros((tc,), F32),
            ops.zeros((tc,), F32),
            ops.zeros((tc,), F32),
        )
        carry = fori(cfg.chunks(v, vc), class_body, init)
        if rank_one is not None:
            smooth = _columns(rank_one, start, tc)
            carry = (carry[0], carry[1], smooth, carry[3])
        values = _tiles.token_values(carry, eps, cfg)
        # The clamped last chunk rewrites rows with the same values.
        return tuple(
            ops.slice_update(out, (start,), value)
            for out, value in zip(outputs, values)
        )

    outputs = tuple(ops.zeros((n,), F32) for _ in range(4))
    return fori(cfg.chunks(n, tc), token_body, outputs)


def backward(h, w, b, labels, eps, prior, lse, upstream, cfg):
    """Gradients (hidden, weight, bias or None) of Σ upstream·loss."""
    n, v = _num_tokens(h, cfg), cfg.num_classes
    tc, vc = cfg.token_chunk, cfg.class_chunk
    d = h.shape[1]
    upstream = ops.cast(upstream, F32)

    def class_body(j, carry):
        dh, dw, db = carry
        v_start = _tiles.chunk_start(j, v, vc)
        columns = ops.arange(vc, dtype="int32") + v_start
        keep_cols = ops.cast(_tiles.fresh(j, v_start, vc), F32)
        w_j = _tiles.weight_chunk(w, v_start, cfg)
        b_j = None if b is None else _columns(b, v_start, vc)
        p_j = None if prior is None else _columns(prior, v_start, vc)

        def token_body(i, inner):
            dh, dw_j, db_j = inner
            start = _tiles.chunk_start(i, n, tc)
            h_i = _rows(h, start, tc)
            y_i = _columns(labels, start, tc)
            rows = ops.cast(_tiles.fresh(i, start, tc), F32)
            z = _tiles.logits(h_i, w_j, b_j, cfg)
            # Every class of the chunk, for its weight and bias rows
            # (overwritten whole); only the fresh ones, for the hidden
            # gradient (summed over chunks).
            dz = _tiles.logit_gradient(
                z,
                _columns(lse, start, tc),
                _columns(upstream, start, tc) * rows,
                y_i,
                columns,
                p_j,
                eps,
                cfg,
            )
            dz_c = ops.cast(dz, h.dtype)
            dz_fresh = ops.cast(dz * ops.expand_dims(keep_cols, 0), h.dtype)
            if cfg.layout == "vd":
                dh_i = ops.matmul(dz_fresh, w_j)
                dw_i = ops.matmul(ops.transpose(dz_c), h_i)
            else:
                dh_i = ops.matmul(dz_fresh, ops.transpose(w_j))
                dw_i = ops.matmul(ops.transpose(h_i), dz_c)
            dh = _add_rows(dh, start, ops.cast(dh_i, F32))
            dw_j = dw_j + ops.cast(dw_i, F32)
            db_j = db_j + ops.sum(dz, axis=0)
            return dh, dw_j, db_j

        w_shape = (vc, d) if cfg.layout == "vd" else (d, vc)
        dh, dw_j, db_j = fori(
            cfg.chunks(n, tc),
            token_body,
            (dh, ops.zeros(w_shape, F32), ops.zeros((vc,), F32)),
        )
        dw = _write_chunk(dw, v_start, dw_j, cfg.layout)
        db = ops.slice_update(db, (v_start,), db_j)
        return dh, dw, db

    init = (
        ops.zeros((n, d), F32),
        ops.zeros(tuple(w.shape), w.dtype),
        ops.zeros((v,), F32),
    )
    dh, dw, db = fori(cfg.chunks(v, vc), class_body, init)
    dh = ops.cast(dh, h.dtype)
    db = None if b is None else ops.cast(db, b.dtype)
    return dh, dw, db
