"""One tile of the fused head: logits of a token chunk × vocabulary chunk.

The loss of a token with hidden state h, label y, logits z = h·Wᵀ (+ b),
optionally soft-capped (z ← cap·tanh(z/cap)), smoothing ε over the
distribution u (uniform, a prior, or the other classes) and z-loss weight
ζ is

    loss = lse - (1 - ε)·z_y - ε·Σ_v u_v·z_v + ζ·lse²,
    ∂loss/∂z = p·(1 + 2ζ·lse) - ((1 - ε)·[v = y] + ε·u),

with lse = logsumexp(z) and p = softmax(z). The forward pass walks the
vocabulary in chunks with an online logsumexp (running max m and sum s),
so it only ever holds one (tokens × vocabulary) tile of float32 logits;
the backward pass recomputes each tile once from the saved lse. The
smoothing sum Σ_v u_v·z_v is summed per tile: it costs one pass over a
tile the pass already holds, and it stays exact under soft-capping, where
the rank-one form h·(Wᵀu) + b·u no longer holds.

Chunks of fixed size cover a dimension that they do not divide by
clamping the last start to `size - chunk`; the entries that the previous
chunk already covered are masked (`fresh`), so nothing is padded and no
copy of the weight is made.
"""

from typing import NamedTuple

import numpy as np
from keras import ops

F32 = "float32"


class Config(NamedTuple):
    """The static (hashable) options of one fused call."""

    num_tokens: int
    num_classes: int
    token_chunk: int
    class_chunk: int
    convention: str  # "uniform", "others" or "prior"
    z_loss: float
    soft_cap: object  # None or a float
    layout: str  # "vd" or "dv"
    has_bias: bool

    def chunks(self, size, chunk):
        return -(-size // chunk)


def chunk_start(index, size, chunk):
    """The start of chunk `index`, clamped so the chunk stays inside."""
    return ops.minimum(index * chunk, size - chunk)


def fresh(index, start, chunk):
    """Which of a chunk's entries no earlier chunk covered (the last,
    clamped chunk overlaps its predecessor)."""
    return ops.arange(chunk, dtype="int32") + start >= index * chunk


def weight_chunk(weight, start, cfg):
    if cfg.layout == "vd":
        return ops.slice(weight, (start, 0), (cfg.class_chunk, weight.shape[1]))
    return ops.slice(weight, (0, start), (weight.shape[0], cfg.class_chunk))


def logits(h, w, b, cfg):
    """Float32 logits of one tile (after the soft cap)."""
    if cfg.layout == "vd":
        z = ops.einsum("td,vd->tv", h, w)
    else:
        z = ops.matmul(h, w)
    z = ops.cast(z, F32)
    if b is not None:
        z = z + ops.cast(b, F32)
    if cfg.soft_cap is not None:
        z = cfg.soft_cap * ops.tanh(z / cfg.soft_cap)
    return z


def smoothing_weights(columns, labels, prior_chunk, cfg):
    """u over one tile's columns: (1, C), or (T, C) for "others"."""
    if cfg.convention == "prior":
        return ops.expand_dims(prior_chunk, 0)
    if cfg.convention == "others":
        other = ops.not_equal(
            ops.expand_dims(labels, 1), ops.expand_dims(columns, 0)
        )
        return ops.cast(other, F32) / (cfg.num_classes - 1)
    return ops.full((1, columns.shape[0]), 1.0 / cfg.num_classes, F32)


def forward_tile(carry, z, columns, keep, labels, prior_chunk, cfg):
    """Folds one tile into the running (m, s, smooth, z_y, best, arg)."""
    m, s, smooth, z_y, best, arg = carry
    keep = ops.expand_dims(keep, 0)
    masked = ops.where(keep, z, -np.inf)
    tile_max = ops.max(masked, axis=1)
    new_m = ops.maximum(m, tile_max)
    s = s * ops.exp(m - new_m) + ops.sum(
        ops.exp(masked - ops.expand_dims(new_m, 1)), axis=1
    )
    hit = ops.logical_and(
        keep, ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(columns, 0))
    )
    z_y = z_y + ops.sum(ops.where(hit, z, 0.0), axis=1)
    u = smoothing_weights(columns, labels, prior_chunk, cfg)
    smooth = smooth + ops.sum(ops.where(keep, z * u, 0.0), axis=1)
    tile_arg = ops.take(columns, ops.argmax(masked, axis=1))
    better = tile_max > best
    best = ops.where(better, tile_max, best)
    arg = ops.where(better, tile_arg, arg)
    return new_m, s, smooth, z_y, best, arg


def token_values(carry, labels, eps, cfg):
    """Per-token (loss, lse, nll, correct) from a finished row of tiles."""
    m, s, smooth, z_y, _, arg = carry
    lse = m + ops.log(s)
    loss = lse - (1.0 - eps) * z_y - eps * smooth
    if cfg.z_loss:
        loss = loss + cfg.z_loss * ops.square(lse)
    nll = lse - z_y
    correct = ops.cast(ops.equal(arg, labels), F32)
    return loss, lse, nll, correct


def logit_gradient(
    z, lse, upstream, labels, columns, keep, prior_chunk, eps, cfg
):
    """∂(Σ upstream·loss)/∂(raw logits) of one tile, float32.

    The true class's p_y - (1 - ε + ε·u_y) is formed here in float32, so
    the cast to a 16-bit dtype afterwards does not cancel it near
    p_y ≈ 1 - ε (where a smoothed model sits).
    """
    lse_col = ops.expand_dims(lse, 1)
    probs = ops.exp(z - lse_col)
    if cfg.z_loss:
        probs = probs * (1.0 + 2.0 * cfg.z_loss * lse_col)
    hard = ops.cast(
        ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(columns, 0)), F32
    )
    u = smoothing_weights(columns, labels, prior_chunk, cfg)
    dz = probs - (1.0 - eps) * hard - eps * u
    if cfg.soft_cap is not None:
        dz = dz * (1.0 - ops.square(z / cfg.soft_cap))
    dz = dz * ops.expand_dims(upstream, 1)
    return ops.where(keep, dz, 0.0)
