"""What every ``keras-ls`` subcommand shares: the one-line errors, the
parsers of numbers, the data folder check and the recorded command line.

Keras-free: the backend is chosen after parsing.
"""

import argparse
import os
import shlex

PROG = "keras-ls"


EXIT_USAGE = 2


# Mirrors of keras_ls.experiment.MODELS, SCHEDULE_SPECS and compare's
# defaults, so that parsing needs no Keras import
# (tests/experiment/test_cli.py checks that they agree).
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


def command_line(argv, args, backend):
    """The command as typed, with ``--backend`` added when it was chosen
    implicitly, so that a reader of report.md can rerun it."""
    argv = list(argv)
    if args.backend is None:
        at = argv.index(args.command) + 1
        argv[at:at] = ["--backend", backend]
    return " ".join([PROG] + [shlex.quote(a) for a in argv])
