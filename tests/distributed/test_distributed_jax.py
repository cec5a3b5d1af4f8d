"""keras_ls under `keras.distribution.DataParallel` over 2 JAX host devices.

`XLA_FLAGS=--xla_force_host_platform_device_count=2` only works if it is set
before JAX is imported, so the runs happen in one subprocess
(`tests/distributed/distributed_worker.py`) that prints JSON;
`tests/distributed/distributed_checks.py`
compares its numbers with numpy and with the same run on one device, within
1e-5. It runs on the jax backend only, so the suite starts it once.
"""

import pytest

from tests.distributed import distributed_checks
from tests.testing import BACKEND

pytestmark = pytest.mark.skipif(
    BACKEND != "jax",
    reason="keras.distribution runs on JAX; run once, from the jax suite",
)


@pytest.fixture(scope="module")
def runs():
    return distributed_checks.run_worker(
        "jax", {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    )


def test_loss_fit_evaluate_and_gradients_match_one_device(runs):
    distributed_checks.check_loss(runs)


def test_scheduler_assigns_every_replica_and_the_step_uses_it(runs):
    distributed_checks.check_scheduler(runs)


def test_metrics_aggregate_bins_across_replicas(runs):
    distributed_checks.check_metrics(runs)


def test_confidence_monitor_matches_one_device(runs):
    distributed_checks.check_monitor(runs)


def test_the_documented_example_runs_on_2_devices():
    distributed_checks.run_example("jax")
