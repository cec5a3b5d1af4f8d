"""Griffe extensions: how mkdocstrings reads keras_ls.

`LazyExports`: a lazy package (PEP 562), such as keras_ls.experiment, maps
its public names to submodules in a ``_DEFINED_IN`` dict literal that
griffe, which reads the source without importing it, does not follow.
This adds each name to the package as an alias of its definition, so
``::: keras_ls.experiment.compare`` works and the section's anchor is the
public path.

`KerasDocstrings` reads keras_ls' Keras-style docstrings as Google. Keras
(and keras_ls, STYLE.md) writes the body of an ``Examples:`` section
flush left, under labels such as "Standalone usage:", where the Google
style that mkdocstrings parses expects it indented under the
header; some docstrings start with "Standalone usage:" and no header at
all. This adds the missing header and indents the body, up to the next
section header, so the site renders the examples as code under
"Examples"; a doctest elsewhere in the text is fenced as code. It drops
the ``# doctest: …`` directives, which only the test runner needs. The
source is unchanged.

Both are loaded by mkdocs.yml (`extensions:` of the python handler).
"""

import ast
import re

import griffe

LAZY_TABLE = "_DEFINED_IN"

EXAMPLES = re.compile(r"^Examples?:\s*$")
# The label Keras puts first in its examples.
STANDALONE = re.compile(r"^Standalone usage:\s*$")
# A Google section header at column 0 ends the examples.
HEADER = re.compile(
    r"^(Args|Arguments|Attributes|Call arguments|Methods|Note|Notes|Raises|"
    r"References|Returns|See Also|Warning|Warnings|Yields):\s*$"
)
DIRECTIVE = re.compile(r"\s*#\s*doctest:.*$")


def indent_examples(text):
    """`text` with the body of its ``Examples:`` section indented."""
    out = []
    inside = False
    for line in text.splitlines():
        if not inside and STANDALONE.match(line):
            out.append("Examples:")
            inside = True
        elif EXAMPLES.match(line):
            inside = True
            out.append(line)
            continue
        if inside and HEADER.match(line):
            inside = False
        if inside:
            # A header followed by a blank line is not a section to griffe.
            if line.strip() or not EXAMPLES.match(out[-1]):
                line = DIRECTIVE.sub("", line)
                out.append("    " + line if line.strip() else "")
        else:
            out.append(line)
    return fence_doctests("\n".join(out))


def fence_doctests(text):
    """Fences each doctest written flush left (``>>>`` to the next blank
    line) as a ``pycon`` code block; an indented one is a section's."""
    out = []
    fenced = False
    for line in text.splitlines():
        if not fenced and line.startswith(">>>"):
            out.append("```pycon")
            fenced = True
        elif fenced and not line.strip():
            out.append("```")
            fenced = False
        out.append(DIRECTIVE.sub("", line) if fenced else line)
    if fenced:
        out.append("```")
    return "\n".join(out)


class KerasDocstrings(griffe.Extension):
    """Indents the examples of every docstring griffe loads."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = indent_examples(obj.docstring.value)


def lazy_table(node):
    """The ``_DEFINED_IN`` dict literal of a module's AST, or ``{}``."""
    for statement in node.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and statement.targets[0].id == LAZY_TABLE
        ):
            return ast.literal_eval(statement.value)
    return {}


class LazyExports(griffe.Extension):
    """Aliases a lazy package's public names to their definitions."""

    def on_module_members(self, *, node, mod, **kwargs):
        for name, submodule in lazy_table(node).items():
            if name not in mod.members:
                target = f"{mod.path}.{submodule}.{name}"
                mod.set_member(name, griffe.Alias(name, target, parent=mod))
