import gzip
import os
import struct
import sys

import keras
import numpy as np
import pytest

from keras_ls import data
from keras_ls.data import DataNotFoundError
from keras_ls.data import IDXFormatError
from keras_ls.data import as_dataset
from keras_ls.data import load_fashion_mnist
from keras_ls.data import read_idx
from tests.testing import BACKEND
from tests.testing import requires_module
from tests.testing import requires_tf

REAL = os.path.isdir(data.SYSTEM_DIR)


def idx_bytes(array):
    array = np.asarray(array, np.uint8)
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def write_idx(path, array, compress=True):
    payload = idx_bytes(array)
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path


def small_arrays(n_train=40, n_test=12, seed=0):
    rng = np.random.default_rng(seed)
    return (
        (
            rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, n_train, dtype=np.uint8),
        ),
        (
            rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, n_test, dtype=np.uint8),
        ),
    )


def write_folder(folder, arrays, compress=True):
    (x_train, y_train), (x_test, y_test) = arrays
    os.makedirs(folder, exist_ok=True)
    ext = ".gz" if compress else ""
    for key, array in (
        ("x_train", x_train),
        ("y_train", y_train),
        ("x_test", x_test),
        ("y_test", y_test),
    ):
        write_idx(os.path.join(folder, data.FILES[key] + ext), array, compress)
    return folder


