"""PipeFunc and the `pipefunc` decorator: attributes, validation (docs/behaviour.md §2.1), calls, updates."""

from __future__ import annotations

import dataclasses
import doctest
import inspect
import pickle

import cloudpickle
import pytest
from pipemap.mapspec import MapSpec
from pipemap.runner import PipeFunc, Pipeline, pipefunc
from pipemap.runner.model import _pipefunc as pipefunc_module
from pipemap.runner.model import _pipefunc_calls as calls_module
from pipemap.runner.model import _pipefunc_updates as updates_module


def add(a, b=2):
    return a + b


@pytest.mark.parametrize("module", [pipefunc_module, calls_module, updates_module])
def test_doctests_run(module) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0
    assert result.attempted >= 1


def test_attributes_of_a_plain_function() -> None:
    f = PipeFunc(add, "c")
    assert f.func is add
    assert f.__name__ == "add"
    assert f.output_name == "c"
    assert f.output_names == ("c",)
    assert f.parameters == ("a", "b")
    assert list(f.original_parameters) == ["a", "b"]
    assert isinstance(f.original_parameters["a"], inspect.Parameter)
    assert f.defaults == {"b": 2}
    assert f.bound == {}
    assert f.renames == {}
    assert f.mapspec is None
    assert f.internal_shape is None
    assert f.requires_mapping is False
    assert str(f) == "add(...) → c"
    assert repr(f) == "PipeFunc(add)"


def test_profile_debug_cache_resources_are_stored() -> None:
    f = PipeFunc(add, "c", profile=True, debug=True, cache=True, resources={"cpus": 2})
    assert (f.profile, f.debug, f.cache, f.resources) == (True, True, True, {"cpus": 2})
    g = f.copy()
    assert (g.profile, g.debug, g.cache, g.resources) == (True, True, True, {"cpus": 2})


def test_renames_defaults_and_bound_use_renamed_names() -> None:
    f = PipeFunc(add, "c", renames={"a": "x", "b": "y", "c": "z"}, defaults={"y": 10})
    assert f.parameters == ("x", "y")
    assert list(f.original_parameters) == ["a", "b"]
    assert f.output_name == "z"
    assert f.defaults == {"y": 10}
    assert f(x=1) == 11
    g = PipeFunc(add, "c", renames={"b": "y"}, bound={"y": 100})
    assert g.defaults == {}  # a bound parameter has no default
    assert g(a=1) == 101
    assert g(a=1, y=5) == 101  # bound values always win


def test_mapspec_string_is_parsed_and_requires_mapping() -> None:
    f = PipeFunc(add, "c", mapspec="a[i], b[i] -> c[i]")
    assert isinstance(f.mapspec, MapSpec)
    assert str(f.mapspec) == "a[i], b[i] -> c[i]"
    assert f.requires_mapping is True
    gen = PipeFunc(lambda: [1, 2], "x", mapspec="... -> x[i]")
    assert gen.requires_mapping is False


@pytest.mark.parametrize(
    ("given", "expected"),
    [(3, (3,)), ("?", ("?",)), ((2, "?"), (2, "?")), ([4], (4,)), (None, None)],
)
def test_internal_shape_is_normalised(given, expected) -> None:
    assert PipeFunc(lambda: 1, "x", internal_shape=given).internal_shape == expected


@pytest.mark.parametrize("bad", [(1.5,), ("x",), (-1,), 2.0, (True,), ...])
def test_bad_internal_shape_raises_when_used(bad) -> None:
    # issue 13 item 5: checked when a run uses it (as pipefunc does), not at construction
    assert PipeFunc(lambda: 1, "x", internal_shape=bad).internal_shape is bad
    f = PipeFunc(lambda: [1, 2], "x", mapspec="... -> x[j]", internal_shape=bad)
    with pytest.raises(TypeError, match="must be a tuple of integers or '\\?'"):
        Pipeline([f]).map({}, parallel=False)


