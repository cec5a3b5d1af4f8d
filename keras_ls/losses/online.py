"""Online label smoothing (OLS, Zhang et al., IEEE TIP 2021).

OLS replaces the uniform smoothing distribution by one learned per class:
a K×K matrix S whose row y is the mean predicted distribution of the
training examples of class y that the model classified correctly in the
previous epoch. The loss mixes the hard cross-entropy with the
cross-entropy against row y:

    loss = α·CE(y, p) + (1 − α)·CE(S[y], p).

The reference code (github.com/zhangchbin/OnlineLabelSmoothing,
`cifar/scripts/train_cifar_all_methods.py`) accumulates softmax outputs in
the training loop (`update_loss_lams`), where `argmax == target`, and at the
end of the epoch sets each row to their mean, or to the uniform 1/K for a
class without any correct example; α = 0.5 there. Its matrix starts at
zero (the first epoch is then 0.5·CE); here the first epoch uses uniform
smoothing (S = 1/K), as the paper describes.

State without a manual call. S, its running sums and counts are
non-trainable variables of the loss. The first time a model's step calls
the loss, a hidden metric that carries them is attached to the model (as
`keras_ls.track_label_smoothing` does for ε), so:

- compiled train steps read and update them on every backend (on JAX the
  step returns them as metric state);
- Keras resets metrics at the start of every epoch of `fit`; the hidden
  metric's reset is where the epoch's sums become the new S. `evaluate`
  (which `fit` calls for validation) and `train_on_batch`/`test_on_batch`
  also reset metrics: there the swap is skipped, and test steps never
  accumulate, so evaluation leaves the state unchanged;
- the loss saves and loads its variables itself, so S and the pending sums
  are in `.keras` files and `.weights.h5` checkpoints, and a resumed `fit`
  continues exactly.
"""

import warnings
import weakref

import keras
import numpy as np
from keras import ops

from keras_ls import _keras_compat
from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls._tracking import frames as _frames
from keras_ls._tracking import logits as _logits
from keras_ls._tracking import state as _state
from keras_ls._tracking import steps as _steps
from keras_ls._tracking import values as _values
from keras_ls.losses._reduction import REDUCTIONS
from keras_ls.losses._reduction import _match_rank
from keras_ls.losses._reduction import keras_mask_of
from keras_ls.losses._reduction import reduce_weighted
from keras_ls.losses.crossentropy import _class_axis
from keras_ls.losses.crossentropy import _class_ids
from keras_ls.losses.crossentropy import _labels_tensor
from keras_ls.losses.crossentropy import _num_classes
from keras_ls.losses.crossentropy import _predictions_tensor
from keras_ls.losses.crossentropy import _resolve_sparse
from keras_ls.losses.crossentropy import label_smoothing_crossentropy

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


class _OnlineLabelSmoothingState(_state.HiddenState):
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


