"""Starts multi-process keras_ls jobs on localhost and checks their results.

`run_job(backend, tmp_path)` starts, at the same time, the one-process
reference and a job of 2 worker processes
(`tests/distributed/multiprocess_worker.py`),
each an OS process on one CPU device. The workers run every check, then the
`resume` check with `BackupAndRestore`, during which worker 1 SIGKILLs
itself when epoch 2 begins; worker 0, left waiting in a collective, is
killed once it has begun epoch 2 too (its backup of epoch 1 is written).
A second job of 2 fresh processes resumes from the backups. The workers'
results are merged into the `{"single": ..., "parallel": ...}` form that
`tests/distributed/distributed_checks.py` compares, after checking that both
workers
agree wherever they should.
"""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np

from tests.distributed import distributed_checks

ROOT = distributed_checks.ROOT
CHECKS = ["loss", "scheduler", "metrics", "monitor", "files", "resume"]
WORKERS = 2
KILL_AT_EPOCH = 2
TIMEOUT = 900  # seconds per job: a hang guard (the TF job used 70 s of CPU)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _env(backend, extra=None):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CONFIG", "XLA_FLAGS", "KLS_BACKUP_DIR")
        and not k.startswith("KLS_KILL")
    }
    env.update(
        KERAS_BACKEND=backend,
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=ROOT,
        # One CPU device per process, and no thread oversubscription.
        JAX_PLATFORMS="cpu",
        CUDA_VISIBLE_DEVICES="",
    )
    env.update(extra or {})
    return env


