"""The ``keras-ls compare`` subcommand: its options, and the run that
writes results.json, report.md and the PNG plots.

Keras-free at import: `run` chooses the backend before it imports
`keras_ls.experiment.compare`.
"""

import argparse
import functools
import sys

from keras_ls.experiment import variants as variant_specs
from keras_ls.experiment.cli import _backend
from keras_ls.experiment.cli import _options
from keras_ls.experiment.cli import _user_code
from keras_ls.experiment.cli._options import UsageError

HELP = (
    "train a baseline and label-smoothed models from identical initial "
    "weights, over several seeds, and compare them"
)
DESCRIPTION = (
    "Trains, for each seed, a baseline (ε = 0) and smoothed models from "
    "identical initial weights and in identical data order, and reports "
    "paired differences with 95% confidence intervals."
)
DATASETS = ("fashion_mnist",)
# A mirror of keras_ls.experiment.SCHEDULE_SPECS (the same object).
SCHEDULE_FORMS = variant_specs.SCHEDULE_FORMS


def _epsilon(text):
    if text.lower() == "none":
        return None
    return _options.fraction(text, alternatives=" or 'none'")


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


def add_arguments(cmp, backend_help=""):
    """Adds the ``compare`` options to `cmp` (an argparse parser);
    `backend_help` says which backend is the default here."""
    add = functools.partial(_options.add_shared, cmp)
    installed = ", ".join(_backend.PREFERENCE)
    default = (
        "$KERAS_BACKEND, else keras.json, else tensorflow, else the first "
        f"installed of {installed}"
    )
    add("--backend", help=_options.backend_help(default, backend_help))
    add(
        "--data-dir",
        help="folder with the four Fashion-MNIST IDX files "
        "(default: search $KERAS_LS_DATA_DIR, the Keras "
        "cache, /usr/share/datasets/fashion-mnist, tfds "
        "if installed, then keras.datasets, which "
        "downloads)",
    )
    _add_user_options(cmp, add)
    _add_method_options(cmp, add)
    add("--epochs", help="training epochs (default: %(default)s)")
    add("--seeds")
    add("--batch-size", help="training batch size (default: %(default)s)")
    add("--train-size")
    cmp.add_argument(
        "--validation-size",
        type=_options.count,
        default=None,
        metavar="N",
        help="hold out N of the training examples to watch "
        "during training (0: none); the test set is used "
        "only at the end (default: 1/12 of them, 5000 of "
        "60000)",
    )
    add(
        "--out",
        default="runs/compare",
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
    add("--quiet", help="no progress lines (only the table at the end)")
    cmp.add_argument(
        "--verbose",
        action="store_true",
        help="also show Keras' per-epoch progress bars (by default, one "
        "line per trained model: seed k/N, model j/M, elapsed, left)",
    )
    return cmp


def _add_user_options(cmp, add):
    """The options that name the data, the model and the optimizer: the
    built-in ones or the user's own."""
    cmp.add_argument(
        "--dataset",
        default="fashion_mnist",
        type=_user_code.function_spec(DATASETS),
        metavar="NAME|FILE.py:FUNCTION",
        help="fashion_mnist, or your function (FILE.py:FUNCTION or "
        "package.module:FUNCTION) returning ((x_train, y_train), (x_test, "
        "y_test)), arrays or batched datasets (default: %(default)s)",
    )
    add(
        "--model",
        choices=None,
        type=_user_code.function_spec(_options.MODELS),
        metavar="NAME|FILE.py:FUNCTION",
        help="built-in network (mlp, cnn), or your function (FILE.py:"
        "FUNCTION or package.module:FUNCTION) returning a fresh uncompiled "
        "keras.Model with logits, no final softmax (default: %(default)s)",
    )
    cmp.add_argument(
        "--optimizer",
        type=_user_code.optimizer_spec,
        default=None,
        metavar=_user_code.OPTIMIZER_FORM,
        help="a Keras optimizer and its arguments, e.g. "
        "sgd:learning_rate=0.05,momentum=0.9; a new one per trained model "
        "(default: adam:learning_rate=0.001)",
    )


def _add_method_options(cmp, add):
    """The options that say what is compared with the baseline, and on
    which labels."""
    add(
        "--label-smoothing",
        type=_epsilon,
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
        type=_options.fraction,
        default=0.0,
        metavar="FRACTION",
        help="flip this fraction of training labels to a "
        "random other class (default: %(default)s)",
    )


def run(args, argv):
    """Runs ``keras-ls compare`` from parsed `args`; returns the exit
    status. Raises `UsageError` for what the user must change."""
    _options.check_data_dir(args.data_dir)
    _check_combinations(args, argv)
    backend = _backend.activate_backend(args.backend)

    from keras_ls.experiment import _compare as experiment
    from keras_ls.experiment import report

    if args.schedule is not None:
        try:
            variant_specs.parse_schedule(args.schedule, epochs=args.epochs)
        except ValueError as e:
            raise UsageError(f"--schedule: {e}") from None
    user = _user_arguments(args)
    with _options.user_errors(args.data_dir):
        result = experiment.compare(
            user["data"],
            model=user["model"],
            optimizer=user["optimizer"],
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
            verbose=0 if args.quiet else 2 if args.verbose else 1,
        )
    if not _backend.is_installed("matplotlib"):
        print(
            "note: no PNG plots (matplotlib is not installed; it is the "
            "'plot' extra)",
            file=sys.stderr,
        )
    paths = report.write(
        result, args.out, command=_options.command_line(argv, args, backend)
    )
    report.print_table(result)
    print(f"Wrote {', '.join(paths)} in {result.seconds:.0f} s.")
    return 0


def _check_combinations(args, argv):
    """Refuses options that contradict each other, before Keras is
    imported."""
    if args.quiet and args.verbose:
        raise UsageError("--quiet and --verbose contradict each other")
    if args.data_dir is not None and args.dataset not in DATASETS:
        raise UsageError(
            f"--data-dir is where fashion_mnist is looked for; --dataset "
            f"{args.dataset} loads its own data"
        )
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
    if args.tensorboard is not None and not _backend.is_installed(
        "tensorboard"
    ):
        raise UsageError(
            "--tensorboard needs the tensorboard package (not TensorFlow): "
            "pip install 'keras-ls[tensorboard]'"
        )


def _user_arguments(args):
    """`compare`'s `data`, `model` and `optimizer` from ``--dataset``,
    ``--model`` and ``--optimizer``: the user's functions imported, the
    optimizer built once to check its name and arguments. Call it once
    the backend is chosen (the user's code imports Keras)."""
    from keras_ls.experiment import _optimizer

    data = model = optimizer = None
    if args.dataset not in DATASETS:
        data = _user_code.load_function(args.dataset, "--dataset")
    model = args.model
    if model not in _options.MODELS:
        model = _user_code.load_function(model, "--model")
    if args.optimizer is not None:
        optimizer = _user_code.optimizer_config(args.optimizer)
        try:
            _optimizer.optimizer_factory(optimizer)
        except ValueError as e:
            message = str(e).split(" Received: ")[0]
            raise UsageError(
                f"argument --optimizer: {args.optimizer!r}: {message}"
            ) from None
    return {"data": data, "model": model, "optimizer": optimizer}


__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]
