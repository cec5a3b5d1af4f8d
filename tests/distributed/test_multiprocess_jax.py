"""keras_ls in a 2-process JAX job (`jax.distributed` + DataParallel).

Two processes on localhost, each started with
`jax.distributed.initialize(coordinator_address="localhost:PORT",
num_processes=2, process_id=i)` and one CPU device, train with
`keras.distribution.DataParallel` over the 2 global devices, each process
feeding its half of every global batch. They must match a one-process run
on the same global batches within 1e-5
(`tests/distributed/multiprocess_checks.py`):
losses, trained weights, ε per epoch and per step on every process,
streaming metrics, ConfidenceMonitor logs, a `BackupAndRestore` resume after
one process is killed, and only process 0 writing files. It runs from the
jax suite only.
"""

import pytest

from tests.distributed import distributed_checks
from tests.distributed import multiprocess_checks
from tests.testing import BACKEND


def _keras_version():
    import keras

    return tuple(int(p) for p in keras.__version__.split(".")[:2])


pytestmark = [
    pytest.mark.skipif(
        BACKEND != "jax",
        reason="jax.distributed runs on JAX; run once, from the jax suite",
    ),
    # Keras 3.10.0 (the floor) refuses numpy input to a multi-process JAX
    # fit ("the data must be provided as a `tf.data.Dataset`"), and the
    # floor environment has no TensorFlow; tested on Keras 3.15.1.
    pytest.mark.skipif(
        _keras_version() < (3, 15),
        reason="multi-process JAX with numpy input is tested on Keras 3.15",
    ),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    result, seconds = multiprocess_checks.run_job(
        "jax", tmp_path_factory.mktemp("jax_multiprocess")
    )
    print(f"JAX 2-process job: {seconds:.0f} s")
    return result


def test_loss_fit_evaluate_and_gradients_match_one_process(runs):
    distributed_checks.check_loss(runs)


def test_scheduler_sets_every_process_per_epoch_and_per_step(runs):
    distributed_checks.check_scheduler(runs)


def test_metrics_sum_bins_across_processes(runs):
    distributed_checks.check_metrics(runs)


def test_confidence_monitor_matches_one_process(runs):
    distributed_checks.check_monitor(runs)


def test_only_process_0_writes_the_monitor_pngs(runs):
    multiprocess_checks.check_files(runs)


def test_backup_and_restore_resumes_after_a_process_is_killed(runs):
    multiprocess_checks.check_resume(runs)
