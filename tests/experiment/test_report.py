import io
import json
import os

import pytest

from keras_ls.experiment import report
from tests.experiment.fake_results import fake_result
from tests.testing import requires_module


@requires_module("rich")
def test_table_does_not_wrap_the_intervals_in_a_narrow_non_terminal():
    import rich.console as rich

    result = fake_result()
    out = io.StringIO()
    # What a CI log gets: not a terminal, and much narrower than the table.
    console = rich.Console(
        file=out, width=40, force_terminal=False, color_system=None
    )
    report.print_table(result, console=console)
    text = out.getvalue()
    rows = report.summary_rows(result)
    intervals = [cell for cell in rows[1][2::2]]
    assert len(intervals) == 4 and all("[" in i for i in intervals)
    lines = text.splitlines()
    for row in rows:  # each model's row on one line
        assert any(all(cell in line for cell in row) for line in lines), row
    assert console.width == 40  # the caller's console is left as it was


def test_summary_table_puts_every_variant_against_the_baseline():
    """Means over seeds and paired differences, from numpy."""
    import numpy as np

    result = fake_result(seeds=(0, 1, 2))
    result.metrics["smoothed"]["ece"] = [0.50, 0.56, 0.53]
    result.metrics["baseline"]["ece"] = [0.51, 0.52, 0.53]
    from keras_ls.experiment import paired_difference

    result.differences["smoothed"]["ece"] = paired_difference(
        result.metrics["baseline"]["ece"], result.metrics["smoothed"]["ece"]
    )
    assert report.summary_header() == (
        "variant",
        "accuracy",
        "Δ accuracy [95% CI]",
        "NLL",
        "Δ NLL [95% CI]",
        "ECE",
        "Δ ECE [95% CI]",
        "confidence",
        "Δ confidence [95% CI]",
    )
    baseline, smoothed = report.summary_rows(result)
    # accuracy: baseline 0.50, 0.51, 0.52; smoothed 0.02 higher per seed.
    assert baseline[:3] == ("baseline", "0.5100", "—")
    assert smoothed[:3] == ("smoothed", "0.5300", "+0.0200 [+0.0200, +0.0200]")
    # ECE differences -0.01, +0.04, 0.00: mean 0.01, sd sqrt(0.00070),
    # half-width t(0.975, 2) * sd / sqrt(3).
    d = np.array([-0.01, 0.04, 0.0])
    half = 4.302653 * d.std(ddof=1) / np.sqrt(3)
    assert smoothed[5] == "0.5300"
    assert smoothed[6] == (
        f"{d.mean():+.4f} [{d.mean() - half:+.4f}, {d.mean() + half:+.4f}]"
    )
    assert smoothed[6] == "+0.0100 [-0.0557, +0.0757]"
    text = report.markdown(result)
    assert "| smoothed | 0.5300 | +0.0200 [+0.0200, +0.0200] |" in text


def test_temperatures_are_reported():
    result = fake_result()
    result.temperatures = {"smoothed": [1.25, 1.5, 2.0]}
    assert report.temperature_lines(result) == [
        "smoothed: T = 1.583 (mean; per seed: 1.250, 1.500, 2.000), fitted "
        "on the validation split"
    ]
    assert "- smoothed: T = 1.583" in report.markdown(result)
    assert "Temperature scaling" not in report.markdown(fake_result())


@pytest.mark.parametrize(
    "epochs, seeds, epoch_text, seed_text",
    [(1, [0], "1 epoch,", "1 seed,"), (3, [0, 1], "3 epochs,", "2 seeds,")],
)
@requires_module("rich")
def test_counts_are_singular_or_plural(epochs, seeds, epoch_text, seed_text):
    result = fake_result(epochs=epochs, seeds=seeds)
    text = report.markdown(result)
    assert f"`mlp`, {epoch_text}" in text
    assert "1 epochs" not in text
    out = io.StringIO()
    from rich.console import Console

    report.print_table(result, console=Console(file=out, width=200))
    title = out.getvalue().splitlines()[0]
    assert epoch_text in title and seed_text in title
    assert "1 epochs" not in title and "1 seeds" not in title


def test_report_and_json_record_source_versions_and_command(tmp_path):
    result = fake_result()
    command = "keras-ls compare --backend jax --seeds 3"
    paths = report.write(result, tmp_path, command=command, plots=False)
    assert [os.path.basename(p) for p in paths] == ["results.json", "report.md"]
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["command"] == command
    assert record["config"]["data_source"] == "/data/fm (test)"
    assert record["environment"] == result.environment
    text = (tmp_path / "report.md").read_text()
    assert f"Command:\n\n```\n{command}\n```" in text
    assert "data: /data/fm (test)" in text
    for piece in ("keras_ls 0.1.0", "Keras 3.15.1", "jax 0.10.2"):
        assert piece in text
    assert "55000 training / 5000 validation / 60 test examples" in text


def test_library_call_is_recorded_when_there_is_no_command(tmp_path):
    result = fake_result()
    report.write(result, tmp_path, plots=False)
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["command"] == "keras_ls.compare(seeds=3)"
    text = (tmp_path / "report.md").read_text()
    assert "Python call:\n\n```\nkeras_ls.compare(seeds=3)\n```" in text


@requires_module("matplotlib")
def test_report_links_every_png_it_wrote(tmp_path):
    result = fake_result(seeds=[4, 5])
    paths = report.write(result, tmp_path)
    pngs = [os.path.basename(p) for p in paths if p.endswith(".png")]
    assert sorted(pngs) == sorted(
        [
            "reliability.png",
            "confidence_histogram.png",
            "example.png",
            "accuracy_ece.png",
            "val_curves.png",
        ]
    )
    text = (tmp_path / "report.md").read_text()
    for name in pngs:
        assert f"]({name})" in text
        with open(tmp_path / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # The links say what each figure shows: the test set of seed 4, or
    # the validation split averaged over both seeds.
    assert "(test set, seed 4)](reliability.png)" in text
    assert "(mean of 2 seeds, band: lowest to highest)](val_curves.png)" in (
        text
    )
