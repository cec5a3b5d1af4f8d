"""keras_ls in a 2-process TensorFlow MultiWorkerMirroredStrategy job.

Two worker processes on localhost, configured by `TF_CONFIG`, each on one
CPU device, must match a one-process run on the same global batches within
1e-5 (`tests/distributed/multiprocess_checks.py`): losses, trained weights, ε
per epoch
and per step on every worker, streaming metrics, ConfidenceMonitor logs, a
`BackupAndRestore` resume after one worker is killed, and only the chief
writing files. Keras' `fit` needs the reduce workaround of
docs/distributed.md
(`tests.distributed.multiprocess_worker.patch_multi_worker_reduce`).
"""

import pytest

from tests.distributed import distributed_checks
from tests.distributed import multiprocess_checks
from tests.testing import requires_tf

pytestmark = requires_tf


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    result, seconds = multiprocess_checks.run_job(
        "tensorflow", tmp_path_factory.mktemp("mwms")
    )
    print(f"TensorFlow 2-worker job: {seconds:.0f} s")
    return result


def test_loss_fit_evaluate_and_gradients_match_one_process(runs):
    distributed_checks.check_loss(runs)


def test_scheduler_sets_every_worker_per_epoch_and_per_step(runs):
    distributed_checks.check_scheduler(runs)


def test_metrics_sum_bins_across_workers(runs):
    distributed_checks.check_metrics(runs)


def test_confidence_monitor_matches_one_process(runs):
    distributed_checks.check_monitor(runs)


def test_confidence_monitor_default_jit_compile_across_workers(runs):
    distributed_checks.check_monitor_default_jit_compile(runs)


def test_only_the_chief_writes_the_monitor_pngs(runs):
    multiprocess_checks.check_files(runs)


def test_backup_and_restore_resumes_after_a_worker_is_killed(runs):
    multiprocess_checks.check_resume(runs)
