"""Penultimate-layer geometry: the template-plane projection (Müller et al.
2019, Fig. 1) and `cluster_tightness`, on synthetic activations whose
answer is known analytically."""

import keras
import numpy as np
import pytest

from keras_ls.calibration import cluster_tightness
from keras_ls.calibration import penultimate_features
from keras_ls.calibration import template_plane_projection
from keras_ls.calibration import tightness_of_features

D = 5
# Templates of 4 classes in R^5: classes 0, 1, 2 span the plane z = 7 of
# the first two axes (w0 = (0,0,7,..), w1 = (3,0,7,..), w2 = (0,6,7,..)).
TEMPLATES = np.array(
    [
        [0.0, 0.0, 7.0, 0.0, 0.0],
        [3.0, 0.0, 7.0, 0.0, 0.0],
        [0.0, 6.0, 7.0, 0.0, 0.0],
        [1.0, 1.0, 1.0, 1.0, 1.0],
    ]
)
# Hand-derived: origin = templates' mean (1, 2, 7, 0, 0); basis = (e1, e2)
# (Gram-Schmidt of w1 - w0 = 3 e1 and w2 - w0 = 6 e2).
EXPECTED_TEMPLATES_2D = np.array([[-1.0, -2.0], [2.0, -2.0], [-1.0, 4.0]])


def _clusters(spread, n=20, seed=0):
    """`n` activations per class 0..3 around the templates; the clusters of
    classes 0-2 are offset off the plane along axes 4 and 5 (which the
    projection must drop) and spread within it by `spread`."""
    rng = np.random.default_rng(seed)
    features, labels, expected = [], [], []
    for k in range(4):
        inplane = spread * rng.standard_normal((n, 2))
        off = rng.standard_normal((n, 2)) * 10.0
        h = np.tile(TEMPLATES[k], (n, 1))
        h[:, :2] += inplane
        h[:, 3:] += off
        features.append(h)
        labels.append(np.full(n, k))
        if k < 3:
            expected.append(EXPECTED_TEMPLATES_2D[k] + inplane)
    return (
        np.concatenate(features),
        np.concatenate(labels),
        np.concatenate(expected),
    )


def _identity_model(num_classes=4, hidden_name="hidden"):
    """x -> identity Dense (the penultimate layer) -> Dense with the
    templates as kernel columns."""
    inputs = keras.Input((D,))
    hidden = keras.layers.Dense(D, use_bias=False, name=hidden_name)
    out = keras.layers.Dense(num_classes, name="logits")
    model = keras.Model(inputs, out(hidden(inputs)))
    hidden.set_weights([np.eye(D, dtype="float32")])
    out.set_weights(
        [TEMPLATES.T.astype("float32"), np.zeros(num_classes, "float32")]
    )
    return model


def test_three_clusters_on_the_template_plane_land_where_expected():
    features, labels, expected = _clusters(spread=0.1)
    p = template_plane_projection(features, labels, TEMPLATES, (0, 1, 2))
    np.testing.assert_allclose(p.templates, EXPECTED_TEMPLATES_2D, atol=1e-12)
    # Class 3 is left out; the off-plane offsets (axes 4, 5) vanish.
    np.testing.assert_array_equal(p.labels, np.repeat([0, 1, 2], 20))
    np.testing.assert_allclose(p.points, expected, atol=1e-12)
    np.testing.assert_allclose(p.origin, [1.0, 2.0, 7.0, 0.0, 0.0])
    np.testing.assert_allclose(np.abs(p.basis), np.eye(D)[:2], atol=1e-12)


def test_projection_is_independent_of_the_class_order():
    features, labels, _ = _clusters(spread=0.1)
    a = template_plane_projection(features, labels, TEMPLATES, (0, 1, 2))
    b = template_plane_projection(features, labels, TEMPLATES, (2, 0, 1))
    # A rotation or reflection of the plane: pairwise distances agree.
    da = np.linalg.norm(a.points[:, None] - a.points[None], axis=-1)
    db = np.linalg.norm(b.points[:, None] - b.points[None], axis=-1)
    np.testing.assert_allclose(da, db, atol=1e-9)