def test_mapspec_input_must_be_a_parameter() -> None:
    with pytest.raises(ValueError, match="The input of the function `add` should match the input of the MapSpec"):
        PipeFunc(add, "c", mapspec="z[i] -> c[i]")


def test_mapspec_output_must_match_output_names() -> None:
    with pytest.raises(ValueError, match="The output of the function `add` should match the output of the MapSpec"):
        PipeFunc(add, "c", mapspec="a[i] -> q[i]")
    with pytest.raises(ValueError, match="should match the output of the MapSpec"):
        PipeFunc(add, ("c", "d"), mapspec="a[i] -> c[i]")


def test_bound_parameter_cannot_be_a_mapspec_input() -> None:
    with pytest.raises(ValueError, match="The bound arguments cannot be part of the MapSpec input names"):
        PipeFunc(add, "c", mapspec="a[i] -> c[i]", bound={"a": 1})


def test_other_construction_errors() -> None:
    with pytest.raises(ValueError, match="both defaults and bound"):
        PipeFunc(add, "c", defaults={"b": 1}, bound={"b": 2})
    with pytest.raises(ValueError, match=r"cannot be the same as any of the input parameter names.*\(function `add`\)"):
        PipeFunc(add, "a")
    with pytest.raises(ValueError, match="Unexpected `renames`.*'q'"):
        PipeFunc(add, "c", renames={"q": "r"})
    with pytest.raises(ValueError, match="Unexpected `defaults`.*'q'"):
        PipeFunc(add, "c", defaults={"q": 1})
    with pytest.raises(ValueError, match=r"should be a one-to-one mapping.*\('b', 'b'\)\. Function: `add`"):
        PipeFunc(add, "c", renames={"a": "b"})
    with pytest.raises(ValueError, match="not a valid Python identifier"):
        PipeFunc(add, "1c")
    with pytest.raises(TypeError, match="must be callable"):
        PipeFunc(42, "c")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="output_name"):
        PipeFunc(add, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"The 'mapspec' argument should be an instance of MapSpec, not <class 'int'>\. Pass a string"):
        PipeFunc(add, "c", mapspec=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Expected expression of form"):
        PipeFunc(add, "c", mapspec="a[i], b[i]")


def test_call_with_positional_and_keyword_arguments() -> None:
    f = PipeFunc(add, "c", renames={"a": "x"})
    assert f(1) == 3
    assert f(1, 5) == 6
    assert f(x=1, b=5) == 6
    with pytest.raises(ValueError, match="Unexpected keyword arguments.*'a'"):
        f(a=1)
    with pytest.raises(TypeError, match="Multiple values"):
        f(1, x=2)


def test_call_flattens_scoped_kwargs() -> None:
    f = PipeFunc(add, "c", scope="s")
    assert f.parameters == ("s.a", "s.b")
    assert f.output_name == "s.c"
    assert f(s={"a": 1, "b": 1}) == 2
    assert f(**{"s.a": 1}) == 3


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"renames": {"a": "x"}},
        {"bound": {"b": 7}},
        {"defaults": {"b": 9}},
        {"renames": {"a": "x", "b": "y"}, "bound": {"y": 4}},
        {"renames": {"b": "y"}, "defaults": {"y": 3}},
    ],
)
def test_fast_call_matches_regular_call(options) -> None:
    f = PipeFunc(add, "c", **options)
    first = f.parameters[0]
    assert f._call_with_renamed_kwargs({first: 1}) == f(**{first: 1})
    full = {p: 5 for p in f.parameters if p not in f.bound}
    assert f._call_with_renamed_kwargs(full) == f(**full)


def test_fast_call_is_rebuilt_after_updates() -> None:
    f = PipeFunc(add, "c")
    f.update_renames({"a": "x"})
    assert f._call_with_renamed_kwargs({"x": 1}) == 3
    f.update_bound({"b": 10})
    assert f._call_with_renamed_kwargs({"x": 1}) == 11


