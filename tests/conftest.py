import os
import random

import keras
import numpy as np
import pytest

from tests import testing


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


# Kept importable from here for older test files; new code imports them
# from tests.testing, where the shared helpers live.
BACKEND = testing.BACKEND
requires_tf = testing.requires_tf
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
