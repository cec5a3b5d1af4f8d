"""The ``keras-ls`` command line (also ``python -m keras_ls``).

``keras-ls compare`` runs `keras_ls.experiment.compare` and writes
results.json, report.md and PNG plots. User errors (a bad option, no data,
no Keras backend) print one line and exit with status 2, without a
traceback.

The arguments are parsed, and the Keras backend is chosen, before Keras is
imported (Keras reads ``KERAS_BACKEND`` once, at import): ``--backend``,
else ``$KERAS_BACKEND``, else the ``backend`` of Keras' config file
(``$KERAS_HOME/keras.json``, by default ``~/.keras/keras.json``), else
Keras' default, TensorFlow. When the config file's or the default backend
is not installed, the first installed of jax, torch and tensorflow is used
and a line on stderr says so.
"""

import argparse
import importlib.util
import json
import os
import shlex
import sys

# Keras-free (the backend is chosen after parsing).
from keras_ls.experiment import variants as variant_specs
from keras_ls.experiment.cli import _distill as distill_cli

PROG = "keras-ls"
DATASETS = ("fashion_mnist",)
EXIT_USAGE = 2
BACKENDS = ("jax", "tensorflow", "torch")
# The order in which an installed backend is picked when none is set.
PREFERENCE = ("jax", "torch", "tensorflow")
KERAS_DEFAULT_BACKEND = "tensorflow"
# Mirrors of keras_ls.experiment.MODELS, SCHEDULE_SPECS and compare's
# defaults, so that parsing needs no Keras import
# (tests/experiment/test_cli.py checks that they agree).
MODELS = ("mlp", "cnn")
SCHEDULE_FORMS = variant_specs.SCHEDULE_FORMS
DEFAULT_SEEDS = 5
APT_COMMAND = "apt-get install dataset-fashion-mnist"


class UsageError(Exception):
    """A user error: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage before its message; one line is
    # easier to read in CI logs and is what the issue asks for.
    def error(self, message):
        raise UsageError(message)


def _fraction(text, alternatives=""):
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


def _epsilon(text):
    if text.lower() == "none":
        return None
    return _fraction(text, alternatives=" or 'none'")


def _positive_int(text, minimum=1):
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


def _count(text):
    return _positive_int(text, minimum=0)


def _schedule(text):
    """Checks the form of a ``--schedule`` spec; its values are checked by
    `keras_ls.experiment.parse_schedule` once Keras is imported."""
    try:
        return variant_specs.check_schedule_form(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _variant(text):
    """Parses a ``--variant`` spec (Keras-free); the losses are built, and
    the schedules' values checked, by `compare` before any training."""
    try:
        variant_specs.parse_variant(text)
    except ValueError as e:
        message = str(e).replace("Invalid `variant` ", "")
        raise argparse.ArgumentTypeError(message) from None
    return text.strip()


def _keras_version():
    """The installed Keras' version, without importing Keras (that would
    need a backend): ``keras.__version__`` when Keras is already imported,
    else the metadata of the distribution that provides the ``keras``
    module, ``keras`` or ``keras-nightly`` (where
    ``importlib.metadata.version("keras")`` fails). None when neither
    says."""
    keras = sys.modules.get("keras")
    if getattr(keras, "__version__", None):
        return str(keras.__version__)
    try:
        from importlib import metadata

        names = metadata.packages_distributions().get("keras", ())
        versions = sorted({metadata.version(name) for name in names})
    except Exception:  # metadata missing: not worth failing --version for
        return None
    return " or ".join(versions) or None


def _version():
    from keras_ls import __version__

    keras_version = _keras_version()
    keras_version = f", Keras {keras_version}" if keras_version else ""
    return f"{PROG} {__version__}{keras_version}"