def test_penultimate_projection_of_a_model_returns_figure_and_points():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_ls.plots import penultimate_projection

    features, labels, expected = _clusters(spread=0.1)
    model = _identity_model()
    figure, p = penultimate_projection(
        model, features.astype("float32"), labels, classes=(0, 1, 2)
    )
    try:
        np.testing.assert_allclose(p.points, expected, atol=1e-4)
        np.testing.assert_allclose(p.templates, EXPECTED_TEMPLATES_2D, 1e-6)
        (ax,) = figure.axes
        # One scatter per class and one of the templates.
        assert len(ax.collections) == 4
        np.testing.assert_allclose(
            ax.collections[3].get_offsets(), EXPECTED_TEMPLATES_2D, atol=1e-6
        )
    finally:
        plt.close(figure)


def test_penultimate_features_default_and_named_layer():
    x = np.random.default_rng(1).standard_normal((6, D)).astype("float32")
    model = _identity_model()
    h, w = penultimate_features(model, x)
    np.testing.assert_allclose(h, x, atol=1e-6)
    np.testing.assert_allclose(w, TEMPLATES, atol=1e-6)
    h2, _ = penultimate_features(model, x, layer="hidden")
    np.testing.assert_allclose(h2, x, atol=1e-6)
    with pytest.raises(ValueError, match="layer"):
        penultimate_features(model, x, layer="no_such_layer")
    with pytest.raises(ValueError, match="4 features"):
        penultimate_features(model, x, layer="logits")


def _regular_clusters(r, d):
    """3 classes with means at the vertices of an equilateral triangle of
    side d; each class is 4 points at distance exactly r from its mean."""
    means = np.array([[0.0, 0.0], [d, 0.0], [d / 2, d * np.sqrt(3) / 2]])
    means = np.concatenate([means, np.zeros((3, 2))], axis=1)
    steps = r * np.array([[0, 0, 1, 0], [0, 0, -1, 0], [0, 0, 0, 1.0]])
    steps = np.concatenate([steps, -steps[2:]])
    features = np.concatenate([m + steps for m in means])
    return features, np.repeat([0, 1, 2], 4)


@pytest.mark.parametrize("r, d", [(1.0, 10.0), (0.5, 10.0), (2.0, 3.0)])
def test_tightness_known_answer(r, d):
    features, labels = _regular_clusters(r, d)
    assert tightness_of_features(features, labels) == pytest.approx(r / d)


def test_tightness_is_lower_for_tighter_clusters():
    loose, labels, _ = _clusters(spread=1.0, seed=3)
    tight, _, _ = _clusters(spread=0.1, seed=3)
    # Without the large off-plane offsets: the spread is only in-plane.
    loose[:, 3:] = 0.0
    tight[:, 3:] = 0.0
    assert tightness_of_features(tight, labels) < tightness_of_features(
        loose, labels
    )
    # Scaling and shifting all activations changes nothing.
    assert tightness_of_features(3.0 * tight + 5.0, labels) == pytest.approx(
        tightness_of_features(tight, labels), rel=1e-12
    )


def test_tightness_subset_of_classes_and_one_hot_labels():
    features, labels = _regular_clusters(1.0, 10.0)
    extra = np.concatenate([features, np.full((2, 4), 100.0)])
    extra_labels = np.concatenate([labels, [3, 3]])
    one_hot = np.eye(4)[extra_labels]
    assert tightness_of_features(
        extra, one_hot, classes=[0, 1, 2]
    ) == pytest.approx(0.1)


