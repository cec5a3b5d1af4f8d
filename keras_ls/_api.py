"""Registration of public classes for Keras serialization.

Every public class is registered under the package name ``keras_ls`` where
it is defined, so ``keras.saving.load_model`` finds it without
``custom_objects``.
"""

import keras

PACKAGE = "keras_ls"


def register(cls):
    """Registers `cls` as ``keras_ls>ClassName`` and returns it unchanged."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
