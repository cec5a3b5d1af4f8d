"""Old module paths kept for one release after the move into subpackages.

Imports nothing heavy (no Keras), so the deprecated ``keras_ls.cli`` can
still choose a backend before Keras is imported.
"""

import importlib
import sys
import warnings


def alias_deprecated_module(old, new, *, use):
    """Makes module `old` the module `new`, with a DeprecationWarning.

    ``import old`` and ``from old import name`` then return the very same
    module object as `new`, private names included, so code written against
    the old path keeps working unchanged for one release.
    """
    warnings.warn(
        f"`{old}` is deprecated and will be removed in the next release; "
        f"use `{use}` instead.",
        DeprecationWarning,
        stacklevel=3,
    )
    sys.modules[old] = importlib.import_module(new)
