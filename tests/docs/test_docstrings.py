"""Docstrings are the reference (issue 19).

Every public callable of ``pipemap.api`` documents each of its parameters in a numpydoc
``Parameters`` section (and documents no parameter it does not have), carries a runnable example,
and appears in the API reference pages (``docs/reference/*.md``, rendered by mkdocstrings). The
docstring examples of the modules not covered by the packages' own doctest tests run here.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import pipemap.api as pm

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"
PACKAGES = ["pipemap.mapspec", "pipemap.storage", "pipemap.runner", "pipemap.io"]
_UNDERLINE = re.compile(r"^-{3,}$")


def numpydoc_sections(doc: str | None) -> dict[str, list[str]]:
    """The sections of a numpydoc docstring: {heading: its lines}, the text before as ``""``.

    >>> numpydoc_sections("Summary.\\n\\nParameters\\n----------\\nx : int\\n    The x.\\n")["Parameters"]
    ['x : int', '    The x.']
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    sections: dict[str, list[str]] = {"": []}
    current = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and not line.startswith(" ") and _UNDERLINE.match(lines[i + 1].strip()):
            current = line.strip()
            if current in sections:
                msg = f"the section {current!r} appears twice"
                raise ValueError(msg)
            sections[current] = []
            i += 2
            continue
        sections[current].append(line)
        i += 1
    return sections


def documented_parameters(doc: str | None, section: str = "Parameters") -> list[str]:
    """The names in the ``Parameters`` section (``a, b : int`` names two; ``*args`` is ``args``).

    >>> documented_parameters("S.\\n\\nParameters\\n----------\\na, b : int\\n    Two.\\n**kwargs\\n    More.\\n")
    ['a', 'b', 'kwargs']
    """
    names: list[str] = []
    for line in numpydoc_sections(doc).get(section, []):
        if line.strip() and not line.startswith(" "):
            names.extend(n.strip().lstrip("*") for n in line.split(" : ")[0].split(","))
    return names


def signature_parameters(obj: Any) -> list[str]:
    """The parameters a caller passes (``self`` and ``_private`` ones left out).

    For a class, those of its ``__init__`` (``PipeFunc`` has a ``__signature__`` property for
    the function it wraps, so ``inspect.signature(cls)`` cannot be used); a constructor inherited
    from Python itself (``Exception``, ``dict``, ...) takes nothing to document.
    """
    if inspect.isclass(obj) and issubclass(obj, tuple) and hasattr(obj, "_fields"):
        return list(obj._fields)  # a NamedTuple: its fields
    if inspect.isclass(obj):
        init = next((c.__dict__["__init__"] for c in obj.__mro__ if "__init__" in c.__dict__), None)
        if not inspect.isfunction(init) or not init.__module__.startswith("pipemap"):
            return []
        parameters = list(inspect.signature(init).parameters)[1:]
    else:
        parameters = list(inspect.signature(obj).parameters)
    return [p for p in parameters if not p.startswith("_")]


def docstring_of(obj: Any) -> str:
    """The class docstring, with the ``__init__`` docstring of the class after it (numpydoc allows both)."""
    doc = inspect.getdoc(obj) or ""
    init_doc = obj.__dict__.get("__init__").__doc__ if inspect.isclass(obj) and "__init__" in obj.__dict__ else None
    return doc if not init_doc or "Parameters" in doc else init_doc


PUBLIC = sorted({name for name in pm.__all__ if inspect.isfunction(getattr(pm, name)) or inspect.isclass(getattr(pm, name))})
# The methods most runs start from document their parameters too.
ENTRY_METHODS = {"Pipeline.map": pm.Pipeline.map, "Pipeline.map_async": pm.Pipeline.map_async}


