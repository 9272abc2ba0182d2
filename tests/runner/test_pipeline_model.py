"""Pipeline: graph views, construction errors, subpipelines, updates, caching, sequential calls."""

from __future__ import annotations

import doctest
import pickle

import cloudpickle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipemap.runner import PipeFunc, Pipeline, UnknownNameError, pipefunc
from pipemap.runner.model import _graph as graph_module
from pipemap.runner.model import _pipeline as pipeline_module
from pipemap.runner.model import _pipeline_graph as pgraph_module
from pipemap.runner.model import _pipeline_run as run_module
from pipemap.runner.model import _pipeline_updates as updates_module


@pytest.mark.parametrize("module", [pipeline_module, graph_module, run_module, updates_module, pgraph_module])
def test_doctests_run(module) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0
    assert result.attempted >= 2


def _chain() -> Pipeline:
    @pipefunc("y", mapspec="x[i] -> y[i]")
    def double(x):
        return 2 * x

    @pipefunc("z", mapspec="y[i], w[j] -> z[i, j]")
    def outer(y, w, offset=0):
        return y * w + offset

    @pipefunc("s")
    def total(z):
        return z.sum()

    return Pipeline([double, outer, total])


def test_graph_views_of_a_chain() -> None:
    p = _chain()
    roots, generations = p.topological_generations
    assert roots == ["x", "w", "offset"]
    assert [[f.output_name for f in g] for g in generations] == [["y"], ["z"], ["s"]]
    assert [f.output_name for f in p.sorted_functions] == ["y", "z", "s"]
    assert p.root_args == ("x", "w", "offset")
    assert p.all_root_args == ("x", "w", "offset")
    assert p.root_args("y") == ("x",)
    assert p.root_args("s") == ("x", "w", "offset")
    assert p.defaults == {"offset": 0}
    assert p.all_output_names == {"y", "z", "s"}
    assert p.all_arg_names == {"x", "y", "w", "offset", "z"}
    assert p.mapspecs_as_strings == ["x[i] -> y[i]", "y[i], w[j] -> z[i, j]"]
    assert p.mapspec_names == {"x", "y", "w", "z"}
    assert p.mapspec_axes == {"x": ("i",), "y": ("i",), "w": ("j",), "z": ("i", "j")}
    assert p.mapspec_dimensions == {"x": 1, "y": 1, "w": 1, "z": 2}
    assert p.func_dependencies("s") == ["y", "z"]
    assert p.func_dependents("x") == ["s", "y", "z"]
    assert p.func_dependents("y") == ["s", "z"]
    assert [f.output_name for f in p.leaf_nodes] == ["s"]
    assert p.unique_leaf_node.output_name == "s"
    assert p["z"] is p.functions[1]
    assert "z" in p
    assert "x" not in p


def test_generations_put_parameterless_functions_first_and_sort_by_output_names() -> None:
    gen = PipeFunc(lambda: 1, "g")
    b = PipeFunc(lambda g, a: g + a, "b")
    a2 = PipeFunc(lambda a: a, ("m", "n"))
    c = PipeFunc(lambda a: a, "c")
    p = Pipeline([b, c, a2, gen])
    roots, generations = p.topological_generations
    assert roots == ["a"]
    assert [[f.output_name for f in g] for g in generations] == [["c", "g", ("m", "n")], ["b"]]


def test_bound_parameters_are_neither_roots_nor_dependencies() -> None:
    producer = PipeFunc(lambda a: a, "b")
    consumer = PipeFunc(lambda b, c: b + c, "d", bound={"b": 10})
    p = Pipeline([producer, consumer])
    assert p.root_args == ("a", "c")
    assert [[f.output_name for f in g] for g in p.topological_generations.function_lists] == [["b", "d"]]
    assert p.func_dependencies("d") == []


def test_multi_output_function_is_found_by_each_name_and_the_tuple() -> None:
    f = PipeFunc(lambda a: (a, 2 * a), ("b", "c"))
    g = PipeFunc(lambda b, c: b + c, "d")
    p = Pipeline([f, g])
    assert p.output_to_func["b"] is p.output_to_func["c"] is p.output_to_func[("b", "c")]
    assert p.func_dependencies("d") == [("b", "c")]
    assert p("d", a=1) == 3
    assert p.run("d", full_output=True, kwargs={"a": 1}) == {"a": 1, "b": 1, "c": 2, "d": 3}