@keras_ls_export(
    "keras_ls.losses.OnlineLabelSmoothing", "keras_ls.OnlineLabelSmoothing"
)
class OnlineLabelSmoothing(keras.losses.Loss):
    """Label smoothing toward each class's own mean correct prediction.

    loss = α·CE(y, p) + (1 − α)·CE(S[y], p), where row y of the K×K matrix
    S is the mean softmax output of the training examples of class y that
    were classified correctly during the previous epoch (uniform 1/K for a
    class without one, and for every class in the first epoch). Dense
    targets t use t·S as the soft target and argmax t as the class.

    Unlike uniform smoothing, which pulls every wrong class up by the same
    ε/K and so erases how similar the classes are, OLS moves probability
    mass toward the classes the model itself confuses with y. The target
    for the true class is the model's own mean confidence on its correct
    examples, so confidence is held near what the network reaches, not at
    a fixed 1 − ε; under label noise, wrongly labelled examples (rarely
    "correct") barely shape S.

    S is updated without a manual call: see the module docstring. Only
    training steps (`fit`, `train_on_batch`) accumulate, and evaluation
    leaves the state unchanged. The sums become the new S at each epoch
    start of `fit`; a training loop of your own (`train_on_batch`, or
    custom steps that call `model.compute_loss`) calls `loss.end_epoch()`
    at its epoch boundaries.

    Args:
        alpha: α in [0, 1], the weight of the hard cross-entropy. Defaults
            to `0.5` (the reference code's).
        num_classes: K, at least 2; `None` takes it from `y_pred` on the
            first call. Defaults to `None`.
        from_logits: Whether `y_pred` holds logits (probabilities are
            renormalised and clipped to [1e-7, 1 - 1e-7]). Defaults to
            `True`.
        sparse: `True` for integer class ids, `False` for one-hot or soft
            targets, `None` to infer from rank and dtype. Defaults to
            `None`.
        axis: The class axis of `y_pred`. Defaults to `-1`.
        reduction: As in Keras. Defaults to `"sum_over_batch_size"`.
        name: Name of the loss. Defaults to `"online_label_smoothing"`.
        dtype: Dtype of the returned value; accumulation is float32.
            Defaults to `None` (float32).
        check_logits: With `from_logits=True`, whether to check that
            `y_pred` are not probabilities (see
            `keras_ls.LabelSmoothingCrossentropy`). Defaults to `True`.

    Standalone usage (first epoch: S is uniform, so this is label
    smoothing with ε = 1 − α):

    >>> import numpy as np
    >>> import keras_ls
    >>> loss = keras_ls.OnlineLabelSmoothing(alpha=0.5, num_classes=2)
    >>> round(float(loss(np.array([0]), np.array([[2.0, 0.0]]))), 4)
    0.6269
    >>> loss.soft_labels
    array([[0.5, 0.5],
           [0.5, 0.5]], dtype=float32)

    Usage with the `compile()` API:

    ```python
    model.compile(
        optimizer="adam",
        loss=keras_ls.OnlineLabelSmoothing(alpha=0.5),
        jit_compile=True,
    )
    model.fit(x, y, epochs=10)  # S is updated at every epoch start
    ```

    Raises:
        ValueError: For an invalid option, `y_pred` whose class axis does
            not have `num_classes` entries, `y_true` that does not fit
            `y_pred`, a class id outside [0, K) where values are concrete,
            and, with `from_logits=True`, a model that ends in softmax.

    References:
        - Zhang, Jiang, Hou, Wei, Han, Li and Cheng, 2021. Delving Deep
          into Label Smoothing. IEEE Transactions on Image Processing.
          https://arxiv.org/abs/2011.12562
    """

    _binary = False

    def __init__(
        self,
        *,
        alpha=0.5,
        num_classes=None,
        from_logits=True,
        sparse=None,
        axis=-1,
        reduction="sum_over_batch_size",
        name="online_label_smoothing",
        dtype=None,
        check_logits=True,
    ):
        if not _validation._is_real_number(alpha) or not (
            0.0 <= float(alpha) <= 1.0
        ):
            raise ValueError(
                "`alpha` must be a real number in [0, 1]. "
                f"Received: alpha={alpha!r}"
            )
        if num_classes is not None:
            num_classes = _validation.check_int(
                num_classes, "num_classes", minimum=2
            )
        _validation.check_bool(from_logits, "from_logits")
        _validation.check_bool(check_logits, "check_logits")
        _validation.check_choice(sparse, "sparse", (None, True, False))
        _validation.check_int(axis, "axis")
        _validation.check_choice(reduction, "reduction", REDUCTIONS)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._dtype_arg = dtype
        self.alpha = float(alpha)
        self.from_logits = bool(from_logits)
        self.sparse = sparse
        self.axis = int(axis)
        self.num_classes = None
        self.check_logits = bool(check_logits)
        self.state_variables = []
        self._found = False
        self._models = weakref.WeakSet()
        self._outside_steps = False
        # Whether loaded state holds sums of an unfinished epoch.
        self._loaded_pending = False
        if num_classes is not None:
            self._build(num_classes)

    # State ---------------------------------------------------------------
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
        for metric in _state.hidden_states(model, _OnlineLabelSmoothingState):
            if metric.owned_by(self):
                return
        holder = _OnlineLabelSmoothingState(self)
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

    # The loss ------------------------------------------------------------
    def _inputs(self, y_true, y_pred):
        """(class-last y_pred, class ids or None, dense targets or None)."""
        y_pred = _predictions_tensor(y_pred)
        if not keras.backend.is_float_dtype(y_pred.dtype):
            y_pred = ops.cast(y_pred, F32)
        y_true = _labels_tensor(y_true, y_pred, self.axis)
        rank = len(y_pred.shape)
        axis = _class_axis(self.axis, rank)
        y_true, sparse = _resolve_sparse(y_true, y_pred, self.sparse, axis)
        if axis != rank - 1:
            y_pred = ops.moveaxis(y_pred, axis, -1)
            if not sparse:
                y_true = ops.moveaxis(y_true, axis, -1)
        k = _num_classes(y_pred)
        if self.num_classes is None:
            self._build(k)
        elif k != self.num_classes:
            raise ValueError(
                f"`y_pred` must have num_classes={self.num_classes} entries "
                f"on its class axis. Received: y_pred.shape="
                f"{tuple(y_pred.shape)}"
            )
        if sparse:
            return y_pred, _class_ids(y_true, k), None
        return y_pred, None, ops.cast(y_true, F32)

    def _values(self, y_pred, labels, targets):
        matrix = ops.convert_to_tensor(self.soft_labels_variable)
        if labels is not None:
            hard = labels
            soft = ops.take(matrix, labels, axis=0)
        else:
            hard = targets
            soft = ops.matmul(targets, matrix)

        def ce(target):
            return label_smoothing_crossentropy(
                target, y_pred, 0.0, from_logits=self.from_logits
            )

        # A term of weight 0 is dropped: either may be +inf for a −inf
        # logit, and 0·inf would make the loss NaN.
        if self.alpha == 1.0:
            return ce(hard)
        if self.alpha == 0.0:
            return ce(soft)
        return self.alpha * ce(hard) + (1.0 - self.alpha) * ce(soft)

    def _accumulate(self, y_pred, labels, targets, weights):
        """Adds the correct positions' predictions to the sums (no grad)."""
        k = self.num_classes
        z = ops.reshape(ops.stop_gradient(ops.cast(y_pred, F32)), (-1, k))
        if self.from_logits:
            probs = ops.softmax(z, axis=-1)
        else:
            probs = z / ops.sum(z, axis=-1, keepdims=True)
        if labels is not None:
            classes = ops.reshape(labels, (-1,))
        else:
            classes = ops.argmax(ops.reshape(targets, (-1, k)), axis=-1)
        classes = ops.cast(classes, "int32")
        predicted = ops.cast(ops.argmax(z, axis=-1), "int32")
        weight = ops.cast(ops.equal(predicted, classes), F32)
        if weights is not None:
            weight = weight * ops.reshape(weights, (-1,))
        self._sums.assign_add(
            ops.segment_sum(
                probs * ops.expand_dims(weight, -1), classes, num_segments=k
            )
        )
        self._counts.assign_add(
            ops.segment_sum(weight, classes, num_segments=k)
        )
        self._steps.assign_add(1.0)

    def call(self, y_true, y_pred):
        y_pred, labels, targets = self._inputs(y_true, y_pred)
        return self._values(y_pred, labels, targets)

    def __call__(self, y_true, y_pred, sample_weight=None):
        mask = keras_mask_of(y_pred)
        y_pred_last, labels, targets = self._inputs(y_true, y_pred)
        self._find_model(y_pred)
        values = self._values(y_pred_last, labels, targets)
        if _logits.check_needed(self, y_pred):
            _logits.check(self, y_pred, axis=self.axis)
        # Read while tracing in compiled steps: only the train step gets
        # the accumulation ops; standalone calls (None) never accumulate.
        training = _steps.is_training_step()
        if training is None:
            self._outside_steps = True
        step = _steps.current()
        carried = step is None or step.model in self._models
        if training is True and carried:
            weights = None
            if sample_weight is not None:
                weights = _match_rank(values, ops.cast(sample_weight, F32))
                weights = ops.broadcast_to(weights, ops.shape(values))
            if mask is not None:
                keep = _match_rank(values, ops.cast(mask, F32))
                keep = ops.broadcast_to(keep, ops.shape(values))
                weights = keep if weights is None else weights * keep
            self._accumulate(y_pred_last, labels, targets, weights)
        loss = reduce_weighted(
            values, sample_weight, mask=mask, reduction=self.reduction
        )
        if self.dtype != F32:
            loss = ops.cast(loss, self.dtype)
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(
            alpha=self.alpha,
            num_classes=self.num_classes,
            from_logits=self.from_logits,
            sparse=self.sparse,
            axis=self.axis,
            dtype=self._dtype_arg,
            check_logits=self.check_logits,
        )
        return config


__all__ = public_names(__name__)
