"""What `compare` returns: `ComparisonResult`, the `environment` of a run
(the versions that decide its digits), and `finite_or_none`, which makes a
result strict JSON."""

import dataclasses
import math

import keras
import numpy as np

from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls.experiment.stats import paired_difference
from keras_ls.experiment.variants import BASELINE


@keras_ls_export("keras_ls.experiment.ComparisonResult")
@dataclasses.dataclass
class ComparisonResult:
    """What `compare` measured.

    Attributes:
        config: The arguments of the run and what they resolved to (data
            source, split sizes, the Python call), JSON-serializable;
            with ``model_details`` (the model's source, layers and
            parameter counts), ``optimizer`` (its full
            `keras.optimizers.serialize` config) and ``data`` (its source
            and shapes), what a rerun needs.
        seeds: The seeds, in order.
        variants: Model names, ``"baseline"`` first, with a description.
        metrics: ``metrics[variant][metric]`` is the list of per-seed
            test-set values (see `METRICS`).
        differences: ``differences[variant][metric]`` is the
            `paired_difference` of that variant against the baseline.
        histories: ``histories[variant]`` is the list of per-seed
            ``history.history`` dicts (floats per epoch): the training
            loss and accuracy, and the ``val_*`` statistics of the
            `ConfidenceMonitor` on the validation split (never the test
            set).
        examples: ``examples[variant]`` is the `largest_confidence_drop`
            test example of the first seed.
        test_labels: Test labels (numpy), for plots.
        test_probs: ``test_probs[variant]``: first seed's test
            probabilities (numpy), for plots.
        seconds: Wall-clock seconds of the whole comparison.
        environment: Versions of Python, numpy, Keras, the backend library
            and keras_ls (see `environment`).
        temperatures: ``temperatures[variant]`` is the list of per-seed
            temperatures of a temperature-scaled variant, fitted on the
            validation split.
        tightness: ``tightness[variant]`` is the list of per-seed
            `keras_ls.calibration.cluster_tightness` values of the trained
            model on the test set (full penultimate space, every class;
            lower is tighter), or `None` where the model has no last Dense
            layer to read (a user's model).
        projections: ``projections[variant]``: the first seed's
            `keras_ls.calibration.TemplateProjection` of the test examples
            of `PROJECTION_CLASSES`, for ``penultimate.png``.
    """

    config: dict
    seeds: list
    variants: dict
    metrics: dict
    differences: dict
    histories: dict
    examples: dict
    test_labels: np.ndarray = dataclasses.field(repr=False)
    test_probs: dict = dataclasses.field(repr=False)
    seconds: float = 0.0
    environment: dict = dataclasses.field(default_factory=dict)
    temperatures: dict = dataclasses.field(default_factory=dict)
    tightness: dict = dataclasses.field(default_factory=dict)
    projections: dict = dataclasses.field(default_factory=dict, repr=False)

    def tightness_differences(self):
        """``{variant: paired_difference}`` of the tightness against the
        baseline, for the variants where it was measured."""
        base = self.tightness.get(BASELINE)
        if base is None:
            return {}
        return {
            name: paired_difference(base, values)
            for name, values in self.tightness.items()
            if name != BASELINE and values is not None
        }

    def to_dict(self):
        """Everything but the arrays, as JSON-serializable Python values."""
        return {
            "config": self.config,
            "environment": self.environment,
            "seeds": list(self.seeds),
            "variants": dict(self.variants),
            "metrics": self.metrics,
            "differences": self.differences,
            "histories": self.histories,
            "examples": self.examples,
            "temperatures": self.temperatures,
            "tightness": self.tightness,
            "tightness_differences": self.tightness_differences(),
            "seconds": self.seconds,
        }


@keras_ls_export("keras_ls.experiment.environment")
def environment():
    """The versions that decide a run's exact digits.

    Returns:
        A dict of strings: ``python``, ``platform``, ``numpy``,
        ``keras``, ``backend`` (Keras' backend name), ``backend_version``
        (the version of that library: jax, tensorflow or torch) and
        ``keras_ls``.

    Examples:

    >>> env = keras_ls.experiment.environment()
    >>> sorted(env)  # doctest: +NORMALIZE_WHITESPACE
    ['backend', 'backend_version', 'keras', 'keras_ls', 'numpy',
     'platform', 'python']
    """
    import importlib
    import platform

    import keras_ls

    backend = keras.backend.backend()
    try:
        library = importlib.import_module(backend)
        backend_version = str(getattr(library, "__version__", "unknown"))
    except ImportError:
        backend_version = "not importable"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "keras": keras.__version__,
        "backend": backend,
        "backend_version": backend_version,
        "keras_ls": str(keras_ls.__version__),
    }


def finite_or_none(value):
    """`value` (nested dicts, lists and numbers) as strict JSON can hold
    it: NaN and infinities (e.g. a one-seed interval) as `None`, numpy
    scalars as Python numbers, tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if isinstance(value, np.generic):
        return finite_or_none(value.item())
    return value


__all__ = public_names(__name__)
