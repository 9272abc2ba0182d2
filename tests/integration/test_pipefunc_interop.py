"""Interop with pipefunc: its pipelines run in pipemap unmodified, its run folders are readable.

What carries over (functions, output names, pickers, mapspecs, renames, scopes, defaults, bound,
internal shapes, resources) is checked by running the converted pipeline next to pipefunc; what
cannot carry over must fail or warn with the feature's name, through ``Pipeline.from_pipefunc`` and
through ``run_map``. Conversion details (attribute by attribute) are tested in
``tests/runner/test_from_pipefunc.py``.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pipefunc = pytest.importorskip("pipefunc")

import pipefunc.map as pfm  # noqa: E402

import pipemap.io as pio  # noqa: E402
from pipemap.runner import Pipeline, run_map, run_map_async  # noqa: E402
from pipemap.runner.model._from_pipefunc import UnsupportedPipefuncFeature  # noqa: E402


def _everything() -> Any:
    """One pipeline using every feature that carries over."""
    from pipefunc.resources import Resources

    @pipefunc.pipefunc(output_name="x", mapspec="... -> x[i]")
    def gen(n: int) -> list[int]:
        return list(range(1, n + 1))

    @pipefunc.pipefunc(
        output_name=("lo", "hi"),
        mapspec="x[i], w[j] -> lo[i, j], hi[i, j]",
        output_picker=dict.__getitem__,
        resources=Resources(cpus=2, memory="1GB"),
    )
    def spread(x: int, w: float, width: float = 0.5) -> dict:
        return {"lo": x * w - width, "hi": x * w + width}

    @pipefunc.pipefunc(output_name="mid", mapspec="lo[i, j], hi[i, j] -> mid[i, j]", renames={"val": "lo"})
    def middle(val: float, hi: float) -> float:
        return (val + hi) / 2

    @pipefunc.pipefunc(output_name="rows", mapspec="mid[i, :] -> rows[i]", bound={"power": 2})
    def rows(mid: Any, power: int) -> float:
        return float(np.sum(np.asarray(mid, dtype=float) ** power))

    @pipefunc.pipefunc(output_name="parts", mapspec="rows[i] -> parts[i, k]", internal_shape=2)
    def parts(rows: float) -> list[float]:
        return [rows / 2, rows / 2]

    @pipefunc.pipefunc(output_name="total")
    def total(parts: Any, offset: float) -> float:
        return float(np.sum(parts)) + offset

    p = pipefunc.Pipeline([gen, spread, middle, rows, parts, total])
    p.update_scope("stats", inputs={"offset"}, outputs=None)
    return p


_INPUTS = {"n": 3, "w": [1.0, 10.0], "stats": {"offset": 0.25}}
# no known difference applies (KNOWN_DIFFERENCES in conftest.py): everything is compared exactly
_KNOWN: frozenset[str] = frozenset()


def test_run_map_accepts_a_pipefunc_pipeline() -> None:
    """No conversion step: ``run_map`` takes the pipefunc object and leaves it untouched."""
    p = pipefunc.Pipeline([pipefunc.PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
    assert run_map(p, {"x": [1, 2]}, parallel=False)["y"].output.tolist() == [2, 4]
    assert isinstance(p, pipefunc.Pipeline)
    assert p.map({"x": [3]}, parallel=False)["y"].output.tolist() == [6]


def test_run_map_on_a_pipefunc_pipeline_names_unsupported_features() -> None:
    p = pipefunc.Pipeline([pipefunc.PipeFunc(lambda a: a, "b", post_execution_hook=lambda *_: None)])
    with pytest.raises(UnsupportedPipefuncFeature, match="post_execution_hook"):
        run_map(p, {"a": 1}, parallel=False)


def test_run_map_async_accepts_a_pipefunc_pipeline() -> None:
    p = pipefunc.Pipeline([pipefunc.PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
    runner = run_map_async(p, {"x": [1, 2]}, start=False)
    assert runner.result()["y"].output.tolist() == [2, 4]


def test_every_carried_feature_gives_pipefunc_results(parity: Any) -> None:
    """Generator, multi-output with picker, resources, renames, defaults, bound, internal shape, scope."""
    pf_result, pm_result, pf_folder, pm_folder = parity.run_both(_everything, _INPUTS)
    parity.assert_results(pf_result, pm_result, _KNOWN)
    parity.assert_load_outputs(pf_folder, pm_folder, sorted(pf_result), _KNOWN)
    converted = Pipeline.from_pipefunc(_everything())
    assert converted[("lo", "hi")].resources == {"cpus": 2, "memory": "1GB"}
    assert converted["mid"].renames == {"val": "lo"}
    assert converted["rows"].bound == {"power": 2}
    assert converted["total"].parameters == ("parts", "stats.offset")


def test_pipemap_pipeline_map_method_matches(parity: Any) -> None:
    """``Pipeline.from_pipefunc(p).map(...)``: the same call signature as pipefunc's ``p.map(...)``."""
    expected = _everything().map(_INPUTS, parallel=False, storage="dict")
    got = Pipeline.from_pipefunc(_everything()).map(_INPUTS, parallel=False, storage="dict")
    parity.assert_results(expected, got, _KNOWN)


def test_async_run_of_a_converted_pipeline(parity: Any) -> None:
    async def both() -> tuple[Any, Any]:
        a = _everything().map_async(_INPUTS, executor=None, start=True)
        b = run_map_async(Pipeline.from_pipefunc(_everything()), _INPUTS, start=True)
        return await a.task, await b.task

    pf_result, pm_result = asyncio.run(both())
    parity.assert_results(pf_result, pm_result, _KNOWN)


