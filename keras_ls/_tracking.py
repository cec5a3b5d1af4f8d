"""Makes ε variables part of the state a model passes into compiled steps.

A compiled train step reads model *state*, not Python attributes. On JAX the
step is a pure function of the trainable, non-trainable, optimizer and
metric variables that Keras passes in; any other `keras.Variable` (such as
the ε of a loss held only by `model.loss`) is read once while tracing and
baked into the compiled step as a constant, so assigning it later silently
changes nothing. TensorFlow (`tf.function`, XLA) and PyTorch read a variable
by reference and are not affected, but we track ε the same way everywhere so
that every backend runs the same code path.

ε is tracked as the only state of a hidden, no-op `keras.metrics.Metric`
appended to the model's metrics, and not as a weight of a hidden layer,
because:

- metric variables are part of the step state on every backend (mapped
  while the loss is computed on JAX, in train and test steps alike), so the
  loss reads the live value;
- metrics are not weights: `model.weights`, `get_weights()`/`set_weights()`,
  `count_params()` and `summary()` are unchanged, and weight files
  (`.weights.h5`, `.keras`) have exactly the same content with or without
  the holder, so weights load in both directions between a model that was
  trained with the scheduler and one built without it;
- a hidden layer would have to be appended to ``model._layers``, which on
  `Sequential` is the layer stack itself.

The holder's `reset_state` is a no-op (Keras resets metrics at every epoch
start, which must not zero ε), and its `result` is an empty dict, so it adds
nothing to `logs`, the progress bar or `History`.

Attaching needs the model's private tracker because a built Keras model
locks its state; this is the one place keras_ls touches Keras internals, and
`track_label_smoothing` checks that the holder really is in `model.metrics`
so a future Keras change fails loudly instead of silently freezing ε.
"""

import keras

HOLDER_NAME = "keras_ls_label_smoothing_state"


class LabelSmoothingState(keras.metrics.Metric):
    """A no-op metric whose only job is to carry ε variables as state."""

    def __init__(self, name=HOLDER_NAME):
        super().__init__(name=name)
        # A tracked list: each variable appended becomes a metric variable.
        self._label_smoothing_variables = []

    @property
    def label_smoothing_variables(self):
        return list(self._label_smoothing_variables)

    def add(self, variable):
        if not any(v is variable for v in self._label_smoothing_variables):
            self._label_smoothing_variables.append(variable)

    def update_state(self, *args, **kwargs):
        pass

    def result(self):
        return {}

    def reset_state(self):
        # Keras resets metrics at every epoch start; ε must survive that.
        pass

    # ε is not a weight: it is restored from the loss config by
    # `load_model` and recomputed by the schedule on resume, so weight files
    # stay identical to those of a model built without the scheduler.
    def save_own_variables(self, store):
        pass

    def load_own_variables(self, store):
        pass


def find_holder(model):
    for metric in getattr(model, "_metrics", ()):
        if isinstance(metric, LabelSmoothingState):
            return metric
    return None


def _attach(model, holder):
    tracker = getattr(model, "_tracker", None)
    if tracker is None or not hasattr(tracker, "add_to_store"):
        raise RuntimeError(
            "keras_ls could not make label_smoothing part of the model "
            f"state: {type(model).__name__} has no Keras state tracker "
            f"(Keras {keras.__version__})."
        )
    was_locked = tracker.locked
    tracker.unlock()
    try:
        tracker.add_to_store("metrics", holder)
    finally:
        if was_locked:
            tracker.lock()


def track_label_smoothing(model, variables):
    """Makes `model` carry each of `variables` as state; returns the holder.

    Idempotent: a model gets at most one holder, and a variable is tracked
    once however often this is called (e.g. `fit` called twice).
    """
    holder = find_holder(model)
    if holder is None:
        holder = LabelSmoothingState()
        _attach(model, holder)
    for variable in variables:
        holder.add(variable)
    state = {id(v) for v in model.metrics_variables}
    if not all(id(v) in state for v in variables):
        raise RuntimeError(
            "keras_ls could not make label_smoothing part of the state "
            f"of {type(model).__name__} on Keras {keras.__version__}: the "
            "variable is not in `model.metrics_variables`, so a compiled "
            "train step would not see its changes."
        )
    return holder
