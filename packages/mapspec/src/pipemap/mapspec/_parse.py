"""The strict mapspec scanner: every character of a mapspec string is accounted for.

``parse_sides(expr)`` returns the ``(name, axes)`` pairs of both sides, or raises `MapSpecError`
quoting the string with a caret under the offending position. A string is accepted only if it is
the canonical form (``str(MapSpec)``) up to whitespace around names, brackets, commas and ``->``.

When pipefunc 0.93.2 would reject the same string too, the message starts with pipefunc's wording
(`pipefunc_wording`), so ``pytest.raises(match=...)`` checks written against pipefunc keep working.
Parsing runs once per spec (never per element), so clarity wins over speed here.
"""

from __future__ import annotations

import functools
import re
from typing import NoReturn

from pipemap.mapspec._errors import MapSpecError

__all__ = ["caret_message", "parse_sides", "pipefunc_wording"]

Side = tuple[tuple[str, tuple[str | None, ...]], ...]

_NAME = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)?")
_WORD = re.compile(r"[^\s,\[\]]+")  # a run up to the next bracket, comma or space: a name in full
_LOOSE_ARRAY = re.compile(r"(\w+(?:\.\w+)?)\[(.+?)\]")  # how pipefunc finds arrays
# The whole grammar as one regex: a canonical string (up to whitespace) parses in one match; anything
# else goes through the scanner, which finds and names the problem.
_ID = r"[^\W\d]\w*"
_AXIS_RE = rf"(?:{_ID}\*?|:)"  # a named axis (``j*``: ragged) or an unnamed ``:`` slot
_ARRAY_RE = rf"\s*{_ID}(?:\.{_ID})?\s*\[\s*{_AXIS_RE}\s*(?:,\s*{_AXIS_RE}\s*)*\]\s*"
_ARRAYS_RE = rf"{_ARRAY_RE}(?:,{_ARRAY_RE})*"
_GRAMMAR = re.compile(rf"(\s*\.\.\.\s*|{_ARRAYS_RE})->({_ARRAYS_RE})")
_ONE_ARRAY = re.compile(r"([\w.]+)\s*\[([^\]]*)\]")
_BRACKETS_HELP = (
    "Expected an expression that includes array indices in square brackets. "
    "For example, 'a[i]' or 'b[i, j]'. Please check your syntax and try again."
)


def caret_message(lead: str, detail: str, expr: str, pos: int | None) -> str:
    """``lead`` + ``detail``, the quoted mapspec and (if ``pos`` is given) a caret under ``pos``.

    >>> print(caret_message("Bad.", "Look here", "x[i -> y[i]", 1))
    Bad. Look here (position 1) in mapspec 'x[i -> y[i]':
        x[i -> y[i]
         ^
    """
    shown = "".join(c if c.isprintable() else " " for c in expr)
    if detail == "See":
        text = f"{lead} See position {pos} in mapspec '{expr}'"
    else:
        where = "" if pos is None else f" (position {pos})"
        text = f"{lead} {detail}{where} in mapspec '{expr}'"
    if pos is None:
        return text + "."
    return f"{text}:\n    {shown}\n    {' ' * pos}^"


@functools.lru_cache(maxsize=1024)
def parse_sides(expr: str) -> tuple[Side, Side]:
    """Split ``expr`` into its input and output arrays, raising `MapSpecError` on any stray text.

    >>> parse_sides("a[i, :] -> b[i]")
    ((('a', ('i', None)),), (('b', ('i',)),))
    >>> parse_sides("... -> b[i]")
    ((), (('b', ('i',)),))

    A ``*`` right after an axis name marks a ragged axis; it stays on the name here:

    >>> parse_sides("t[i] -> w[i, j*]")[1]
    (('w', ('i', 'j*')),)
    """
    fast = _parse_canonical(expr)
    if fast is not None:
        return fast
    arrows = [m.start() for m in re.finditer("->", expr)]
    if len(arrows) != 1:
        pos = arrows[1] if len(arrows) > 1 else None
        detail = "A mapspec has exactly one '->'" + (", this is a second one" if pos else "")
        _fail(expr, detail, pos)
    arrow = arrows[0]
    inputs = _Scanner(expr, 0, arrow).side(allow_ellipsis=True)
    outputs = _Scanner(expr, arrow + 2, len(expr)).side(allow_ellipsis=False)
    return inputs, outputs


def _parse_canonical(expr: str) -> tuple[Side, Side] | None:
    """One regex match for the usual, well-formed string; None sends it to the scanner."""
    match = _GRAMMAR.fullmatch(expr)
    if match is None:
        return None
    sides = []
    for text in match.groups():
        arrays = []
        for name, inside in _ONE_ARRAY.findall(text):
            axes = tuple(None if (axis := part.strip()) == ":" else axis for part in inside.split(","))
            if not all(a is None or a.removesuffix("*").isidentifier() for a in axes) or not all(p.isidentifier() for p in name.split(".")):
                return None  # a character the regex's \w allows but Python identifiers do not
            arrays.append((name, axes))
        sides.append(tuple(arrays))
    return sides[0], sides[1]


