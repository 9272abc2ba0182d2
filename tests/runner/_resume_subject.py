"""Shared helpers of tests/runner/test_resume_changes*.py: a pipeline whose functions live in a
module file the tests rewrite (imported afresh, as in a new session) and count their calls in a
file (so calls in worker processes count too)."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from collections import Counter
from pathlib import Path
from types import ModuleType

from pipemap.runner import Pipeline, PipeFunc

MODULE = "resume_subject_module"

SOURCE = """
    import numpy as np

    LOG = {log!r}
    SCALE = 2

    def _count(name):
        with open(LOG, "a") as f:
            f.write(name + "\\n")

    def helper(v):
        return v * SCALE

    def double(x, c):
        _count("double")
        return helper(x) + c

    def plus(y, d=1):
        _count("plus")
        return y + d

    def total(z):
        _count("total")
        return int(np.sum(z))

    def other(x, k):
        _count("other")
        return x - k

    def count_u(u):
        _count("count_u")
        return len(u)
"""


class Subject:
    """The module file, its call log and the pipeline built from the current source."""

    def __init__(self, folder: Path, *, existing: bool = False) -> None:
        """``existing``: use the module file already in ``folder`` (another process wrote it)."""
        self.folder = folder
        self.log = folder / "calls.log"
        self.path = folder / f"{MODULE}.py"
        if existing:
            self.source = self.path.read_text()
        else:
            self.source = textwrap.dedent(SOURCE.format(log=str(self.log)))
            self.path.write_text(self.source)

    def edit(self, old: str, new: str) -> None:
        assert old in self.source, old
        self.source = self.source.replace(old, new)
        self.path.write_text(self.source)

    def module(self) -> ModuleType:
        """The module loaded afresh from the file (not left in ``sys.modules``, so its functions
        are pickled by value for worker processes)."""
        spec = importlib.util.spec_from_file_location(MODULE, self.path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE] = module
        try:
            spec.loader.exec_module(module)
        finally:
            del sys.modules[MODULE]
        return module

    def pipeline(self, *, defaults: dict | None = None, k: object = 1, extra: list[str] = (), drop: tuple[str, ...] = ()) -> Pipeline:  # type: ignore[assignment]
        """double: x[i] -> y[i]; plus: y[i] -> z[i]; total: z -> s (reduction); other: x[i] -> u[i]
        (an unrelated branch, bound k); ``extra`` adds "count_u" (a reduction over u)."""
        m = self.module()
        functions = {
            "double": PipeFunc(m.double, "y", mapspec="x[i] -> y[i]"),
            "plus": PipeFunc(m.plus, "z", mapspec="y[i] -> z[i]", defaults=defaults),
            "total": PipeFunc(m.total, "s"),
            "other": PipeFunc(m.other, "u", mapspec="x[i] -> u[i]", bound={"k": k}),
            "count_u": PipeFunc(m.count_u, "nu"),
        }
        names = [n for n in ("double", "plus", "total", "other") if n not in drop] + list(extra)
        return Pipeline([functions[n] for n in names])

    def calls(self) -> Counter:
        """Calls per function since the last call of this method (the log is emptied)."""
        if not self.log.exists():
            return Counter()
        counts = Counter(line for line in self.log.read_text().splitlines() if line)
        self.log.unlink()
        return counts


def expected(x: list[int], c: int, *, scale: int = 2, d: int = 1, k: int = 1) -> dict[str, object]:
    y = [scale * v + c for v in x]
    z = [v + d for v in y]
    return {"y": y, "z": z, "s": sum(z), "u": [v - k for v in x]}


def outputs(results: dict) -> dict[str, object]:
    def plain(v: object) -> object:
        return v.tolist() if hasattr(v, "tolist") else v

    return {name: plain(results[name].output) for name in ("y", "z", "s", "u") if name in results}
