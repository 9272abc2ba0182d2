"""Converting pipefunc pipelines: what carries over, what is refused or warned about."""

from __future__ import annotations

import doctest
import warnings

import numpy as np

import pytest

pipefunc = pytest.importorskip("pipefunc")

from pipemap.runner import PipeFunc, Pipeline  # noqa: E402
from pipemap.runner.model import _from_pipefunc as from_module  # noqa: E402
from pipemap.runner.model._from_pipefunc import UnsupportedPipefuncFeature  # noqa: E402


def test_doctests_run() -> None:
    result = doctest.testmod(from_module)
    assert result.failed == 0
    assert result.attempted > 3


def _source_pipeline() -> pipefunc.Pipeline:
    @pipefunc.pipefunc(output_name=("s", "d"), mapspec="a[i], b[i] -> s[i], d[i]")
    def sum_diff(a, b):
        return a + b, a - b

    @pipefunc.pipefunc(output_name="scaled", renames={"value": "s"}, defaults={"factor": 3}, mapspec="s[i] -> scaled[i]")
    def scale(value, factor=1):
        return value * factor

    @pipefunc.pipefunc(output_name="shifted", bound={"shift": 100}, mapspec="d[i] -> shifted[i]")
    def shift(d, shift):
        return d + shift

    @pipefunc.pipefunc(output_name=("lo", "hi"), output_picker=dict.__getitem__, resources={"cpus": 2})
    def bounds(scaled, shifted):
        return {"lo": min(scaled), "hi": max(shifted)}

    return pipefunc.Pipeline([sum_diff, scale, shift, bounds])


def test_everything_carries_over() -> None:
    source = _source_pipeline()
    p = Pipeline.from_pipefunc(source)
    assert isinstance(p, Pipeline)
    assert [type(f) for f in p.functions] == [PipeFunc] * 4
    assert p.mapspecs_as_strings == source.mapspecs_as_strings
    assert set(p.root_args) == set(source.root_args())
    assert p.defaults == source.defaults
    scale = p["scaled"]
    assert scale.parameters == ("s", "factor")
    assert scale.renames == {"value": "s"}
    assert scale.defaults == {"factor": 3}
    assert p["shifted"].bound == {"shift": 100}
    bounds = p[("lo", "hi")]
    assert bounds.output_picker is dict.__getitem__
    assert bounds._pick_outputs({"lo": 1, "hi": 2}) == (1, 2)
    assert bounds.resources == {"cpus": 2}
    assert p["s"].output_names == ("s", "d")
    # the source pipeline is untouched and still works
    assert source["scaled"].renames == {"value": "s"}


def test_sequential_results_agree() -> None:
    def a_plus_b(a, b=1):
        return a + b

    def times(c, k):
        return c * k

    make = lambda: [  # noqa: E731
        pipefunc.PipeFunc(a_plus_b, "c", renames={"b": "beta"}),
        pipefunc.PipeFunc(times, "e", bound={"k": 3}),
    ]
    source = pipefunc.Pipeline(make())
    converted = Pipeline.from_pipefunc(source)
    for kwargs in ({"a": 1}, {"a": 2, "beta": 5}):
        assert converted("e", **kwargs) == source("e", **kwargs)


def test_generated_mapspecs_keep_their_flag_and_internal_shapes(capsys) -> None:
    @pipefunc.pipefunc(output_name="x", internal_shape=3)
    def make():
        return [1, 2, 3]

    @pipefunc.pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    def double(x):
        return 2 * x

    source = pipefunc.Pipeline([make, double])
    capsys.readouterr()
    p = Pipeline.from_pipefunc(source)
    assert capsys.readouterr().out == ""  # nothing to generate again
    assert p["x"].mapspec._is_generated is True
    assert p["y"].mapspec._is_generated is False
    assert p["x"].internal_shape == (3,)


def test_scopes_carry_over_as_renames() -> None:
    @pipefunc.pipefunc(output_name="c", scope="foo")
    def f(a, b):
        return a + b

    p = Pipeline.from_pipefunc(pipefunc.Pipeline([f]))
    assert p.root_args == ("foo.a", "foo.b")
    assert p("foo.c", foo={"a": 1, "b": 2}) == 3


def test_resources_objects_become_dicts() -> None:
    from pipefunc.resources import Resources

    f = pipefunc.PipeFunc(lambda a: a, "b", resources=Resources(cpus=4, memory="2GB"))
    assert PipeFunc.from_pipefunc(f).resources == {"cpus": 4, "memory": "2GB"}


