"""One process of a multi-process keras_ls job on localhost.

`python -m tests.distributed.multiprocess_worker BACKEND ROLE OUTDIR CHECK...`

- ROLE `single`: the reference, one process on one CPU device;
- ROLE `worker:I:N:PORT,PORT...`: process I of N, each on one CPU device:
  - tensorflow: `tf.distribute.MultiWorkerMirroredStrategy`, configured by
    `TF_CONFIG` (worker I of the cluster `localhost:PORT...`);
  - jax: `jax.distributed.initialize(coordinator_address="localhost:PORT",
    num_processes=N, process_id=I)` (first port), then
    `keras.distribution.DataParallel` over the global device list with
    `auto_shard_dataset = False`, each process feeding its share of every
    global batch.

The checks are those of `tests/distributed/distributed_worker.py` (run on the
same
global batches), plus `files` (which process writes the monitor's PNGs) and
`resume` (`BackupAndRestore` after a killed process). After each check the
results so far go to OUTDIR/<role>.json, so a process that is killed later
still reports its finished checks. `tests/distributed/multiprocess_checks.py`
starts the
processes, merges the workers' results and compares them with the reference.

Environment: KLS_BACKUP_DIR (a folder: the `resume` check backs up into
KLS_BACKUP_DIR/worker_I), KLS_KILL_AT_EPOCH and KLS_KILL_PROCESS (that
process SIGKILLs itself when that epoch begins). Every process touches
OUTDIR/markers/worker_I_epoch_E (single_epoch_E) when epoch E of `resume`
begins.
"""

import json
import os
import signal
import sys
import traceback

from tests.distributed import distributed_worker as dw

_PROCESS = {"index": 0, "tag": "single"}


def patch_multi_worker_reduce(strategy):
    """Lets Keras' `fit` and `evaluate` run under MultiWorkerMirroredStrategy.

    Keras 3 (3.10 to 3.15 at least) calls `strategy.reduce` in two ways
    that `MultiWorkerMirroredStrategy` with more than one worker refuses
    ("Attempt to convert a value (PerReplica...) to a Tensor", and "Invalid
    reduction dimension 0 for input with 0 dimensions"): on the whole
    `(x, y)` batch before the first step, and with `axis=0` on each scalar
    log. This wraps the strategy's own `reduce` to take one tensor at a time
    and `axis=None` for scalars. See docs/distributed.md.
    """
    import tensorflow as tf

    reduce = strategy.reduce

    def one(reduce_op, value, axis):
        local = strategy.experimental_local_results(value)[0]
        if axis is not None and local.shape.rank == 0:
            axis = None
        return reduce(reduce_op, value, axis=axis)

    def reduce_each(reduce_op, value, axis=None):
        return tf.nest.map_structure(lambda v: one(reduce_op, v, axis), value)

    strategy.reduce = reduce_each
    return strategy


def _mark(outdir, epoch):
    folder = os.path.join(outdir, "markers")
    os.makedirs(folder, exist_ok=True)
    name = f"{_PROCESS['tag']}_epoch_{epoch}"
    with open(os.path.join(folder, name), "w"):
        pass


def _killer(outdir):
    import keras

    kill_at = os.environ.get("KLS_KILL_AT_EPOCH")
    victim = os.environ.get("KLS_KILL_PROCESS")

    class MarkAndKill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            _mark(outdir, epoch)
            if (
                kill_at is not None
                and epoch == int(kill_at)
                and _PROCESS["index"] == int(victim)
            ):
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)

        def on_train_batch_end(self, batch, logs=None):
            # Reading the step's loss waits for the step, as the default
            # progress bar does (verbose=1). Without any such read, a JAX
            # process whose peer died keeps dispatching asynchronously,
            # reaches the epoch end and starts BackupAndRestore's save,
            # which truncates its weights file and then blocks: killed
            # there, it leaves a backup that loads without an error but
            # wrong (measured; see docs/distributed.md).
            float((logs or {}).get("loss", 0.0))

    return MarkAndKill()


def check_files(setups, outdir):
    """Fits with ConfidenceMonitor(log_dir=OUTDIR/files/worker_I)."""
    import keras

    from keras_ls import _keras_compat
    from keras_ls.callbacks.monitor import ConfidenceMonitor
    from keras_ls.losses import LabelSmoothingCrossentropy

    x, y = dw._data(16, seed=10)
    out = {}
    for name, setup in setups.items():
        folder = os.path.join(outdir, "files", _PROCESS["tag"])
        with setup.scope():
            model = dw._identity_model()
            model.compile(
                optimizer=keras.optimizers.SGD(0.0),
                loss=LabelSmoothingCrossentropy(0.1),
                jit_compile=setup.jit_compile,
            )
            xl, yl, batch = setup.local(x, y)
            model.fit(
                xl,
                yl,
                batch_size=batch,
                epochs=2,
                verbose=0,
                callbacks=[
                    ConfidenceMonitor(
                        (xl, yl),
                        batch_size=batch,
                        log_dir=folder,
                        jit_compile=setup.jit_compile,
                    )
                ],
            )
        out[name] = {
            "chief": _keras_compat.is_chief_process(),
            "files": sorted(os.listdir(folder))
            if os.path.isdir(folder)
            else [],
        }
    return out


