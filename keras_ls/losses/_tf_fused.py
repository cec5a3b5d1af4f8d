"""TensorFlow without XLA: the smoothed loss on TF's fused sparse kernel.

Outside XLA, TensorFlow runs each op as its own kernel, so the portable
closed form costs one pass over the logits per op. TF's
``SparseSoftmaxCrossEntropyWithLogits`` computes lse - z_y and its gradient
softmax - onehot in one kernel; the smoothing term only adds ε·(z_y - Σ u z)
and a rank-one correction of the gradient. Under XLA (``jit_compile=True``)
the portable form fuses better, so this path is used only outside it.
"""

import tensorflow as tf


def in_xla_context():
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - layout of a future TF
        return True
    graph = tf.compat.v1.get_default_graph()
    return bool(control_flow_util.GraphOrParentsInXlaContext(graph))


_CPU_ONLY = []


def cpu_only():
    """Whether TensorFlow sees no GPU or TPU, so XLA compiles for the CPU.

    Read once: the devices are fixed when TensorFlow's runtime starts.
    """
    if not _CPU_ONLY:
        accelerators = [
            device
            for kind in ("GPU", "TPU")
            for device in tf.config.list_logical_devices(kind)
        ]
        _CPU_ONLY.append(not accelerators)
    return _CPU_ONLY[0]


def supports(logits, labels, from_logits):
    return (
        from_logits
        and labels is not None
        and logits.dtype == tf.float32
        and not in_xla_context()
    )


def sparse_from_logits(logits, labels, spec):
    """Per-position smoothed cross-entropy for float32 logits, class ids."""
    k = spec.k
    eps = tf.cast(spec.eps, tf.float32)
    labels = tf.cast(labels, tf.int32)
    flat_logits = tf.reshape(logits, [-1, k])
    flat_labels = tf.reshape(labels, [-1])

    @tf.custom_gradient
    def forward(z):
        ce, backprop = tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits(
            features=z, labels=flat_labels
        )
        z_y = tf.gather(z, flat_labels[:, None], batch_dims=1)
        # z_y - Σ u·z, formed as -Σ u·(z - z_y): exact near the target
        # logit, where sums of raw logits lose about one ulp of |z|.
        rel = z - z_y
        z_y = z_y[:, 0]
        if spec.convention == "others":
            gap = -tf.reduce_sum(rel, -1) / (k - 1)
            base, extra = 1.0 / (k - 1), k / (k - 1)
        elif spec.prior is not None:
            # Not a matvec: GPUs would run it in TF32.
            weighted = rel * spec.prior
            if spec.prior_has_zeros:
                # A class without prior mass adds nothing, −inf or not.
                weighted = tf.where(spec.prior > 0, weighted, 0.0)
            gap = -tf.reduce_sum(weighted, -1)
            base, extra = spec.prior, 1.0
        else:
            gap = -tf.reduce_mean(rel, -1)
            base, extra = 1.0 / k, 1.0
        # At ε = 0 the term is absent, not 0·inf = NaN for a −inf logit.
        values = ce + tf.where(eps > 0, eps * gap, 0.0)
        # A −inf true-class logit: ce is +inf and the loss too, as under
        # XLA, but ε·gap is −inf (or NaN from z_y - z_y): inf - inf = NaN.
        values = tf.where(tf.math.is_inf(ce), ce, values)

        def grad(upstream):
            # softmax - q = backprop - ε·u + ε·onehot (scaled for "others").
            g = (backprop - eps * base) * upstream[:, None]
            rows = tf.range(tf.shape(flat_labels)[0])
            index = tf.stack([rows, flat_labels], axis=1)
            return tf.tensor_scatter_nd_add(g, index, eps * extra * upstream)

        return values, grad

    return tf.reshape(forward(flat_logits), tf.shape(labels))
