"""Every docstring example of pipemap.runner runs and gives what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import pipemap.runner

# walk_packages recurses into the layers (model/, engine/, executors/, worker/, progress/)
MODULES = sorted(m.name for m in pkgutil.walk_packages(pipemap.runner.__path__, "pipemap.runner."))
LAYERS = ("model", "engine", "executors", "worker", "progress")


def test_every_layer_is_walked() -> None:
    for layer in LAYERS:
        assert f"pipemap.runner.{layer}" in MODULES
        assert any(m.startswith(f"pipemap.runner.{layer}.") for m in MODULES)


@pytest.mark.filterwarnings("ignore:Automatic chunksize calculation failed")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
