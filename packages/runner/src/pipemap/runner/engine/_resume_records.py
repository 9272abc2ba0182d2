"""What each function's stored values depend on, recorded in ``pipemap.json`` (``functions``).

One entry per function, keyed by its output name (comma-joined for several outputs): its name,
outputs, parameters and mapspec, the hex digests of its code, bound values, the defaults it
actually uses (those of parameters no input and no function provides), its settings (renames,
outputs, output picker) and the pipeline inputs it receives, plus why it could not be
fingerprinted (``unstable``). Computed once per run (a digest per input, a fingerprint per
function), never per element. `pipemap.runner.engine._resume_plan` compares two of them.

>>> from pipemap.runner import Pipeline, PipeFunc
>>> p = Pipeline([PipeFunc(lambda x, c=2: x * c, "y", mapspec="x[i] -> y[i]")])
>>> rec = function_records(p, {"x": [1, 2]})["y"]
>>> rec["name"], rec["parameters"], rec["mapspec"], sorted(rec["defaults"]), sorted(rec["inputs"]), rec["unstable"]
('<lambda>', ['x', 'c'], 'x[i] -> y[i]', ['c'], ['x'], None)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipemap.runner.model._fingerprint import function_fingerprint
from pipemap.runner.model._value_hash import UnstableValueError, stable_digest

if TYPE_CHECKING:
    from pipemap.runner.model._pipeline import Pipeline

__all__ = ["function_key", "function_records", "input_digests"]


def function_key(output_names: tuple[str, ...] | list[str]) -> str:
    """The record key of a function: its output names, comma-joined.

    >>> function_key(("a", "b"))
    'a,b'
    """
    return ",".join(output_names)


def input_digests(inputs: Mapping[str, object]) -> dict[str, str | None]:
    """Hex `stable_digest` of each input; None where the value has none (compared by value then).

    >>> input_digests({"x": [1, 2], "f": lambda: 0})["f"] is None
    True
    """
    out: dict[str, str | None] = {}
    for name, value in inputs.items():
        try:
            out[name] = stable_digest(value).hex()
        except UnstableValueError:
            out[name] = None
    return out


def function_records(
    pipeline: Pipeline, inputs: Mapping[str, object], digests: Mapping[str, str | None] | None = None
) -> dict[str, dict[str, Any]]:
    """The ``functions`` record of a run of ``pipeline`` on ``inputs`` (see the module docstring);
    ``digests``: the inputs' `input_digests` when already computed."""
    produced = {n for f in pipeline.functions for n in f.output_names}
    if digests is None:
        digests = input_digests(inputs)
    records: dict[str, dict[str, Any]] = {}
    for f in pipeline.functions:
        fp = function_fingerprint(f)
        parameters = [p for p in f.parameters if p not in f.bound]
        records[function_key(f.output_names)] = {
            "name": f.__name__,
            "outputs": list(f.output_names),
            "parameters": parameters,
            "mapspec": None if f.mapspec is None else str(f.mapspec),
            "code": None if fp.code is None else fp.code.hex(),
            "bound": {k: v.hex() for k, v in sorted(fp.bound.items())},
            "defaults": {
                k: v.hex() for k, v in sorted(fp.defaults.items()) if k not in inputs and k not in produced
            },
            "settings": None if fp.settings is None else fp.settings.hex(),
            "inputs": {p: digests[p] for p in parameters if p in inputs},
            "unstable": fp.unstable,
        }
    return records
