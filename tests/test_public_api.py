"""The public surface: the API reference (docs/api.md, docs/reference/),
``__all__`` and the old module paths."""

import importlib
import importlib.util
import inspect
import json
import pathlib
import re
import subprocess
import sys

import pytest

from keras_ls import _api

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_api_docs", ROOT / "scripts" / "gen_api_docs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_is_up_to_date():
    diff = _generator().check()
    assert not diff, (
        "the API reference (docs/api.md, docs/reference/) is out of date; "
        "run `.venv/bin/python scripts/gen_api_docs.py`:\n" + diff
    )


def _generated_copy(gen, tmp_path):
    docs = tmp_path / "docs"
    (docs / "reference").mkdir(parents=True)
    for name, text in gen.render_pages().items():
        (docs / name).write_text(text, encoding="utf-8")
    return docs


def test_check_reports_a_stale_page(tmp_path):
    gen = _generator()
    docs = _generated_copy(gen, tmp_path)
    assert gen.check(docs) == ""
    stale = docs / "api.md"
    stale.write_text(stale.read_text().replace("minimum_loss", "min_loss"))
    diff = gen.check(docs)
    assert "-- [`min_loss(" in diff
    assert "+- [`minimum_loss(" in diff


def test_check_reports_a_missing_and_a_leftover_page(tmp_path):
    gen = _generator()
    docs = _generated_copy(gen, tmp_path)
    (docs / "reference" / "losses.md").unlink()
    (docs / "reference" / "old.md").write_text("# gone\n")
    diff = gen.check(docs)
    assert "+::: keras_ls.losses.LabelSmoothingCrossentropy" in diff
    assert "-# gone" in diff


def _reference_text():
    pages = [ROOT / "docs" / "api.md"]
    pages += sorted((ROOT / "docs" / "reference").glob("*.md"))
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


def test_helpers_are_not_documented_as_public():
    text = _reference_text()
    for helper in ("binned_sums", "is_smoothing_loss", "_compare.run"):
        # A whole name: `distillation_compare` is public, `_compare` is a
        # module the reference reads `compare` from, `binned_sums` not.
        assert not re.search(rf"(?<![A-Za-z0-9]){helper}\b", text), helper


def test_every_public_name_has_a_section():
    """Each name of keras_ls.__all__ and of every public module's __all__
    has a mkdocstrings section (a `:::` line ending in the name) on its
    module's page, or is listed there as the same object as a section
    elsewhere; submodules have a page."""
    gen = _generator()
    pages = gen.render_pages()
    for module_name in [*gen.HOMES, gen.CLI_MODULE]:
        module = importlib.import_module(module_name)
        page = (
            pages[f"reference/{gen.CLI_PAGE}"]
            if module_name == gen.CLI_MODULE
            else pages[gen.page_of(module_name)]
        )
        for name in module.__all__:
            value = getattr(module, name)
            if module_name == "keras_ls" and (
                name == "__version__" or inspect.ismodule(value)
            ):
                if name == "__version__":
                    assert "`keras_ls.__version__`" in page
                else:
                    assert f"`keras_ls.{name}`" in page, name
                    assert gen.page_of(f"keras_ls.{name}") in pages, name
                continue
            sections = re.findall(rf"^::: \S+\.{name}$", page, re.M)
            listed = f"- `{module_name}.{name}`: the same object as" in page
            top = f"[`keras_ls.{name}`]" in page
            assert sections or listed or top, f"{module_name}.{name}"


# The generator's home modules (data-flow order) and the CLI module.
GENERATOR = _generator()
PUBLIC_MODULES = [*GENERATOR.HOMES, GENERATOR.CLI_MODULE]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_name_in_all_resolves(module_name):
    module = importlib.import_module(module_name)
    assert module.__all__, module_name
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []


def test_every_exported_path_resolves_to_its_object():
    _generator().public_objects()  # imports the lazy experiment modules
    for obj, paths in _api.exported():
        for path in paths:
            module_name, name = path.rsplit(".", 1)
            module = importlib.import_module(module_name)
            assert getattr(module, name) is obj, path
            assert name in module.__all__, path


# Each old path, the module it now is, and a public name it must still give.
OLD_PATHS = [
    (
        "keras_ls.scheduler",
        "keras_ls.callbacks.scheduler",
        "LabelSmoothingScheduler",
    ),
    ("keras_ls.monitor", "keras_ls.callbacks.monitor", "ConfidenceMonitor"),
    ("keras_ls.report", "keras_ls.experiment.report", "markdown"),
    ("keras_ls.cli", "keras_ls.experiment.cli", "main"),
    ("keras_ls.plots_experiment", "keras_ls.experiment.plots", "write"),
]

# One fresh interpreter for all old paths: a module imports (and warns)
# once per process, so a test in this process would see pytest's cached
# modules. The old paths are distinct modules, so each still warns once.
_OLD_PATH_PROGRAM = """
import importlib, json, sys, warnings
for old, new, name in json.loads(sys.argv[1]):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    hits = [w for w in caught if issubclass(w.category, DeprecationWarning)
            and old in str(w.message)]
    assert len(hits) == 1, (old, [str(w.message) for w in caught])
    target = importlib.import_module(new)
    assert module is target, (old, module)
    assert getattr(module, name) is getattr(target, name), (old, name)
    print(old, "ok")
"""


def test_old_module_paths_still_import_and_warn():
    done = subprocess.run(
        [sys.executable, "-c", _OLD_PATH_PROGRAM, json.dumps(OLD_PATHS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [
        word for old, _, _ in OLD_PATHS for word in (old, "ok")
    ]
