"""`mkdocs build --strict` fails on each defect it must catch.

A copy of mkdocs.yml and docs/ (with links to keras_ls/, scripts/ and
CHANGELOG.md) gets one defect and must fail to build: a broken link, a
nav entry without its page, an unknown anchor, an unresolved
cross-reference, an API directive naming an object that does not exist.
The unchanged copy builds. The nav hook drops an optional page only while
it is missing.
"""

import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from tests.testing import BACKEND

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS_MODULES = ("mkdocs", "material", "mkdocstrings_handlers")


def needs_docs(test):
    """Runs `test` in the jax suite, where the docs extra is installed."""
    for mark in (
        pytest.mark.skipif(
            BACKEND != "jax",
            reason="the site does not depend on the backend: checked "
            "once, in the jax suite",
        ),
        pytest.mark.skipif(
            any(importlib.util.find_spec(m) is None for m in DOCS_MODULES),
            reason="needs the docs extra (pip install -e '.[docs]')",
        ),
    ):
        test = mark(test)
    return test


def _project(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", project / "docs")
    for name in ("keras_ls", "scripts", "CHANGELOG.md"):
        (project / name).symlink_to(ROOT / name)
    return project


def _build(project):
    return subprocess.run(
        # Not -q: mkdocs counts only the warnings it logs, so --strict
        # with -q passes a build with broken links.
        [sys.executable, "-m", "mkdocs", "build", "--strict"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
    )


def _append(path, text):
    path.write_text(path.read_text(encoding="utf-8") + text, "utf-8")


def _broken_link(project):
    _append(project / "docs" / "index.md", "\n[gone](gone.md)\n")


def _nav_entry_without_page(project):
    config = project / "mkdocs.yml"
    text = config.read_text(encoding="utf-8")
    entry = "  - Home: index.md\n"
    assert entry in text
    config.write_text(text.replace(entry, entry + "  - Gone: gone.md\n"))


def _unknown_anchor(project):
    _append(project / "docs" / "index.md", "\n[x](schedules.md#no-such)\n")


def _unresolved_cross_reference(project):
    _append(project / "docs" / "index.md", "\n[x][keras_ls.NoSuchLoss]\n")


def _missing_api_object(project):
    page = project / "docs" / "reference" / "losses.md"
    _append(page, "\n::: keras_ls.losses.NoSuchLoss\n")


# defect -> (how to make it, a word of the error it must cause)
DEFECTS = {
    "broken link": (_broken_link, "gone.md"),
    "nav entry without a page": (_nav_entry_without_page, "gone.md"),
    "unknown anchor": (_unknown_anchor, "no-such"),
    "unresolved cross-reference": (
        _unresolved_cross_reference,
        "keras_ls.NoSuchLoss",
    ),
    "API directive of a missing object": (_missing_api_object, "NoSuchLoss"),
}


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_api_docs", ROOT / "scripts" / "gen_api_docs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sections(html):
    """``{id: html}`` of each mkdocstrings section (h2 to the next h2)."""
    parts = re.split(r'(?=<h2 id="[^"]+" class="doc doc-heading")', html)
    found = {}
    for part in parts[1:]:
        found[re.match(r'<h2 id="([^"]+)"', part).group(1)] = part
    return found


@needs_docs
def test_strict_build_of_the_unchanged_copy_passes(tmp_path):
    """It builds, and every public object has its section on its page,
    with its signature, and its doctest examples rendered as code."""
    project = _project(tmp_path)
    done = _build(project)
    assert done.returncode == 0, done.stderr[-3000:]
    gen = _generator()
    checked, missing = 0, []
    for home, entries in gen.public_objects().items():
        page = gen.page_of(home).removesuffix(".md") + "/index.html"
        html = (project / "site" / page).read_text(encoding="utf-8")
        sections = _sections(html)
        for obj, _ in entries:
            anchor = gen.source_path(obj, home, obj.__name__)
            section = sections.get(anchor, "")
            # A class without an __init__ of its own (IDXFormatError) has
            # no signature to show.
            has_init = not isinstance(obj, type) or "__init__" in vars(obj)
            if has_init and 'class="doc-signature' not in section:
                missing.append(f"{anchor}: no signature")
            if ">>>" in (obj.__doc__ or ""):
                code = re.findall(r"<code>(.*?)</code>", section, re.S)
                if not any("&gt;&gt;&gt;" in c for c in code):
                    missing.append(f"{anchor}: no doctest")
            checked += 1
    assert missing == []
    assert checked >= 60


@needs_docs
@pytest.mark.parametrize("defect", list(DEFECTS))
def test_strict_build_fails_on(tmp_path, defect):
    project = _project(tmp_path)
    inject, named = DEFECTS[defect]
    inject(project)
    done = _build(project)
    assert done.returncode != 0, defect
    assert named in done.stderr, done.stderr[-3000:]


def _hooks():
    spec = importlib.util.spec_from_file_location(
        "mkdocs_hooks", ROOT / "scripts" / "mkdocs_hooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nav_hook_keeps_an_optional_page_only_when_it_exists(tmp_path):
    hooks = _hooks()
    nav = [
        {"Home": "index.md"},
        {"Guides": [{"A": "a.md"}, {"Large": "large-vocabulary.md"}]},
    ]
    assert hooks._prune(nav, str(tmp_path)) == [
        {"Home": "index.md"},
        {"Guides": [{"A": "a.md"}]},
    ]
    (tmp_path / "large-vocabulary.md").write_text("# Large\n")
    assert hooks._prune(nav, str(tmp_path)) == nav
