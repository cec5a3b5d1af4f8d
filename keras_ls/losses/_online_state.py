"""The state of `OnlineLabelSmoothing`: S, its sums, and who carries them.

The K×K soft labels S, the sums and counts of the current epoch and its
step count are non-trainable variables of the loss. `SoftLabelState`
creates them, makes the model whose step calls the loss carry them (the
hidden metric `OnlineLabelSmoothingState`), turns the sums into S at each
epoch start of `fit` (or `end_epoch`), and saves and loads them with the
loss; see `keras_ls.losses.online`.
"""

import warnings
import weakref

import keras
import numpy as np

from keras_ls import _keras_compat
from keras_ls._tracking import frames as _frames
from keras_ls._tracking import state as _state
from keras_ls._tracking import steps as _steps
from keras_ls._tracking import values as _values

F32 = "float32"

# The names under which the loss saves its variables, in this order.
_STATE = ("soft_labels", "sums", "counts", "steps")


def _called_from_fit():
    """Whether the innermost Keras entry point on the stack is `fit`.

    Keras resets metrics at every epoch start of `fit`, but also at the
    start of `evaluate` (which `fit` calls for validation) and of every
    `train_on_batch`/`test_on_batch`: only the first is an epoch boundary.
    """
    frame, _ = _frames.method_frame(_keras_compat.ENTRY_POINTS)
    try:
        return (
            frame is not None
            and frame.f_code.co_name in _keras_compat.FIT_METHODS
        )
    finally:
        del frame