def check_resume(setups, outdir):
    """4 epochs of SGD with a per-epoch ε schedule; resumable."""
    import keras

    from keras_ls.callbacks.scheduler import LabelSmoothingScheduler
    from keras_ls.losses import LabelSmoothingCrossentropy
    from keras_ls.schedules import LinearDecay

    x, y = dw._data(32, seed=8)
    out = {"x": x.tolist(), "y": y.tolist()}
    backup = os.environ.get("KLS_BACKUP_DIR")
    for name, setup in setups.items():
        callbacks = [LabelSmoothingScheduler(LinearDecay(0.3, 0.0, 3))]
        if backup:
            callbacks.insert(
                0,
                keras.callbacks.BackupAndRestore(
                    os.path.join(backup, _PROCESS["tag"])
                ),
            )
        callbacks.append(_killer(outdir))
        with setup.scope():
            model = dw._random_model(seed=9)
            model.compile(
                optimizer=keras.optimizers.SGD(0.5),
                loss=LabelSmoothingCrossentropy(0.3),
                jit_compile=setup.jit_compile,
            )
            xl, yl, batch = setup.local(x, y)
            history = model.fit(
                xl,
                yl,
                batch_size=batch,
                epochs=4,
                verbose=0,
                shuffle=False,
                callbacks=callbacks,
            )
        kernel, bias = model.layers[0].get_weights()
        out[name] = {
            "epochs": list(history.epoch),
            "loss": history.history["loss"],
            "label_smoothing": history.history["label_smoothing"],
            "kernel": kernel.tolist(),
            "bias": bias.tolist(),
        }
    out["initial_weights"] = [
        w.tolist() for w in dw._random_model(seed=9).layers[0].get_weights()
    ]
    return out


EXTRA_CHECKS = {"files": check_files, "resume": check_resume}


def _tensorflow_setups(role):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if role[0] == "single":
        import tensorflow as tf

        return {"single": dw._TFSetup(tf.distribute.get_strategy())}
    index, count, ports = int(role[1]), int(role[2]), role[3].split(",")
    assert len(ports) == count
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": [f"localhost:{p}" for p in ports]},
            "task": {"type": "worker", "index": index},
        }
    )
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    patch_multi_worker_reduce(strategy)
    return {"parallel": dw._TFSetup(strategy)}


def _jax_setups(role):
    import jax

    if role[0] == "single":
        return {"single": dw._JaxSetup(None)}
    index, count, ports = int(role[1]), int(role[2]), role[3].split(",")
    jax.distributed.initialize(
        coordinator_address=f"localhost:{ports[0]}",
        num_processes=count,
        process_id=index,
    )
    import keras

    devices = keras.distribution.list_devices("cpu")
    if len(devices) != count or jax.process_index() != index:
        raise RuntimeError(f"Expected {count} global devices, got {devices}")
    distribution = keras.distribution.DataParallel(devices=devices)
    distribution.auto_shard_dataset = False
    return {"parallel": dw._JaxSetup(distribution)}


def main(backend, role, outdir, names):
    os.environ["KERAS_BACKEND"] = backend
    role = role.split(":")
    _PROCESS["index"] = 0 if role[0] == "single" else int(role[1])
    tag = "single" if role[0] == "single" else f"worker_{role[1]}"
    _PROCESS["tag"] = tag
    if backend == "tensorflow":
        setups = _tensorflow_setups(role)
    elif backend == "jax":
        setups = _jax_setups(role)
    else:
        raise SystemExit(f"Unknown backend {backend!r}")
    import keras

    # Before any model is built: every process must draw the same initial
    # weights (JAX refuses to place differing values on one global array).
    keras.utils.set_random_seed(0)
    results = {"backend": keras.backend.backend(), "process": tag}
    path = os.path.join(outdir, f"{tag}.json")
    for name in names:
        try:
            if name in EXTRA_CHECKS:
                results[name] = EXTRA_CHECKS[name](setups, outdir)
            else:
                results[name] = dw.CHECKS[name](setups)
        except Exception:  # reported per check, so the others still run
            results[name] = {"error": traceback.format_exc()}
        with open(path + ".tmp", "w") as f:
            json.dump(results, f)
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
