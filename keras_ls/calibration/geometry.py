"""Penultimate-layer geometry: the picture of Müller et al. (2019), Fig. 1.

A classifier's last Dense layer scores class k as ``h · w_k + b_k``: the
penultimate activation `h` against the class's *template* `w_k` (column k
of the kernel). Müller, Kornblith and Hinton show that label smoothing
pulls each class's activations into a tight cluster, equidistant from the
other classes' templates. Here are the numbers behind that picture:

- `penultimate_features`: the activations `h` (by default the input of the
  model's last Dense layer) and the templates;
- `template_plane_projection`: `h` projected onto the plane through three
  classes' templates, the paper's 2-D view;
- `cluster_tightness`: a figure-free measure of how tight the classes'
  clusters are, in the full penultimate space.

The activations are computed with Keras (`predict`); the geometry is numpy
float64.
"""

import typing

import keras
import numpy as np

from keras_ls import _validation
from keras_ls._api import keras_ls_export
from keras_ls._api import public_names
from keras_ls._tracking import values as _values


def _last_dense(model):
    dense = [
        layer for layer in model.layers if isinstance(layer, keras.layers.Dense)
    ]
    if not dense:
        raise ValueError(
            "`model` must have a keras.layers.Dense layer among its "
            "top-level layers (its last one gives the class templates). "
            f"Received: model {model.name!r} with layers "
            f"{[layer.name for layer in model.layers]}"
        )
    return dense[-1]


