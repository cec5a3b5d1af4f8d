"""Ops that fuse a layer into a keras_ls loss.

`linear_label_smoothing_crossentropy` computes the smoothed cross-entropy
of a linear output layer (a language model's head) without building its
logits: `linear_crossentropy` checks the inputs and reduces, `_tiles`
holds the math of one (tokens × classes) tile, `_passes` walks the tiles
in the forward and backward passes, and `_gradient` wraps them in one
custom gradient per backend.
"""

from keras_ls.ops.linear_crossentropy import linear_label_smoothing_crossentropy

__all__ = ["linear_label_smoothing_crossentropy"]