def _run_eagerly(fn):
    """Runs `fn` eagerly, also while TensorFlow traces a step."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.init_scope():
            return fn()
    return fn()


class OnlineLabelSmoothingState(_state.HiddenState):
    """Hidden metric carrying an `OnlineLabelSmoothing` loss's variables.

    Metric variables are part of the state of compiled steps on every
    backend; `on_reset`, which Keras calls at the start of every epoch of
    `fit`, turns the epoch's sums into the new soft labels. The loss saves
    its variables itself.
    """

    def __init__(self, loss, name=None):
        super().__init__(name=name or f"keras_ls_ols_state_{loss.name}")
        self._loss = weakref.ref(loss)
        # A tracked list: each variable appended becomes a metric variable.
        self._state_variables = []
        for variable in loss.state_variables:
            self._state_variables.append(variable)

    def owned_by(self, loss):
        return self._loss() is loss

    def on_reset(self):
        loss = self._loss()
        if loss is not None and _called_from_fit():
            loss._update_soft_labels()


class SoftLabelState:
    """The variables of an `OnlineLabelSmoothing` loss and their life cycle.

    A mixin of the loss: `num_classes`, `state_variables`,
    `soft_labels_variable` and the methods below are the loss's own.
    """

    def _init_state(self, num_classes):
        self.num_classes = None
        self.state_variables = []
        self._found = False
        self._models = weakref.WeakSet()
        self._outside_steps = False
        # Whether loaded state holds sums of an unfinished epoch.
        self._loaded_pending = False
        if num_classes is not None:
            self._build(num_classes)

    def _build(self, k):
        """Creates S (uniform), the sums, the counts and the step count.

        Initializers rather than values, so that the first call may come
        from Keras' symbolic build, where variables are initialized on
        leaving its stateless scope.
        """
        self.num_classes = int(k)
        shapes = ((k, k), (k, k), (k,), ())
        values = (1.0 / k, 0.0, 0.0, 0.0)

        def create():
            return [
                keras.Variable(
                    initializer=keras.initializers.Constant(value),
                    shape=shape,
                    dtype=F32,
                    trainable=False,
                    name=name,
                )
                for name, shape, value in zip(_STATE, shapes, values)
            ]

        # A first call inside `jax.jit` (or a tf.function) must not give
        # the variables traced values: they outlive the trace, and the
        # next eager call or `soft_labels` would read a leaked tracer.
        if keras.backend.backend() == "jax":
            import jax

            with jax.ensure_compile_time_eval():
                self.state_variables = create()
        else:
            self.state_variables = _run_eagerly(create)
        (
            self.soft_labels_variable,
            self._sums,
            self._counts,
            self._steps,
        ) = self.state_variables

    @property
    def soft_labels(self):
        """S as a float32 numpy array (None before K is known)."""
        if self.num_classes is None:
            return None
        return np.asarray(self._read(self.soft_labels_variable), np.float32)

    def _read(self, variable):
        """A host copy of one of the state variables, live during a JAX
        fit (the loop's state is synced into the variables first)."""
        for model in list(self._models):
            _keras_compat.sync_jax_state(model)
        return np.asarray(_values.to_numpy(variable.value))

    def end_epoch(self):
        """Turns the sums accumulated since the last call into S.

        Row y becomes the mean prediction of class y's correct training
        examples, or 1/K without any; does nothing when no training step
        ran since the last call. Keras calls it at every epoch start of
        `fit` (through the hidden metric): call it yourself only in a
        custom training loop, which must compute the loss in a training
        step: `model.train_on_batch`, a custom `train_step`, or
        `model.compute_loss(..., training=True)`. A loss called on its own
        cannot tell training from evaluation and never accumulates; then
        this warns.
        """
        if self._update_soft_labels() is False and self._outside_steps:
            self._outside_steps = False
            warnings.warn(
                "OnlineLabelSmoothing.end_epoch() found no training step "
                "since its last call, so the soft labels stay as they are. "
                "The loss learns only in a model's training step (fit, "
                "train_on_batch, a custom train_step, or "
                "model.compute_loss(..., training=True)); called on its "
                "own, as loss(y, y_pred) in a custom loop, it cannot tell "
                "training from evaluation. Compute it with "
                "model.compute_loss(x, y, y_pred, training=True) in your "
                "loop.",
                UserWarning,
                stacklevel=2,
            )

    def _update_soft_labels(self):
        """`end_epoch`'s work; False when no training step ran."""
        self._loaded_pending = False
        if self.num_classes is None:
            return False
        steps = float(self._read(self._steps))
        if steps == 0:
            return False
        k = self.num_classes
        counts = self._read(self._counts).astype(np.float64)
        sums = self._read(self._sums).astype(np.float64)
        rows = np.full((k, k), 1.0 / k)
        seen = counts > 0
        rows[seen] = sums[seen] / counts[seen, None]
        self.soft_labels_variable.assign(rows.astype(np.float32))
        self._sums.assign(np.zeros((k, k), np.float32))
        self._counts.assign(np.zeros((k,), np.float32))
        self._steps.assign(0.0)
        return True

    def _find_model(self, y_pred):
        """Attaches the state to the model whose step calls the loss.

        Keras' symbolic build calls the loss (with symbolic values) before
        the first step of every model that uses it, so concrete calls can
        skip the frame walk once a model was found.
        """
        kind = _values.kind(y_pred)
        if kind == "compiling" or (kind == "concrete" and self._found):
            return
        model = _state.calling_model()
        if model is None:
            return
        if (
            keras.backend.backend() == "jax"
            and _keras_compat.jax_state_gathered(model)
            and model not in self._models
        ):
            # The model's fit gathered its state before the loss met it
            # (a keras.distillation.Distiller compiles without the loss):
            # the state cannot grow inside this step.
            self._warn_not_carried(model)
            return
        self._track(model)
        self._found = True

    def _warn_not_carried(self, model):
        if getattr(self, "_warned_not_carried", False):
            return
        self._warned_not_carried = True
        warnings.warn(
            f"OnlineLabelSmoothing met {type(model).__name__} only after "
            "its JAX fit had gathered the model's state (a model whose "
            "compile did not get this loss, such as a "
            "keras.distillation.Distiller), so its soft labels cannot learn "
            "in this model's steps. Call "
            "`keras_ls.track_label_smoothing(model, losses=[loss])` before "
            "`fit`.",
            UserWarning,
            stacklevel=4,
        )

    def track_state(self, model, num_classes=None):
        """Makes `model` carry this loss's state; see
        `keras_ls.track_label_smoothing(model, losses=[loss])`."""
        if self.num_classes is None:
            outputs = getattr(model, "outputs", None) or []
            k = num_classes or (
                outputs[0].shape[-1] if len(outputs) == 1 else None
            )
            if k is None:
                raise ValueError(
                    "OnlineLabelSmoothing needs `num_classes` to join a model "
                    "before its first call. Received: num_classes=None"
                )
            self._build(int(k))
        self._track(model)

    def _track(self, model):
        for metric in _state.hidden_states(model, OnlineLabelSmoothingState):
            if metric.owned_by(self):
                return
        holder = OnlineLabelSmoothingState(self)
        _state.attach(model, holder)
        self._models.add(model)
        if (
            self._loaded_pending
            and _steps.is_training_step() is True
            and _called_from_fit()
        ):
            # Attached while tracing the first train step (TensorFlow
            # builds no model state before it), after the epoch start's
            # reset: sums loaded from a checkpoint become S now, as the
            # reset would have done.
            _run_eagerly(self.end_epoch)
        state = {id(v) for v in model.metrics_variables}
        if not all(id(v) in state for v in self.state_variables):
            raise RuntimeError(
                "keras_ls could not make the OnlineLabelSmoothing state "
                f"part of the state of {type(model).__name__} on Keras "
                f"{keras.__version__}: compiled steps would not update it."
            )

    def save_own_variables(self, store):
        # Called by Keras' saving for `model.loss`: S and the pending sums
        # go into `.keras` files and weight checkpoints.
        for i, variable in enumerate(self.state_variables):
            store[str(i)] = np.asarray(_values.to_numpy(variable.value))

    def load_own_variables(self, store):
        if len(store.keys()) != len(_STATE):
            raise ValueError(
                f"OnlineLabelSmoothing expected {len(_STATE)} saved state "
                f"arrays ({', '.join(_STATE)}). Received: {len(store.keys())}"
            )
        k = int(np.asarray(store["2"]).shape[0])
        if self.num_classes is None:
            self._build(k)
        elif k != self.num_classes:
            raise ValueError(
                f"The saved OnlineLabelSmoothing state is for {k} classes; "
                f"this loss has num_classes={self.num_classes}."
            )
        for i, variable in enumerate(self.state_variables):
            variable.assign(np.asarray(store[str(i)]))
        self._loaded_pending = float(np.asarray(store["3"])) > 0
