"""The package's shape stays reviewable (issue 19's limits).

Measured with `ast` on the source, as the issue measured it: a unit's
lines are its span without its own docstring. Every import in a module,
at the top or inside a function, is an edge of the import graph, and the
graph of `keras_ls` has no circle.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_ls"

MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 80
MAX_CLASS_LINES = 250
MAX_COMPARE_LINES = 60


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path, ast.parse(path.read_text())


def _docstring_lines(node):
    body = getattr(node, "body", None)
    if not body:
        return 0
    first = body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first.end_lineno - first.lineno + 1
    return 0


def _span(node):
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return node.end_lineno - start + 1 - _docstring_lines(node)


def _units(tree, kinds):
    for node in ast.walk(tree):
        if isinstance(node, kinds):
            yield node


def _longest(kinds):
    rows = []
    for name, _, tree in _modules():
        for node in _units(tree, kinds):
            rows.append((_span(node), f"{name}.{node.name}"))
    return max(rows)


def _module_lines(path, tree):
    return len(path.read_text().splitlines()) - _docstring_lines(tree)


def _imports(module, tree, known):
    package = module.split(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = [
                f"{prefix}.{a.name}"
                if f"{prefix}.{a.name}" in known
                else prefix
                for a in node.names
            ]
        else:
            continue
        for target in names:
            if target in known and target != module:
                yield target


def _cycle(graph):
    colour = {}

    def visit(node, path):
        colour[node] = "grey"
        for nxt in graph[node]:
            if colour.get(nxt) == "grey":
                return path + [node, nxt]
            if nxt not in colour:
                found = visit(nxt, path + [node])
                if found:
                    return found
        colour[node] = "black"
        return None

    for node in graph:
        if node not in colour:
            found = visit(node, [])
            if found:
                return found
    return None


def test_measure_counts_a_known_function():
    tree = ast.parse('def f(x):\n    """Doc\n    more."""\n    return x\n')
    (node,) = _units(tree, ast.FunctionDef)
    assert _span(node) == 2


def test_cycle_finder_finds_a_two_module_circle():
    assert _cycle({"a": ["b"], "b": ["a"]}) is not None
    assert _cycle({"a": ["b"], "b": []}) is None


def test_no_module_over_the_limit():
    sizes = sorted(
        (_module_lines(path, tree), name) for name, path, tree in _modules()
    )
    assert sizes[-1][0] <= MAX_MODULE_LINES, sizes[-3:]


def test_no_function_over_the_limit():
    size, name = _longest((ast.FunctionDef, ast.AsyncFunctionDef))
    assert size <= MAX_FUNCTION_LINES, name


def test_no_class_over_the_limit():
    size, name = _longest(ast.ClassDef)
    assert size <= MAX_CLASS_LINES, name


def test_compare_reads_in_at_most_sixty_lines():
    path = PACKAGE / "experiment" / "_compare.py"
    tree = ast.parse(path.read_text())
    (node,) = [
        n
        for n in _units(tree, ast.FunctionDef)
        if n.name == "compare" and n.col_offset == 0
    ]
    assert _span(node) <= MAX_COMPARE_LINES


@pytest.mark.parametrize("package", ["keras_ls"])
def test_no_import_circle(package):
    modules = {name: tree for name, _, tree in _modules()}
    known = set(modules)
    graph = {
        name: sorted(set(_imports(name, tree, known)))
        for name, tree in modules.items()
    }
    # A package's __init__ importing its own submodules is how Python
    # packages are built, not a circle a reader must untangle; a
    # submodule importing a name from its package's __init__ still is.
    for name in graph:
        graph[name] = [t for t in graph[name] if not t.startswith(name + ".")]
    assert _cycle(graph) is None, _cycle(graph)
