"""Fashion-MNIST loading that works offline, and batching for every backend.

`load_fashion_mnist` looks for the data in a fixed order of places and
reads the original IDX files itself, so neither TensorFlow nor internet
access is needed when the files are on disk (e.g. from the Debian/Ubuntu
package ``dataset-fashion-mnist``). `as_dataset` batches numpy arrays as a
``tf.data.Dataset`` under TensorFlow and as a ``keras.utils.PyDataset``
elsewhere, with a seeded, reproducible order.
"""

import gzip
import math
import os

import keras
import numpy as np

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names

ENV_VAR = "KERAS_LS_DATA_DIR"
SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
HOW_TO_GET = (
    "Install it with `apt-get install dataset-fashion-mnist` as root (or "
    "with sudo; Debian/Ubuntu), put the four IDX files (*-ubyte.gz) in a "
    f"folder and pass it as `data_dir` or set ${ENV_VAR}, or run once with "
    "internet access (keras.datasets downloads it, as does tfds when "
    "tensorflow-datasets is installed)."
)
# IDX magic: two zero bytes, a type code (0x08 = uint8) and the rank.
_IDX_UBYTE = 0x08


@keras_ls_export("keras_ls.data.DataNotFoundError")
class DataNotFoundError(FileNotFoundError):
    """No source of the data set was available.

    Its message lists every place tried and how to get the data; `tried`
    holds the same places as ``(source, reason)`` pairs.
    """

    def __init__(self, tried):
        self.tried = list(tried)
        places = "; ".join(f"{src} ({why})" for src, why in self.tried)
        super().__init__(
            f"Fashion-MNIST was not found. Tried: {places}. {HOW_TO_GET}"
        )


@keras_ls_export("keras_ls.data.IDXFormatError")
class IDXFormatError(ValueError):
    """An IDX file is corrupt, truncated or not what was expected."""


@keras_ls_export("keras_ls.data.keras_cache_dir")
def keras_cache_dir():
    """The folder `keras.datasets.fashion_mnist` downloads into."""
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    return os.path.join(home, "datasets", "fashion-mnist")


