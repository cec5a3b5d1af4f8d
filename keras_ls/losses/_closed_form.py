"""The smoothed cross-entropy in closed form, with a fused gradient.

For logits z with K classes, smoothed target q = keep·t + ε·u (t the one-hot
or soft target, keep = 1 - ε, u the smoothing distribution) and
lse = logsumexp(z):

    loss  = lse·Σ_k q_k - Σ_k q_k·z_k
    ∂/∂z  = softmax(z)·Σ_k q_k - q

Only per-position reductions are computed in the forward pass, and the
gradient is one elementwise expression written straight into the logits'
dtype: no one-hot, smoothed-target or float32 copy of the logits is kept
between the passes, so XLA can fuse the float32 casts into each pass.
"""

import keras
import numpy as np
from keras import ops

F32 = "float32"


class SmoothingSpec:
    """What the smoothed target is made of, for one call."""

    def __init__(self, eps, num_classes, convention, prior):
        self.eps = eps
        self.keep = 1.0 - eps
        self.k = num_classes
        self.convention = convention
        self.prior = (
            None
            if prior is None
            else ops.convert_to_tensor(np.asarray(prior, np.float32))
        )
        # A class the prior gives no mass adds nothing, also where its
        # logit is −inf (not 0·(−inf) = NaN); decided once, on the host.
        self.prior_has_zeros = prior is not None and not np.all(
            np.asarray(prior) > 0
        )

    def mass_and_dot(self, target_mass, target_dot, scores):
        """Σ_k q_k and Σ_k q_k·s_k, given Σ t, Σ t·s and the scores s."""
        if self.convention == "others":
            other_mass = (self.k - target_mass) / (self.k - 1)
            other_dot = (ops.sum(scores(), axis=-1) - target_dot) / (self.k - 1)
            # A −inf target logit makes the loss +inf through keep·target
            # alone; Σ - target would be −inf - (−inf) = NaN.
            other_dot = ops.where(
                ops.equal(target_dot, -np.inf), 0.0, other_dot
            )
        elif self.prior is not None:
            other_mass = ops.ones_like(target_mass)
            weighted = scores() * self.prior
            if self.prior_has_zeros:
                weighted = ops.where(self.prior > 0, weighted, 0.0)
            other_dot = ops.sum(weighted, axis=-1)
        else:
            other_mass = ops.ones_like(target_mass)
            other_dot = ops.mean(scores(), axis=-1)
        mass = self.keep * target_mass + self.eps * other_mass
        # At ε = 0 the smoothing term is absent, not 0·(−inf) = NaN when a
        # logit is −inf (PyTorch's cross-entropy is finite there too).
        smooth = ops.where(self.eps > 0, self.eps * other_dot, 0.0)
        dot = self.keep * target_dot + smooth
        return mass, dot

    def target(self, hard):
        """The dense smoothed target q from the dense target t (float32)."""
        if self.convention == "others":
            return self.keep * hard + self.eps * (1.0 - hard) / (self.k - 1)
        if self.prior is not None:
            return self.keep * hard + self.eps * self.prior
        return self.keep * hard + self.eps / self.k


def _target_terms(raw, labels, targets, shift=None):
    """Σ t and Σ t·(z - shift) for class ids `labels` or dense `targets`.

    `labels` are int32 ids in [0, K) (the caller casts and checks them).
    """
    if labels is not None:
        picked = ops.take_along_axis(raw, ops.expand_dims(labels, -1), -1)
        target_dot = ops.cast(ops.squeeze(picked, axis=-1), F32)
        if shift is not None:
            target_dot = target_dot - ops.squeeze(shift, -1)
        return ops.ones_like(target_dot), target_dot
    scores = ops.cast(raw, F32)
    if shift is not None:
        scores = scores - shift
    # A class with target 0 adds nothing, also where its logit is −inf
    # (0·log 0 = 0), instead of 0·(−inf) = NaN.
    weighted = ops.where(ops.equal(targets, 0.0), 0.0, targets * scores)
    return ops.sum(targets, axis=-1), ops.sum(weighted, axis=-1)


