"""ε computed inside the compiled train step (issue 10).

The model's logits are fixed (a frozen Dense with zero kernel), so the loss
of every step is a known function of the ε that step used: with the
closed form loss = (1 - ε)·(lse - z_y) + ε·(lse - mean_k z_k) (uniform
convention), ε is read back exactly from the per-step loss.
"""

import keras
import numpy as np
import pytest

from keras_ls import _tracking
from tests.testing import BACKEND
from tests.testing import JIT


class _StepKindLoss(keras.losses.Loss):
    """1.0 in training steps, 2.0 in evaluation steps, 3.0 outside; the
    branch is taken in Python, so in compiled steps at trace time."""

    def call(self, y_true, y_pred):
        kind = _tracking.is_training_step()
        value = {True: 1.0, False: 2.0, None: 3.0}[kind]
        return y_pred[:, 0] * 0.0 + value


def _tiny_model():
    inputs = keras.Input((2,))
    return keras.Model(inputs, keras.layers.Dense(3)(inputs))


@pytest.mark.parametrize("watched", [True, False])
def test_is_training_step_in_fit_evaluate_and_validation(watched):
    model = _tiny_model()
    model.compile(optimizer="sgd", loss=_StepKindLoss(), jit_compile=JIT)
    if watched:
        _tracking.watch_steps(model)
    x = np.zeros((8, 2), "float32")
    y = np.zeros((8, 3), "float32")
    history = model.fit(
        x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x, y)
    )
    assert history.history["loss"] == [1.0, 1.0]
    assert history.history["val_loss"] == [2.0, 2.0]
    assert model.evaluate(x, y, verbose=0) == 2.0
    assert _tracking.is_training_step() is None
    loss = _StepKindLoss()
    assert float(keras.ops.convert_to_numpy(loss(y, x[:, :3] * 0 + 1))) == 3.0


@pytest.mark.skipif(
    BACKEND == "jax",
    reason="a JAX custom step is a function of (state, data) that calls "
    "stateless_compute_loss(..., training=...)",
)
def test_is_training_step_with_custom_steps_calling_compute_loss():
    class Custom(keras.Model):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            # Keras' documented custom step: no `training` argument.
            loss = self.compute_loss(y=y, y_pred=y_pred)
            return {"kind": loss}

    inputs = keras.Input((2,))
    model = Custom(inputs, keras.layers.Dense(3)(inputs))
    model.compile(optimizer="sgd", loss=_StepKindLoss(), jit_compile=JIT)
    _tracking.watch_steps(model)
    _tracking.watch_steps(model)  # idempotent
    x = np.zeros((8, 2), "float32")
    y = np.zeros((8, 3), "float32")
    assert model.fit(x, y, epochs=1, verbose=0).history["loss"] == [1.0]
    assert model.evaluate(x, y, verbose=0, return_dict=True)["kind"] == 2.0
