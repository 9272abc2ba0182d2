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