def test_unsupported_features_are_named() -> None:
    cases = [
        (pipefunc.PipeFunc(lambda a: a, "b", post_execution_hook=lambda *_: None), "post_execution_hook"),
        (pipefunc.PipeFunc(lambda a: a, "b", variant="fast"), "variants"),
    ]
    for f, name in cases:
        with pytest.raises(UnsupportedPipefuncFeature, match=name):
            PipeFunc.from_pipefunc(f)
    variants = pipefunc.VariantPipeline(
        [pipefunc.PipeFunc(lambda a: a, "b", variant="x"), pipefunc.PipeFunc(lambda a: -a, "b", variant="y")]
    )
    with pytest.raises(UnsupportedPipefuncFeature, match="VariantPipeline"):
        Pipeline.from_pipefunc(variants)


def test_cache_settings_carry_over() -> None:
    source = pipefunc.Pipeline([pipefunc.PipeFunc(lambda a: a, "b", cache=True)], cache_type="simple")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = Pipeline.from_pipefunc(source)
    assert p["b"].cache is True
    assert p.cache_type == "simple"
    assert type(p.cache).__name__ == "SimpleCache"


def test_wrong_objects_are_rejected() -> None:
    with pytest.raises(TypeError, match="Expected a `pipefunc.Pipeline`"):
        Pipeline.from_pipefunc([1, 2])
    with pytest.raises(TypeError, match="Expected a `pipefunc.PipeFunc`"):
        PipeFunc.from_pipefunc(lambda a: a)
    p = Pipeline([PipeFunc(lambda a: a, "b")])
    assert Pipeline.from_pipefunc(p).functions[0] is not p.functions[0]  # a pipemap one is copied


def test_mapped_results_agree_with_pipefunc() -> None:
    from pipemap import runner

    if not hasattr(runner, "run_map"):
        pytest.skip("the engine (`run_map`) is not available yet")
    source = _source_pipeline()
    inputs = {"a": [1, 2, 3], "b": [3, 2, 1]}
    expected = source.map(inputs, parallel=False, storage="dict")
    got = Pipeline.from_pipefunc(source).map(inputs, parallel=False, storage="dict")
    for name in ("s", "d", "scaled", "shifted"):
        np.testing.assert_array_equal(got[name].output, expected[name].output)
    assert got["lo"].output == expected["lo"].output
    assert got["hi"].output == expected["hi"].output


def _rich_pipeline(mod):
    """The same pipeline written with `mod.pipefunc` (pipefunc or pipemap.runner)."""
    pf = mod.pipefunc

    @pf("x")
    def gen(n):
        return list(range(n))

    @pf(("a", "b"), mapspec="x[i], w[j] -> a[i, j], b[i, j]")
    def ab(x, w, scale=2):
        return x * w, x - w

    @pf("c", mapspec="a[i, :] -> c[i]")
    def cc(a):
        return sum(a)

    @pf("d", renames={"inp": "b"}, bound={"k": 3})
    def dd(inp, k):
        return inp

    @pf("e", mapspec="c[i], v[i] -> e[i]")
    def ee(c, v, scale=2):
        return c + v

    @pf("f")
    def ff(e, d):
        return 1

    @pf("g")
    def gg():
        return 5

    @pf("h", scope="sc")
    def hh(g, z):
        return g

    return mod.Pipeline([ff, ee, dd, cc, ab, gen, gg, hh])


def _views(p) -> dict:
    return {
        "specs": p.mapspecs_as_strings,
        "generations": [[f.output_name for f in g] for g in p.topological_generations.function_lists],
        "roots": sorted(p.topological_generations.root_args),
        "defaults": p.defaults,
        "dependencies": {o: p.func_dependencies(o) for o in ["f", "e", "c", "x"]},
        "dependents": {o: p.func_dependents(o) for o in ["x", "w", "n", "a"]},
        "axes": p.mapspec_axes,
        "names": sorted(p.mapspec_names),
        "sub_outputs": [f.output_name for f in p.subpipeline(None, "e").sorted_functions],
        "sub_inputs": [f.output_name for f in p.subpipeline({"c", "v", "d"}, ["f"]).sorted_functions],
        "functions": {str(f.output_name): (f.parameters, f.defaults, f.bound) for f in p.functions},
        "roots_of_f": sorted(p.root_args("f")),
    }


def test_model_views_agree_with_pipefunc(capsys) -> None:
    from pipemap import runner

    reference = _views(_rich_pipeline(pipefunc))
    printed_reference = sorted(capsys.readouterr().out.splitlines())
    ours = _views(_rich_pipeline(runner))
    printed = sorted(capsys.readouterr().out.splitlines())
    assert printed == printed_reference
    assert printed == ["Autogenerated MapSpec for `gen(...) → x`: `... -> x[i]`"]
    for key, value in reference.items():
        assert ours[key] == value, key
    converted = _views(Pipeline.from_pipefunc(_rich_pipeline(pipefunc)))
    capsys.readouterr()
    assert converted == reference