def pipefunc_wording(expr: str) -> str | None:
    """The message pipefunc 0.93.2 gives for ``expr`` if it rejects it while parsing, else None.

    Only the parsing and construction checks (``MapSpec.from_string``) are mirrored; a missing
    output (pipefunc's bare ``IndexError``) gets no wording, pipemap's own message is clearer.

    >>> pipefunc_wording("x -> y[i]")[:26]
    "Invalid expression 'x'. Ex"
    >>> pipefunc_wording("x[i] y[i] -> z[i]") is None
    True
    """
    halves = expr.split("->")
    if len(halves) != 2:
        return f"Expected expression of form 'a -> b', but got '{expr}'."
    sides: list[list[tuple[str, list[str | None]]]] = []
    for half in halves:
        if half.strip() == "...":
            sides.append([])
            continue
        if "[" not in half or "]" not in half:
            return f"Invalid expression '{half.strip()}'. {_BRACKETS_HELP}"
        arrays = []
        for name, inside in _LOOSE_ARRAY.findall(half):
            problem = _name_problem(name)
            if problem:
                return problem
            axes: list[str | None] = []
            for part in inside.split(","):
                axis = part.strip()
                if axis != ":" and not axis.isidentifier():
                    return f"Index name '{axis}' is not a valid Python identifier."
                axes.append(None if axis == ":" else axis)
            arrays.append((name, axes))
        sides.append(arrays)
    inputs, outputs = sides
    if not outputs:
        return None
    first = outputs[0][1]
    if None in first:
        return "Output array must have all axes indexed (no ':')."
    if any([a for a in axes if a] != first for _, axes in outputs[1:]):
        return "All output arrays must have identical indices."
    unused = {a for _, axes in inputs for a in axes if a} - set(first)
    if unused:
        return f"Input arrays have indices that do not appear in the output: {_set_repr(unused)}"
    return None


def _name_problem(name: str) -> str | None:
    if "." in name:
        scope, rest = name.split(".", 1)
        if not (scope.isidentifier() and rest.isidentifier()):
            return (
                f"Array name '{name}' is not a valid Python identifier."
                " Both the scope and parameter name must be valid identifiers."
            )
    elif not name.isidentifier():
        return f"Array name '{name}' is not a valid Python identifier"
    return None


def _set_repr(items: set[str]) -> str:
    return "{" + ", ".join(repr(x) for x in sorted(items)) + "}"


def _fail(expr: str, detail: str, pos: int | None) -> NoReturn:
    lead = pipefunc_wording(expr) or "Malformed mapspec."
    if not lead.endswith("."):
        lead += "."
    if lead.startswith(detail):
        detail = "See"
    raise MapSpecError(caret_message(lead, detail, expr, pos))


class _Scanner:
    """Reads one side of a mapspec (``expr[start:end]``), keeping absolute positions for errors."""

    def __init__(self, expr: str, start: int, end: int) -> None:
        self.expr, self.pos, self.end = expr, start, end

    def _skip_space(self) -> None:
        while self.pos < self.end and self.expr[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        return self.expr[self.pos] if self.pos < self.end else ""

    def _what(self) -> str:
        char = self._peek()
        return "the '->'" if not char and self.end < len(self.expr) else (
            f"'{char}'" if char else "the end of the mapspec"
        )

    def side(self, *, allow_ellipsis: bool) -> Side:
        self._skip_space()
        if self.expr[self.pos : self.end].strip() == "...":
            if allow_ellipsis:
                return ()
            _fail(self.expr, "'...' (no inputs) is only allowed left of '->'", self.pos)
        arrays = [self._array()]
        while True:
            self._skip_space()
            char = self._peek()
            if not char:
                return tuple(arrays)
            if char != ",":
                detail = {
                    "]": "Stray ']' after an array",
                    "[": "Unexpected '[' after an array (one bracket pair per array)",
                }.get(char, f"Expected ',' between arrays, found {self._what()}")
                _fail(self.expr, detail, self.pos)
            self.pos += 1
            arrays.append(self._array())

    def _array(self) -> tuple[str, tuple[str | None, ...]]:
        self._skip_space()
        start = self.pos
        if self.expr.startswith("...", start):
            _fail(self.expr, "'...' must be the whole input side", start)
        match = _NAME.match(self.expr, start, self.end)
        word = _WORD.match(self.expr, start, self.end)
        if word and (not match or match.end() != word.end()):
            _fail(self.expr, f"Array name '{word.group()}' is not a valid Python identifier", start)
        if not match:
            _fail(self.expr, f"Expected an array like 'x[i]', found {self._what()}", start)
        name = match.group()
        self.pos = match.end()
        self._skip_space()
        if self._peek() != "[":
            _fail(self.expr, f"Expected '[' after array name '{name}', found {self._what()}", self.pos)
        return name, self._axes(name)

    def _axes(self, name: str) -> tuple[str | None, ...]:
        opening = self.pos
        self.pos += 1
        axes: list[str | None] = []
        while True:
            self._skip_space()
            start = self.pos
            while self.pos < self.end and self.expr[self.pos] not in ",[]":
                self.pos += 1
            text = self.expr[start : self.pos].strip()
            char = self._peek()
            if char == "[":
                _fail(self.expr, f"The '[' of '{name}' is not closed before the next '['", opening)
            if not char:
                closer = " before '->'" if self.end < len(self.expr) else ""
                _fail(self.expr, f"The '[' of '{name}' is never closed{closer}", opening)
            if text != ":" and not text.removesuffix("*").isidentifier():
                detail = f"Index name '{text}' is not a valid Python identifier" if text else "Empty index"
                _fail(self.expr, detail, start)
            axes.append(None if text == ":" else text)
            self.pos += 1
            if char == "]":
                return tuple(axes)
