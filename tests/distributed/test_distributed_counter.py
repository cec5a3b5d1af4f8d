"""The scheduler's step counter on 2 replicas equals the one-device one.

`tf.distribute.MirroredStrategy` over 2 logical CPUs and
`keras.distribution.DataParallel` over 2 JAX host devices must be set up
before the framework starts, so the run happens in a fresh process that
reuses the device setups of `tests/distributed/distributed_worker.py`
(imported, not
changed) and prints JSON.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.testing import BACKEND

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
EPOCHS = 3
STEPS = 4  # 32 examples, global batch 8

_SCRIPT = (
    """
import json, sys
from tests.distributed import distributed_worker as worker
backend = sys.argv[1]
setups = (
    worker._jax_setups() if backend == "jax" else worker._tensorflow_setups()
)
import keras
from keras_ls._tracking import state as _state
from keras_ls.callbacks import LabelSmoothingScheduler
from keras_ls.losses import LabelSmoothingCrossentropy
from keras_ls.schedules import LinearDecay

x, y = worker._data(32, seed=3)
out = {}
for name, setup in setups.items():
    with setup.scope():
        model = worker._identity_model()
        model.compile(
            optimizer=keras.optimizers.SGD(0.0),
            loss=LabelSmoothingCrossentropy(0.3),
            jit_compile=setup.jit_compile,
        )
        history = model.fit(
            x, y, batch_size=8, epochs=%d, verbose=0, shuffle=False,
            validation_data=(x, y),
            callbacks=[
                LabelSmoothingScheduler(
                    LinearDecay(0.3, 0.0, 10), update="batch"
                )
            ],
        )
        holder = _state.find_holder(model)
        out[name] = {
            "replicas": setup.replicas,
            "counter": setup.per_replica(holder.step),
            "aggregation": sorted({
                v.aggregation for v in holder.variables
                if not any(v is e for e in holder.label_smoothing_variables)
            }),
            "history": history.history,
        }
print("JSON:" + json.dumps(out))
"""
    % EPOCHS
)


def _run(backend, extra_env):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    env.update(extra_env)
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, backend],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [s for s in proc.stdout.splitlines() if s.startswith("JSON:")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("JSON:") :])


@pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"),
    reason="MirroredStrategy runs on TensorFlow, DataParallel on JAX; each "
    "is run once, from its backend's suite",
)
def test_counter_on_two_replicas_equals_one_device():
    extra = (
        {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
        if BACKEND == "jax"
        else {}
    )
    runs = _run(BACKEND, extra)
    single, parallel = runs["single"], runs["parallel"]
    assert parallel["replicas"] == 2
    # Every replica counted every training step once, validation none.
    assert single["counter"] == [EPOCHS * STEPS]
    assert parallel["counter"] == [EPOCHS * STEPS] * 2
    # Every replica keeps the same counter, ε table and flags. On
    # TensorFlow a "sum" aggregation would double the counter above; Keras'
    # JAX DataParallel replicates the state without reading the attribute,
    # so there the attribute is the observable (issue 18: a "sum" mutation
    # survived on JAX).
    assert (
        single["aggregation"]
        == parallel["aggregation"]
        == ["only_first_replica"]
    )
    for key in ("loss", "val_loss", "label_smoothing"):
        np.testing.assert_allclose(
            parallel["history"][key], single["history"][key], rtol=1e-5
        )
    # LinearDecay(0.3, 0.0, 10) at the last step of each epoch (3, 7, 11).
    np.testing.assert_allclose(
        single["history"]["label_smoothing"],
        [0.3 - 0.03 * 3, 0.3 - 0.03 * 7, 0.0],
        atol=1e-7,
    )
