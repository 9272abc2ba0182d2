"""Parity with pipefunc 0.93.2 on what is rejected, and how (issue 13, items 11, 5 and 4).

* item 11: mistyped mapspecs (stray / unbalanced brackets) are errors quoting the string with a
  caret; a pandas Series with a non-default index maps by position;
* item 5: ``internal_shapes`` entries that do not apply are ignored the way pipefunc ignores them;
* item 4: where both engines reject the same call, pipemap's message starts with pipefunc's.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pipefunc
import pytest

import pipemap.runner as pm
from pipemap.mapspec import MapSpecError

# -- item 11: mistyped mapspecs -------------------------------------------------------------------

#: (mapspec, position of the culprit, does pipefunc 0.93.2 reject it too?)
MISTYPED = [
    ("D[i], source[j, bc[k] -> center[i, j, k]", 12, True),
    ("x[i], bc[k -> y[i, k]", 8, False),
    ("x[i]] -> y[i]", 4, False),
    ("x[i -> y[i]", 1, True),
    ("x]i[ -> y[i]", 1, False),
    ("x[i] -> y[i", 9, True),
    ("x[i] -> y[[i]]", 9, True),
    ("x[i][j] -> y[i, j]", 4, False),
    ("x[i] bc[j] -> y[i, j]", 5, False),
]


def _signature_for(spec: str) -> Any:
    names = sorted(set(re.findall(r"[A-Za-z_]\w*(?=\s*\[)", spec.split("->")[0])) | {"x"})
    namespace: dict[str, Any] = {}
    exec(f"def f({', '.join(names)}):\n    return 1", namespace)  # noqa: S102
    return namespace["f"]


@pytest.mark.parametrize(("spec", "position", "pipefunc_rejects"), MISTYPED, ids=[m[0] for m in MISTYPED])
def test_mistyped_mapspec_is_rejected_with_a_caret(spec: str, position: int, pipefunc_rejects: bool) -> None:
    output = spec.split("->")[1].strip().split("[")[0]
    func = _signature_for(spec)
    pf_error: Exception | None = None
    try:
        pipefunc.PipeFunc(func, output, mapspec=spec)
    except ValueError as e:
        pf_error = e
    assert (pf_error is not None) == pipefunc_rejects
    with pytest.raises(ValueError) as info:
        pm.PipeFunc(func, output, mapspec=spec)
    message = str(info.value)
    assert isinstance(info.value, MapSpecError)
    assert f"in mapspec '{spec}'" in message
    quoted, caret = message.splitlines()[-2:]
    assert caret.index("^") - quoted.index(spec) == position
    if pf_error is not None:
        assert message.startswith(str(pf_error))


def test_what_pipefunc_silently_mangles_is_an_error_in_pipemap() -> None:
    """pipefunc 0.93.2 passes ``source`` whole (``bc[k`` drops ``bc``); pipemap refuses instead."""
    spec = "x[i], bc[k -> y[i, k]"
    assert str(pipefunc.PipeFunc(lambda x, bc: 1, "y", mapspec=spec).mapspec) == "x[i] -> y[i, k]"
    with pytest.raises(ValueError, match=r"The '\[' of 'bc' is never closed before '->' \(position 8\)"):
        pm.PipeFunc(lambda x, bc: 1, "y", mapspec=spec)


# -- item 11: pandas Series with a non-default index ----------------------------------------------


def _series_pipeline() -> pipefunc.Pipeline:
    @pipefunc.pipefunc(output_name="y", mapspec="D[i] -> y[i]")
    def double(D: float) -> float:
        return 2 * D

    @pipefunc.pipefunc(output_name="pair", mapspec="D[i], y[i] -> pair[i]")
    def pair(D: float, y: float) -> tuple[float, float]:
        return (D, y)

    @pipefunc.pipefunc(output_name="total")
    def total(D: pd.Series, y: np.ndarray) -> float:
        assert isinstance(D, pd.Series)  # a full reduction gets the Series itself, labels and all
        return float(D.sum() + np.sum(y))

    return pipefunc.Pipeline([double, pair, total])


def _filtered() -> pd.Series:
    df = pd.DataFrame({"D": [0.1, 0.2, 0.3, 0.05, 0.4]})
    return df[df.D > 0.15]["D"]


@pytest.mark.parametrize("storage", ["dict", "file_array"])
def test_series_with_default_index_same_in_both_engines(parity: Any, storage: str) -> None:
    series = _filtered().reset_index(drop=True)
    pf_result, pm_result, _, _ = parity.run_both(_series_pipeline, {"D": series}, storage=storage)
    parity.assert_results(pf_result, pm_result, frozenset())


@pytest.mark.parametrize(("storage", "parallel"), [("dict", False), ("file_array", False), ("file_array", True)])
def test_series_with_non_default_index_maps_by_position(parity: Any, tmp_path: Any, storage: str, parallel: bool) -> None:
    series = _filtered()
    assert list(series.index) == [1, 2, 4]
    # pipefunc 0.93.2 looks up the label 0 and fails with a bare KeyError
    with pytest.raises(KeyError):
        _series_pipeline().map({"D": series}, run_folder=tmp_path / "pf", parallel=False, storage=storage)
    # pipemap maps by position: what pipefunc gives for the same values with a default index
    expected = _series_pipeline().map(
        {"D": series.reset_index(drop=True)}, run_folder=tmp_path / "pf2", parallel=False, storage=storage
    )
    got = pm.run_map(_series_pipeline(), {"D": series}, run_folder=tmp_path / "pm", parallel=parallel, storage=storage)
    parity.assert_results(expected, got, frozenset())
    assert got["y"].output.tolist() == pytest.approx([0.4, 0.6, 0.8])


# -- item 5: internal_shapes entries that do not apply --------------------------------------------

IRRELEVANT = [..., 3, "abc", None, 2.5, (), [3], (2, 2)]


@pytest.mark.parametrize("value", IRRELEVANT, ids=repr)
def test_mapspec_shape_ignores_entries_of_outputs_without_internal_axes(value: object) -> None:
    from pipefunc.map._mapspec import MapSpec as PfMapSpec

    from pipemap.mapspec import MapSpec

    text = "x[i], z[j] -> y[i, j]"
    expected = PfMapSpec.from_string(text).shape({"x": (3,), "z": (2,)}, {"y": value})
    assert MapSpec.from_string(text).shape({"x": (3,), "z": (2,)}, {"y": value}) == expected == ((3, 2), (True, True))


def _internal_pipeline(internal_shape: object = None) -> pipefunc.Pipeline:
    @pipefunc.pipefunc(output_name="y", mapspec="x[i] -> y[i]", internal_shape=internal_shape)
    def inc(x: int) -> int:
        return x + 1

    @pipefunc.pipefunc(output_name="z", internal_shape=internal_shape)
    def total(y: np.ndarray) -> int:
        return int(sum(y))

    @pipefunc.pipefunc(output_name="w", mapspec="y[i] -> w[i, j]")
    def pairs(y: int) -> list[int]:
        return [y, -y]

    return pipefunc.Pipeline([inc, total, pairs])


@pytest.mark.parametrize("value", IRRELEVANT, ids=repr)
@pytest.mark.parametrize("key", ["y", "z", "not_an_output"])
def test_run_map_ignores_internal_shapes_that_do_not_apply(parity: Any, key: str, value: object) -> None:
    shapes = {key: value, "w": (2,)}
    pf_result, pm_result, _, _ = parity.run_both(_internal_pipeline, {"x": [1, 2, 3]}, folder=False, internal_shapes=shapes)
    parity.assert_results(pf_result, pm_result, frozenset())


@pytest.mark.parametrize("value", [..., 2.5, "abc", (1.5,), None], ids=repr)
def test_pipefunc_internal_shape_of_output_without_internal_axes_is_ignored(parity: Any, value: object) -> None:
    pf_result, pm_result, _, _ = parity.run_both(lambda: _internal_pipeline(value), {"x": [1, 2, 3]}, folder=False)
    parity.assert_results(pf_result, pm_result, frozenset())
    assert pm.PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]", internal_shape=value).internal_shape is value


@pytest.mark.parametrize(
    ("where", "value"),
    [(w, v) for w in ("run_map", "PipeFunc") for v in (..., "abc", 2.5, (1.5,), ("x",))] + [("run_map", None)],
    ids=repr,
)
def test_bad_internal_shape_of_output_with_internal_axes_is_rejected_by_both(tmp_path: Any, value: object, where: str) -> None:
    def build() -> pipefunc.Pipeline:
        shape = value if where == "PipeFunc" else None
        return pipefunc.Pipeline([pipefunc.PipeFunc(lambda x: [x, x], "w", mapspec="x[i] -> w[i, j]", internal_shape=shape)])

    kwargs: dict[str, Any] = {"parallel": False, "run_folder": None}
    if where == "run_map":
        kwargs["internal_shapes"] = {"w": value}
    with pytest.raises(TypeError) as pf_info:
        build().map({"x": [1, 2]}, **kwargs)
    with pytest.raises(TypeError) as pm_info:
        pm.run_map(build(), {"x": [1, 2]}, **kwargs)
    assert str(pf_info.value) == "Internal shape for 'w' must be a tuple of integers or '?'."
    assert str(pm_info.value).startswith(str(pf_info.value))
    assert "x[i] -> w[i, j]" in str(pm_info.value)


@pytest.mark.parametrize(
    ("value", "pipemap_gives"),
    [([2], "ok"), ((True,), TypeError), ((-1,), TypeError)],
    ids=["list", "bool", "negative"],
)
def test_internal_shape_values_where_pipemap_deliberately_differs(value: object, pipemap_gives: object) -> None:
    """pipefunc rejects a list (pipemap: it is the JSON form of a run folder's shape, so it is
    accepted), takes ``True`` as 1 and fails late on -1 with numpy's bare error (pipemap rejects both)."""
    def build() -> pipefunc.Pipeline:
        return pipefunc.Pipeline([pipefunc.PipeFunc(lambda x: [x, x], "w", mapspec="x[i] -> w[i, j]")])

    kwargs: dict[str, Any] = {"parallel": False, "run_folder": None, "internal_shapes": {"w": value}}
    if pipemap_gives == "ok":
        assert pm.run_map(build(), {"x": [1, 2]}, **kwargs)["w"].output.shape == (2, 2)
    else:
        with pytest.raises(TypeError, match=r"^Internal shape for 'w' must be a tuple of integers or '\?'\."):
            pm.run_map(build(), {"x": [1, 2]}, **kwargs)


# -- item 4: the same invalid call through both engines: pipemap's message starts with pipefunc's ---


def _two(mod: Any) -> Any:
    @mod.pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    def inc(x: int) -> int:
        return x + 1

    @mod.pipefunc(output_name="z")
    def total(y: Any) -> int:
        return int(sum(y))

    return mod.Pipeline([inc, total])


def _zipped(mod: Any) -> Any:
    return mod.Pipeline([mod.PipeFunc(lambda a, b: a + b, "y", mapspec="a[i], b[i] -> y[i]")])


def _outer(mod: Any) -> Any:
    f = mod.PipeFunc(lambda a, b: a + b, "y", mapspec="a[i], b[j] -> y[i, j]")
    g = mod.PipeFunc(lambda y: sum(y), "r", mapspec="y[i, :] -> r[i]")
    return mod.Pipeline([f, g])


def _inner(mod: Any) -> Any:
    return mod.Pipeline([mod.PipeFunc(lambda a: [a, a] if a % 2 else [a], "y", mapspec="a[i] -> y[i, j]")])


def _pool() -> Any:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(1)


def _resume_twice(build: Any, first: dict[str, Any], second: dict[str, Any]) -> Any:
    def case(mod: Any, run: Any, tmp: Any) -> None:
        run(build(mod), first.pop("inputs", None) or first["_in"], run_folder=tmp, **{k: v for k, v in first.items() if k != "_in"})
        run(build(mod), second["_in"], run_folder=tmp, resume=True, **{k: v for k, v in second.items() if k != "_in"})

    return case


def _resume_mapspec_changed(mod: Any, run: Any, tmp: Any) -> None:
    run(_zipped(mod), {"a": [1], "b": [1]}, run_folder=tmp)
    changed = mod.Pipeline([mod.PipeFunc(lambda a, b: a + b, "y", mapspec="a[i], b[j] -> y[i, j]")])
    run(changed, {"a": [1], "b": [1]}, run_folder=tmp, resume=True)


#: Invalid ``run_map`` / ``Pipeline.map`` calls: ``case(mod, run, tmp_path)`` builds with ``mod``
#: (``pipefunc`` or ``pipemap.runner``) and maps with ``run(pipeline, inputs, **kwargs)``.
RUN_CASES: dict[str, Any] = {
    "missing input": lambda mod, run, tmp: run(_two(mod), {}),
    "extra input": lambda mod, run, tmp: run(_two(mod), {"x": [1], "q": 2}),
    "scoped input of an unknown scope": lambda mod, run, tmp: run(_two(mod), {"foo": {"x": [1]}}),
    "non-array mapped input (int)": lambda mod, run, tmp: run(_two(mod), {"x": 3}),
    "non-array mapped input (tuple)": lambda mod, run, tmp: run(_two(mod), {"x": (1, 2)}),
    "non-array mapped input (dict)": lambda mod, run, tmp: run(_two(mod), {"x": {"a": 1}}),
    "zipped inputs of different lengths": lambda mod, run, tmp: run(_zipped(mod), {"a": [1, 2, 3], "b": [1, 2]}),
    "mapped input of the wrong rank": lambda mod, run, tmp: run(_two(mod), {"x": np.ones((2, 2))}),
    "fixed_indices: unknown axis": lambda mod, run, tmp: run(_two(mod), {"x": [1, 2]}, fixed_indices={"k": 0}),
    "fixed_indices: out of bounds": lambda mod, run, tmp: run(_two(mod), {"x": [1, 2]}, fixed_indices={"i": 5}),
    "fixed_indices: reduced axis": lambda mod, run, tmp: run(_outer(mod), {"a": [1, 2], "b": [1, 2]}, fixed_indices={"j": 0}),
    "unknown storage name": lambda mod, run, tmp: run(_two(mod), {"x": [1]}, storage="nope"),
    "storage dict without a default": lambda mod, run, tmp: run(_two(mod), {"x": [1]}, storage={"z": "dict"}),
    "unknown scheduling_strategy": lambda mod, run, tmp: run(_two(mod), {"x": [1]}, scheduling_strategy="fast"),
    "negative chunksize": lambda mod, run, tmp: run(_two(mod), {"x": [1, 2]}, chunksizes={"y": -1}, parallel=True, executor=_pool()),
    "chunksize callable giving 0": lambda mod, run, tmp: run(
        _two(mod), {"x": [1, 2]}, chunksizes={"y": lambda n: 0}, parallel=True, executor=_pool()
    ),
    "executor without parallel": lambda mod, run, tmp: run(_two(mod), {"x": [1]}, executor=_pool()),
    "executor dict without a default": lambda mod, run, tmp: run(_two(mod), {"x": [1]}, parallel=True, executor={"z": _pool()}),
    "internal shape too short": lambda mod, run, tmp: run(_inner(mod), {"a": [1]}, internal_shapes={"y": ()}),
    "internal shape of a bad value": lambda mod, run, tmp: run(_inner(mod), {"a": [1]}, internal_shapes={"y": ("x",)}),
    "outputs of inconsistent internal shapes": lambda mod, run, tmp: run(_inner(mod), {"a": [1, 2]}),
    "output not matching internal_shapes": lambda mod, run, tmp: run(_inner(mod), {"a": [1]}, internal_shapes={"y": 5}),
    "resume: error_handling changed": _resume_twice(_two, {"_in": {"x": [1]}}, {"_in": {"x": [1]}, "error_handling": "continue"}),
    "resume: internal shapes changed": _resume_twice(
        _inner, {"_in": {"a": [1]}, "internal_shapes": {"y": 2}}, {"_in": {"a": [1]}, "internal_shapes": {"y": 3}}
    ),
    "resume: shapes changed": _resume_twice(_two, {"_in": {"x": [1]}}, {"_in": {"x": [1, 2]}}),
    # "resume: inputs changed": pipemap recomputes instead (docs/porting.md §4; test_parity_options.py)
    "resume: mapspecs changed": _resume_mapspec_changed,
}


def _add(a: int, b: int) -> int:
    return a + b


def _shape_call(text: str, inputs: dict[str, Any], internal: dict[str, Any] | None = None) -> Any:
    def case(mod: Any) -> None:
        if mod is pipefunc:
            from pipefunc.map import MapSpec
        else:
            from pipemap.mapspec import MapSpec
        MapSpec.from_string(text).shape(inputs, internal)

    return case


def _inconsistent_axes(mod: Any) -> None:
    mod.Pipeline([mod.PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]"), mod.PipeFunc(lambda x: x, "z", mapspec="x[i, j] -> z[i, j]")])


#: Invalid model calls (``PipeFunc``, ``Pipeline``, ``MapSpec`` and their methods): ``case(mod)``.
BUILD_CASES: dict[str, Any] = {
    "mapspec without brackets": lambda mod: mod.PipeFunc(_add, "c", mapspec="a, b -> c"),
    "mapspec output without brackets": lambda mod: mod.PipeFunc(_add, "c", mapspec="a[i], b[i] -> c"),
    "mapspec without '->'": lambda mod: mod.PipeFunc(_add, "c", mapspec="a[i], b[i]"),
    "mapspec with two '->'": lambda mod: mod.PipeFunc(_add, "c", mapspec="a[i] -> b[i] -> c[i]"),
    "mapspec with an unclosed bracket": lambda mod: mod.PipeFunc(_add, "c", mapspec="a[i], b[j, c[k] -> c[i, j, k]"),
    "mapspec index unused in the output": lambda mod: mod.PipeFunc(_add, "c", mapspec="a[i], b[k] -> c[i]"),
    "mapspec output with ':'": lambda mod: mod.PipeFunc(_add, "c", mapspec="a[i] -> c[:]"),
    "mapspec index not an identifier": lambda mod: mod.PipeFunc(_add, "c", mapspec="a[1] -> c[i]"),
    "mapspec array name not an identifier": lambda mod: mod.PipeFunc(_add, "c", mapspec="a[i], 2b[i] -> c[i]"),
    "mapspec not a string": lambda mod: mod.PipeFunc(_add, "c", mapspec=42),
    "mapspec input not a parameter": lambda mod: mod.PipeFunc(_add, "c", mapspec="z[i] -> c[i]"),
    "mapspec output not the output": lambda mod: mod.PipeFunc(_add, "c", mapspec="a[i] -> q[i]"),
    "mapspec over a bound parameter": lambda mod: mod.PipeFunc(_add, "c", mapspec="a[i], b[i] -> c[i]", bound={"b": 1}),
    "output_name not a string": lambda mod: mod.PipeFunc(_add, 3),
    "output_name equal to a parameter": lambda mod: mod.PipeFunc(_add, "a"),
    "renames of an unknown name": lambda mod: mod.PipeFunc(_add, "c", renames={"zz": "q"}),
    "renames not one-to-one": lambda mod: mod.PipeFunc(_add, "c", renames={"a": "q", "b": "q"}),
    "defaults of an unknown parameter": lambda mod: mod.PipeFunc(_add, "c", defaults={"zz": 1}),
    "bound of an unknown parameter": lambda mod: mod.PipeFunc(_add, "c", bound={"zz": 1}),
    "defaults and bound of one parameter": lambda mod: mod.PipeFunc(_add, "c", defaults={"a": 1}, bound={"a": 2}),
    "call with an unexpected keyword": lambda mod: mod.PipeFunc(_add, "c")(a=1, b=2, q=3),
    "update_defaults of an unknown name": lambda mod: _two(mod).update_defaults({"nope": 1}),
    "update_renames of an unknown name": lambda mod: _two(mod).update_renames({"nope": "q"}),
    "update_mapspec_axes of an unknown axis": lambda mod: _two(mod).update_mapspec_axes({"k": "q"}),
    "update_scope choosing nothing": lambda mod: _two(mod).update_scope("s", inputs={"nope"}),
    "subpipeline without arguments": lambda mod: _two(mod).subpipeline(),
    "a Pipeline of a non-function": lambda mod: mod.Pipeline([3]),
    "two functions with one output": lambda mod: mod.Pipeline([mod.PipeFunc(lambda x: x, "y"), mod.PipeFunc(lambda x: x, "y")]),
    "inconsistent defaults": lambda mod: mod.Pipeline([mod.PipeFunc(lambda x=1: x, "y"), mod.PipeFunc(lambda x=2: x, "z")]),
    "inconsistent axes": _inconsistent_axes,
    "calling a pipeline for a mapped output": lambda mod: _two(mod)("z", x=[1, 2]),
    "calling a pipeline with a missing argument": lambda mod: mod.Pipeline([mod.PipeFunc(_add, "c")])("c", a=1),
    "calling a pipeline with its output as argument": lambda mod: mod.Pipeline([mod.PipeFunc(_add, "c")])("c", a=1, b=2, c=3),
    "calling a pipeline for an unknown output": lambda mod: mod.Pipeline([mod.PipeFunc(_add, "c")])("nope", a=1, b=2),
    "several leaves, no output name": lambda mod: mod.Pipeline([mod.PipeFunc(_add, "c"), mod.PipeFunc(_add, "d")]).unique_leaf_node,
    "calling a function with a value twice": lambda mod: mod.PipeFunc(_add, "c")(1, a=2),
    "joining a non-pipeline": lambda mod: mod.Pipeline([mod.PipeFunc(_add, "c")]).join(3),
    "renames to a non-identifier": lambda mod: mod.PipeFunc(_add, "c", renames={"a": "1x"}),
    "PipeFunc.update_bound of an unknown name": lambda mod: mod.PipeFunc(_add, "c").update_bound({"zz": 1}),
    "PipeFunc.update_renames of an unknown name": lambda mod: mod.PipeFunc(_add, "c").update_renames({"zz": "q"}),
    "MapSpec.shape: dimension mismatch": _shape_call("a[i], b[i] -> c[i]", {"a": (2,), "b": (3,)}),
    "MapSpec.shape: missing input": _shape_call("a[i], b[i] -> c[i]", {"a": (2,)}),
    "MapSpec.shape: extra input": _shape_call("a[i] -> c[i]", {"a": (2,), "q": (1,)}),
    "MapSpec.shape: wrong rank": _shape_call("a[i] -> c[i]", {"a": (2, 3)}),
    "MapSpec.shape: internal shape of an unknown output": _shape_call("a[i] -> c[i]", {"a": (2,)}, {"q": (1,)}),
}


def _pf_run(pipeline: Any, inputs: Any, **kwargs: Any) -> Any:
    return pipeline.map(inputs, **{"parallel": False, **kwargs})


def _pm_run(pipeline: Any, inputs: Any, **kwargs: Any) -> Any:
    return pm.run_map(pipeline, inputs, **{"parallel": False, **kwargs})


def _raised(call: Any) -> BaseException:
    try:
        call()
    except Exception as e:  # noqa: BLE001 - the point is to look at it
        return e
    pytest.fail("no exception raised")


def _text(exc: BaseException) -> str:
    """The message, with pipefunc's quirks evened out: KeyError's quotes, set order, a doubled quote."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    text = re.sub(r"\{('[^{}]*')\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", text)
    text = re.sub(
        r"(are inconsistent: )(.*?)(\. All axes)",
        lambda m: m.group(1) + ", ".join(sorted(re.split(r"(?<=\]), ", m.group(2)))) + m.group(3),
        text,
    )
    return text[:-1] if text.endswith("''") else text  # pipefunc: "but got 'x''"


def _first_sentence(text: str) -> str:
    match = re.search(r"(?<=[.!?])\s", text)
    return text[: match.start()] if match else text


#: Messages formatted with values that differ by design: both must match the pattern (from the start).
PATTERNS = {
    # pipemap has one more storage ("chunked") to list
    "unknown storage name": r"Storage class `nope` not found, only `(\w+, )+\w+` available\.",
}


def _assert_leads(pf_exc: BaseException, pm_exc: BaseException, name: str = "") -> None:
    assert isinstance(pm_exc, type(pf_exc)), f"{type(pm_exc).__mro__} is not a {type(pf_exc)}"
    theirs, ours = _text(pf_exc), _text(pm_exc)
    if name in PATTERNS:
        assert re.fullmatch(PATTERNS[name], theirs), theirs
        assert re.match(PATTERNS[name], ours), ours
        return
    assert ours.startswith(_first_sentence(theirs)), f"\npipefunc: {theirs}\npipemap:  {ours}"


@pytest.mark.parametrize("name", list(RUN_CASES))
@pytest.mark.parametrize("native", [False, True], ids=["run_map(pipefunc pipeline)", "pipemap Pipeline.map"])
def test_run_rejection_starts_with_pipefunc_message(name: str, native: bool, tmp_path: Any) -> None:
    case = RUN_CASES[name]
    pf_exc = _raised(lambda: case(pipefunc, _pf_run, tmp_path / "pf"))
    pm_exc = _raised(lambda: case(pm, _pf_run, tmp_path / "pm") if native else case(pipefunc, _pm_run, tmp_path / "pm"))
    _assert_leads(pf_exc, pm_exc, name)


@pytest.mark.parametrize("name", list(BUILD_CASES))
def test_model_rejection_starts_with_pipefunc_message(name: str) -> None:
    case = BUILD_CASES[name]
    _assert_leads(_raised(lambda: case(pipefunc)), _raised(lambda: case(pm)), name)


#: Where pipefunc's error is a bare Python one, pipemap keeps its own message naming the culprit
#: (same exception family where pipefunc's is one users would catch).
BARE_CASES: dict[str, tuple[Any, type[BaseException], str]] = {
    "inputs not a dict": (
        lambda mod, run, tmp: run(_two(mod), [1, 2]),
        ValueError,  # pipefunc: a ValueError with these words, or a bare AssertionError once pydantic is imported
        "Unknown type, expected a Pydantic model or a dictionary. `inputs` must be a dict",
    ),
    "unknown output_names": (
        lambda mod, run, tmp: run(_two(mod), {"x": [1]}, output_names={"nope"}),
        KeyError,
        "Unknown output name 'nope'",
    ),
    "chunksize 0": (
        lambda mod, run, tmp: run(_two(mod), {"x": [1, 2]}, chunksizes=0, parallel=True, executor=_pool()),
        ValueError,  # pipefunc: a bare AssertionError
        "Invalid chunksize 0 for y",
    ),
    "load_outputs of a missing run folder": (
        lambda mod, run, tmp: (pipefunc.map.load_outputs if mod is pipefunc else __import__("pipemap.io").io.load_outputs)(
            "y", run_folder=tmp / "nowhere"
        ),
        FileNotFoundError,
        "is not a run folder: it does not exist",
    ),
    "load_outputs of an unknown output": (
        lambda mod, run, tmp: (
            run(_two(pipefunc), {"x": [1]}, run_folder=tmp),
            (pipefunc.map.load_outputs if mod is pipefunc else __import__("pipemap.io").io.load_outputs)("nope", run_folder=tmp),
        ),
        KeyError,
        "Output(s) `nope` not found",
    ),
}


@pytest.mark.parametrize("name", list(BARE_CASES))
def test_bare_pipefunc_errors_get_pipemap_messages(name: str, tmp_path: Any) -> None:
    case, family, fragment = BARE_CASES[name]
    pf_exc = _raised(lambda: case(pipefunc, _pf_run, tmp_path / "pf"))
    pm_exc = _raised(lambda: case(pm, _pm_run, tmp_path / "pm"))
    assert len(_text(pf_exc)) < 80 or "[Errno" in str(pf_exc)  # pipefunc's: bare
    assert isinstance(pm_exc, family)
    assert fragment in str(pm_exc)