def test_duplicate_outputs_are_rejected() -> None:
    f = PipeFunc(lambda a: a, "b")
    with pytest.raises(ValueError, match="The function with output name `'b'` already exists"):
        Pipeline([f, PipeFunc(lambda c: c, "b")])
    with pytest.raises(ValueError, match="already exists"):
        Pipeline([f, PipeFunc(lambda c: (c, c), ("x", "b"))])


def test_cycle_is_rejected_naming_the_functions() -> None:
    def make_a(b):
        return b

    def make_b(a):
        return a

    with pytest.raises(ValueError, match="cycle") as info:
        Pipeline([PipeFunc(make_a, "a"), PipeFunc(make_b, "b"), PipeFunc(lambda a: a, "c")])
    assert "make_a(...) → a" in str(info.value)
    assert "make_b(...) → b" in str(info.value)
    assert "<lambda>" not in str(info.value)


def test_inconsistent_axes_are_rejected() -> None:
    # docs/behaviour.md §8.9: names differ at one position; ranks differ
    f = PipeFunc(lambda a, b: a + b, "f", mapspec="a[i], b[i] -> f[i]")
    h = PipeFunc(lambda f, g: f + g, "h", mapspec="f[k], g[k] -> h[k]")
    with pytest.raises(ValueError, match="MapSpec axes for `f` are inconsistent"):
        Pipeline([f, h])
    g1 = PipeFunc(lambda a: a, "f", mapspec="a[i] -> f[i]")
    g2 = PipeFunc(lambda a: a, "g", mapspec="a[i, j] -> g[i, j]")
    with pytest.raises(ValueError, match="All axes should have the same length"):
        Pipeline([g1, g2])


def test_mapspec_output_order_must_match_output_name() -> None:
    f = PipeFunc(lambda x: (x, x), ("a", "b"), mapspec="x[i] -> b[i], a[i]")
    with pytest.raises(ValueError, match="does not match the output_names in the MapSpec"):
        Pipeline([f])


def test_inconsistent_defaults_are_rejected() -> None:
    with pytest.raises(ValueError, match="Inconsistent default values for argument 'a'"):
        Pipeline([PipeFunc(lambda a=1: a, "b"), PipeFunc(lambda a=2: a, "c")])
    same = Pipeline([PipeFunc(lambda a=1: a, "b"), PipeFunc(lambda a=1: a, "c")])
    assert same.defaults == {"a": 1}


def test_functions_are_copied_and_plain_callables_accepted() -> None:
    f = PipeFunc(lambda a: a, "b")

    def c(b):
        return b + 1

    p = Pipeline([f, c, (PipeFunc(lambda c: c, "d"), "c[i] -> d[i]")])
    assert p.functions[0] is not f
    assert p.functions[1].output_name == "c"
    assert str(p["d"].mapspec) == "c[i] -> d[i]"
    assert p.mapspecs_as_strings == ["... -> c[i]", "c[i] -> d[i]"]
    with pytest.raises(TypeError, match=r"`f` must be a `PipeFunc` or callable, got <class 'int'>"):
        Pipeline([3])  # type: ignore[list-item]


def test_add_validates_and_rolls_back() -> None:
    p = Pipeline([PipeFunc(lambda a: a, "b", mapspec="a[i] -> b[i]")])
    with pytest.raises(ValueError, match="inconsistent"):
        p.add(PipeFunc(lambda b: b, "c", mapspec="b[i, j] -> c[i, j]"))
    assert [f.output_name for f in p.functions] == ["b"]
    assert p.all_output_names == {"b"}
    p.add(PipeFunc(lambda b: b, "c", mapspec="b[i] -> c[i]"))
    assert p.mapspecs_as_strings == ["a[i] -> b[i]", "b[i] -> c[i]"]


def test_drop_and_replace() -> None:
    p = _chain()
    p.drop(output_name="s")
    assert p.all_output_names == {"y", "z"}
    p.replace(PipeFunc(lambda y, w: y - w, "z", mapspec="y[i], w[j] -> z[i, j]"))
    assert p.root_args == ("x", "w")
    with pytest.raises(ValueError, match="Either `f` or `output_name`"):
        p.drop()


