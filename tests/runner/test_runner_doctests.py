"""Every docstring example of pipemap.runner runs and gives what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import pipemap.runner

MODULES = sorted(m.name for m in pkgutil.walk_packages(pipemap.runner.__path__, "pipemap.runner."))


@pytest.mark.filterwarnings("ignore:Automatic chunksize calculation failed")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
