"""keras_ls under `tf.distribute.MirroredStrategy` over 2 logical CPUs.

The CPU must be split into 2 logical devices before TensorFlow initializes
it, so the runs happen in one subprocess
(`tests/distributed/distributed_worker.py`)
that prints JSON; `tests/distributed/distributed_checks.py` compares its
numbers with
numpy and with the same run on one device, within 1e-5.
"""

import pytest

from tests.distributed import distributed_checks
from tests.testing import requires_tf

# tf.distribute needs the TensorFlow backend.
pytestmark = requires_tf


@pytest.fixture(scope="module")
def runs():
    return distributed_checks.run_worker("tensorflow")


def test_loss_fit_evaluate_and_gradients_match_one_device(runs):
    distributed_checks.check_loss(runs)


def test_scheduler_assigns_every_replica_and_the_step_uses_it(runs):
    distributed_checks.check_scheduler(runs)


def test_metrics_aggregate_bins_across_replicas(runs):
    distributed_checks.check_metrics(runs)


def test_confidence_monitor_matches_one_device(runs):
    distributed_checks.check_monitor(runs)


def test_the_documented_example_runs_on_2_devices():
    distributed_checks.run_example("tensorflow")


def test_confidence_monitor_default_jit_compile_under_the_strategy(runs):
    distributed_checks.check_monitor_default_jit_compile(runs)
