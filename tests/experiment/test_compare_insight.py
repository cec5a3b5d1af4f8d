"""compare() shows what smoothing does to the penultimate layer and writes
TensorBoard runs (issue 12): tightness per variant and seed, in
results.json and report.md, ``penultimate.png``, and
``compare(tensorboard_dir=…)`` / ``keras-ls compare --tensorboard``.
"""

import json
import os

import numpy as np
import pytest

from keras_ls.experiment import compare
from keras_ls.experiment import report
from tests.experiment.test_compare_variants import FAST
from tests.testing import requires_module
from tests.testing import small_data


def _tightness(features, labels):
    """numpy oracle of `cluster_tightness`' definition: mean RMS distance
    to the class mean over the mean distance between class means."""
    classes = np.unique(labels)
    means = np.stack([features[labels == c].mean(0) for c in classes])
    spread = np.mean(
        [
            np.sqrt(((features[labels == c] - means[i]) ** 2).sum(1).mean())
            for i, c in enumerate(classes)
        ]
    )
    gaps = [
        np.linalg.norm(means[i] - means[j])
        for i in range(len(classes))
        for j in range(i + 1, len(classes))
    ]
    return spread / np.mean(gaps)


def test_tightness_and_projection_of_every_variant(tmp_path, monkeypatch):
    """The recorded tightness is the oracle's value on the trained model's
    penultimate test activations; ts shares its model's value; the paired
    difference is the mean of the per-seed differences."""
    import keras

    from keras_ls.experiment import _evaluation

    trained = {}
    geometry = _evaluation.penultimate_geometry

    def spy(net, data, **kwargs):
        hidden = net.layers[0](data.x_test)
        features = keras.ops.convert_to_numpy(hidden).astype(np.float64)
        trained.setdefault(len(trained), _tightness(features, data.y_test))
        return geometry(net, data, **kwargs)

    monkeypatch.setattr(_evaluation, "penultimate_geometry", spy)
    result = compare(
        small_data(), variants=["ls:0.2", "ts"], **dict(FAST, seeds=2)
    )
    assert set(result.tightness) == {"baseline", "ls:0.2", "ts"}
    # Order of training per seed: baseline (shared by ts), then ls:0.2.
    expected = [trained[i] for i in range(4)]
    np.testing.assert_allclose(
        result.tightness["baseline"], [expected[0], expected[2]], rtol=1e-6
    )
    np.testing.assert_allclose(
        result.tightness["ls:0.2"], [expected[1], expected[3]], rtol=1e-6
    )
    assert result.tightness["ts"] == result.tightness["baseline"]
    d = result.tightness_differences()["ls:0.2"]
    np.testing.assert_allclose(
        d["mean"],
        np.mean(
            np.subtract(
                result.tightness["ls:0.2"], result.tightness["baseline"]
            )
        ),
        rtol=1e-9,
    )
    # The first seed's projection of classes 0, 1 and 2: every test example
    # of those classes (small_data has exactly 3 classes).
    projection = result.projections["ls:0.2"]
    assert projection.points.shape == (40, 2)
    assert tuple(projection.classes) == (0, 1, 2)
    assert result.projections["ts"] is result.projections["baseline"]


@requires_module("matplotlib")
def test_report_has_tightness_and_penultimate_png(tmp_path):
    result = compare(small_data(), variants=["ls:0.2"], **FAST)
    paths = report.write(result, str(tmp_path))
    assert str(tmp_path / "penultimate.png") in paths
    assert (tmp_path / "penultimate.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "results.json").read_text())
    np.testing.assert_allclose(
        saved["tightness"]["ls:0.2"], result.tightness["ls:0.2"]
    )
    assert saved["tightness_differences"]["ls:0.2"]["n"] == 1
    text = (tmp_path / "report.md").read_text()
    value = result.tightness["ls:0.2"][0]
    assert f"- ls:0.2: tightness {value:.4f}, Δ " in text
    assert "](penultimate.png)" in text


def test_user_model_without_a_last_dense_records_none():
    import keras

    def no_dense():
        # EinsumDense, not Dense: no last Dense layer whose input to read.
        return keras.Sequential(
            [
                keras.Input((6,)),
                keras.layers.EinsumDense("ab,bc->ac", output_shape=3),
            ]
        )

    result = compare(
        small_data(), variants=["ls:0.2"], **dict(FAST, model=no_dense)
    )
    assert result.tightness == {"baseline": None, "ls:0.2": None}
    assert result.projections == {}
    assert report.tightness_lines(result) == []


@requires_module("tensorboard")
def test_tensorboard_dir_writes_one_run_per_variant_and_seed(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    log_dir = tmp_path / "tb"
    result = compare(
        small_data(),
        variants=["ls:0.2", "ls:0.2+ts"],
        tensorboard_dir=str(log_dir),
        **dict(FAST, seeds=2, epochs=2),
    )
    runs = sorted(
        os.path.relpath(root, log_dir)
        for root, _, files in os.walk(log_dir)
        if any(f.startswith("events.out.tfevents") for f in files)
    )
    # ls:0.2+ts rescales the ls:0.2 model: one run per trained model.
    assert runs == [
        "baseline/seed_0",
        "baseline/seed_1",
        "ls_0.2/seed_0",
        "ls_0.2/seed_1",
    ]
    acc = EventAccumulator(
        str(log_dir / "ls_0.2" / "seed_1"), size_guidance={"scalars": 0}
    )
    acc.Reload()
    history = result.histories["ls:0.2"][1]
    ece = [e for e in acc.Scalars(_tag(acc, "ece"))]
    assert [e.step for e in ece] == [0, 1]
    np.testing.assert_allclose(
        [e.value for e in ece], history["val_ece"], rtol=1e-6
    )


def _tag(acc, statistic):
    tags = [t for t in acc.Tags()["scalars"] if t.endswith(statistic)]
    assert len(tags) == 1, acc.Tags()["scalars"]
    return tags[0]


def test_tensorboard_dir_needs_a_validation_split(tmp_path):
    with pytest.raises(ValueError, match="validation_size=0"):
        compare(
            small_data(),
            tensorboard_dir=str(tmp_path),
            **dict(FAST, validation_size=0),
        )
