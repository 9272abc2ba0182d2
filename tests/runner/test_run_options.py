"""The run parameters are declared once (RunOptions); the facades forward to it."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from pipemap.runner import PipeFunc, Pipeline, run_map, run_map_async
from pipemap.runner.worker._modes import ErrorHandling, ResumeValidation, SchedulingStrategy
from pipemap.runner.engine._options import RunOptions

FIELDS = {f.name for f in dataclasses.fields(RunOptions)}


@pytest.mark.parametrize("facade", [run_map, run_map_async, Pipeline.map, Pipeline.map_async])
def test_every_facade_parameter_is_an_option(facade) -> None:
    names = set(inspect.signature(facade).parameters) - {"self", "display_widgets", "start"}
    assert names <= FIELDS


def test_enumerations_are_validated_once_into_enums() -> None:
    options = RunOptions(pipeline=None, inputs={}, error_handling="continue", resume_validation="skip")
    assert options.error_handling is ErrorHandling.CONTINUE
    assert options.resume_validation is ResumeValidation.SKIP
    assert options.scheduling_strategy is SchedulingStrategy.GENERATION
    with pytest.raises(ValueError, match="Invalid `error_handling='x'`: use 'raise' or 'continue'."):
        RunOptions(pipeline=None, inputs={}, error_handling="x")
    with pytest.raises(ValueError, match="Invalid scheduling type: x"):
        RunOptions(pipeline=None, inputs={}, scheduling_strategy="x")
    with pytest.raises(ValueError, match="Cannot use an executor without `parallel=True`."):
        RunOptions(pipeline=None, inputs={}, parallel=False, executor=object())
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.resume = True  # type: ignore[misc]


def test_pipefunc_execution_surface() -> None:
    f = PipeFunc(lambda a, b, c=1: (a + b + c, -a), ("s", "n"), renames={"a": "x"}, defaults={"b": 10})
    assert f.native_name("x") == "a" and f.native_name("c") == "c"
    assert f.default_overrides == {"b": 10}
    assert f.pick_outputs((5, 6)) == (5, 6)
    assert f.call_with_kwargs({"x": 1}) == (12, -1) == f._call_with_renamed_kwargs({"x": 1})
    call = f.compile_call(["x"], {"c": 2})
    assert call.__positional__ == ["x"] and call(1) == (13, -1)
