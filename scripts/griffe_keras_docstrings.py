"""A griffe extension: reads keras_ls' Keras-style docstrings as Google.

Keras (and keras_ls, STYLE.md) writes the body of an ``Examples:``
section flush left, under labels such as "Standalone usage:", where the
Google style that mkdocstrings parses expects it indented under the
header. This indents that body, up to the next section header, so the
site renders the examples as code; it also drops the ``# doctest: …``
directives, which only the test runner needs. The source is unchanged.
Loaded by mkdocs.yml (`extensions:` of the python handler).
"""

import re

import griffe

EXAMPLES = re.compile(r"^Examples?:\s*$")
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
        if EXAMPLES.match(line):
            inside = True
            out.append(line)
            continue
        if inside and HEADER.match(line):
            inside = False
        if inside:
            line = DIRECTIVE.sub("", line)
            out.append("    " + line if line.strip() else "")
        else:
            out.append(line)
    return "\n".join(out)


class KerasDocstrings(griffe.Extension):
    """Indents the examples of every docstring griffe loads."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = indent_examples(obj.docstring.value)
