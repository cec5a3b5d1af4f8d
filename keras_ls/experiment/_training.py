"""Training of the paired experiment: the models, their seeded fit and the
temperature fitted after it.

Every model of a seed starts from the same weights and sees the same
batches in the same order (`fit_in_seeded_batches`); `train_variant`
compiles one with its loss, keeps ε as model state and fits it.
"""

import functools
import typing

import keras
import numpy as np

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls._tracking import state as _state
from keras_ls.data import as_dataset
from keras_ls.experiment import _data
from keras_ls.experiment import _optimizer

MODELS = ("mlp", "cnn")


@keras_ls_export("keras_ls.experiment.build_model")
def build_model(name="mlp", *, input_shape=(28, 28, 1), num_classes=10):
    """One of the built-in networks, returning logits.

    Args:
        name: `"mlp"` (Flatten, Dense 256 and 128 with ReLU: the motivating
            experiment's network) or `"cnn"` (two 3x3 conv + max-pool
            blocks with 32 and 64 filters, then Dense 128). Defaults to
            `"mlp"`.
        input_shape: Shape of one example. Defaults to `(28, 28, 1)`.
        num_classes: Number of outputs. Defaults to `10`.

    Returns:
        An uncompiled `keras.Model`.

    Raises:
        ValueError: when `name` is not `"mlp"` or `"cnn"`.

    Examples:

    >>> model = keras_ls.experiment.build_model("mlp")
    >>> model.count_params()
    235146
    """
    _validation.check_choice(name, "model", MODELS)
    layers = keras.layers
    inputs = keras.Input(tuple(input_shape))
    x = inputs
    if name == "cnn":
        for filters in (32, 64):
            x = layers.Conv2D(filters, 3, activation="relu")(x)
            x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    if name == "mlp":
        x = layers.Dense(256, activation="relu")(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name=name)


def default_jit_compile():
    """`jit_compile` where the caller gives `None`: `True` (XLA) on
    TensorFlow and JAX, `False` on PyTorch, where `True` means
    `torch.compile`, which took minutes per model on a CPU."""
    return keras.backend.backend() != "torch"


class Training(typing.NamedTuple):
    """How every model of a run is fitted (see `check_training`).
    `new_optimizer` returns a fresh optimizer, whose full config is
    `optimizer_config`; `verbose` is `fit`'s."""

    epochs: int
    batch_size: int
    learning_rate: float
    num_bins: int
    jit_compile: bool
    verbose: int
    new_optimizer: typing.Callable
    optimizer_config: dict


def check_training(
    *,
    epochs,
    batch_size,
    learning_rate,
    num_bins,
    jit_compile,
    verbose,
    optimizer=None,
):
    """`Training` from a run's arguments: `epochs`, `batch_size` and
    `num_bins` checked (in that order), `jit_compile` resolved, the
    optimizer built once (Adam at `learning_rate` when `optimizer` is
    `None`; see `_optimizer.optimizer_factory`); the verbosity as
    given."""
    new_optimizer, optimizer_config = _optimizer.optimizer_factory(
        optimizer, learning_rate
    )
    return Training(
        epochs=_validation.check_int(epochs, "epochs", minimum=1),
        batch_size=_validation.check_int(batch_size, "batch_size", minimum=1),
        learning_rate=learning_rate,
        num_bins=_validation.check_int(num_bins, "num_bins", minimum=1),
        jit_compile=default_jit_compile()
        if jit_compile is None
        else jit_compile,
        verbose=verbose,
        new_optimizer=new_optimizer,
        optimizer_config=optimizer_config,
    )


def check_seeds(seeds):
    """`seeds` as a list: ``range(seeds)`` for a count, else each >= 0."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return list(range(_validation.check_int(seeds, "seeds", minimum=1)))
    seeds = [_validation.check_int(s, "seeds", minimum=0) for s in seeds]
    if not seeds:
        raise ValueError("`seeds` must not be empty. Received: seeds=[]")
    return seeds


def model_factory(model, data, build=build_model):
    """A function of no argument that returns a fresh, uncompiled model.

    Args:
        model: A user's function returning a model (returned as it is), or
            the name of a network of `build`.
        data: The prepared data (`keras_ls.experiment._data.Data`): the
            shape of an example and the number of classes.
        build: The function that builds a named network. Defaults to
            `build_model`.
    """
    if callable(model):
        return model
    return functools.partial(
        build,
        model,
        input_shape=data.x_train.shape[1:],
        num_classes=data.num_classes,
    )


def check_model(new_model, data, model):
    """Builds one model of `new_model` and checks it on two training
    examples; returns its description for results.json.

    Raises:
        ValueError: `new_model` returns no `keras.Model`, the same model
            twice, a model that does not take the data's examples, gives
            no logit per class or ends in a softmax (the losses and
            metrics read logits).
    """
    source = (
        f"keras_ls.experiment.build_model({model!r})"
        if isinstance(model, str)
        else _data.function_source(model)
    )
    net = new_model()
    if not isinstance(net, keras.Model):
        raise ValueError(
            "`model` must be a function returning a fresh uncompiled "
            f"keras.Model with logits. Received: model={source}, which "
            f"returned {type(net).__name__}"
        )
    if new_model() is net:
        raise ValueError(
            "`model` must return a new model at each call: every variant "
            f"trains its own copy. Received: model={source}, which "
            "returned the same model twice"
        )
    logits = _sample_output(net, data, source)
    if logits.ndim != 2 or logits.shape[1] < data.num_classes:
        raise ValueError(
            "`model` must return one logit per class, of shape (batch, "
            f"{data.num_classes}). Received: model={source}, whose output "
            f"on 2 examples has shape {logits.shape}"
        )
    if _ends_in_softmax(net, logits):
        raise ValueError(
            "`model` must return logits, not probabilities: remove its "
            "final softmax (e.g. Dense(10) instead of Dense(10, "
            "activation='softmax')); the losses apply it. Received: "
            f"model={source}, whose last layer {net.layers[-1].name!r} "
            "gives probabilities"
        )
    details = _model_details(net, source)
    if not isinstance(model, str):
        details["code"] = _data.function_code(model)
    return details


def _sample_output(net, data, source):
    """`net`'s output on two training examples, as numpy."""
    sample = data.x_train[:2]
    try:
        output = net(sample, training=False)
    except Exception as e:  # the user's model: any error, one line
        first = (str(e).strip().splitlines() or [""])[0]
        raise ValueError(
            f"`model` does not take the data's examples, of shape "
            f"{tuple(sample.shape[1:])}: {type(e).__name__}: {first} "
            f"Received: model={source}"
        ) from None
    if isinstance(output, (list, tuple, dict)):
        raise ValueError(
            "`model` must have one output, the logits. Received: "
            f"model={source}, which returns a {type(output).__name__}"
        )
    return np.asarray(keras.ops.convert_to_numpy(output), np.float64)