@keras_ls_export("keras_ls.data.read_idx")
def read_idx(path, rank=None):
    """Reads one IDX file (optionally gzipped) into a uint8 numpy array.

    Args:
        path: Path to an IDX file; a name ending in ``.gz`` is decompressed.
        rank: The number of dimensions the file must have (3 for images,
            1 for labels), or `None` to accept any. Defaults to `None`.

    Returns:
        A uint8 array with the shape stored in the file's header.

    Raises:
        IDXFormatError: naming the file, when its magic number, rank or
            size does not match, or the gzip stream is broken.

    Examples:

    >>> import os, struct, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(struct.pack(">BBBBI", 0, 0, 8, 1, 3) + bytes([4, 0, 9]))
    >>> keras_ls.data.read_idx(path, rank=1).tolist()
    [4, 0, 9]
    """
    path = os.fspath(path)
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except (OSError, EOFError) as e:
        # gzip.BadGzipFile is an OSError; a truncated stream is an EOFError.
        raise IDXFormatError(
            f"Cannot read IDX file {path}: {type(e).__name__}: {e}"
        ) from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            f"{path} is not an IDX file: its first bytes {data[:4]!r} are "
            "not a magic number 0x0000TTRR."
        )
    if data[2] != _IDX_UBYTE:
        raise IDXFormatError(
            f"{path}: IDX type code 0x{data[2]:02x} is not 0x08 (uint8)."
        )
    file_rank = data[3]
    if rank is not None and file_rank != rank:
        raise IDXFormatError(
            f"{path}: expected an IDX file of rank {rank}, found rank "
            f"{file_rank} (magic 0x{int.from_bytes(data[:4], 'big'):08x})."
        )
    header = 4 + 4 * file_rank
    if len(data) < header:
        raise IDXFormatError(f"{path} is truncated inside its header.")
    shape = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big")
        for i in range(file_rank)
    )
    expected = header + math.prod(shape)
    if len(data) != expected:
        raise IDXFormatError(
            f"{path}: the header announces shape {shape}, i.e. "
            f"{expected} bytes, but the file holds {len(data)} bytes "
            f"({'truncated' if len(data) < expected else 'trailing data'})."
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _find_files(folder):
    """Maps each split to its file in `folder`, or returns a reason."""
    if not os.path.isdir(folder):
        return None, "no such folder"
    found = {}
    for key, stem in FILES.items():
        for name in (stem + ".gz", stem):
            if os.path.isfile(os.path.join(folder, name)):
                found[key] = os.path.join(folder, name)
                break
        else:
            return None, f"{stem}[.gz] missing"
    return found, None


def _read_folder(files):
    x_train = read_idx(files["x_train"], rank=3)
    y_train = read_idx(files["y_train"], rank=1)
    x_test = read_idx(files["x_test"], rank=3)
    y_test = read_idx(files["y_test"], rank=1)
    for x, y, xk, yk in (
        (x_train, y_train, "x_train", "y_train"),
        (x_test, y_test, "x_test", "y_test"),
    ):
        if x.shape[1:] != (28, 28) or len(x) != len(y):
            raise IDXFormatError(
                f"{files[xk]} holds images of shape {x.shape} and "
                f"{files[yk]} labels of shape {y.shape}; expected "
                "(N, 28, 28) images and N labels."
            )
        if y.size and y.max() > 9:
            raise IDXFormatError(
                f"{files[yk]} holds a label {int(y.max())} outside 0-9."
            )
    return (x_train, y_train.astype(np.int32)), (
        x_test,
        y_test.astype(np.int32),
    )


def _from_tfds():
    import tensorflow_datasets as tfds

    # Batches of a fixed size rather than batch_size=-1: the latter batches
    # by the split's size, which TF 2.21 cannot handle for generated (mock)
    # splits of unknown size (it aborts the process).
    splits = tfds.load(
        "fashion_mnist",
        split=["train", "test"],
        as_supervised=True,
        batch_size=10000,
    )

    def convert(split):
        xs, ys = zip(*tfds.as_numpy(split))
        return (
            np.concatenate(xs).astype(np.uint8).reshape(-1, 28, 28),
            np.concatenate(ys).astype(np.int32),
        )

    return tuple(convert(split) for split in splits)


def _from_keras():
    (x_train, y_train), (x_test, y_test) = (
        keras.datasets.fashion_mnist.load_data()
    )
    return (x_train, y_train.astype(np.int32)), (
        x_test,
        y_test.astype(np.int32),
    )


@keras_ls_export(
    "keras_ls.data.load_fashion_mnist",
    "keras_ls.load_fashion_mnist",
)
def load_fashion_mnist(data_dir=None, *, return_source=False):
    """Loads Fashion-MNIST as numpy arrays, from the first available source.

    The sources, in order:

    1. `data_dir` (authoritative when given: no fallback);
    2. the folder in ``$KERAS_LS_DATA_DIR``;
    3. the Keras cache, ``~/.keras/datasets/fashion-mnist``;
    4. the Debian/Ubuntu package ``dataset-fashion-mnist``
       (``/usr/share/datasets/fashion-mnist``);
    5. TensorFlow Datasets, ``tfds.load("fashion_mnist")``, when
       ``tensorflow-datasets`` is installed (the ``datasets`` extra; it
       downloads when online, as on Colab);
    6. ``keras.datasets.fashion_mnist.load_data()`` (downloads).

    Folders hold the original IDX files (``train-images-idx3-ubyte.gz`` …,
    gzipped or not), read by `read_idx`, which checks magic numbers and
    sizes.

    Args:
        data_dir: A folder with the four IDX files, or `None` to search.
            Defaults to `None`.
        return_source: Whether to also return a short description of the
            source actually used, e.g.
            ``"/usr/share/datasets/fashion-mnist (package
            dataset-fashion-mnist)"``, ``"data_dir=/x"``,
            ``"$KERAS_LS_DATA_DIR=/x"``, ``"Keras cache /root/.keras/..."``,
            ``"tfds"`` or ``"keras.datasets"``. Defaults to `False`.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape
        (N, 28, 28) and int32 labels in 0-9 (not uint8 as in
        `keras.datasets`: TensorFlow's sparse ops reject uint8 labels).
        With ``return_source=True``, the pair ``(data, source)``.

    Raises:
        DataNotFoundError: no source has the data; the message lists every
            place tried and how to get the data.
        IDXFormatError: a file exists but is corrupt or truncated.

    Examples:

    >>> (x_train, y_train), (x_test, y_test) = keras_ls.load_fashion_mnist()
    ... # doctest: +SKIP
    >>> x_train.shape, x_test.shape  # doctest: +SKIP
    ((60000, 28, 28), (10000, 28, 28))
    >>> _, source = keras_ls.load_fashion_mnist(return_source=True)
    ... # doctest: +SKIP
    >>> source  # doctest: +SKIP
    '/usr/share/datasets/fashion-mnist (package dataset-fashion-mnist)'
    """
    arrays, source = _load(data_dir)
    return (arrays, source) if return_source else arrays


def _load(data_dir):
    """Returns ``(arrays, source)`` from the first source that has them."""
    if data_dir is not None:
        data_dir = os.fspath(data_dir)
        files, why = _find_files(data_dir)
        if files is None:
            raise DataNotFoundError([(f"data_dir={data_dir}", why)])
        return _read_folder(files), f"data_dir={data_dir}"
    tried = []
    folders = []
    if os.environ.get(ENV_VAR):
        env_dir = os.environ[ENV_VAR]
        folders.append(
            (f"${ENV_VAR}={env_dir}", env_dir, f"${ENV_VAR}={env_dir}")
        )
    else:
        tried.append((f"${ENV_VAR}", "not set"))
    cache = keras_cache_dir()
    folders.append(("Keras cache " + cache, cache, "Keras cache " + cache))
    folders.append(
        (
            "package dataset-fashion-mnist " + SYSTEM_DIR,
            SYSTEM_DIR,
            f"{SYSTEM_DIR} (package dataset-fashion-mnist)",
        )
    )
    for label, folder, source in folders:
        files, why = _find_files(folder)
        if files is not None:
            return _read_folder(files), source
        tried.append((label, why))
    for label, loader, source in (
        ('tfds.load("fashion_mnist")', _from_tfds, "tfds"),
        (
            "keras.datasets.fashion_mnist.load_data()",
            _from_keras,
            "keras.datasets",
        ),
    ):
        try:
            return loader(), source
        except ImportError as e:  # tensorflow-datasets is an extra
            name = getattr(e, "name", None)
            tried.append(
                (label, f"{name} not installed" if name else _short(e))
            )
        except Exception as e:  # offline, bad download
            tried.append((label, _short(e)))
    raise DataNotFoundError(tried)


def _short(error, limit=240):
    """The error's type and first line, cut at a word boundary."""
    lines = str(error).strip().splitlines()
    first = " ".join(lines[0].split()) if lines else ""
    if len(first) > limit:
        cut = first[:limit].rsplit(" ", 1)[0]
        first = (cut if cut else first[:limit]) + " …"
    return f"{type(error).__name__}: {first}"


@keras_ls_export("keras_ls.data.ArrayBatches")
class ArrayBatches(keras.utils.PyDataset):
    """Batches of ``(x, y)`` numpy arrays, reshuffled after every epoch.

    The order of epoch e is a permutation drawn from a generator seeded
    with `seed`, so two instances with the same seed yield the same batches
    in the same order: what a paired comparison of two models needs.

    Args:
        x: Inputs, a numpy array with the examples on axis 0.
        y: Labels, a numpy array with as many rows as `x`.
        batch_size: Examples per batch. Defaults to `32`.
        shuffle: Whether to reshuffle every epoch. Defaults to `False`.
        seed: Seed of the shuffling. Defaults to `None` (0).
        drop_remainder: Whether to drop the last partial batch, which would
            otherwise trigger a second trace of a compiled step. Defaults
            to `False`.

    Examples:

    >>> batches = keras_ls.data.ArrayBatches(
    ...     np.arange(10), np.arange(10) % 3, batch_size=4, shuffle=True, seed=1
    ... )
    >>> len(batches), [len(x) for x, _ in batches]
    (3, [4, 4, 2])
    """

    def __init__(
        self,
        x,
        y,
        *,
        batch_size=32,
        shuffle=False,
        seed=None,
        drop_remainder=False,
    ):
        super().__init__()
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_remainder = drop_remainder
        self._rng = np.random.default_rng(0 if seed is None else seed)
        self._order = self._new_order()

    def _new_order(self):
        if self.shuffle:
            return self._rng.permutation(len(self.x))
        return np.arange(len(self.x))

    def __len__(self):
        n = len(self.x) / self.batch_size
        return int(n) if self.drop_remainder else math.ceil(n)

    def __getitem__(self, index):
        rows = self._order[
            index * self.batch_size : (index + 1) * self.batch_size
        ]
        return self.x[rows], self.y[rows]

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]

    def on_epoch_end(self):
        self._order = self._new_order()