def test_caches_are_invalidated_when_a_function_changes() -> None:
    p = _chain()
    assert p.root_args == ("x", "w", "offset")
    p["y"].update_renames({"x": "x0"})  # through the function, not the pipeline
    assert p.root_args == ("x0", "w", "offset")
    assert p.mapspecs_as_strings[0] == "x0[i] -> y[i]"


def test_subpipeline_with_intermediate_inputs_skips_the_producer() -> None:
    # docs/behaviour.md §8.16 (the run_map side is the engine's): the producer of `y` is left out
    p = _chain()
    sub = p.subpipeline({"y", "w"})
    assert [f.output_name for f in sub.functions] == ["z", "s"]
    assert sub.root_args == ("y", "w", "offset")
    assert sub.mapspecs_as_strings == ["y[i], w[j] -> z[i, j]"]
    assert [f.output_name for f in p.functions] == ["y", "z", "s"]  # original untouched


@pytest.mark.parametrize("output_names", ["y", ["y"], {"y"}])
def test_subpipeline_by_output_names(output_names) -> None:
    # docs/behaviour.md §8.17: `w` and `offset` are no longer inputs
    sub = _chain().subpipeline(None, output_names)
    assert [f.output_name for f in sub.functions] == ["y"]
    assert sub.root_args == ("x",)


def test_subpipeline_by_tuple_output_name_and_generators() -> None:
    gen = PipeFunc(lambda: [1, 2], "x")
    pair = PipeFunc(lambda x: (x, x), ("z1", "z2"), mapspec="x[i] -> z1[i], z2[i]")
    other = PipeFunc(lambda q: q, "other")
    p = Pipeline([gen, pair, other])
    sub = p.subpipeline(None, ("z1", "z2"))
    assert [f.output_name for f in sub.functions] == ["x", ("z1", "z2")]
    assert sub.root_args == ()
    # with inputs but no outputs: only leaves downstream of the inputs
    assert [f.output_name for f in p.subpipeline({"q"}).functions] == ["other"]


def test_subpipeline_unknown_names_raise() -> None:
    p = _chain()
    with pytest.raises(UnknownNameError, match="Unknown output name 'nope'"):
        p.subpipeline(None, "nope")
    with pytest.raises(KeyError):
        p.subpipeline({"nope"})
    with pytest.raises(ValueError, match="Unknown `inputs`"):
        p.subpipeline({"nope"})
    with pytest.raises(ValueError, match="At least one of"):
        p.subpipeline()


def test_copy_is_independent() -> None:
    p = _chain()
    q = p.copy()
    q.update_renames({"x": "x1"})
    assert p.root_args == ("x", "w", "offset")
    assert q.root_args == ("x1", "w", "offset")


def test_update_defaults_renames_and_axes() -> None:
    p = _chain()
    p.update_defaults({"offset": 5})
    assert p.defaults == {"offset": 5}
    with pytest.raises(ValueError, match="Unused keyword arguments: `nope`"):
        p.update_defaults({"nope": 1})
    p.update_renames({"y": "y2"})
    assert p["z"].parameters == ("y2", "w", "offset")
    assert p.mapspecs_as_strings == ["x[i] -> y2[i]", "y2[i], w[j] -> z[i, j]"]
    with pytest.raises(ValueError, match="not settable renames"):
        p.update_renames({"nope": "x"})
    p.update_mapspec_axes({"i": "a", "j": "b"})
    assert p.mapspecs_as_strings == ["x[a] -> y2[a]", "y2[a], w[b] -> z[a, b]"]
    with pytest.raises(ValueError, match="Unknown axes to rename"):
        p.update_mapspec_axes({"q": "r"})


def test_scope_for_the_whole_pipeline() -> None:
    p = Pipeline([PipeFunc(lambda a, b=1: a + b, "c"), PipeFunc(lambda c: 2 * c, "d")], scope="s")
    assert p.root_args == ("s.a", "s.b")
    assert p.all_output_names == {"s.c", "s.d"}
    assert p("s.d", s={"a": 1}) == 4


