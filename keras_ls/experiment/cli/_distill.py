"""The ``keras-ls distill`` subcommand: its options, and the run that
writes results.json and report.md.

Keras-free at import: `run` chooses the backend before it imports
`keras_ls.experiment.distillation`.
"""

import argparse
import functools

from keras_ls.experiment.cli import _backend
from keras_ls.experiment.cli import _options

HELP = (
    "distil a small student from a baseline and a label-smoothed teacher, "
    "over several seeds, and compare the students"
)
DESCRIPTION = (
    "Trains, for each seed, a teacher with ε = 0 and one with ε > 0 from "
    "identical initial weights, distils a student from each with "
    "keras.distillation.Distiller at each temperature (and trains one on "
    "the labels alone), and reports the students' and teachers' test "
    "accuracy and NLL with paired 95% confidence intervals. Müller et al. "
    "(2019) found students of smoothed teachers worse."
)
STUDENTS = ("small", "mlp", "cnn")


def _temperature(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def _weight(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"must be a number in [0, 1], got {text!r}"
        )
    return value


def _smoothing(text):
    value = _options.fraction(text)
    if value == 0.0:
        raise argparse.ArgumentTypeError(
            "the smoothed teacher needs ε > 0, got 0"
        )
    return value


def add_arguments(parser, backend_help=""):
    """Adds the ``distill`` options to `parser` (an argparse parser);
    `backend_help` says which backend is the default here."""
    add = functools.partial(_options.add_shared, parser)
    add("--backend", help=_options.backend_help("as for compare", backend_help))
    add(
        "--data-dir",
        help="folder with the four Fashion-MNIST IDX files (default: "
        "searched as for compare)",
    )
    add("--model", help="the teachers' network (default: %(default)s)")
    parser.add_argument(
        "--student",
        default="small",
        choices=STUDENTS,
        help="the students' network; small: Flatten, Dense 32 "
        "(default: %(default)s)",
    )
    add(
        "--label-smoothing",
        type=_smoothing,
        help="ε of the smoothed teacher (default: %(default)s)",
    )
    parser.add_argument(
        "--temperatures",
        type=_temperature,
        nargs="+",
        default=[1.0, 4.0],
        metavar="T",
        help="distillation temperatures (default: 1 4)",
    )
    parser.add_argument(
        "--student-loss-weight",
        type=_weight,
        default=0.5,
        metavar="W",
        help="weight of the students' label loss; 1 - W goes to the "
        "teacher's soft targets (default: %(default)s)",
    )
    parser.add_argument(
        "--no-scratch",
        action="store_true",
        help="do not train the student on the labels alone",
    )
    add("--epochs", help="the teachers' epochs (default: %(default)s)")
    parser.add_argument(
        "--student-epochs",
        type=_options.positive_int,
        default=None,
        help="the students' epochs (default: --epochs)",
    )
    add("--seeds")
    add("--batch-size", help="batch size (default: %(default)s)")
    add("--train-size")
    add(
        "--out",
        default="runs/distill",
        help="output folder for results.json and report.md "
        "(default: %(default)s)",
    )
    add("--quiet")
    return parser


def run(args, argv):
    """Runs ``keras-ls distill`` from parsed `args`; returns the exit
    status. Raises `UsageError` for what the user must change."""
    _options.check_data_dir(args.data_dir)
    backend = _backend.activate_backend(args.backend)

    from keras_ls.experiment import distillation

    with _options.user_errors(args.data_dir):
        result = distillation.distillation_compare(
            model=args.model,
            student=args.student,
            label_smoothing=args.label_smoothing,
            temperatures=args.temperatures,
            student_loss_weight=args.student_loss_weight,
            scratch=not args.no_scratch,
            epochs=args.epochs,
            student_epochs=args.student_epochs,
            seeds=args.seeds,
            batch_size=args.batch_size,
            train_size=args.train_size,
            data_dir=args.data_dir,
            verbose=0 if args.quiet else 1,
        )
    command = _options.command_line(argv, args, backend)
    paths = distillation.write(result, args.out, command=command)
    print(distillation.markdown(result, command))
    print(f"Wrote {', '.join(paths)} in {result.seconds:.0f} s.")
    return 0


__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]
