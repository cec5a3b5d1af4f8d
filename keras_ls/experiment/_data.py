"""Data of the paired experiment: the one place where input becomes
training data.

`prepare_data` turns what `compare` (or `distillation_compare`) is given,
arrays, a batched dataset or `None` for Fashion-MNIST, into float images
with a channel axis and int32 labels; `split` holds out the seeded
validation rows of a seed, and `flip_labels` adds its label noise.
"""

import typing

import keras
import numpy as np

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls.data import load_fashion_mnist

CUSTOM = "arrays passed as `data`"


class Data(typing.NamedTuple):
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str
    #: Whether the data was given (arrays, datasets or a function), not
    #: Fashion-MNIST loaded by keras_ls.
    custom: bool
    #: The source of the function that returned the data, when given one.
    code: typing.Optional[str] = None


def prepare_data(data, data_dir, train_size):
    """`Data` from what `compare` was given: `None` (Fashion-MNIST), a
    function returning the data, or the data itself (see `_load`)."""
    data_given = data
    code = function_code(data) if callable(data) else None
    data, source = _load(data, data_dir)
    (x_train, y_train), (x_test, y_test) = data
    if train_size is not None:
        x_train, y_train = x_train[:train_size], y_train[:train_size]
    y_train = _labels(y_train, "y_train")
    y_test = _labels(y_test, "y_test")
    x_train, x_test = as_images(x_train), as_images(x_test)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            "`data`'s training and test examples must have the same "
            f"shape. Received: x_train of shape {x_train.shape}, x_test "
            f"of shape {x_test.shape}"
        )
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    return Data(
        x_train,
        y_train,
        x_test,
        y_test,
        num_classes,
        source,
        custom=data_given is not None,
        code=code,
    )


def _labels(y, name):
    """Integer labels >= 0 as int32, or a ValueError that names `name`."""
    y = np.asarray(y).reshape(-1)
    if y.size == 0:
        raise ValueError(f"`data` has no example in {name}. Received: {y!r}")
    integral = np.issubdtype(y.dtype, np.integer) or (
        np.issubdtype(y.dtype, np.floating) and np.all(np.round(y) == y)
    )
    if not integral or y.min() < 0:
        raise ValueError(
            f"`data`'s labels must be integers >= 0 (class ids) or one-hot "
            f"rows. Received: {name} of dtype {y.dtype} with values "
            f"{np.unique(y)[:5].tolist()}..."
        )
    return y.astype(np.int32)


def describe(data):
    """Where the data came from and its shapes after preparation, for
    results.json and report.md."""
    return {
        "source": data.source,
        "x_train": list(data.x_train.shape),
        "y_train": list(data.y_train.shape),
        "x_test": list(data.x_test.shape),
        "y_test": list(data.y_test.shape),
        "num_classes": data.num_classes,
        "code": data.code,
    }


def function_source(function):
    """``module:qualified_name`` of a user's function, as the command line
    names it (``--model my_model.py:build`` is ``my_model:build``)."""
    name = getattr(function, "__qualname__", None)
    module = getattr(function, "__module__", None)
    if name is None:
        return repr(function)
    return f"{module}:{name}" if module else name


def function_code(function, max_lines=80):
    """The source of a user's function, for report.md, so that the run
    can be repeated from the report alone; `None` where Python cannot
    read it (a builtin, a lambda in a notebook cell) or it is longer than
    `max_lines`."""
    import inspect

    try:
        code = inspect.getsource(function)
    except (OSError, TypeError):
        return None
    return code if code.count("\n") <= max_lines else None


def _load(data, data_dir):
    """``((x_train, y_train), (x_test, y_test))`` and its source."""
    if data is None:
        return load_fashion_mnist(data_dir, return_source=True)
    source = CUSTOM
    if callable(data) and not _is_dataset(data):
        source = f"{function_source(data)}()"
        data = data()
    try:
        train, test = data
    except (TypeError, ValueError):
        received = type(data).__name__
        if source != CUSTOM:
            received = f"{source}, which returned {received}"
        raise ValueError(
            "`data` must be (train, test), each a pair (x, y) of numpy "
            "arrays, a tf.data.Dataset or a keras.utils.PyDataset, or a "
            f"function returning them. Received: {received}"
        ) from None
    return (_as_arrays(train, "data[0]"), _as_arrays(test, "data[1]")), source


def _is_dataset(obj):
    return isinstance(obj, keras.utils.PyDataset) or _is_tf_dataset(obj)


