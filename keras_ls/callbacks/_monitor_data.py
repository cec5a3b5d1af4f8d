"""`validation_data` of ConfidenceMonitor, in the one form its pass consumes.

Arrays, a tf.data.Dataset and a PyDataset are padded with zero-weight rows
to one batch shape, so the compiled pass is traced once per training run;
the labels are checked against each model's output before the first step.
"""

import keras
import numpy as np

from keras_ls._tracking import logits as _logits

DEFAULT_BATCH_SIZE = 32


def _is_tf_dataset(data):
    return type(data).__module__.startswith("tensorflow") and hasattr(
        data, "element_spec"
    )


def _leading_size(structure):
    return int(np.shape(keras.tree.flatten(structure)[0])[0])


def _pad_rows(structure, size):
    def pad(array):
        array = np.asarray(array)
        missing = size - array.shape[0]
        if missing <= 0:
            return array
        filler = np.zeros((missing,) + array.shape[1:], dtype=array.dtype)
        return np.concatenate([array, filler], axis=0)

    return keras.tree.map_structure(pad, structure)


def _no_labels_error(kind):
    return ValueError(
        "`validation_data` must provide labels: (x, y) or (x, y, "
        f"sample_weight). Received: {kind} without labels"
    )


class _PaddedPyDataset(keras.utils.PyDataset):
    """Pads every batch of a PyDataset to one size with zero weights."""

    def __init__(self, source, batch_size):
        super().__init__(
            workers=getattr(source, "workers", 1),
            use_multiprocessing=getattr(source, "use_multiprocessing", False),
            max_queue_size=getattr(source, "max_queue_size", 10),
        )
        self.source = source
        self.batch_size = batch_size
        self.num_outputs = 1

    def __len__(self):
        return len(self.source)

    def __getitem__(self, index):
        x, y, weight = _pad_batch(self.source[index], self.batch_size)
        n = self.num_outputs
        return x, (y,) * n, (weight,) * n

    def on_epoch_end(self):
        self.source.on_epoch_end()


def _split_batch(batch):
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise _no_labels_error("a PyDataset batch")
    if len(batch) > 3:
        raise ValueError(
            "`validation_data` batches must be (x, y) or (x, y, "
            f"sample_weight). Received a batch of {len(batch)} elements"
        )
    x, y = batch[0], batch[1]
    weight = batch[2] if len(batch) == 3 else None
    return x, y, weight


def _pad_batch(batch, batch_size):
    x, y, weight = _split_batch(batch)
    n = _leading_size(x)
    if n > batch_size:
        raise ValueError(
            f"`validation_data` has a batch of {n} examples, more than the "
            f"batch size {batch_size} fixed by its first batch or by "
            "`batch_size`. Pass a larger `batch_size` to ConfidenceMonitor."
        )
    weight = (
        np.ones((n,), "float32")
        if weight is None
        else np.asarray(weight, "float32").reshape(n)
    )
    return (
        _pad_rows(x, batch_size),
        _pad_rows(y, batch_size),
        _pad_rows(weight, batch_size),
    )


def _tf_padded(dataset, batch_size):
    import tensorflow as tf

    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise _no_labels_error(
            "a tf.data.Dataset whose elements are not (x, y) tuples"
        )

    def pad(*element):
        x, y = element[0], element[1]
        n = tf.shape(tf.nest.flatten(x)[0])[0]
        weight = element[2] if len(element) > 2 else tf.ones((n,))
        weight = tf.reshape(tf.cast(weight, tf.float32), (n,))
        check = tf.debugging.assert_less_equal(
            n,
            batch_size,
            message=f"a validation batch is larger than {batch_size}; pass "
            "a larger `batch_size` to ConfidenceMonitor",
        )

        def to_size(t):
            with tf.control_dependencies([check]):
                paddings = [[0, batch_size - n]] + [[0, 0]] * (len(t.shape) - 1)
                padded = tf.pad(t, paddings)
            return tf.ensure_shape(padded, [batch_size] + t.shape[1:])

        return (
            tf.nest.map_structure(to_size, x),
            tf.nest.map_structure(to_size, y),
            to_size(weight),
        )

    return dataset.map(pad)