def _start(backend, role, outdir, checks, extra_env=None):
    log = open(
        os.path.join(
            outdir,
            role.split(":")[0]
            + "_"
            + (role.split(":")[1] if ":" in role else "ref")
            + ".log",
        ),
        "ab",
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.distributed.multiprocess_worker",
            backend,
            role,
            outdir,
            *checks,
        ],
        cwd=ROOT,
        env=_env(backend, extra_env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _workers(backend, outdir, checks, extra_env=None):
    ports = ",".join(str(p) for p in free_ports(WORKERS))
    return [
        _start(
            backend, f"worker:{i}:{WORKERS}:{ports}", outdir, checks, extra_env
        )
        for i in range(WORKERS)
    ]


def _log_tail(outdir):
    tails = []
    for name in sorted(os.listdir(outdir)):
        if name.endswith(".log"):
            with open(os.path.join(outdir, name), "rb") as f:
                text = f.read().decode("utf-8", "replace")
            tails.append(f"--- {name}\n{text[-2500:]}")
    return "\n".join(tails)


def _wait(procs, deadline, outdir):
    for p in procs:
        try:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise AssertionError("timed out\n" + _log_tail(outdir))


def _read(outdir, tag, missing_ok=False):
    path = os.path.join(outdir, f"{tag}.json")
    if missing_ok and not os.path.exists(path):
        return {}  # killed before its first check finished
    assert os.path.exists(path), f"{tag} wrote no results\n" + _log_tail(outdir)
    with open(path) as f:
        return json.load(f)


def run_job(backend, tmp_path, checks=CHECKS):
    """Runs reference, workers, kill and resume; returns (runs, seconds)."""
    start = time.monotonic()
    deadline = start + TIMEOUT
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    os.makedirs(first)
    os.makedirs(second)
    backup = {"KLS_BACKUP_DIR": str(tmp_path / "backup")}
    reference = _start(backend, "single", first, checks)
    workers = _workers(
        backend,
        first,
        checks,
        dict(
            backup,
            KLS_KILL_AT_EPOCH=str(KILL_AT_EPOCH),
            KLS_KILL_PROCESS=str(WORKERS - 1),
        ),
    )
    # Worker 1 kills itself; worker 0 then waits in a collective forever.
    _wait(workers[1:], deadline, first)
    marker = os.path.join(first, "markers", f"worker_0_epoch_{KILL_AT_EPOCH}")
    while not os.path.exists(marker) and workers[0].poll() is None:
        assert time.monotonic() < deadline, "timed out\n" + _log_tail(first)
        time.sleep(0.2)
    workers[0].kill()
    workers[0].wait()
    killed = [p.returncode for p in workers]
    resumed = _workers(backend, second, ["resume"], backup)
    _wait([reference, *resumed], deadline, second)
    assert reference.returncode == 0, _log_tail(first)
    for p in resumed:
        assert p.returncode == 0, _log_tail(second)
    seconds = time.monotonic() - start
    single = _read(first, "single")
    before = [_read(first, f"worker_{i}", True) for i in range(WORKERS)]
    after = [_read(second, f"worker_{i}") for i in range(WORKERS)]
    runs = {"backend": backend, "killed_returncodes": killed}
    for name in checks:
        ref = single[name]
        if "error" in ref:
            runs[name] = ref
            continue
        parts = after if name == "resume" else before
        runs[name] = dict(ref)
        runs[name]["per_worker"] = [p[name].get("parallel") for p in parts]
        if name != "files":  # the chief's files differ on purpose
            try:
                runs[name]["parallel"] = merge(name, [p[name] for p in parts])
            except AssertionError as e:  # fails that check's test only
                runs[name] = {"error": f"workers disagree: {e}"}
        if name == "resume":
            runs[name]["before_kill"] = [p.get(name) for p in before]
    return runs, seconds


_SUMMED = {"kernel_devices", "variable_devices"}
_CONCATENATED = {"read_in_replicas"}
_ZIPPED = {"per_replica_at_epoch_end"}


def merge(name, parts):
    """One "parallel" result from the workers' results of check `name`."""
    for part in parts:
        assert "error" not in part, part["error"]
    return _merge([part["parallel"] for part in parts], path=name)


def _merge(values, path):
    first = values[0]
    if isinstance(first, dict):
        out = {}
        for key in first:
            here = [v[key] for v in values]
            where = f"{path}.{key}"
            if key in _SUMMED:
                out[key] = sum(here)
            elif key in _CONCATENATED:
                out[key] = [x for v in here for x in v]
            elif key in _ZIPPED:
                out[key] = [sum(rows, []) for rows in zip(*here)]
            elif key == "custom_loop_values":
                out[key] = _interleave(here)
            else:
                out[key] = _merge(here, where)
        return out
    if isinstance(first, str) or first is None:
        assert all(v == first for v in values), (path, values)
        return first
    # Numbers: every worker must report the same value.
    for other in values[1:]:
        distributed_checks.close(other, first)
    return first


def _interleave(parts):
    """Per-example values of a custom loop: each global batch is split in
    equal consecutive shares, worker 0 first."""
    share = distributed_checks.BATCH // len(parts)
    chunks = [
        [part[i : i + share] for i in range(0, len(part), share)]
        for part in parts
    ]
    return [x for row in zip(*chunks) for chunk in row for x in chunk]


def check_files(runs):
    result = distributed_checks.section(runs, "files")
    pngs = ["reliability_epoch_001.png", "reliability_epoch_002.png"]
    assert result["single"] == {"chief": True, "files": pngs}
    chief, other = result["per_worker"]
    assert chief == {"chief": True, "files": pngs}
    assert other == {"chief": False, "files": []}


def check_resume(runs):
    """The resumed job ends where the uninterrupted one-process run ends."""
    result = distributed_checks.section(runs, "resume")
    # Worker 1 SIGKILLed itself; worker 0 was killed by the launcher, or
    # failed on its own when its peer vanished.
    survivor, victim = runs["killed_returncodes"]
    assert victim == -9 and survivor != 0
    # The killed job got through epochs 0 and 1 and finished nothing (the
    # survivor may report the error it got when its peer vanished).
    for part in result["before_kill"]:
        assert part is None or "error" in part, part
    single, parallel = result["single"], result["parallel"]
    assert single["epochs"] == [0, 1, 2, 3]
    assert parallel["epochs"] == [2, 3]
    distributed_checks.close(single["label_smoothing"], [0.3, 0.2, 0.1, 0.0])
    distributed_checks.close(parallel["label_smoothing"], [0.1, 0.0])
    distributed_checks.close(parallel["loss"], single["loss"][2:])
    x = np.array(result["x"], np.float64)
    y = np.array(result["y"])
    kernel, bias = result["initial_weights"]
    w, b = kernel, bias
    for epoch, eps in enumerate([0.3, 0.2, 0.1, 0.0]):
        w, b = distributed_checks.sgd_reference(
            x, y, w, b, eps, lr=0.5, epochs=1
        )
    assert np.abs(w - np.array(kernel)).max() > 0.01  # it did train
    for run in (single, parallel):
        distributed_checks.close(run["kernel"], w)
        distributed_checks.close(run["bias"], b)
