"""What every ``keras-ls`` subcommand shares: the options they all have
(declared once, in `SHARED`), the one-line errors, the parsers of
numbers, the data folder check and the recorded command line.

Keras-free: the backend is chosen after parsing.
"""

import argparse
import contextlib
import os
import shlex

PROG = "keras-ls"
EXIT_USAGE = 2
BACKENDS = ("jax", "tensorflow", "torch")
# A mirror of keras_ls.experiment.MODELS, so that parsing needs no Keras
# import (tests/experiment/test_cli.py checks that they agree).
MODELS = ("mlp", "cnn")
DEFAULT_SEEDS = 5
APT_COMMAND = "apt-get install dataset-fashion-mnist"


class UsageError(Exception):
    """A user error: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    # argparse prints the whole usage before its message; one line is
    # easier to read in CI logs and is what the issue asks for.
    def error(self, message):
        raise UsageError(message)


def fraction(text, alternatives=""):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number in [0, 1){alternatives}, got {text!r}"
        ) from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(
            f"expected a number in [0, 1), got {text!r}"
        )
    return value


def positive_int(text, minimum=1):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= {minimum}, got {text!r}"
        ) from None
    if value < minimum:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= {minimum}, got {text!r}"
        )
    return value


def count(text):
    return positive_int(text, minimum=0)


#: The options every subcommand has: flag -> the `add_argument` keywords
#: they share (compare's defaults, which tests/experiment/test_cli.py
#: checks against `keras_ls.compare`). A subcommand adds each with
#: `add_shared`, giving its own help, type or default where they differ.
SHARED = {
    "--backend": {"default": None, "choices": BACKENDS},
    "--data-dir": {"default": None, "metavar": "DIR"},
    "--model": {"default": "mlp", "choices": MODELS},
    "--label-smoothing": {"default": 0.1, "metavar": "EPS"},
    "--epochs": {"type": positive_int, "default": 10},
    "--seeds": {
        "type": positive_int,
        "default": DEFAULT_SEEDS,
        "help": "number of paired seeds (default: %(default)s)",
    },
    "--batch-size": {"type": positive_int, "default": 128},
    "--train-size": {
        "type": positive_int,
        "default": None,
        "metavar": "N",
        "help": "train on the first N training examples only (default: all)",
    },
    "--out": {"metavar": "DIR"},
    "--quiet": {"action": "store_true", "help": "no progress bars"},
}


def add_shared(parser, flag, **keywords):
    """Adds the shared option `flag` (see `SHARED`) to `parser`, with
    `keywords` over the shared ones."""
    parser.add_argument(flag, **{**SHARED[flag], **keywords})


def backend_help(default, here):
    """The help of ``--backend``: its `default`, then `here`, which says
    what that is on this machine (argparse's ``%`` escaped)."""
    return f"Keras backend (default: {default}{here.replace('%', '%%')})"


def check_data_dir(path):
    if path is None:
        return
    if not os.path.isdir(path):
        raise UsageError(f"--data-dir {path!r} is not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise UsageError(f"--data-dir {path!r} is not readable")


def data_not_found_message(error, data_dir=None):
    """One line that says what to do when Fashion-MNIST is missing."""
    from keras_ls.data import ENV_VAR

    tried = "; ".join(f"{src} ({why})" for src, why in error.tried)
    if data_dir is not None:
        why = error.tried[0][1] if error.tried else "not found"
        return (
            f"Fashion-MNIST was not found in --data-dir {data_dir} "
            f"({why}); it needs the "
            "four IDX files train-images-idx3-ubyte.gz, "
            "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
            "t10k-labels-idx1-ubyte.gz (gzipped or not)"
        )
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    apt = f"'{APT_COMMAND}'" if root else f"'sudo {APT_COMMAND}'"
    return (
        f"Fashion-MNIST was not found; install it with {apt} "
        "(Debian/Ubuntu), or pass --data-dir DIR (a folder with the "
        f"four *-ubyte.gz IDX files) or set ${ENV_VAR}, or rerun with "
        "internet access (keras.datasets downloads it). "
        f"Tried: {tried}"
    )


@contextlib.contextmanager
def user_errors(data_dir):
    """Reports the library's errors about the user's input (no data, a
    corrupt file, an argument out of range) as `UsageError`: one line and
    exit status 2, no traceback. Enter it after the backend is chosen: it
    imports `keras_ls.data`, which imports Keras."""
    from keras_ls.data import DataNotFoundError
    from keras_ls.data import IDXFormatError

    try:
        yield
    except DataNotFoundError as e:
        raise UsageError(data_not_found_message(e, data_dir)) from None
    except (IDXFormatError, ValueError) as e:
        raise UsageError(str(e)) from None


def command_line(argv, args, backend):
    """The command as typed, with ``--backend`` added when it was chosen
    implicitly, so that a reader of report.md can rerun it."""
    argv = list(argv)
    if args.backend is None:
        at = argv.index(args.command) + 1
        argv[at:at] = ["--backend", backend]
    return " ".join([PROG] + [shlex.quote(a) for a in argv])