class _VersionAction(argparse.Action):
    """``--version``: the versions are looked up only when it is given (the
    lookup scans the installed distributions)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(
            option_strings,
            dest=argparse.SUPPRESS,
            default=argparse.SUPPRESS,
            nargs=0,
            help="show the keras-ls and Keras versions and exit",
        )

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version())
        parser.exit()


def build_parser(backend_help=""):
    """The argument parser; `backend_help` says which backend is default."""
    parser = _Parser(
        prog=PROG,
        description="Label smoothing, measured: keras_ls command line.",
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser
    )
    cmp = commands.add_parser(
        "compare",
        help="train a baseline and label-smoothed models from identical "
        "initial weights, over several seeds, and compare them",
        description="Trains, for each seed, a baseline (ε = 0) and smoothed "
        "models from identical initial weights and in identical "
        "data order, and reports paired differences with 95% "
        "confidence intervals.",
    )
    cmp.add_argument(
        "--backend",
        default=None,
        choices=BACKENDS,
        help="Keras backend (default: $KERAS_BACKEND, else "
        "keras.json, else tensorflow, else the first "
        f"installed of {', '.join(PREFERENCE)}"
        f"{backend_help.replace('%', '%%')})",
    )
    cmp.add_argument(
        "--dataset",
        default="fashion_mnist",
        choices=DATASETS,
        help="data set (default: %(default)s)",
    )
    cmp.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="folder with the four Fashion-MNIST IDX files "
        "(default: search $KERAS_LS_DATA_DIR, the Keras "
        "cache, /usr/share/datasets/fashion-mnist, tfds "
        "if installed, then keras.datasets, which "
        "downloads)",
    )
    cmp.add_argument(
        "--model",
        default="mlp",
        choices=MODELS,
        help="built-in network (default: %(default)s)",
    )
    cmp.add_argument(
        "--label-smoothing",
        type=_epsilon,
        default=0.1,
        metavar="EPS",
        help="ε of the fixed-smoothing variant, or 'none' "
        "(default: %(default)s)",
    )
    cmp.add_argument(
        "--schedule",
        type=_schedule,
        default=None,
        metavar="SPEC",
        help="add a scheduled variant: " + ", ".join(SCHEDULE_FORMS.values()),
    )
    cmp.add_argument(
        "--variant",
        dest="variants",
        action="append",
        type=_variant,
        default=None,
        metavar="SPEC",
        help="a method to compare with the baseline, instead of "
        "--label-smoothing and --schedule; repeat it for several "
        "(a sweep is several of one kind): "
        + "; ".join(variant_specs.VARIANT_FORMS.values()).replace("%", "%%"),
    )
    cmp.add_argument(
        "--label-noise",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="flip this fraction of training labels to a "
        "random other class (default: %(default)s)",
    )
    cmp.add_argument(
        "--epochs",
        type=_positive_int,
        default=10,
        help="training epochs (default: %(default)s)",
    )
    cmp.add_argument(
        "--seeds",
        type=_positive_int,
        default=DEFAULT_SEEDS,
        help="number of paired seeds (default: %(default)s)",
    )
    cmp.add_argument(
        "--batch-size",
        type=_positive_int,
        default=128,
        help="training batch size (default: %(default)s)",
    )
    cmp.add_argument(
        "--train-size",
        type=_positive_int,
        default=None,
        metavar="N",
        help="train on the first N training examples only (default: all)",
    )
    cmp.add_argument(
        "--validation-size",
        type=_count,
        default=None,
        metavar="N",
        help="hold out N of the training examples to watch "
        "during training (0: none); the test set is used "
        "only at the end (default: 1/12 of them, 5000 of "
        "60000)",
    )
    cmp.add_argument(
        "--out",
        default="runs/compare",
        metavar="DIR",
        help="output folder (default: %(default)s)",
    )
    cmp.add_argument(
        "--tensorboard",
        default=None,
        metavar="DIR",
        help="also write each model's validation statistics and pictures "
        "as a TensorBoard run, DIR/<variant>/seed_<s> (needs the "
        "'tensorboard' extra, not TensorFlow)",
    )
    cmp.add_argument("--quiet", action="store_true", help="no progress bars")
    dst = commands.add_parser(
        "distill",
        help=distill_cli.HELP,
        description=distill_cli.DESCRIPTION,
    )
    distill_cli.add_cli_arguments(dst, backend_help)
    return parser


def _installed(module):
    """Whether `module` can be found, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def keras_config_path():
    """Keras' config file, located as Keras itself locates it."""
    if "KERAS_HOME" in os.environ:
        home = os.environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~")
        if not os.access(base, os.W_OK):
            base = "/tmp"
        home = os.path.join(base, ".keras")
    return os.path.expanduser(os.path.join(home, "keras.json"))


