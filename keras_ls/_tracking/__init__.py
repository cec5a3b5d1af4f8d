"""How keras_ls keeps ε live inside compiled steps, without the user's help.

One concept per module:

- `frames`: the one place keras_ls reads the Python stack;
- `steps`: the step context (which model step computes a loss, training
  or evaluation), opened by wrappers of the model's `train_step`,
  `test_step` and `compute_loss`;
- `state`: the hidden no-op metric that carries ε (and a schedule's step
  counter) as model state, and host reads and writes of it;
- `logits`: the check for probabilities passed as logits;
- `values`: concrete, traced or compiling values.

Everything keras_ls assumes about Keras' internals (private attributes,
the names of the methods it looks for on the stack) is listed in
`keras_ls._keras_compat`.
"""

from keras_ls._tracking.state import track_label_smoothing

__all__ = ["track_label_smoothing"]
