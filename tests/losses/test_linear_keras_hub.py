"""A keras-hub causal LM trained with the fused loss, without patches.

A keras-hub `CausalLM` is its backbone followed by
`backbone.token_embedding(hidden, reverse=True)`; the backbone alone
outputs the hidden states and owns the embedding. Compiling the backbone
with the fused loss trains exactly the weights the `CausalLM` uses, so
`generate()` runs from them. The model is a randomly initialised Gemma 2
(soft caps on) built from a config: no preset download.
"""

import keras
import numpy as np
import pytest

import keras_ls
from keras_ls.losses import LinearLabelSmoothingCrossentropy
from tests.testing import assert_all_close
from tests.testing import requires_module
from tests.testing import to_numpy

KERAS_3_15 = tuple(int(p) for p in keras.__version__.split(".")[:2]) >= (3, 15)
pytestmark = [
    requires_module("keras_hub"),
    pytest.mark.skipif(not KERAS_3_15, reason="keras-hub 0.32: Keras 3.15"),
]
V = 97


def _gemma2():
    import keras_hub

    backbone = keras_hub.models.GemmaBackbone(
        vocabulary_size=V,
        num_layers=1,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=16,
        intermediate_dim=32,
        head_dim=8,
        final_logit_soft_cap=30.0,
        attention_logit_soft_cap=50.0,
        use_post_ffw_norm=True,
        use_post_attention_norm=True,
        query_head_dim_normalize=False,
        use_sliding_window_attention=True,
        sliding_window_size=8,
    )
    lm = keras_hub.models.GemmaCausalLM(backbone=backbone, preprocessor=None)
    return backbone, lm


def _batch():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, V, (4, 12)).astype("int32")
    mask = np.ones((4, 12), bool)
    mask[1, 8:] = False
    mask[3, 5:] = False
    x = {"token_ids": ids, "padding_mask": mask}
    return x, np.roll(ids, -1, axis=1), mask.astype("float32")


def _gradients(model, compute):
    variables = model.trainable_variables
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = compute()
        grads = tape.gradient(value, variables)
    elif backend == "torch":
        import torch

        value = compute()
        grads = torch.autograd.grad(value, [v.value for v in variables])
    else:
        import jax

        def fn(values):
            mapping = list(zip(variables, values))
            with keras.StatelessScope(state_mapping=mapping):
                return compute()

        value, grads = jax.value_and_grad(fn)([v.value for v in variables])
    return float(to_numpy(value)), [to_numpy(g) for g in grads]


def test_fused_loss_and_gradients_equal_the_dense_causal_lm():
    backbone, lm = _gemma2()
    x, y, sample_weight = _batch()
    fused = LinearLabelSmoothingCrossentropy.from_embedding(
        backbone.token_embedding, label_smoothing=0.1, chunk_size=(7, 13)
    )
    dense = keras_ls.LabelSmoothingCrossentropy(0.1)
    value, grads = _gradients(
        backbone, lambda: fused(y, backbone(x), sample_weight=sample_weight)
    )
    ref_value, ref_grads = _gradients(
        backbone, lambda: dense(y, lm(x), sample_weight=sample_weight)
    )
    assert value == pytest.approx(ref_value, rel=1e-5)
    for g, ref in zip(grads, ref_grads):
        assert_all_close(g, ref, rtol=1e-4, atol=1e-6)


def test_fit_with_the_scheduler_then_generate():
    backbone, lm = _gemma2()
    x, y, sample_weight = _batch()
    loss = LinearLabelSmoothingCrossentropy.from_embedding(
        backbone.token_embedding, label_smoothing=0.1
    )
    backbone.compile(optimizer="adam", loss=loss, metrics=loss.fused_metrics())
    scheduler = keras_ls.LabelSmoothingScheduler(
        keras_ls.schedules.LinearDecay(0.1, 0.0, 2), update="batch"
    )
    history = backbone.fit(
        x,
        y,
        sample_weight=sample_weight,
        epochs=2,
        verbose=0,
        callbacks=[scheduler],
    )
    assert history.history["loss"][1] < history.history["loss"][0]
    assert np.isfinite(history.history["token_nll"]).all()
    out = lm.generate(x, max_length=12, stop_token_ids=None)
    assert to_numpy(out["token_ids"]).shape == (4, 12)


def test_refuses_an_int8_embedding():
    backbone, _ = _gemma2()
    backbone.token_embedding.quantize("int8")
    with pytest.raises(ValueError, match="quantized"):
        LinearLabelSmoothingCrossentropy.from_embedding(
            backbone.token_embedding
        )


def test_the_causal_lm_switches_by_its_compile_call_alone(monkeypatch):
    """`lm.compile(loss=fused)` on the CausalLM itself: its steps stop at
    the backbone's hidden states (the loss sees (…, D), never (…, V)),
    the loss equals the dense smoothed loss of its logits with the padding
    mask, and `predict`/`generate` still give logits and tokens."""
    backbone, lm = _gemma2()
    x, y, sample_weight = _batch()
    loss = LinearLabelSmoothingCrossentropy.from_embedding(
        backbone.token_embedding, label_smoothing=0.1
    )
    widths = []
    call = loss.call

    def spy(y_true, y_pred):
        widths.append(y_pred.shape[-1])
        return call(y_true, y_pred)

    monkeypatch.setattr(loss, "call", spy)
    lm.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss=loss,
        weighted_metrics=loss.fused_metrics(),
    )
    history = lm.fit(
        x,
        y,
        sample_weight=sample_weight,
        batch_size=4,
        epochs=2,
        shuffle=False,
        verbose=0,
    )
    dense = keras_ls.LabelSmoothingCrossentropy(0.1)
    logits = lm.predict(x, verbose=0)
    assert logits.shape == (4, 12, V)
    expected = float(to_numpy(dense(y, logits, sample_weight=sample_weight)))
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-4)
    assert widths[-1] == 16  # the backbone's hidden_dim
    out = lm.generate(x, max_length=12, stop_token_ids=None)
    assert to_numpy(out["token_ids"]).shape == (4, 12)