@pytest.fixture
def no_sources(monkeypatch, tmp_path):
    """Every on-disk source points at an empty place, and both downloaders
    fail as they do offline."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(data, "SYSTEM_DIR", str(tmp_path / "system"))

    def offline():
        raise ConnectionError("no internet access")

    monkeypatch.setattr(data, "_from_tfds", offline)
    monkeypatch.setattr(data, "_from_keras", offline)
    return tmp_path


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / ("i.gz" if compress else "i"), images, compress)
    out = read_idx(str(path), rank=3)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, images)


def test_read_idx_rejects_bad_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(IDXFormatError, match="bad.*not an IDX file"):
        read_idx(str(path))


def test_read_idx_rejects_wrong_rank_and_type(tmp_path):
    path = write_idx(tmp_path / "labels.gz", np.arange(5))
    with pytest.raises(IDXFormatError, match="labels.gz.*rank 3.*rank 1"):
        read_idx(str(path), rank=3)
    other = tmp_path / "floats"
    other.write_bytes(b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + b"\0" * 4)
    with pytest.raises(IDXFormatError, match="floats.*0x0d"):
        read_idx(str(other))


def test_read_idx_rejects_truncated_data(tmp_path):
    payload = idx_bytes(np.zeros((3, 28, 28)))
    cut = tmp_path / "cut-images-idx3-ubyte"
    cut.write_bytes(payload[:-10])
    with pytest.raises(IDXFormatError, match=r"cut-images.*truncated"):
        read_idx(str(cut), rank=3)
    header_only = tmp_path / "h"
    header_only.write_bytes(payload[:6])
    with pytest.raises(IDXFormatError, match="truncated inside its header"):
        read_idx(str(header_only))


def test_read_idx_rejects_truncated_gzip(tmp_path):
    good = write_idx(tmp_path / "g.gz", np.zeros((50, 28, 28)))
    broken = tmp_path / "broken.gz"
    broken.write_bytes(good.read_bytes()[:40])
    with pytest.raises(IDXFormatError, match="broken.gz"):
        read_idx(str(broken))
    not_gzip = tmp_path / "plain.gz"
    not_gzip.write_bytes(b"hello world")
    with pytest.raises(IDXFormatError, match="plain.gz"):
        read_idx(str(not_gzip))


def test_read_idx_rejects_trailing_bytes(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.arange(4)) + b"\x00")
    with pytest.raises(IDXFormatError, match="trailing data"):
        read_idx(str(path))


@pytest.mark.parametrize("compress", [True, False])
def test_load_from_data_dir(tmp_path, compress):
    arrays = small_arrays()
    folder = write_folder(str(tmp_path / "fm"), arrays, compress)
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(folder)
    np.testing.assert_array_equal(x_train, arrays[0][0])
    np.testing.assert_array_equal(y_train, arrays[0][1])
    np.testing.assert_array_equal(x_test, arrays[1][0])
    np.testing.assert_array_equal(y_test, arrays[1][1])
    assert x_train.dtype == np.uint8 and y_test.dtype == np.int32


def test_explicit_data_dir_does_not_fall_back(tmp_path):
    with pytest.raises(DataNotFoundError, match="data_dir=.*empty.*missing"):
        os.makedirs(tmp_path / "empty")
        load_fashion_mnist(str(tmp_path / "empty"))


def test_mismatched_counts_name_the_files(tmp_path):
    arrays = small_arrays()
    (x_train, y_train), test = arrays
    folder = write_folder(str(tmp_path / "fm"), ((x_train, y_train[:-1]), test))
    with pytest.raises(IDXFormatError, match="train-images.*train-labels"):
        load_fashion_mnist(folder)


def test_source_order(no_sources, monkeypatch):
    tmp = no_sources
    env_arrays, cache_arrays, sys_arrays = (
        small_arrays(seed=s) for s in (1, 2, 3)
    )
    write_folder(str(tmp / "system"), sys_arrays)
    (x, _), _ = load_fashion_mnist()
    np.testing.assert_array_equal(x, sys_arrays[0][0])

    write_folder(data.keras_cache_dir(), cache_arrays)
    assert data.keras_cache_dir().startswith(str(tmp / "keras_home"))
    (x, _), _ = load_fashion_mnist()
    np.testing.assert_array_equal(x, cache_arrays[0][0])

    monkeypatch.setenv(data.ENV_VAR, write_folder(str(tmp / "env"), env_arrays))
    (x, _), _ = load_fashion_mnist()
    np.testing.assert_array_equal(x, env_arrays[0][0])


def test_return_source_names_what_was_used(no_sources, monkeypatch):
    tmp = no_sources
    write_folder(str(tmp / "system"), small_arrays(seed=1))
    _, source = load_fashion_mnist(return_source=True)
    assert source == f"{tmp / 'system'} (package dataset-fashion-mnist)"
    write_folder(data.keras_cache_dir(), small_arrays(seed=2))
    _, source = load_fashion_mnist(return_source=True)
    assert source == f"Keras cache {data.keras_cache_dir()}"
    env_dir = write_folder(str(tmp / "env"), small_arrays(seed=3))
    monkeypatch.setenv(data.ENV_VAR, env_dir)
    ((x, _), _), source = load_fashion_mnist(return_source=True)
    assert source == f"$KERAS_LS_DATA_DIR={env_dir}"
    np.testing.assert_array_equal(x, small_arrays(seed=3)[0][0])
    own = write_folder(str(tmp / "own"), small_arrays(seed=4))
    (arrays, source) = load_fashion_mnist(own, return_source=True)
    assert source == f"data_dir={own}"
    np.testing.assert_array_equal(arrays[1][1], small_arrays(seed=4)[1][1])
    # Without return_source: the arrays only, as before.
    (x, y), (xt, yt) = load_fashion_mnist(own)
    assert x.shape == (40, 28, 28) and yt.shape == (12,)


def test_return_source_of_the_downloaders(no_sources, monkeypatch):
    arrays = small_arrays(seed=6)
    monkeypatch.setattr(data, "_from_keras", lambda: arrays)
    assert load_fashion_mnist(return_source=True)[1] == "keras.datasets"
    monkeypatch.setattr(data, "_from_tfds", lambda: arrays)
    assert load_fashion_mnist(return_source=True)[1] == "tfds"


def test_missing_tfds_is_reported_as_not_installed(no_sources, monkeypatch):
    def no_tfds():
        raise ModuleNotFoundError(
            "No module named 'tensorflow_datasets'", name="tensorflow_datasets"
        )

    monkeypatch.setattr(data, "_from_tfds", no_tfds)
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist()
    assert (
        'tfds.load("fashion_mnist")',
        "tensorflow_datasets not installed",
    ) in info.value.tried


def test_short_error_text_ends_at_a_word_boundary():
    # keras.datasets' offline error, as measured on a machine without
    # network: the old 120-character cut ended in "None -- [Er".
    error = Exception(
        "URL fetch failure on https://storage.googleapis.com/tensorflow/"
        "tf-keras-datasets/train-labels-idx1-ubyte.gz: None -- [Errno -3] "
        "Temporary failure in name resolution\nsecond line"
    )
    text = data._short(error)
    assert text == (
        "Exception: URL fetch failure on https://storage."
        "googleapis.com/tensorflow/tf-keras-datasets/train-labels"
        "-idx1-ubyte.gz: None -- [Errno -3] Temporary failure in "
        "name resolution"
    )
    long = Exception(" ".join(["word"] * 60))
    text = data._short(long, limit=40)
    assert text == "Exception: " + " ".join(["word"] * 8) + " …"


def test_no_source_lists_every_place_and_how_to_get_data(no_sources):
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist()
    message = str(info.value)
    for place in (
        "$KERAS_LS_DATA_DIR",
        "Keras cache",
        str(no_sources / "system"),
        'tfds.load("fashion_mnist")',
        "keras.datasets.fashion_mnist.load_data()",
        "apt-get install dataset-fashion-mnist",
        "internet access",
    ):
        assert place in message
    assert len(info.value.tried) == 5
    assert isinstance(info.value, FileNotFoundError)


def test_keras_datasets_is_the_last_resort(no_sources, monkeypatch):
    arrays = small_arrays(seed=4)
    monkeypatch.setattr(data, "_from_keras", lambda: arrays)
    (x, y), (xt, yt) = load_fashion_mnist()
    np.testing.assert_array_equal(x, arrays[0][0])
    np.testing.assert_array_equal(yt, arrays[1][1])


def test_keras_fallback_calls_keras_datasets(monkeypatch):
    arrays = small_arrays(seed=5)
    monkeypatch.setattr(
        keras.datasets.fashion_mnist, "load_data", lambda: arrays
    )
    (x, _), (_, yt) = data._from_keras()
    np.testing.assert_array_equal(x, arrays[0][0])
    np.testing.assert_array_equal(yt, arrays[1][1])
    assert yt.dtype == np.int32


@requires_module("tensorflow_datasets")
def test_tfds_source_offline_with_mock_data(no_sources, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(data, "_from_tfds", _real_from_tfds)
    with tfds.testing.mock_data(num_examples=7):
        (x, y), (xt, yt) = load_fashion_mnist()
    assert x.shape == (7, 28, 28) and xt.shape == (7, 28, 28)
    assert x.dtype == np.uint8 and y.dtype == np.int32
    assert y.shape == (7,) and 0 <= int(y.min()) and int(y.max()) <= 9


_real_from_tfds = data._from_tfds


@pytest.mark.skipif(not REAL, reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    (x, y), (xt, yt) = load_fashion_mnist(data.SYSTEM_DIR)
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    # Fashion-MNIST is balanced: 6000 and 1000 examples per class.
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(yt), np.full(10, 1000))
    # The first test labels, as published with the data set.
    assert yt[:5].tolist() == [9, 2, 1, 1, 6]


def batches_of(dataset):
    return [(np.asarray(x), np.asarray(y)) for x, y in dataset]


def test_as_dataset_batches_and_remainder():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10, dtype=np.int32)
    kept = batches_of(as_dataset(x, y, batch_size=4))
    assert [len(b[1]) for b in kept] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in kept]), y)
    dropped = batches_of(as_dataset(x, y, batch_size=4, drop_remainder=True))
    assert [len(b[1]) for b in dropped] == [4, 4]


@requires_tf
def test_as_dataset_is_a_tf_dataset_on_tensorflow():
    import tensorflow as tf

    ds = as_dataset(np.zeros((4, 2)), np.zeros(4), batch_size=2)
    assert isinstance(ds, tf.data.Dataset)


@pytest.mark.skipif(
    BACKEND == "tensorflow", reason="TensorFlow returns a tf.data.Dataset"
)
def test_as_dataset_is_a_keras_py_dataset_elsewhere():
    ds = as_dataset(np.zeros((4, 2)), np.zeros(4), batch_size=2)
    assert isinstance(ds, keras.utils.PyDataset)


@pytest.mark.skipif(
    BACKEND == "tensorflow",
    reason="checks that other backends do not import TF",
)
def test_data_path_does_not_import_tensorflow(tmp_path):
    import subprocess

    folder = write_folder(str(tmp_path / "fm"), small_arrays())
    code = (
        "import sys; from keras_ls.data import load_fashion_mnist, "
        "as_dataset; (x, y), _ = load_fashion_mnist(sys.argv[1]); "
        "list(as_dataset(x, y, batch_size=8, shuffle=True, seed=1)); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, folder],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": keras.backend.backend()},
    )
    assert out.stdout.strip() == "False"


def test_as_dataset_same_seed_same_order_every_epoch():
    x = np.arange(64, dtype=np.float32).reshape(64, 1)
    y = np.arange(64, dtype=np.int32)

    def two_epochs(seed):
        seen = []
        ds = as_dataset(
            x, y, batch_size=16, shuffle=True, seed=seed, drop_remainder=True
        )
        for _ in range(2):
            seen.append(np.concatenate([b[1] for b in batches_of(ds)]))
            if hasattr(ds, "on_epoch_end"):
                ds.on_epoch_end()
        return seen

    a, b, c = two_epochs(3), two_epochs(3), two_epochs(4)
    for epoch in range(2):
        np.testing.assert_array_equal(a[epoch], b[epoch])
        assert sorted(a[epoch].tolist()) == list(range(64))
    assert not np.array_equal(a[0], a[1]), "must reshuffle every epoch"
    assert not np.array_equal(a[0], c[0]), "the seed must matter"


def test_as_dataset_checks_arguments():
    with pytest.raises(ValueError, match="batch_size.*Received: batch_size=0"):
        as_dataset(np.zeros((4, 2)), np.zeros(4), batch_size=0)
    with pytest.raises(ValueError, match=r"len\(x\)=4, len\(y\)=3"):
        as_dataset(np.zeros((4, 2)), np.zeros(3), batch_size=2)
