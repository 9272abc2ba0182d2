"""The examples in pipemap.storage docstrings run and are correct."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pipemap.storage
import pytest

MODULES = sorted(
    name
    for _, name, _ in pkgutil.iter_modules(pipemap.storage.__path__, "pipemap.storage.")
    if not name.endswith(".testing")
)


@pytest.mark.parametrize("module_name", ["pipemap.storage", *MODULES])
def test_docstring_examples(module_name: str) -> None:
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0