def _make(kind: str) -> Callable[[], Any]:
    builders: dict[str, Callable[[], Any]] = {
        "variants": lambda: pipefunc.Pipeline([pipefunc.PipeFunc(lambda a: a, "b", variant="fast")]),
        "VariantPipeline": lambda: pipefunc.VariantPipeline(
            [pipefunc.PipeFunc(lambda a: a, "b", variant="x"), pipefunc.PipeFunc(lambda a: -a, "b", variant="y")]
        ),
        "post_execution_hook": lambda: pipefunc.Pipeline(
            [pipefunc.PipeFunc(lambda a: a, "b", post_execution_hook=lambda *_: None)]
        ),
    }
    return builders[kind]


@pytest.mark.parametrize("feature", ["variants", "VariantPipeline", "post_execution_hook"])
def test_unsupported_features_fail_with_their_name(feature: str, parity: Any) -> None:
    build = _make(feature)
    with pytest.raises(UnsupportedPipefuncFeature, match=feature):
        Pipeline.from_pipefunc(build())
    with pytest.raises(UnsupportedPipefuncFeature, match=feature):
        parity.pipemap_run(build(), {"a": 1}, parallel=False)


_WARNED = {
    "lazy": (lambda: pipefunc.Pipeline([pipefunc.PipeFunc(lambda a: 2 * a, "b")], lazy=True), "lazy=True"),
}


@pytest.mark.parametrize("feature", list(_WARNED))
def test_ignored_features_warn_with_their_name_and_still_run(feature: str, parity: Any) -> None:
    build, text = _WARNED[feature]
    with pytest.warns(UserWarning, match=text.replace("(", r"\(").replace("[", r"\[")):
        p = Pipeline.from_pipefunc(build())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert p("b", a=3) == 6


def test_supported_features_convert_silently() -> None:
    """No warning for what carries over completely (nothing is silently dropped, nothing over-reported)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Pipeline.from_pipefunc(_everything())


def test_pipefunc_default_resources_carry_over() -> None:
    f = pipefunc.PipeFunc(lambda a: a, "b", mapspec="a[i] -> b[i]")
    p = Pipeline.from_pipefunc(pipefunc.Pipeline([f], default_resources={"memory": "1GB"}))
    assert p["b"].resources == {"memory": "1GB"}


def test_tuple_form_and_pipeline_scope_carry_over(parity: Any) -> None:
    def build() -> Any:
        return pipefunc.Pipeline([(pipefunc.PipeFunc(lambda a: 2 * a, "b"), "a[i] -> b[i]")], scope="s")

    assert Pipeline.from_pipefunc(build()).mapspecs_as_strings == ["s.a[i] -> s.b[i]"]
    pf_result, pm_result, *_ = parity.run_both(build, {"s": {"a": [1, 2]}}, folder=False)
    parity.assert_results(pf_result, pm_result)


# -- run folders -----------------------------------------------------------------------------------


def _pipefunc_run_folder(tmp_path: Path, calls: list[int] | None = None) -> tuple[Any, Path]:
    def build() -> Any:
        @pipefunc.pipefunc(output_name="y", mapspec="x[i] -> y[i]")
        def f(x: int) -> int:
            if calls is not None:
                calls.append(x)
            return 2 * x

        @pipefunc.pipefunc(output_name="z", mapspec="y[i], w[j] -> z[i, j]")
        def g(y: int, w: int) -> int:
            return y * w

        @pipefunc.pipefunc(output_name="s")
        def h(z: Any) -> int:
            return int(np.sum(z))

        return pipefunc.Pipeline([f, g, h])

    folder = tmp_path / "pf"
    build().map({"x": [1, 2], "w": [3, 4, 5]}, run_folder=folder, parallel=False)
    return build, folder


def test_pipemap_reads_pipefunc_run_folders(parity: Any, tmp_path: Path) -> None:
    """pipemap's loaders open a folder pipefunc wrote and agree with pipefunc's own loaders."""
    _, folder = _pipefunc_run_folder(tmp_path)
    for name in ("y", "z", "s"):
        parity.assert_same(pfm.load_outputs(name, run_folder=folder), pio.load_outputs(name, run_folder=folder))
    parity.assert_xarray(folder, folder)
    parity.assert_dataframe(folder, folder)


def test_pipemap_resumes_a_pipefunc_run_folder_without_recomputing(tmp_path: Path) -> None:
    calls: list[int] = []
    build, folder = _pipefunc_run_folder(tmp_path, calls)
    assert calls == [1, 2]
    calls.clear()
    result = run_map(Pipeline.from_pipefunc(build()), {"x": [1, 2], "w": [3, 4, 5]}, run_folder=folder,
                     parallel=False, resume=True)
    assert calls == []
    assert result["s"].output == 2 * (1 + 2) * (3 + 4 + 5)


def test_pipefunc_reads_pipemap_run_folders(tmp_path: Path) -> None:
    """Two-way compatibility: pipemap's ``run_info.json`` is in pipefunc 0.93.2's schema (its own
    metadata is in ``pipemap.json``; tests/integration/test_parity_run_folders.py covers the rest)."""
    p = pipefunc.Pipeline([pipefunc.PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
    run_map(Pipeline.from_pipefunc(p), {"x": [1, 2]}, run_folder=tmp_path / "pm", parallel=False)
    assert pfm.load_outputs("y", run_folder=tmp_path / "pm").tolist() == [2, 4]
