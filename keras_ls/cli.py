"""The ``keras-ls`` command line (also ``python -m keras_ls``).

``keras-ls compare`` runs `keras_ls.experiment.compare` and writes
results.json, report.md and PNG plots. User errors (a bad option, no data)
print one line and exit with status 2, without a traceback.
"""

import argparse
import os
import shlex
import sys

PROG = "keras-ls"
DATASETS = ("fashion_mnist",)
EXIT_USAGE = 2


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
            f"expected a number in [0, 1), got {text!r}")
    return value


def _epsilon(text):
    if text.lower() == "none":
        return None
    return _fraction(text, alternatives=" or 'none'")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 1, got {text!r}")
    return value


def build_parser():
    from keras_ls.experiment import MODELS
    from keras_ls.experiment import SCHEDULE_SPECS

    parser = _Parser(
        prog=PROG,
        description="Label smoothing, measured: keras_ls command line.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     parser_class=_Parser)
    cmp = commands.add_parser(
        "compare",
        help="train a baseline and label-smoothed models from identical "
             "initial weights, over several seeds, and compare them",
        description="Trains, for each seed, a baseline (ε = 0) and smoothed "
                    "models from identical initial weights and in identical "
                    "data order, and reports paired differences with 95% "
                    "confidence intervals.",
    )
    cmp.add_argument("--dataset", default="fashion_mnist", choices=DATASETS,
                     help="data set (default: %(default)s)")
    cmp.add_argument("--data-dir", default=None,
                     help="folder with the four Fashion-MNIST IDX files "
                          "(default: search $KERAS_LS_DATA_DIR, the Keras "
                          "cache, /usr/share/datasets/fashion-mnist, tfds, "
                          "keras.datasets)")
    cmp.add_argument("--model", default="mlp", choices=MODELS,
                     help="built-in network (default: %(default)s)")
    cmp.add_argument("--label-smoothing", type=_epsilon, default=0.1,
                     metavar="EPS",
                     help="ε of the fixed-smoothing variant, or 'none' "
                          "(default: %(default)s)")
    cmp.add_argument("--schedule", default=None, metavar="SPEC",
                     help="add a scheduled variant: " + ", ".join(
                         SCHEDULE_SPECS.values()))
    cmp.add_argument("--label-noise", type=_fraction, default=0.0,
                     metavar="FRACTION",
                     help="flip this fraction of training labels to a "
                          "random other class (default: %(default)s)")
    cmp.add_argument("--epochs", type=_positive_int, default=10,
                     help="training epochs (default: %(default)s)")
    cmp.add_argument("--seeds", type=_positive_int, default=3,
                     help="number of paired seeds (default: %(default)s)")
    cmp.add_argument("--batch-size", type=_positive_int, default=128,
                     help="training batch size (default: %(default)s)")
    cmp.add_argument("--train-size", type=_positive_int, default=None,
                     metavar="N",
                     help="train on the first N training examples only "
                          "(default: all)")
    cmp.add_argument("--out", default="runs/compare", metavar="DIR",
                     help="output folder (default: %(default)s)")
    cmp.add_argument("--quiet", action="store_true",
                     help="no progress bars")
    return parser


def _check_data_dir(path):
    if path is None:
        return
    if not os.path.isdir(path):
        raise UsageError(f"--data-dir {path!r} is not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise UsageError(f"--data-dir {path!r} is not readable")


def _compare(args, argv):
    from keras_ls import experiment
    from keras_ls import report
    from keras_ls.data import DataNotFoundError
    from keras_ls.data import IDXFormatError

    _check_data_dir(args.data_dir)
    if args.label_smoothing is None and args.schedule is None:
        raise UsageError("nothing to compare: give --label-smoothing or "
                         "--schedule")
    if args.schedule is not None:
        try:
            experiment.parse_schedule(args.schedule, epochs=args.epochs)
        except ValueError as e:
            raise UsageError(f"--schedule: {e}") from None
    try:
        result = experiment.compare(
            model=args.model,
            label_smoothing=args.label_smoothing,
            schedule=args.schedule,
            label_noise=args.label_noise,
            epochs=args.epochs,
            seeds=args.seeds,
            batch_size=args.batch_size,
            train_size=args.train_size,
            data_dir=args.data_dir,
            verbose=0 if args.quiet else 1,
        )
    except (DataNotFoundError, IDXFormatError, ValueError) as e:
        raise UsageError(str(e)) from None
    command = " ".join([PROG] + [shlex.quote(a) for a in argv])
    paths = report.write(result, args.out, command=command)
    try:
        from keras_ls import plots_experiment
    except ImportError as e:
        print(f"note: no PNG plots ({e})", file=sys.stderr)
    else:
        names = [report.class_name(result, k)
                 for k in range(len(result.test_probs["baseline"][0]))]
        paths += plots_experiment.write(result, args.out, names)
    report.print_table(result)
    print(f"Wrote {', '.join(paths)} in {result.seconds:.0f} s.")
    return 0


def main(argv=None):
    """Runs the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return _compare(args, argv)
    except UsageError as e:
        message = " ".join(str(e).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