def test_sequential_call() -> None:
    p = Pipeline([PipeFunc(lambda a, b=2: a * b, "c"), PipeFunc(lambda c, d: c + d, "e", bound={"d": 1})])
    assert p("e", a=3) == 7
    assert p(a=3) == 7  # the unique leaf
    assert p("c", a=3, b=3) == 9
    with pytest.raises(ValueError, match="Missing value for argument `a`"):
        p("e")


def test_sequential_call_refuses_mapped_functions() -> None:
    with pytest.raises(RuntimeError, match="Use `Pipeline.map` instead"):
        _chain()("s", x=[1], w=[1])


def test_map_rejects_unknown_scheduling_strategy() -> None:
    with pytest.raises(ValueError, match="Invalid scheduling type: foo"):
        _chain().map({"x": [1], "w": [1]}, scheduling_strategy="foo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Invalid scheduling type: foo"):
        _chain().map_async({"x": [1], "w": [1]}, scheduling_strategy="foo")  # type: ignore[arg-type]


def test_pickle_roundtrip() -> None:
    p = _chain()
    _ = p.root_args  # fill the caches
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        q = loads(dumps(p))
        assert q.mapspecs_as_strings == p.mapspecs_as_strings
        assert q.root_args == p.root_args
        q["y"].update_renames({"x": "x9"})
        assert q.root_args[0] == "x9"  # the unpickled functions still invalidate the caches


def test_default_resources_fill_in() -> None:
    f = PipeFunc(lambda a: a, "b", resources={"cpus": 4})
    g = PipeFunc(lambda b: b, "c")
    p = Pipeline([f, g], default_resources={"cpus": 1, "memory": "1GB"})
    assert p["b"].resources == {"cpus": 4, "memory": "1GB"}
    assert p["c"].resources == {"cpus": 1, "memory": "1GB"}


def test_debug_and_profile_flags_propagate() -> None:
    p = Pipeline([PipeFunc(lambda a: a, "b")], debug=True, profile=False)
    assert p["b"].debug is True
    assert p["b"].profile is False


def test_graph_helpers_on_larger_graphs() -> None:
    deps = {n: ({n - 1} if n % 10 else set()) for n in range(100)}
    generations = graph_module.topological_generations(deps)
    assert len(generations) == 10
    assert generations[0] == list(range(0, 100, 10))
    cyclic = {"a": {"c"}, "b": {"a"}, "c": {"b"}, "d": {"a"}}
    with pytest.raises(graph_module.CycleError) as info:
        graph_module.topological_generations(cyclic)
    assert set(info.value.cycle) == {"a", "b", "c"}


# -- through the engine: docs/behaviour.md §8.15-8.17 and §8.19 ----------------------------------------------
def _reduce_pipeline() -> Pipeline:
    @pipefunc("y", mapspec="x[i] -> y[i]")
    def double(x):
        return 2 * x

    @pipefunc("z")
    def total(y, c):
        return sum(y) + c

    return Pipeline([double, total])


def test_map_missing_and_extra_inputs() -> None:
    p = _reduce_pipeline()
    with pytest.raises(ValueError, match="Missing inputs: `c`"):
        p.map({"x": [1, 2]}, parallel=False)
    with pytest.raises(ValueError, match="Got extra inputs: `not_used`"):
        p.map({"x": [1, 2], "c": 1, "not_used": 1}, parallel=False)


def test_map_auto_subpipeline_skips_the_producer() -> None:
    p = _reduce_pipeline()
    result = p.map({"y": [1, 2], "c": 1}, auto_subpipeline=True, parallel=False)
    assert list(result) == ["z"]
    assert result["z"].output == 4


@pytest.mark.parametrize("output_names", ["y", ["y"]])
def test_map_output_names_restrict_the_run(output_names) -> None:
    p = _reduce_pipeline()
    assert list(p.map({"x": [1, 2]}, output_names=output_names, parallel=False)) == ["y"]
    with pytest.raises(ValueError, match="Got extra inputs: `c`"):
        p.map({"x": [1, 2], "c": 1}, output_names=output_names, parallel=False)


