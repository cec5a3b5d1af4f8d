"""Release hygiene: one source for the version, and a changelog that
names every deprecated path with the version it goes in."""

import configparser
import pathlib
import re

import keras_ls

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHANGELOG = ROOT / "CHANGELOG.md"
# The deprecated module aliases (keras_ls/_deprecation.py), by old name.
SHIMS = sorted(
    path.stem
    for path in (ROOT / "keras_ls").glob("*.py")
    if not path.stem.startswith("_")
    and "alias_deprecated_module(" in path.read_text(encoding="utf-8")
)


def test_setup_cfg_reads_the_version_from_the_package():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    assert config["metadata"]["version"] == "attr: keras_ls.__version__"


def test_no_other_file_repeats_the_version():
    """The wheel's name and the install commands say VERSION or a glob."""
    pattern = re.compile(r"keras_ls-\d+\.\d+\.\d+")
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    hits = [
        f"{page.relative_to(ROOT)}: {match.group(0)}"
        for page in pages
        for match in pattern.finditer(page.read_text(encoding="utf-8"))
    ]
    assert hits == []


def _versions():
    return re.findall(
        r"^## \[([^\]]+)\]", CHANGELOG.read_text("utf-8"), re.MULTILINE
    )


def test_changelog_has_unreleased_then_the_current_version():
    versions = _versions()
    assert versions[0] == "Unreleased"
    assert versions[1] == keras_ls.__version__
    assert versions[-1] == "0.1.0"
    dated = re.findall(
        r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d\d-\d\d$",
        CHANGELOG.read_text("utf-8"),
        re.MULTILINE,
    )
    assert dated == versions[1:]


def test_changelog_names_each_deprecated_path_and_when_it_goes():
    assert SHIMS == [
        "cli",
        "monitor",
        "plots_experiment",
        "report",
        "scheduler",
    ]
    text = CHANGELOG.read_text(encoding="utf-8")
    deprecated = text.split("### Deprecated")[-1]
    assert "go in 0.2.0" in deprecated
    for shim in SHIMS:
        assert f"| `keras_ls.{shim}` |" in deprecated, shim


def test_no_page_shows_a_path_of_the_measuring_machine():
    """Measured pages name relative folders (runs/…), not the absolute
    --out or clone paths of the machine they ran on."""
    machine = re.compile(r"(?<![\w.])/(?:work|tmp|home|root|mnt)/")
    pages = [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        *sorted((ROOT / "docs").rglob("*.md")),
        *sorted((ROOT / "docs" / "measurements").rglob("*.txt")),
    ]
    hits = [
        f"{page.relative_to(ROOT)}:{number}: {line.strip()[:80]}"
        for page in pages
        for number, line in enumerate(
            page.read_text(encoding="utf-8").splitlines(), 1
        )
        if machine.search(line)
    ]
    assert hits == []
