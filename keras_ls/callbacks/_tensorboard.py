"""TensorBoard event files without TensorFlow.

`keras.callbacks.TensorBoard` writes through `tf.summary`, so it needs
TensorFlow on every backend (on JAX without it: ``No module named
'tensorflow'``). This writer needs only the `tensorboard` package, the
one that serves the dashboard (the `tensorboard` extra, ``pip install
'keras-ls[tensorboard]'``; its dependencies, protobuf, numpy, grpcio,
werkzeug and a few more, do not include TensorFlow). It builds the
protocol buffers TensorBoard reads (`tensorboard.compat.proto`) and frames
them with tensorboard's own `RecordWriter` (length, masked CRC32C, data,
CRC) into a plain Python file.

Why not tensorboard's `EventFileWriter`: it opens the file through
``tensorboard.compat.tf.io.gfile``, which imports TensorFlow whenever it is
installed, so a JAX or PyTorch run would import TensorFlow for nothing.
Why not tensorboardX: it is one more dependency, and the `tensorboard`
package is needed anyway to look at the files.

Scalars are written as ``simple_value`` summaries and images as PNG
``Summary.Image`` values, the forms that TensorBoard's scalar and image
dashboards and its `EventAccumulator` read.
"""

import importlib.util
import io
import os
import socket
import struct
import time

_INSTALL = "pip install 'keras-ls[tensorboard]'"


def check_available(argument="tensorboard_dir"):
    """Raises ImportError, naming `argument`, when `tensorboard` is missing
    (without importing it)."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ImportError(
            f"`{argument}` needs the tensorboard package (not TensorFlow): "
            f"{_INSTALL}"
        )


class EventWriter:
    """Appends scalars and PNG images to a new TensorBoard event file.

    Each writer creates its own file,
    ``events.out.tfevents.<time>.<host>.<pid>.<n>`` in `log_dir` (created
    if needed); TensorBoard shows `log_dir` as one run and merges the
    files in it. Records are written unbuffered by the file's own
    buffer: `flush` (or `close`) makes them visible.

    Args:
        log_dir: The run's folder.

    Raises:
        ImportError: when the `tensorboard` package is not installed.
    """

    _count = 0

    def __init__(self, log_dir):
        check_available("log_dir")
        from tensorboard.compat.proto import event_pb2
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        self._event_pb2 = event_pb2
        self._summary_pb2 = summary_pb2
        self.log_dir = os.fspath(log_dir)
        os.makedirs(self.log_dir, exist_ok=True)
        EventWriter._count += 1
        name = "events.out.tfevents.{:010d}.{}.{}.{}".format(
            int(time.time()),
            socket.gethostname(),
            os.getpid(),
            EventWriter._count,
        )
        self.path = os.path.join(self.log_dir, name)
        self._file = open(self.path, "wb")
        self._records = RecordWriter(self._file)
        self._write(event_pb2.Event(file_version="brain.Event:2"))

    def _write(self, event):
        event.wall_time = time.time()
        self._records.write(event.SerializeToString())

    def _summary(self, step, value):
        summary = self._summary_pb2.Summary(value=[value])
        self._write(self._event_pb2.Event(step=int(step), summary=summary))

    def scalar(self, tag, value, step):
        """Writes one scalar (a float32 ``simple_value``) at `step`."""
        self._summary(
            step,
            self._summary_pb2.Summary.Value(
                tag=str(tag), simple_value=float(value)
            ),
        )

    def image(self, tag, png, step):
        """Writes one PNG image (bytes) at `step`."""
        width, height = png_size(png)
        image = self._summary_pb2.Summary.Image(
            height=height, width=width, colorspace=4, encoded_image_string=png
        )
        self._summary(
            step, self._summary_pb2.Summary.Value(tag=str(tag), image=image)
        )

    def flush(self):
        if not self._file.closed:
            self._file.flush()

    def close(self):
        if not self._file.closed:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def png_size(png):
    """(width, height) from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("Not a PNG image.")
    return struct.unpack(">II", png[16:24])


def figure_png(figure, dpi=100):
    """The PNG bytes of a matplotlib figure."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def matplotlib_available():
    return importlib.util.find_spec("matplotlib") is not None


def _is_label_smoothing_key(key):
    return key == "label_smoothing" or key.endswith("_label_smoothing")


def write_epoch(writer, monitor, epoch, logs):
    """Writes one logged epoch of a `ConfidenceMonitor` (see its
    `tensorboard_dir`); returns the writer, created on first use."""
    if writer is None:
        writer = EventWriter(monitor.tensorboard_dir)
    for key in monitor.keys():
        writer.scalar(key, logs[key], epoch)
    for key, value in logs.items():
        if _is_label_smoothing_key(key):
            writer.scalar(key, value, epoch)
    if matplotlib_available():
        from keras_ls import plots

        names = ["model"] + list(monitor.compare)
        stats, bins = monitor.last_statistics, monitor._last_bins
        reliability = plots.binned_reliability_figure(
            monitor.num_bins,
            [(n, s["ece"], b) for n, s, b in zip(names, stats, bins)],
            title=f"Reliability diagram, epoch {epoch + 1}",
        )
        histogram = plots.binned_histogram_figure(
            monitor.num_bins,
            [(n, s, b[0]) for n, s, b in zip(names, stats, bins)],
            title=f"Confidence histogram, epoch {epoch + 1}",
        )
        for name, figure in (
            ("reliability_diagram", reliability),
            ("confidence_histogram", histogram),
        ):
            writer.image(f"{monitor.prefix}{name}", figure_png(figure), epoch)
    else:
        import warnings

        warnings.warn(
            "ConfidenceMonitor writes no TensorBoard images without "
            "matplotlib (the 'plot' extra); scalars only.",
            UserWarning,
            stacklevel=3,
        )
    writer.flush()
    return writer