def test_cluster_tightness_of_a_model_matches_numpy():
    features, labels, _ = _clusters(spread=0.3, seed=2)
    model = _identity_model()
    # numpy oracle of the docstring's formula.
    means = np.stack([features[labels == k].mean(0) for k in range(4)])
    rms = [
        np.sqrt(((features[labels == k] - means[k]) ** 2).sum(1).mean())
        for k in range(4)
    ]
    between = np.mean(
        [
            np.linalg.norm(means[i] - means[j])
            for i in range(4)
            for j in range(i + 1, 4)
        ]
    )
    value = cluster_tightness(model, features.astype("float32"), labels)
    assert value == pytest.approx(np.mean(rms) / between, rel=1e-5)


@pytest.mark.parametrize(
    "classes", [(0, 1), (0, 0, 1), (0, 1, 9), (0, 1, True), "012"]
)
def test_bad_classes_are_refused(classes):
    features, labels, _ = _clusters(spread=0.1)
    with pytest.raises(ValueError, match="classes"):
        template_plane_projection(features, labels, TEMPLATES, classes)


def test_collinear_templates_are_refused():
    templates = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]])
    with pytest.raises(ValueError, match="one line"):
        template_plane_projection(
            np.zeros((3, 3)), [0, 1, 2], templates, (0, 1, 2)
        )


def test_tightness_errors():
    with pytest.raises(ValueError, match="at least 2"):
        tightness_of_features(np.zeros((3, 2)), [0, 0, 0])
    with pytest.raises(ValueError, match="no example of"):
        tightness_of_features(np.zeros((3, 2)), [0, 1, 1], classes=[0, 2])
    with pytest.raises(ValueError, match="coincide"):
        tightness_of_features(np.zeros((4, 2)), [0, 0, 1, 1])


def _off_plane_clusters(r, big, d):
    """3 classes with means at an equilateral triangle of side d in axes
    0-1; each point is r away from its mean within that plane and `big`
    away off it (axes 2-3), so the full-space RMS spread is
    sqrt(r^2 + big^2) and the in-plane one r."""
    means = np.array([[0.0, 0.0], [d, 0.0], [d / 2, d * np.sqrt(3) / 2]])
    means = np.concatenate([means, np.zeros((3, 2))], axis=1)
    steps = np.array(
        [
            [r, 0, big, 0],
            [-r, 0, -big, 0],
            [0, r, 0, big],
            [0, -r, 0, -big],
        ]
    )
    features = np.concatenate([m + steps for m in means])
    return features, np.repeat([0, 1, 2], 4), means


def test_tightness_in_the_template_space_ignores_off_template_spread():
    r, big, d = 1.0, 20.0, 10.0
    features, labels, means = _off_plane_clusters(r, big, d)
    # The templates are the class means, shifted along a common direction
    # (which no logit difference sees).
    templates = means + np.array([0.0, 0.0, 3.0, 3.0])
    full = tightness_of_features(features, labels)
    in_templates = tightness_of_features(features, labels, templates=templates)
    assert full == pytest.approx(np.sqrt(r**2 + big**2) / d)
    assert in_templates == pytest.approx(r / d)


def test_cluster_tightness_space_templates_of_a_model():
    r, big, d = 1.0, 20.0, 10.0
    features, labels, means = _off_plane_clusters(r, big, d)
    # A 5-D penultimate space; 3 classes plus a fourth whose template is
    # not among the compared classes.
    features = np.concatenate([features, np.zeros((12, 1))], axis=1)
    templates = np.concatenate([means, np.zeros((3, 1))], axis=1)
    templates = np.concatenate([templates, np.ones((1, 5))])
    inputs = keras.Input((5,))
    out = keras.layers.Dense(4, name="logits")
    model = keras.Model(inputs, out(inputs))
    out.set_weights([templates.T.astype("float32"), np.zeros(4, "float32")])
    x = features.astype("float32")
    assert cluster_tightness(model, x, labels) == pytest.approx(
        np.sqrt(r**2 + big**2) / d, rel=1e-5
    )
    assert cluster_tightness(
        model, x, labels, space="templates"
    ) == pytest.approx(r / d, rel=1e-5)
    with pytest.raises(ValueError, match="space"):
        cluster_tightness(model, x, labels, space="plane")