def _feature_model(model, layer):
    """A model from `model`'s inputs to the penultimate activations."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`model` must be a keras.Model. Received: {type(model).__name__}"
        )
    dense = _last_dense(model)
    try:
        inputs = model.inputs
        if layer is None:
            target = dense.input
        else:
            if not isinstance(layer, str):
                raise ValueError(
                    "`layer` must be a layer name or None. Received: "
                    f"layer={layer!r}"
                )
            target = model.get_layer(layer).output
    except (AttributeError, ValueError) as error:
        if isinstance(error, ValueError) and "`layer`" in str(error):
            raise
        raise ValueError(
            "`model` must be a functional or Sequential model that has been "
            "called on an input (its layers' inputs and outputs are needed), "
            f"and `layer` one of its layer names. Received: layer={layer!r}; "
            f"{error}"
        ) from None
    return keras.Model(inputs, target), dense


@keras_ls_export("keras_ls.calibration.penultimate_features")
def penultimate_features(model, x, *, layer=None, batch_size=256):
    """Penultimate activations of `x` and the class templates.

    Args:
        model: A functional or Sequential `keras.Model` whose top-level
            layers include a `keras.layers.Dense`; its last one is the
            classifier.
        x: Inputs of the model (numpy arrays).
        layer: Name of the layer whose output is taken as the penultimate
            activations; its width must be the last Dense layer's input
            width. Defaults to `None`: the input of the last Dense layer.
        batch_size: Batch size of the `predict` pass. Defaults to `256`.

    Returns:
        ``(features, templates)``: float64 arrays of shapes (N, D) and
        (K, D); ``templates[k]`` is column k of the last Dense kernel.

    Raises:
        ValueError: when the model has no Dense layer, is not
            functional/Sequential, `layer` is unknown or its width does not
            match the templates.
        TypeError: when `model` is not a `keras.Model`.

    Examples:

    >>> inputs = keras.Input((3,))
    >>> hidden = keras.layers.Dense(5, activation="relu")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(4)(hidden))
    >>> h, w = keras_ls.calibration.penultimate_features(
    ...     model, np.ones((2, 3), "float32"))
    >>> h.shape, w.shape
    ((2, 5), (4, 5))
    """
    batch_size = _validation.check_int(batch_size, "batch_size", minimum=1)
    features_model, dense = _feature_model(model, layer)
    features = features_model.predict(x, batch_size=batch_size, verbose=0)
    features = np.asarray(features, np.float64)
    features = features.reshape(features.shape[0], -1)
    kernel = np.asarray(_values.to_numpy(dense.kernel.value), np.float64)
    if features.shape[1] != kernel.shape[0]:
        raise ValueError(
            f"The output of `layer` {layer!r} has {features.shape[1]} "
            f"features, but the last Dense layer {dense.name!r} takes "
            f"{kernel.shape[0]}: its templates live in another space."
        )
    return features, kernel.T


class TemplateProjection(typing.NamedTuple):
    """Activations projected onto the plane through three class templates.

    Attributes:
        points: (N, 2) coordinates of the projected activations.
        labels: (N,) class of each point.
        templates: (3, 2) coordinates of the three templates.
        basis: (2, D) orthonormal basis of the plane's directions.
        origin: (D,) the plane's origin: the templates' mean.
        classes: The three classes, in the order of `templates`.
    """

    points: np.ndarray
    labels: np.ndarray
    templates: np.ndarray
    basis: np.ndarray
    origin: np.ndarray
    classes: tuple


def _check_classes(classes, num_classes):
    if (
        not isinstance(classes, (tuple, list))
        or len(classes) != 3
        or len(set(int(c) for c in classes if _is_int(c))) != 3
        or not all(_is_int(c) and 0 <= int(c) < num_classes for c in classes)
    ):
        raise ValueError(
            "`classes` must be three different class ids in "
            f"[0, {num_classes}). Received: classes={classes!r}"
        )
    return tuple(int(c) for c in classes)


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _labels(y, n):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(-1)
    y = y.reshape(-1)
    if y.shape[0] != n:
        raise ValueError(
            f"`y` must have one label per example ({n}). Received: "
            f"{y.shape[0]} labels"
        )
    return y.astype(np.int64)


@keras_ls_export("keras_ls.calibration.template_plane_projection")
def template_plane_projection(features, y, templates, classes):
    """Projects activations onto the plane through three class templates.

    The method of Müller et al. (2019), Fig. 1: the plane is the affine
    plane through the templates ``w_a, w_b, w_c`` of the three `classes`;
    its orthonormal basis is Gram-Schmidt of ``(w_b - w_a, w_c - w_a)``,
    its origin the templates' mean. Each activation `h` of an example of
    one of the three classes becomes ``basis @ (h - origin)``.

    Args:
        features: (N, D) penultimate activations.
        y: (N,) class ids, or one-hot rows.
        templates: (K, D) class templates (see `penultimate_features`).
        classes: Three different class ids ``(a, b, c)``.

    Returns:
        A `TemplateProjection`; its points are the examples of the three
        classes, in their order in `features`.

    Raises:
        ValueError: for `classes` that are not three different ids, shapes
            that do not match, or templates on one line (no plane).

    Examples:

    >>> w = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
    >>> p = keras_ls.calibration.template_plane_projection(
    ...     w, [0, 1, 2], w, (0, 1, 2))
    >>> np.allclose(p.points, p.templates)
    True
    >>> round(float(np.linalg.norm(p.templates[0] - p.templates[1])), 4)
    1.4142
    """
    features = np.asarray(features, np.float64)
    templates = np.asarray(templates, np.float64)
    if (
        features.ndim != 2
        or templates.ndim != 2
        or (features.shape[1] != templates.shape[1])
    ):
        raise ValueError(
            "`features` (N, D) and `templates` (K, D) must share D. "
            f"Received: shapes {features.shape} and {templates.shape}"
        )
    classes = _check_classes(classes, templates.shape[0])
    labels = _labels(y, features.shape[0])
    w = templates[list(classes)]
    u = w[1] - w[0]
    v = w[2] - w[0]
    u_norm = np.linalg.norm(u)
    v = v - (v @ u) / max(u_norm**2, np.finfo(float).tiny) * u
    v_norm = np.linalg.norm(v)
    scale = max(np.linalg.norm(w, axis=1).max(), 1.0)
    if u_norm <= 1e-12 * scale or v_norm <= 1e-12 * scale:
        raise ValueError(
            f"The templates of classes {classes} lie on one line: they span "
            "no plane to project onto."
        )
    basis = np.stack([u / u_norm, v / v_norm])
    origin = w.mean(axis=0)
    keep = np.isin(labels, classes)
    return TemplateProjection(
        points=(features[keep] - origin) @ basis.T,
        labels=labels[keep],
        templates=(w - origin) @ basis.T,
        basis=basis,
        origin=origin,
        classes=classes,
    )


@keras_ls_export("keras_ls.calibration.tightness_of_features")
def tightness_of_features(features, y, *, classes=None, templates=None):
    """`cluster_tightness` of given activations (see there).

    Args:
        features: (N, D) activations.
        y: (N,) class ids, or one-hot rows.
        classes: Class ids to include (at least 2, each with at least one
            example). Defaults to `None`: every class present in `y`.
        templates: Optional (K, D) class templates: when given, the
            activations are first projected onto the span of the
            differences of the included classes' templates (the
            ``space="templates"`` of `cluster_tightness`). Defaults to
            `None` (the full space).

    Returns:
        The tightness, a Python float (lower is tighter).

    Raises:
        ValueError: for fewer than 2 classes, a class without examples, or
            class means that all coincide.

    Examples:

    Two classes, each two points at distance 1 from its mean, means 4
    apart: 1 / 4.

    >>> h = np.array([[0.0, 1], [0, -1], [4, 1], [4, -1]])
    >>> keras_ls.calibration.tightness_of_features(h, [0, 0, 1, 1])
    0.25
    """
    features = np.asarray(features, np.float64)
    if features.ndim != 2:
        raise ValueError(
            f"`features` must be (N, D). Received: shape {features.shape}"
        )
    labels = _labels(y, features.shape[0])
    if classes is None:
        classes = np.unique(labels)
    classes = [int(c) for c in classes]
    missing = [c for c in classes if not np.any(labels == c)]
    if len(set(classes)) < 2 or missing:
        raise ValueError(
            "`classes` must name at least 2 different classes, each with an "
            f"example in `y`. Received: classes={classes}"
            + (f" (no example of {missing})" if missing else "")
        )
    if templates is not None:
        features = features @ _template_basis(templates, classes).T
    means, spreads = [], []
    for c in classes:
        rows = features[labels == c]
        mean = rows.mean(axis=0)
        means.append(mean)
        spreads.append(np.sqrt(np.mean(np.sum((rows - mean) ** 2, axis=1))))
    means = np.stack(means)
    i, j = np.triu_indices(len(classes), k=1)
    between = float(np.linalg.norm(means[i] - means[j], axis=1).mean())
    if between == 0.0:
        raise ValueError(
            "The class means coincide: tightness is undefined. "
            f"Received: classes={classes}"
        )
    return float(np.mean(spreads)) / between


def _template_basis(templates, classes):
    """Orthonormal rows spanning ``w_c - w_a`` for the classes c."""
    templates = np.asarray(templates, np.float64)
    if templates.ndim != 2 or max(classes) >= templates.shape[0]:
        raise ValueError(
            "`templates` must be (K, D) with a row for every class in "
            f"{classes}. Received: shape {templates.shape}"
        )
    w = templates[classes]
    differences = (w[1:] - w[0]).T
    q, r = np.linalg.qr(differences)
    diagonal = np.abs(np.diag(r))
    keep = diagonal > 1e-10 * max(diagonal.max(initial=0.0), 1e-300)
    return q[:, keep].T


SPACES = ("full", "templates")


@keras_ls_export("keras_ls.calibration.cluster_tightness")
def cluster_tightness(
    model, x, y, *, classes=None, space="full", layer=None, batch_size=256
):
    """How tight the classes' penultimate clusters are, relative to their
    distances; lower is tighter.

    With `h` the penultimate activations (see `penultimate_features`),
    ``mu_k`` the mean of class k's activations and ``C`` the classes
    compared::

        spread_k   = sqrt(mean over examples i of class k of |h_i - mu_k|^2)
        tightness  = mean_k spread_k / mean_{k < l} |mu_k - mu_l|

    the mean root-mean-square distance of an example to its class mean,
    divided by the mean distance between two class means (Euclidean
    norms, float64). With ``space="full"`` the activations are taken in
    the full penultimate space; with ``space="templates"`` they are first
    projected orthogonally onto the span of the differences ``w_c - w_a``
    of the compared classes' templates: the only directions that change
    the differences between their logits (for three classes, the plane of
    `template_plane_projection`, the view of Müller et al. 2019, Fig. 1).
    Spread in the other directions moves no prediction but can dominate
    the full-space value. The value is invariant to scaling the
    activations; two classes of points at distance r from their means,
    with means d apart, give r / d. Müller et al. see label smoothing make
    the clusters tighter: a lower value.

    Args:
        model: A functional or Sequential `keras.Model` (see
            `penultimate_features`).
        x: Inputs.
        y: Class ids (N,), or one-hot rows.
        classes: The classes compared (at least 2). Defaults to `None`:
            every class present in `y`.
        space: `"full"` or `"templates"` (see above). Defaults to
            `"full"`.
        layer: See `penultimate_features`. Defaults to `None`.
        batch_size: Batch size of the `predict` pass. Defaults to `256`.

    Returns:
        A Python float.

    Raises:
        ValueError: see `penultimate_features` and
            `tightness_of_features`.

    Examples:

    ```python
    keras_ls.calibration.cluster_tightness(model, x_test, y_test)
    ```

    References:
        - Müller, Kornblith and Hinton, 2019. [When Does Label Smoothing
          Help?](https://arxiv.org/abs/1906.02629) NeurIPS 2019.
    """
    _validation.check_choice(space, "space", SPACES)
    features, templates = penultimate_features(
        model, x, layer=layer, batch_size=batch_size
    )
    return tightness_of_features(
        features,
        y,
        classes=classes,
        templates=templates if space == "templates" else None,
    )


__all__ = public_names(__name__)