class ValidationData:
    """`validation_data` in the one form the compiled pass consumes.

    Numpy arrays are padded once to a multiple of the batch size; a
    tf.data.Dataset and a PyDataset are padded batch by batch. Padding rows
    have sample weight 0, so they change no statistic and every batch has
    the same shape (one trace per training run).
    """

    def __init__(self, data, batch_size):
        self.batch_size = batch_size
        self._repeated = None
        if _is_tf_dataset(data):
            first = next(iter(data))
            if not isinstance(first, tuple) or len(first) < 2:
                raise _no_labels_error(
                    "a tf.data.Dataset whose elements are not (x, y) tuples"
                )
            self.batch_size = batch_size or _leading_size(first[0])
            self.first_x = keras.tree.map_structure(np.asarray, first[0])
            self.first_y = np.asarray(first[1])
            self._dataset = _tf_padded(data, self.batch_size)
            self.kind = "tf.data.Dataset"
        elif isinstance(data, keras.utils.PyDataset):
            x, y, _ = _split_batch(data[0])
            self.batch_size = batch_size or _leading_size(x)
            self.first_x, self.first_y = x, np.asarray(y)
            self._dataset = _PaddedPyDataset(data, self.batch_size)
            self.kind = "PyDataset"
        elif isinstance(data, (tuple, list)):
            if len(data) < 2:
                raise _no_labels_error(
                    f"a {type(data).__name__} of {len(data)} element"
                )
            if len(data) > 3:
                raise ValueError(
                    "`validation_data` must be (x, y) or (x, y, "
                    f"sample_weight). Received {len(data)} elements"
                )
            x, y = data[0], np.asarray(data[1])
            n = _leading_size(x)
            if y.shape[:1] != (n,):
                raise ValueError(
                    "`validation_data` x and y must have the same number of "
                    f"examples. Received: {n} inputs and labels of shape "
                    f"{y.shape}"
                )
            weight = (
                np.ones((n,), "float32")
                if len(data) == 2
                else np.asarray(data[2], "float32").reshape(n)
            )
            self.batch_size = batch_size or DEFAULT_BATCH_SIZE
            size = -(-n // self.batch_size) * self.batch_size
            self._arrays = (
                _pad_rows(x, size),
                _pad_rows(y, size),
                _pad_rows(weight, size),
            )
            self.first_x = keras.tree.map_structure(
                lambda a: np.asarray(a)[: self.batch_size], x
            )
            self.first_y = y
            self._dataset = None
            self.kind = "arrays"
        else:
            raise TypeError(
                "`validation_data` must be a tuple (x, y[, sample_weight]) "
                "of arrays, a tf.data.Dataset or a keras.utils.PyDataset. "
                f"Received: validation_data of type {type(data).__name__}"
            )

    def check_models(self, members, from_logits, warned):
        """Checks each (name, model) against the first batch, before any
        step; returns whether a probabilities warning has been given."""
        for name, member in members:
            title = "the model" if name == "model" else f"compare[{name!r}]"
            k, output = output_classes(member, self.first_x, title, from_logits)
            check_labels(self.first_y, k, title)
            if from_logits and not warned:
                # Attributed to the caller of `fit`, through the monitor.
                warned = _logits.warn_if_probabilities(
                    f"ConfidenceMonitor (checking {title})",
                    output,
                    stacklevel=5,
                )
        return warned

    def evaluate(self, model, num_outputs):
        """`model.evaluate` with the labels repeated for each output."""
        kwargs = {"verbose": 0, "return_dict": True}
        if self._dataset is None:
            x, y, weight = self._arrays
            return model.evaluate(
                x,
                (y,) * num_outputs,
                sample_weight=(weight,) * num_outputs,
                batch_size=self.batch_size,
                **kwargs,
            )
        if self._repeated is None or self._repeated[0] != num_outputs:
            self._repeated = (num_outputs, self._repeat_labels(num_outputs))
        return model.evaluate(self._repeated[1], **kwargs)

    def _repeat_labels(self, num_outputs):
        if self.kind == "PyDataset":
            self._dataset.num_outputs = num_outputs
            return self._dataset
        return self._dataset.map(
            lambda x, y, w: (x, (y,) * num_outputs, (w,) * num_outputs)
        )


def check_labels(labels, num_classes, name):
    labels = np.asarray(labels)
    if labels.ndim >= 2 and labels.shape[-1] not in (1, num_classes):
        raise ValueError(
            f"`validation_data` labels have {labels.shape[-1]} classes but "
            f"{name} outputs {num_classes}. Received labels of shape "
            f"{labels.shape}"
        )
    if labels.ndim < 2 or labels.shape[-1] == 1:
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f"`validation_data` class ids range from {labels.min()} to "
                f"{labels.max()}, but {name} outputs {num_classes} classes "
                f"(ids 0 to {num_classes - 1})"
            )


def output_classes(model, x, name, from_logits=False):
    if from_logits:
        _logits.check_model_outputs(model, "ConfidenceMonitor", of=name)
    output = model(x, training=False)
    if isinstance(output, (list, tuple, dict)):
        raise ValueError(
            f"{name} must have a single output. Received "
            f"{type(output).__name__} of outputs"
        )
    k = output.shape[-1]
    if k is None or k < 2:
        raise ValueError(
            f"{name} must output at least 2 classes (logits "
            f"or probabilities). Received output shape "
            f"{tuple(output.shape)}"
        )
    return int(k), output
