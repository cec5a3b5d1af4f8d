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

The parts: `_options` (what every subcommand shares), `_backend` (the
choice of the backend), `_user_code` (``--model`` and ``--dataset`` as
FILE.py:FUNCTION, ``--optimizer NAME[:KEY=VALUE,…]``), and one module per
subcommand, `_compare` and `_distill`, each with its HELP, DESCRIPTION,
`add_arguments` and `run`.
"""

import argparse
import sys

from keras_ls.experiment.cli import _backend
from keras_ls.experiment.cli import _compare
from keras_ls.experiment.cli import _distill
from keras_ls.experiment.cli._options import EXIT_USAGE
from keras_ls.experiment.cli._options import PROG
from keras_ls.experiment.cli._options import Parser
from keras_ls.experiment.cli._options import UsageError

#: Subcommand -> its module (HELP, DESCRIPTION, add_arguments, run).
COMMANDS = {"compare": _compare, "distill": _distill}


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
    parser = Parser(
        prog=PROG,
        description="Label smoothing, measured: keras_ls command line.",
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=Parser
    )
    for name, command in COMMANDS.items():
        sub = commands.add_parser(
            name, help=command.HELP, description=command.DESCRIPTION
        )
        command.add_arguments(sub, backend_help)
    return parser


def main(argv=None):
    """Runs the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(_backend.backend_help())
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return COMMANDS[args.command].run(args, argv)
    except UsageError as e:
        message = " ".join(str(e).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())


# Not through keras_ls._api: the command must choose the backend before
# anything imports Keras.
__all__ = ["main"]