@keras_ls_export("keras_ls.data.as_dataset")
def as_dataset(
    x, y, *, batch_size=32, shuffle=False, seed=None, drop_remainder=False
):
    """Batches numpy arrays for `model.fit` on the current backend.

    Under TensorFlow it returns a ``tf.data.Dataset`` (shuffled with a
    full-size buffer, reshuffled each epoch, prefetched); under JAX and
    PyTorch an `ArrayBatches` ``keras.utils.PyDataset``. With the same
    `seed`, two datasets yield the same batches in the same order, epoch
    after epoch.

    Args:
        x: Inputs, a numpy array with the examples on axis 0.
        y: Labels, a numpy array with as many rows as `x`.
        batch_size: Examples per batch, at least 1. Defaults to `32`.
        shuffle: Whether to reshuffle every epoch. Defaults to `False`.
        seed: Integer seed of the shuffling. Defaults to `None` (0).
        drop_remainder: Whether to drop the last partial batch (use `True`
            for training a compiled step). Defaults to `False`.

    Returns:
        A ``tf.data.Dataset`` or a ``keras.utils.PyDataset``.

    Raises:
        ValueError: when `batch_size` is not an integer >= 1 or `seed` not
            one >= 0.

    Examples:

    Standalone usage:

    >>> x = np.zeros((10, 28, 28), "float32")
    >>> y = np.arange(10) % 3
    >>> batches = keras_ls.data.as_dataset(
    ...     x, y, batch_size=4, drop_remainder=True
    ... )
    >>> [tuple(np.shape(b[0])) for b in batches]
    [(4, 28, 28), (4, 28, 28)]

    Usage with `model.fit`:

    >>> model = keras.Sequential(
    ...     [keras.layers.Flatten(), keras.layers.Dense(3)]
    ... )
    >>> model.compile(loss=keras_ls.LabelSmoothingCrossentropy(0.1))
    >>> history = model.fit(batches, epochs=1, shuffle=False, verbose=0)
    >>> sorted(history.history)
    ['loss']
    """
    batch_size = _validation.check_int(batch_size, "batch_size", minimum=1)
    if seed is not None:
        seed = _validation.check_int(seed, "seed", minimum=0)
    if len(x) != len(y):
        raise ValueError(
            "`x` and `y` must have the same number of rows. "
            f"Received: len(x)={len(x)}, len(y)={len(y)}"
        )
    if keras.backend.backend() != "tensorflow":
        return ArrayBatches(
            x,
            y,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_remainder=drop_remainder,
        )
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(
            len(x),
            seed=0 if seed is None else seed,
            reshuffle_each_iteration=True,
        )
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(
        tf.data.AUTOTUNE
    )


__all__ = public_names(__name__)