def test_pick_outputs() -> None:
    single = PipeFunc(lambda a: [a, a], "c")
    assert single._pick_outputs([1, 2]) == ([1, 2],)
    multi = PipeFunc(lambda a: (a, 2 * a), ("b", "c"))
    assert multi._pick_outputs((1, 2)) == (1, 2)
    one_tuple = PipeFunc(lambda a: (a,), ("b",))
    assert one_tuple._pick_outputs((5,)) == (5,)
    custom = PipeFunc(lambda a: {"b": a, "c": -a}, ("b", "c"), output_picker=dict.__getitem__)
    assert custom._pick_outputs({"b": 1, "c": -1}) == (1, -1)
    assert custom.output_picker is dict.__getitem__
    picked_single = PipeFunc(lambda a: {"c": a}, "c", output_picker=dict.__getitem__)
    assert picked_single._pick_outputs({"c": 4}) == (4,)


def test_error_snapshots_pass_through_the_picker() -> None:
    storage = pytest.importorskip("pipemap.storage")
    snapshot = storage.ErrorSnapshot(add, ValueError("boom"), kwargs={"a": 1})
    default = PipeFunc(lambda a: (a, a), ("b", "c"))
    custom = PipeFunc(lambda a: {"b": a}, ("b", "c"), output_picker=dict.__getitem__)
    assert default._pick_outputs(snapshot) == (snapshot, snapshot)
    assert custom._pick_outputs(snapshot) == (snapshot, snapshot)


def test_update_renames_from_current_and_original() -> None:
    f = PipeFunc(add, "c", mapspec="a[i] -> c[i]", defaults={"b": 5})
    f.update_renames({"a": "x", "b": "y"})
    assert f.parameters == ("x", "y")
    assert f.defaults == {"y": 5}
    assert str(f.mapspec) == "x[i] -> c[i]"
    f.update_renames({"x": "z"})  # from the current name
    assert f.renames == {"a": "z", "b": "y"}
    assert str(f.mapspec) == "z[i] -> c[i]"
    f.update_renames({"a": "w"}, update_from="original")
    assert f.parameters == ("w", "y")
    f.update_renames({"c": "out"})
    assert f.output_name == "out"
    assert str(f.mapspec) == "w[i] -> out[i]"
    f.update_renames({"b": "q"}, update_from="original", overwrite=True)
    assert f.parameters == ("a", "q")
    assert f.output_name == "c"
    assert str(f.mapspec) == "a[i] -> c[i]"


def test_update_renames_swapping_names() -> None:
    f = PipeFunc(add, "c", mapspec="a[i], b[j] -> c[i, j]")
    f.update_renames({"a": "b", "b": "a"})
    assert f.parameters == ("b", "a")
    assert str(f.mapspec) == "b[i], a[j] -> c[i, j]"
    assert f(b=1, a=10) == 11


def test_update_renames_of_bound_parameter() -> None:
    f = PipeFunc(add, "c", bound={"b": 1})
    f.update_renames({"b": "beta"})
    assert f.bound == {"beta": 1}
    assert f(a=1) == 2


def test_failed_update_leaves_the_function_unchanged() -> None:
    f = PipeFunc(add, "c", mapspec="a[i] -> c[i]")
    with pytest.raises(ValueError, match="Unexpected `renames`"):
        f.update_renames({"nope": "x"})
    with pytest.raises(ValueError, match="cannot be the same"):
        f.update_renames({"a": "c"})
    assert f.parameters == ("a", "b")
    assert str(f.mapspec) == "a[i] -> c[i]"
    with pytest.raises(ValueError, match="The bound arguments cannot be part of the MapSpec"):
        f.update_bound({"a": 1})
    assert f.bound == {}
    with pytest.raises(ValueError, match="Unexpected `defaults`"):
        f.update_defaults({"zz": 1})


def test_update_defaults_and_bound() -> None:
    f = PipeFunc(add, "c")
    f.update_defaults({"a": 1})
    assert f.defaults == {"a": 1, "b": 2}
    assert f() == 3
    f.update_defaults({"b": 0}, overwrite=True)
    assert f.defaults == {"b": 0}
    f.update_bound({"a": 5})
    assert f(b=1) == 6
    f.update_bound({}, overwrite=True)
    assert f.bound == {}


