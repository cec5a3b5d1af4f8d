"""Statistics of paired runs: Student-t quantiles and paired differences.

`compare` and `distillation_compare` train their models seed by seed; each
seed gives one value per model, and the difference of two models on the
same seed is what they summarize: its mean and a 95% Student-t interval.
"""

import math

import numpy as np

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names

# Two-sided 95% Student-t quantiles t_{0.975, df} for df = 1..30.
_T975 = (
    12.706205,
    4.302653,
    3.182446,
    2.776445,
    2.570582,
    2.446912,
    2.364624,
    2.306004,
    2.262157,
    2.228139,
    2.200985,
    2.178813,
    2.160369,
    2.144787,
    2.13145,
    2.119905,
    2.109816,
    2.100922,
    2.093024,
    2.085963,
    2.079614,
    2.073873,
    2.068658,
    2.063899,
    2.059539,
    2.055529,
    2.051831,
    2.048407,
    2.04523,
    2.042272,
)


@keras_ls_export("keras_ls.experiment.t_quantile_975")
def t_quantile_975(df):
    """The 0.975 quantile of Student's t with `df` degrees of freedom.

    Exact to 6 decimals for df <= 30 (a table); beyond, the Cornish-Fisher
    expansion around the normal quantile, accurate to about 1e-5.

    Raises:
        ValueError: when `df` is not an integer >= 1.

    Examples:

    >>> round(keras_ls.experiment.t_quantile_975(4), 3)
    2.776
    >>> round(keras_ls.experiment.t_quantile_975(1000), 3)
    1.962
    """
    df = _validation.check_int(df, "df", minimum=1)
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


@keras_ls_export("keras_ls.experiment.paired_difference")
def paired_difference(baseline, treated):
    """Mean and 95% confidence interval of the paired differences.

    The differences ``treated[i] - baseline[i]`` of runs that share seed i
    are summarized with the Student-t interval
    ``mean ± t_{0.975, n-1} · sd / sqrt(n)``; with one seed the interval is
    undefined (NaN).

    Args:
        baseline: Per-seed values of the baseline.
        treated: Per-seed values of the other model, in the same seed order.

    Returns:
        A dict with ``mean``, ``half_width``, ``low``, ``high``, ``n`` and
        the per-seed ``values``, all Python floats (``n`` an int).

    Raises:
        ValueError: when `baseline` and `treated` are not 1-D sequences of
            the same, non-zero length.

    Examples:

    >>> d = keras_ls.experiment.paired_difference(
    ...     [0.80, 0.82, 0.81], [0.81, 0.84, 0.82]
    ... )
    >>> round(d["mean"], 4), round(d["half_width"], 4)
    (0.0133, 0.0143)
    """
    a = np.asarray(baseline, np.float64)
    b = np.asarray(treated, np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(
            "`baseline` and `treated` must be 1-D sequences of the same, "
            f"non-zero length. Received: lengths {a.shape} and {b.shape}"
        )
    d = b - a
    n = d.size
    mean = float(d.mean())
    if n > 1:
        half = t_quantile_975(n - 1) * float(d.std(ddof=1)) / math.sqrt(n)
    else:
        half = math.nan
    return {
        "mean": mean,
        "half_width": half,
        "low": mean - half,
        "high": mean + half,
        "n": int(n),
        "values": [float(v) for v in d],
    }


def paired_differences(baseline, other, metrics):
    """``{metric: paired_difference(baseline[metric], other[metric])}``
    for each of `metrics`: two models' per-seed values, metric by metric.
    """
    return {m: paired_difference(baseline[m], other[m]) for m in metrics}


__all__ = public_names(__name__)