def _as_arrays(part, name):
    """``(x, y)`` numpy arrays from a pair of arrays or a batched dataset.

    A dataset is read once into memory, so that compare can split it,
    flip its labels and give every variant of a seed the same batches.
    """
    if _is_dataset(part):
        xs, ys = [], []
        for batch in _batches(part, name):
            if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
                raise ValueError(
                    f"`{name}` must yield (x, y) or (x, y, sample_weight) "
                    f"batches. Received a batch of type "
                    f"{type(batch).__name__}"
                )
            xs.append(np.asarray(batch[0]))
            ys.append(np.asarray(batch[1]))
        if not xs:
            raise ValueError(f"`{name}` yielded no batch. Received: {part!r}")
        x, y = np.concatenate(xs), np.concatenate(ys)
    else:
        try:
            x, y = part
        except (TypeError, ValueError):
            raise ValueError(
                f"`{name}` must be a pair (x, y) of arrays, a "
                "tf.data.Dataset or a keras.utils.PyDataset. Received: "
                f"{type(part).__name__}"
            ) from None
        x, y = np.asarray(x), np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot rows
        y = y.argmax(-1)
    y = y.reshape(len(y), -1)
    if y.shape[1] != 1 or len(x) != len(y):
        raise ValueError(
            f"`{name}` needs one integer label (or one one-hot row) per "
            f"example. Received: x of shape {x.shape}, y of shape {y.shape}"
        )
    return x, y.reshape(-1)


def _batches(part, name):
    """The ``(x, y)`` batches of a `tf.data.Dataset` or a `PyDataset`."""
    if _is_tf_dataset(part):
        import tensorflow as tf

        if part.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ValueError(
                f"`{name}` is an infinite tf.data.Dataset (e.g. it ends "
                "with .repeat()); compare reads it once. Received: "
                f"{part!r}"
            )
        return part.as_numpy_iterator()
    count = getattr(part, "num_batches", None)
    if count is None:
        count = len(part)
    return (part[i] for i in range(count))


def _is_tf_dataset(obj):
    return type(obj).__module__.startswith("tensorflow") and hasattr(
        obj, "as_numpy_iterator"
    )


def as_images(x):
    x = np.asarray(x)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    x = x.astype(np.float32) / np.float32(scale)
    return x[..., None] if x.ndim == 3 else x


@keras_ls_export("keras_ls.experiment.default_validation_size")
def default_validation_size(num_train):
    """Held-out examples when `validation_size` is `None`: 1/12 of them.

    That is 5,000 of Fashion-MNIST's 60,000 training images (the size of
    Keras' and torchvision's usual MNIST validation split), and the same
    share of a smaller `train_size`.

    Examples:

    >>> size = keras_ls.experiment.default_validation_size
    >>> size(60000), size(256)
    (5000, 21)
    """
    return int(round(num_train / 12))


def split(num_examples, validation_size, seed):
    """A seeded random (fit, validation) split of the training rows."""
    order = np.random.default_rng([int(seed), 2021]).permutation(num_examples)
    return np.sort(order[validation_size:]), np.sort(order[:validation_size])


def seed_data(data, seed, *, validation_size, label_noise):
    """The data of one seed: ``(fit_data, validation)``.

    `fit_data` is ``(x, y)``, the training rows that are not held out,
    their labels flipped by `label_noise` (the same flips for every model
    of the seed); `validation` the `validation_size` held-out rows with
    clean labels, or `None` when there are none.
    """
    fit_rows, val_rows = split(len(data.x_train), validation_size, seed)
    labels = data.y_train[fit_rows]
    if label_noise:
        labels = flip_labels(
            labels, label_noise, num_classes=data.num_classes, seed=seed
        )
    validation = None
    if validation_size:
        validation = (data.x_train[val_rows], data.y_train[val_rows])
    return (data.x_train[fit_rows], labels), validation


@keras_ls_export("keras_ls.experiment.flip_labels")
def flip_labels(y, fraction, *, num_classes=10, seed=0):
    """Symmetric label noise: moves a fraction of labels to another class.

    Exactly ``round(fraction · len(y))`` labels, chosen at random, are each
    replaced by one of the other ``num_classes - 1`` classes, uniformly.

    Args:
        y: Integer labels, a 1-D numpy array.
        fraction: The fraction of labels to flip, in [0, 1).
        num_classes: The number of classes. Defaults to `10`.
        seed: Seed of the choice. Defaults to `0`.

    Returns:
        A new int32 array; `y` is not modified.

    Raises:
        ValueError: when `fraction` is not in [0, 1) or `num_classes` is not
            an integer >= 2.

    Examples:

    >>> y = np.zeros(10, "int32")
    >>> noisy = keras_ls.experiment.flip_labels(y, 0.3, seed=1)
    >>> int((noisy != y).sum())
    3
    """
    fraction = _validation.check_label_smoothing(fraction, "label_noise")
    num_classes = _validation.check_int(num_classes, "num_classes", minimum=2)
    y = np.asarray(y).astype(np.int32)
    rng = np.random.default_rng([int(seed), 2020])
    count = int(round(fraction * y.size))
    rows = rng.choice(y.size, size=count, replace=False)
    noisy = y.copy()
    noisy[rows] = (y[rows] + rng.integers(1, num_classes, size=count)) % (
        num_classes
    )
    return noisy


__all__ = public_names(__name__)
