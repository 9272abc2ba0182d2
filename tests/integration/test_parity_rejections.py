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
