"""A griffe extension for the documentation site: doctest blocks render as code, reST roles as code.

pipemap's docstrings carry their examples as doctest blocks (``>>>`` lines and their output).
Under a numpydoc ``Examples`` heading mkdocstrings renders them as code already; anywhere else
Markdown would read ``>>>`` as nested quotes. This extension fences every doctest block outside an
``Examples`` section (up to the next blank line, as doctest reads it) as ``pycon`` code, before
the docstring is parsed, and turns reST roles (``:func:`x` ``) into code spans. It changes what the site shows, never the docstrings (mkdocs.yml loads
it under ``mkdocstrings``' ``extensions``).

>>> fence_doctests("Text.\\n\\n>>> 1 + 1\\n2\\n").splitlines()
['Text.', '', '```pycon', '>>> 1 + 1', '2', '```']
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SECTION = re.compile(r"^(\s*)([A-Z][A-Za-z ]+)\s*$")
_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):`~?([^`]+)`")


def plain_roles(text: str) -> str:
    """Turn reST cross-reference roles (``:func:`x` ``) into Markdown code spans (`` `x` ``).

    >>> plain_roles("see :func:`run_map` and :class:`~pipemap.runner.Pipeline`")
    'see `run_map` and `pipemap.runner.Pipeline`'
    """
    return _ROLE.sub(lambda m: f"`{m.group(1)}`", text)


def fence_doctests(text: str) -> str:
    """Return ``text`` with each doctest block outside an ``Examples`` section fenced as pycon."""
    lines = text.splitlines()
    out: list[str] = []
    in_examples = in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        header = _SECTION.match(line)
        if header and i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]):
            in_examples = header.group(2).strip() == "Examples"
        if not in_fence and not in_examples and stripped.startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out.extend([f"{indent}```pycon", *block, f"{indent}```"])
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    """Fence the doctest blocks of every docstring outside its ``Examples`` section; plain roles."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(plain_roles(obj.docstring.value))