def test_update_mapspec_axes_and_scope() -> None:
    f = PipeFunc(add, "c", mapspec="a[i], b[j] -> c[i, j]")
    f.update_mapspec_axes({"i": "x"})
    assert str(f.mapspec) == "a[x], b[j] -> c[x, j]"
    f.update_scope("s", inputs={"a"}, outputs="*")
    assert f.parameters == ("s.a", "b")
    assert str(f.mapspec) == "s.a[x], b[j] -> s.c[x, j]"
    f.update_scope(None, inputs="*", outputs="*")
    assert f.parameters == ("a", "b")
    assert f.output_name == "c"
    none = PipeFunc(add, "c")
    none.update_mapspec_axes({"i": "x"})  # no mapspec: nothing to do
    assert none.mapspec is None


def test_copy_is_independent() -> None:
    f = PipeFunc(add, "c", renames={"a": "x"}, defaults={"b": 1}, mapspec="x[i] -> c[i]", internal_shape=2)
    g = f.copy()
    g.update_renames({"x": "y"})
    assert f.parameters == ("x", "b")
    assert g.parameters == ("y", "b")
    assert g.internal_shape == (2,)
    assert g.defaults == {"b": 1}
    h = f.copy(mapspec=None, output_name="d")
    assert h.mapspec is None
    assert h.output_name == "d"


def test_pickle_roundtrip_keeps_behaviour() -> None:
    f = PipeFunc(lambda a, b=2: a * b, ("p", "q"), renames={"a": "x"}, mapspec="x[i] -> p[i], q[i]")
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        g = loads(dumps(f))
        assert g.parameters == ("x", "b")
        assert g.output_names == ("p", "q")
        assert str(g.mapspec) == "x[i] -> p[i], q[i]"
        assert g._call_with_renamed_kwargs({"x": 3}) == 6
        assert g._pick_outputs((1, 2)) == (1, 2)


def test_decorator_returns_pipefunc() -> None:
    @pipefunc(output_name=("s", "d"), mapspec="a[i], b[i] -> s[i], d[i]", internal_shape=None)
    def sum_and_diff(a, b):
        """Docstring kept."""
        return a + b, a - b

    assert isinstance(sum_and_diff, PipeFunc)
    assert sum_and_diff.__name__ == "sum_and_diff"
    assert sum_and_diff.__doc__ == "Docstring kept."
    assert sum_and_diff(a=3, b=1) == (4, 2)
    assert sum_and_diff.output_names == ("s", "d")


def test_dataclass_and_class_functions() -> None:
    @dataclasses.dataclass
    class Config:
        a: int
        tags: list = dataclasses.field(default_factory=list)
        scale: float = 1.0

    f = PipeFunc(Config, "config")
    assert f.parameters == ("a", "tags", "scale")
    assert f.defaults == {"tags": [], "scale": 1.0}
    assert f(a=1) == Config(1, [], 1.0)
    assert f.output_annotation == {"config": Config}


def test_output_annotation() -> None:
    def typed(a: int) -> tuple[int, str]:
        return a, str(a)

    assert PipeFunc(typed, ("n", "s")).output_annotation == {"n": int, "s": str}
    assert PipeFunc(typed, "both").output_annotation == {"both": tuple[int, str]}
    assert PipeFunc(add, "c").output_annotation == {"c": inspect.Parameter.empty}


def test_partial_functions_are_named_after_the_inner_function() -> None:
    import functools

    f = PipeFunc(functools.partial(add, b=5), "c")
    assert f.__name__ == "add"
    assert f.parameters == ("a", "b")
    assert f.defaults == {"b": 5}
    assert f(a=1) == 6


def test_print_error_flag_is_stored_and_copied() -> None:
    f = PipeFunc(add, "c", print_error=False)
    assert f.print_error is False
    assert f.copy().print_error is False
    assert pipefunc("c", print_error=False)(add).print_error is False
