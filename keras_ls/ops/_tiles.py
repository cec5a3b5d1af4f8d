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
the backward pass recomputes each tile once from the saved lse.

Without a soft cap the smoothing term is rank one: Σ_v u_v·z_v =
h·(Wᵀu) + b·u (u uniform or a prior; "others" is (Σ_v z_v - z_y)/(V - 1)),
one matrix-vector product before the loops (`smoothing_sums`). The soft
cap breaks this, and the sum is then taken per tile. The arg-max check
for token accuracy is z_y ≥ max_v z_v, so no arg-max is carried.

Chunks of fixed size cover a dimension that they do not divide by
clamping the last start to `size - chunk`; the entries that the previous
chunk already covered are masked (`fresh`), so nothing is padded and no
copy of the weight is made.
"""

from typing import NamedTuple

from keras import ops

F32 = "float32"


class Config(NamedTuple):
    """The static (hashable) options of one fused call."""

    num_tokens: object  # an int, or None where only the step knows N
    num_classes: int
    token_chunk: int
    class_chunk: int
    convention: str  # "uniform", "others" or "prior"
    z_loss: float
    soft_cap: object  # None or a float
    layout: str  # "vd" or "dv"

    def chunks(self, size, chunk):
        if isinstance(size, int):
            return -(-size // chunk)
        return (size + chunk - 1) // chunk


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
        z = ops.matmul(h, ops.transpose(w))
    else:
        z = ops.matmul(h, w)
    z = ops.cast(z, F32)
    if b is not None:
        z = z + ops.cast(b, F32)
    if cfg.soft_cap is not None:
        z = cfg.soft_cap * ops.tanh(z / cfg.soft_cap)
    return z


def smoothing_vector(prior, cfg):
    """u as a (V,) float32 vector ("others" uses the uniform sum)."""
    if cfg.convention == "prior":
        return prior
    return ops.full((cfg.num_classes,), 1.0 / cfg.num_classes, F32)


def smoothing_sums(h, w, b, prior, cfg):
    """Σ_v u_v·z_v per token, rank one (no soft cap): h·(Wᵀu) + b·u."""
    # In the weight's dtype: a float32 copy of a 16-bit (V, D) weight
    # would cost more memory than the whole fused pass.
    u = ops.cast(smoothing_vector(prior, cfg), w.dtype)
    if cfg.layout == "vd":
        wu = ops.matmul(u, w)
    else:
        wu = ops.matmul(w, u)
    sums = ops.cast(ops.matmul(h, wu), F32)
    if b is not None:
        sums = sums + ops.sum(ops.cast(b, F32) * u)
    return sums


def label_logit(z, labels, start, index, chunk):
    """z_y where the label falls among this chunk's fresh columns, else 0."""
    offset = labels - start
    inside = ops.logical_and(labels >= index * chunk, offset < chunk)
    picked = ops.take_along_axis(
        z, ops.expand_dims(ops.clip(offset, 0, chunk - 1), 1), axis=1
    )
    return ops.where(inside, ops.squeeze(picked, 1), 0.0)


def forward_tile(carry, z, column_mask, z_y, prior_chunk, cfg):
    """Folds one tile into the running (m, s, smooth, z_y).

    `column_mask` is 0 for fresh columns and -inf for overlapped ones.
    """
    m, s, smooth, label_sum = carry
    masked = z + ops.expand_dims(column_mask, 0)
    new_m = ops.maximum(m, ops.max(masked, axis=1))
    s = s * ops.exp(m - new_m) + ops.sum(
        ops.exp(masked - ops.expand_dims(new_m, 1)), axis=1
    )
    if cfg.soft_cap is not None:
        # Per tile: the cap breaks the rank-one form.
        fresh_z = ops.where(ops.expand_dims(column_mask, 0) == 0, z, 0.0)
        if cfg.convention == "prior":
            fresh_z = fresh_z * ops.expand_dims(prior_chunk, 0)
        smooth = smooth + ops.sum(fresh_z, axis=1)
    return new_m, s, smooth, label_sum + z_y


def token_values(carry, eps, cfg):
    """Per-token (loss, lse, nll, correct) from a finished row of tiles.

    `smooth` holds Σ_v z_v·u_v (the plain Σ_v z_v for the soft-capped
    uniform and "others" conventions, scaled here).
    """
    m, s, smooth, z_y = carry
    v = cfg.num_classes
    if cfg.soft_cap is not None and cfg.convention != "prior":
        smooth = smooth / v
    if cfg.convention == "others":
        smooth = (smooth * v - z_y) / (v - 1)
    lse = m + ops.log(s)
    loss = lse - (1.0 - eps) * z_y - eps * smooth
    if cfg.z_loss:
        loss = loss + cfg.z_loss * ops.square(lse)
    nll = lse - z_y
    correct = ops.cast(z_y >= m, F32)
    return loss, lse, nll, correct


def logit_gradient(z, lse, row_scale, labels, columns, prior_chunk, eps, cfg):
    """∂(Σ upstream·loss)/∂(raw logits) of one tile, float32.

    `row_scale` is the upstream gradient per token (0 on overlapped rows).
    The true class's p_y - (1 - ε + ε·u_y) is formed here in float32, so
    the cast to a 16-bit dtype afterwards does not cancel it near
    p_y ≈ 1 - ε (where a smoothed model sits).
    """
    lse_col = ops.expand_dims(lse, 1)
    probs = ops.exp(z - lse_col)
    if cfg.z_loss:
        probs = probs * (1.0 + 2.0 * cfg.z_loss * lse_col)
    v = cfg.num_classes
    hit = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(columns, 0))
    if cfg.convention == "others":
        # u = [v != y]/(V - 1): a constant and a true-class term.
        rest, top = eps / (v - 1), 1.0 - eps - eps / (v - 1)
    elif cfg.convention == "prior":
        rest, top = eps * ops.expand_dims(prior_chunk, 0), 1.0 - eps
    else:
        rest, top = eps / v, 1.0 - eps
    dz = probs - rest - ops.where(hit, top, 0.0)
    if cfg.soft_cap is not None:
        dz = dz * (1.0 - ops.square(z / cfg.soft_cap))
    return dz * ops.expand_dims(row_scale, 1)