def test_map_tuple_output_name() -> None:
    p = Pipeline(
        [
            PipeFunc(lambda x: (x, -x), ("z1", "z2"), mapspec="x[i] -> z1[i], z2[i]"),
            PipeFunc(lambda z1: 1, "w"),
        ]
    )
    result = p.map({"x": [1, 2]}, output_names=("z1", "z2"), parallel=False)
    assert list(result) == ["z1", "z2"]
    assert list(result["z2"].output) == [-1, -2]


def test_map_list_producer_with_generated_spec(tmp_path) -> None:
    @pipefunc("x")
    def make(n):
        return list(range(n))

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def double(x):
        return 2 * x

    p = Pipeline([make, double])
    result = p.map({"n": 3}, run_folder=tmp_path, parallel=False)
    assert result["x"].output == [0, 1, 2]
    assert list(result["y"].output) == [0, 2, 4]
    assert (tmp_path / "outputs" / "x.cloudpickle").is_file()


def test_map_eager_strategy_gives_the_same_values() -> None:
    p = _reduce_pipeline()
    inputs = {"x": [1, 2, 3], "c": 10}
    eager = p.map(inputs, parallel=False, scheduling_strategy="eager")
    assert eager["z"].output == p.map(inputs, parallel=False)["z"].output == 22


def test_join_pipelines_and_functions() -> None:
    first = Pipeline([PipeFunc(lambda x: x + 1, "y")])
    second = Pipeline([PipeFunc(lambda y: 2 * y, "z")])
    joined = first.join(second, PipeFunc(lambda z: -z, "w"))
    assert [f.output_name for f in joined.sorted_functions] == ["y", "z", "w"]
    assert (first | second)("z", x=1) == 4
    assert [f.output_name for f in first.functions] == ["y"]
    with pytest.raises(ValueError, match="already exists"):
        first | first
    with pytest.raises(TypeError, match=r"Only `Pipeline` or `PipeFunc` instances can be joined\. Got int"):
        first.join(3)  # type: ignore[arg-type]


def test_print_error_flag_propagates() -> None:
    p = Pipeline([PipeFunc(lambda a: a, "b")], print_error=False)
    assert p["b"].print_error is False
    assert p.copy()["b"].print_error is False


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sets(st.integers(0, 29), max_size=4), min_size=1, max_size=30))
def test_generations_respect_every_dependency(raw) -> None:
    # node k may only depend on nodes < k: always a DAG
    deps = {k: {d for d in ds if d < k} for k, ds in enumerate(raw)}
    generations = graph_module.topological_generations(deps)
    level = {n: g for g, nodes in enumerate(generations) for n in nodes}
    assert sorted(level) == list(deps)
    for node, ds in deps.items():
        assert all(level[d] < level[node] for d in ds)
        assert level[node] == (1 + max(level[d] for d in ds) if ds else 0)
    for nodes in generations:
        assert nodes == sorted(nodes)  # key order inside a generation


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sets(st.integers(0, 14), max_size=3), min_size=2, max_size=15), st.data())
def test_cycles_are_always_found(raw, data) -> None:
    deps = {k: {d for d in ds if d < k} for k, ds in enumerate(raw)}
    a = data.draw(st.integers(0, len(deps) - 1))
    b = data.draw(st.integers(0, len(deps) - 1))
    deps[min(a, b)].add(max(a, b))  # an edge back up: a cycle when it closes a path (or a == b)
    cycle = graph_module.find_cycle(deps)
    has_cycle = min(a, b) in graph_module.ancestors(deps, [min(a, b)])
    assert bool(cycle) == has_cycle
    if cycle:
        for k, node in enumerate(cycle):
            assert cycle[(k + 1) % len(cycle)] in deps[node]
        with pytest.raises(graph_module.CycleError):
            graph_module.topological_generations(deps)
    else:
        graph_module.topological_generations(deps)


def test_sequential_call_of_several_outputs() -> None:
    p = Pipeline([PipeFunc(lambda a: a + 1, "b"), PipeFunc(lambda a: a * 10, "c")])
    assert p(["b", "c"], a=1) == (2, 10)
    assert p(a=1) == (2, 10)  # several leaves
    with pytest.raises(ValueError, match="full_output"):
        p.run(["b"], full_output=True, kwargs={"a": 1})
