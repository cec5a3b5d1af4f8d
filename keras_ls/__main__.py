"""``python -m keras_ls compare ...`` runs the command line."""

import sys

from keras_ls.experiment.cli import main

if __name__ == "__main__":
    sys.exit(main())