def _keeps_exponentials():
    """Whether the forward pass's exponentials are kept for the gradient.

    XLA on GPUs fuses each elementwise pass into its reduction, so the
    gradient recomputes exp(z - lse) from the logits: reading them again
    costs less than storing and reading a float32 tensor. TensorFlow's
    XLA:CPU instead hands reductions to library kernels that take their
    input from memory, so exp(z - max z) is materialized in float32 anyway;
    reusing it saves the gradient's exponentials, the costliest op on a
    CPU. Measured in /work/notes/perf_G2.md (docs/performance.md).
    """
    if keras.backend.backend() != "tensorflow":
        return False
    from keras_ls.losses import _tf_fused

    return _tf_fused.cpu_only()


def from_logits(logits, spec, labels=None, targets=None):
    """Per-position smoothed cross-entropy of `logits` (float32 result)."""
    keep_exps = _keeps_exponentials()
    if keep_exps and logits.dtype != F32:
        # On XLA:CPU a 16-bit max is a float32 copy and a slow windowed
        # reduction; one cast up front is cheaper, and its gradient
        # returns the logits' dtype. The max is exact either way.
        logits = ops.cast(logits, F32)

    @ops.custom_gradient
    def forward(z):
        # Every sum is formed on z - max z, which is exact in float32 near
        # the max: sums of raw logits lose about one ulp of |z| (2e-4 at a
        # common offset of 1e4) before the offset cancels.
        z_max = ops.cast(ops.max(z, axis=-1, keepdims=True), F32)

        def shifted():
            return ops.cast(z, F32) - z_max

        exps = ops.exp(shifted())
        total = ops.sum(exps, -1)
        log_sum = ops.log(total)
        target_mass, target_dot = _target_terms(z, labels, targets, z_max)
        mass, dot = spec.mass_and_dot(target_mass, target_dot, shifted)
        values = log_sum * mass - dot

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            if keep_exps:
                probs = exps / ops.expand_dims(total, -1)
            else:
                # exp((z - max z) - log Σ), never exp(z - lse): lse
                # rounded to float32 carries an error of up to one ulp of
                # |z| (4e-3 at a common offset of 1e5) into every prob.
                probs = ops.exp(shifted() - ops.expand_dims(log_sum, -1))
            if labels is not None:
                # int32 ids: an arange in uint8/int8 would wrap past 256
                # and mark a second "true class".
                classes = ops.arange(spec.k, dtype="int32")
                hard = ops.cast(
                    ops.equal(ops.expand_dims(labels, -1), classes), F32
                )
            else:
                hard = targets
            upstream = ops.expand_dims(ops.cast(upstream, F32), -1)
            g = probs * ops.expand_dims(mass, -1) - spec.target(hard)
            return ops.cast(g * upstream, z.dtype)

        return values, grad

    return forward(logits)


def from_log_probs(log_probs, spec, labels=None, targets=None):
    """Per-position −Σ_k q_k·log p_k for float32 log-probabilities."""
    target_mass, target_dot = _target_terms(log_probs, labels, targets)
    _, dot = spec.mass_and_dot(target_mass, target_dot, lambda: log_probs)
    return -dot


def from_logits_eager(logits, spec, labels=None, targets=None):
    """The same loss through one log-softmax, for eager backends (PyTorch).

    Without a compiler every op is a pass over the logits; the fused
    log-softmax kernel and its backward then cost fewer passes than the
    closed form's separate reductions, as in PyTorch's own
    ``cross_entropy(label_smoothing=...)``. Class ids on PyTorch take
    the same expression in plain torch ops (`_torch_eager`).
    """
    if labels is not None and keras.backend.backend() == "torch":
        from keras_ls.losses import _torch_eager

        return _torch_eager.sparse_from_logits(logits, labels, spec)
    return from_log_probs(
        ops.log_softmax(ops.cast(logits, F32), axis=-1), spec, labels, targets
    )


def from_probabilities(probs, spec, labels=None, targets=None, clip=1e-7):
    """Per-position smoothed cross-entropy of probabilities, as Keras does:
    renormalised over the class axis and clipped to [clip, 1 - clip]."""
    probs = ops.cast(probs, F32)
    probs = probs / ops.sum(probs, axis=-1, keepdims=True)
    log_probs = ops.log(ops.clip(probs, clip, 1.0 - clip))
    return from_log_probs(log_probs, spec, labels, targets)