def test_public_callables_are_found() -> None:
    assert {"run_map", "Pipeline", "load_outputs", "MapSpec", "FileArray", "main"} <= set(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_parameter_is_documented(name: str) -> None:
    obj = getattr(pm, name)
    expected = signature_parameters(obj)
    doc = docstring_of(obj)
    assert doc.strip(), f"{name} has no docstring"
    # A NamedTuple's fields are its Attributes (mkdocstrings sees no __init__ signature there).
    is_named_tuple = inspect.isclass(obj) and issubclass(obj, tuple) and hasattr(obj, "_fields")
    documented = documented_parameters(doc, "Attributes" if is_named_tuple else "Parameters")
    missing = [p for p in expected if p not in documented]
    extra = [p for p in documented if p not in expected]
    assert not missing, f"{name}: the Parameters section does not document {missing}"
    assert not extra, f"{name}: the Parameters section documents {extra}, which {name} does not take"
    assert len(documented) == len(set(documented)), f"{name}: a parameter is documented twice"


@pytest.mark.parametrize("name", sorted(ENTRY_METHODS))
def test_entry_methods_document_every_parameter(name: str) -> None:
    method = ENTRY_METHODS[name]
    expected = list(inspect.signature(method).parameters)[1:]  # without self
    documented = documented_parameters(method.__doc__)
    assert [p for p in expected if p not in documented] == [], name
    assert [p for p in documented if p not in expected] == [], name
    assert ">>>" in (method.__doc__ or ""), name


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_callable_has_an_example(name: str) -> None:
    assert ">>>" in docstring_of(getattr(pm, name)), f"{name}: the docstring has no example"


def test_no_docstring_refers_to_files_outside_the_repository() -> None:
    # issue 19: `help(run_map)` said "see SPEC.md section 4", a file not in the repository
    for name in pm.__all__:
        doc = inspect.getdoc(getattr(pm, name)) or ""
        assert "SPEC.md" not in doc, name
    assert "SPEC.md" not in (inspect.getdoc(pm.Pipeline.map) or "")


def _reference_targets() -> dict[str, Any]:
    """{documented path: object} for every ``::: path`` line of the reference pages."""
    targets: dict[str, Any] = {}
    for page in sorted(REFERENCE.glob("*.md")):
        for path in re.findall(r"^::: ([\w.]+)\s*$", page.read_text(), flags=re.M):
            module_name, _, attr = path.rpartition(".")
            try:
                obj = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError):
                obj = importlib.import_module(path)  # a module itself
            targets[path] = obj
    return targets


def _public_objects() -> list[tuple[str, str]]:
    return [(package, name) for package in [*PACKAGES, "pipemap.api"] for name in importlib.import_module(package).__all__]


def test_every_public_object_is_in_the_reference() -> None:
    targets = _reference_targets()
    assert targets, f"no `::: path` lines in {REFERENCE}"
    missing = []
    for package, name in _public_objects():
        obj = getattr(importlib.import_module(package), name)
        if not any(path.rsplit(".", 1)[-1] == name and target is obj for path, target in targets.items()):
            missing.append(f"{package}.{name}")
    # RunFolderError is pipemap.storage's, re-exported by pipemap.io: documented once, under storage.
    assert not missing, f"public objects missing from docs/reference/*.md (add `::: <path>` lines): {missing}"


def test_reference_targets_all_exist() -> None:
    for path, obj in _reference_targets().items():
        assert obj is not None, path


def _modules_without_their_own_doctest_test() -> list[str]:
    """Modules whose examples no other test runs (runner and storage have test_*_doctests.py)."""
    names = ["pipemap.api", "pipemap.cli", "pipemap.demo"]
    for package in ("pipemap.mapspec", "pipemap.io"):
        module = importlib.import_module(package)
        names += [package, *(m.name for m in pkgutil.walk_packages(module.__path__, f"{package}."))]
    return sorted(set(names))


@pytest.mark.parametrize("module_name", _modules_without_their_own_doctest_test())
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, module_name


def test_this_modules_examples() -> None:
    import sys

    result = doctest.testmod(sys.modules[__name__])
    assert result.attempted >= 2
    assert result.failed == 0