def _ends_in_softmax(net, logits):
    """Whether `net` ends in a softmax: its last layer's activation, or
    outputs that are probabilities (a softmax in a Lambda or `call`)."""
    last = net.layers[-1] if net.layers else None
    activation = getattr(last, "activation", None)
    if isinstance(last, keras.layers.Softmax) or (
        getattr(activation, "__name__", "") == "softmax"
    ):
        return True
    rows = logits.sum(axis=-1)
    return bool(np.all(logits >= 0) and np.allclose(rows, 1.0, atol=1e-5))


def _model_details(net, source):
    """The model's source, layers and parameter counts, for JSON."""
    layers = []
    for layer in net.layers:
        try:
            shape = [None if d is None else int(d) for d in layer.output.shape]
        except (AttributeError, ValueError, TypeError):
            shape = None
        layers.append(
            {
                "name": layer.name,
                "class": type(layer).__name__,
                "output_shape": shape,
                "params": int(layer.count_params()),
            }
        )
    trainable = sum(int(np.prod(w.shape)) for w in net.trainable_weights)
    return {
        "source": source,
        "name": net.name,
        "layers": layers,
        "params": int(net.count_params()),
        "trainable_params": trainable,
    }


def _callbacks(schedule, validation, training, log_dir):
    from keras_ls.callbacks.monitor import ConfidenceMonitor
    from keras_ls.callbacks.scheduler import LabelSmoothingScheduler

    # The scheduler first: it sets ε before the epoch, and writes
    # `label_smoothing` into the logs that History then records.
    callbacks = []
    if schedule is not None:
        callbacks.append(LabelSmoothingScheduler(schedule))
    if validation is not None:
        callbacks.append(
            ConfidenceMonitor(
                validation,
                num_bins=training.num_bins,
                batch_size=training.batch_size,
                tensorboard_dir=log_dir,
            )
        )
    return callbacks


def train_variant(
    net, variant, fit_data, validation, *, seed, training, log_dir=None
):
    """Compiles and fits `net` (already holding the seed's initial weights)
    as `variant`, on ``fit_data = (x, y)``, watched on `validation` when it
    is not `None`, as `training` says.

    Returns:
        The `History` of `fit`.
    """
    from keras_ls.callbacks.scheduler import is_smoothing_loss

    loss = variant.make_loss()
    net.compile(
        optimizer=training.new_optimizer(),
        loss=loss,
        metrics=["accuracy"],
        jit_compile=training.jit_compile,
    )
    # ε is model state in every variant, not only the scheduled one. An
    # untracked ε is read once while tracing: on JAX it becomes a constant
    # that XLA folds into the step differently from a variable, so a fixed
    # ε = 0.1 and a constant schedule at 0.1 drifted apart (6e-8 in the
    # weights after one fit). Tracked everywhere, they are bitwise equal.
    if is_smoothing_loss(loss):
        _state.track_label_smoothing(net, [loss.label_smoothing_variable])
    # The same random draws (dropout, a model's own noise) for every
    # variant of a seed; the batches are seeded by the dataset itself.
    keras.utils.set_random_seed(seed)
    return fit_in_seeded_batches(
        net,
        fit_data,
        seed=seed,
        epochs=training.epochs,
        batch_size=training.batch_size,
        verbose=training.verbose,
        callbacks=_callbacks(variant.schedule, validation, training, log_dir),
    )


def fit_in_seeded_batches(
    net, fit_data, *, seed, epochs, batch_size, verbose, callbacks=None
):
    """`net.fit` on ``fit_data = (x, y)`` in batches shuffled by `seed`
    (the same order for every model of a seed), the last partial batch
    dropped so the compiled step is traced once; returns the History."""
    x, y = fit_data
    return net.fit(
        as_dataset(
            x,
            y,
            batch_size=batch_size,
            shuffle=True,
            seed=seed,
            drop_remainder=True,
        ),
        epochs=epochs,
        # The dataset shuffles itself, identically for every model of a
        # seed; Keras would add its own (global-RNG) batch shuffle on top
        # for a PyDataset.
        shuffle=False,
        callbacks=callbacks,
        verbose=verbose,
    )


def validation_temperature(net, validation, *, batch_size):
    """Temperature scaling's T, fitted on the validation split only."""
    from keras_ls.calibration import fit_temperature

    x, y = validation
    logits = net.predict(x, batch_size=batch_size, verbose=0)
    return fit_temperature(np.asarray(logits, np.float32), y)


__all__ = public_names(__name__)