def _config_backend():
    try:
        with open(keras_config_path(), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return None
    backend = config.get("backend") if isinstance(config, dict) else None
    return backend if isinstance(backend, str) and backend else None


def choose_backend(requested=None):
    """Chooses the Keras backend before Keras is imported.

    Args:
        requested: The ``--backend`` value, or `None`.

    Returns:
        ``(backend, why)``: the backend's name and why it was picked
        automatically, or `None` when it was set (``--backend``,
        ``$KERAS_BACKEND``, keras.json) or is Keras' default.

    Raises:
        UsageError: an explicitly requested backend (``--backend``,
            ``$KERAS_BACKEND``) is not installed, or no backend is.
    """
    installed = [b for b in PREFERENCE if _installed(b)]
    hint = (
        "install one, e.g. pip install jax (or tensorflow, torch), "
        "then choose it with --backend"
    )
    if requested is not None:
        source = f"--backend {requested}"
    elif os.environ.get("KERAS_BACKEND"):
        requested = os.environ["KERAS_BACKEND"]
        source = f"KERAS_BACKEND={requested}"
    else:
        source = None
    if source is not None:
        # An explicit choice is honoured, or refused; never replaced.
        if requested in BACKENDS and not _installed(requested):
            others = ", ".join(installed) or "none"
            raise UsageError(
                f"{source}: {requested} is not installed (installed "
                f"backends: {others}); pip install {requested}, or choose "
                "another with --backend"
            )
        return requested, None
    configured = _config_backend()
    wanted = configured or KERAS_DEFAULT_BACKEND
    if wanted not in BACKENDS or _installed(wanted):
        return wanted, None
    if not installed:
        raise UsageError(
            f"no Keras backend is installed (jax, tensorflow or torch); {hint}"
        )
    why = (
        f"{keras_config_path()} names {wanted}, which"
        if configured
        else f"KERAS_BACKEND is not set and Keras' default, {wanted},"
    )
    return installed[0], f"{why} is not installed"


def _backend_help():
    """What ``--backend`` defaults to on this machine, for --help."""
    if "keras" in sys.modules:
        import keras

        return f"; here: {keras.backend.backend()}, already imported"
    try:
        backend, why = choose_backend(None)
    except UsageError as e:
        return f"; here: none: {e}"
    return f"; here: {backend}" + (f", because {why}" if why else "")


def _activate_backend(requested):
    """Sets ``KERAS_BACKEND`` for the Keras import that follows."""
    if "keras" in sys.modules:  # e.g. main() called from Python
        import keras

        current = keras.backend.backend()
        if requested is not None and requested != current:
            raise UsageError(
                f"--backend {requested}: Keras is already imported in this "
                f"process with the {current} backend; run {PROG} in a new "
                "process"
            )
        return current
    backend, why = choose_backend(requested)
    if why:
        print(
            f"{PROG}: using the {backend} backend: {why} (choose one "
            "with --backend or KERAS_BACKEND)",
            file=sys.stderr,
        )
    os.environ["KERAS_BACKEND"] = backend
    return backend


def _check_data_dir(path):
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


def _command_line(argv, args, backend):
    """The command as typed, with ``--backend`` added when it was chosen
    implicitly, so that a reader of report.md can rerun it."""
    argv = list(argv)
    if args.backend is None:
        at = argv.index(args.command) + 1
        argv[at:at] = ["--backend", backend]
    return " ".join([PROG] + [shlex.quote(a) for a in argv])


def _compare(args, argv):
    _check_data_dir(args.data_dir)
    if args.variants is not None:
        given = [
            option
            for option in ("--label-smoothing", "--schedule")
            if any(a == option or a.startswith(option + "=") for a in argv)
        ]
        if given:
            raise UsageError(
                f"--variant replaces {' and '.join(given)}: give the "
                f"smoothed models as --variant specs (e.g. --variant ls:0.1)"
            )
    elif args.label_smoothing is None and args.schedule is None:
        raise UsageError(
            "nothing to compare: give --label-smoothing or --schedule"
        )
    if args.tensorboard is not None and not _installed("tensorboard"):
        raise UsageError(
            "--tensorboard needs the tensorboard package (not TensorFlow): "
            "pip install 'keras-ls[tensorboard]'"
        )
    backend = _activate_backend(args.backend)

    from keras_ls.data import DataNotFoundError
    from keras_ls.data import IDXFormatError
    from keras_ls.experiment import _compare as experiment
    from keras_ls.experiment import report

    if args.schedule is not None:
        try:
            variant_specs.parse_schedule(args.schedule, epochs=args.epochs)
        except ValueError as e:
            raise UsageError(f"--schedule: {e}") from None
    try:
        result = experiment.compare(
            model=args.model,
            label_smoothing=args.label_smoothing,
            schedule=args.schedule,
            variants=args.variants,
            label_noise=args.label_noise,
            epochs=args.epochs,
            seeds=args.seeds,
            batch_size=args.batch_size,
            train_size=args.train_size,
            validation_size=args.validation_size,
            data_dir=args.data_dir,
            tensorboard_dir=args.tensorboard,
            verbose=0 if args.quiet else 1,
        )
    except DataNotFoundError as e:
        raise UsageError(data_not_found_message(e, args.data_dir)) from None
    except (IDXFormatError, ValueError) as e:
        raise UsageError(str(e)) from None
    if not _installed("matplotlib"):
        print(
            "note: no PNG plots (matplotlib is not installed; it is the "
            "'plot' extra)",
            file=sys.stderr,
        )
    paths = report.write(
        result, args.out, command=_command_line(argv, args, backend)
    )
    report.print_table(result)
    print(f"Wrote {', '.join(paths)} in {result.seconds:.0f} s.")
    return 0


def main(argv=None):
    """Runs the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(_backend_help())
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        if args.command == "distill":
            return distill_cli.run_from_args(args, argv)
        return _compare(args, argv)
    except UsageError as e:
        message = " ".join(str(e).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())


# Not through keras_ls._api: that imports Keras, and the command must
# choose the backend first.
__all__ = ["main"]
