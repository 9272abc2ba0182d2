"""hypothesis: random pipelines agree with plain Python; random mapspecs/inputs fail only cleanly.

Pipelines are random DAGs over 1-3 named axes (sizes 1-3) built from element-wise steps,
outer products / zips of two arrays, partial reductions (``a[i, :] -> b[i]``) and full
reductions (a function without a mapspec receiving the whole array). Each is run with
pipemap sequentially, with a thread pool and with a process pool, and compared with a
direct evaluation of the same DAG with Python loops.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipemap.mapspec import MapSpec
from pipemap.runner import PipeFunc, Pipeline, run_map

pytestmark = pytest.mark.reliability

SLOW = os.environ.get("PIPEMAP_RUN_SLOW") == "1"
STATS = {"pipelines": 0, "runs": 0, "mapspec_strings": 0, "bad_inputs": 0}
AXES = ("i", "j", "k")


@dataclass
class Step:
    kind: str  # "elem" | "outer" | "reduce" | "full"
    inputs: tuple[str, ...]
    output: str
    out_axes: tuple[str, ...]
    mul: int
    add: int
    reduced: str | None = None  # the axis a partial reduction removes


@st.composite
def dags(draw):
    sizes = {a: draw(st.integers(1, 3)) for a in AXES}
    arrays: dict[str, tuple[str, ...]] = {}
    n_roots = draw(st.integers(1, 3))
    for r in range(n_roots):
        rank = draw(st.integers(1, 2))
        axes = tuple(draw(st.permutations(AXES))[:rank])
        arrays[f"r{r}"] = axes
    roots = dict(arrays)
    steps: list[Step] = []
    consumed_whole: set[str] = set()
    for s in range(draw(st.integers(1, 5))):
        name = f"s{s}"
        candidates = sorted(a for a in arrays if a not in consumed_whole)
        kind = draw(st.sampled_from(["elem", "outer", "reduce", "full"]))
        a = draw(st.sampled_from(candidates))
        mul, add = draw(st.integers(-3, 3)), draw(st.integers(-5, 5))
        if kind == "elem":
            step = Step("elem", (a,), name, arrays[a], mul, add)
        elif kind == "outer":
            b = draw(st.sampled_from(candidates))
            if b == a:
                step = Step("elem", (a,), name, arrays[a], mul, add)
            else:
                out = arrays[a] + tuple(x for x in arrays[b] if x not in arrays[a])
                step = Step("outer", (a, b), name, out, mul, add)
        elif kind == "reduce" and len(arrays[a]) >= 2:
            red = draw(st.sampled_from(arrays[a]))
            step = Step("reduce", (a,), name, tuple(x for x in arrays[a] if x != red), mul, add, red)
        else:
            step = Step("full", (a,), name, (), mul, add)
            consumed_whole.add(name)
        steps.append(step)
        if step.out_axes:
            arrays[name] = step.out_axes
    inputs = {}
    for r, axes in roots.items():
        shape = tuple(sizes[x] for x in axes)
        values = draw(st.lists(st.integers(-9, 9), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        inputs[r] = np.array(values, dtype=np.int64).reshape(shape)
    return sizes, roots, steps, inputs


def _spec(step: Step, axes_of: dict[str, tuple[str, ...]]) -> str | None:
    if step.kind == "full":
        return None
    parts = []
    for name in step.inputs:
        slots = [":" if x == step.reduced else x for x in axes_of[name]]
        parts.append(f"{name}[{', '.join(slots)}]")
    return f"{', '.join(parts)} -> {step.output}[{', '.join(step.out_axes)}]"


def _function(step: Step):
    mul, add, names = step.mul, step.add, step.inputs
    if step.kind == "elem":
        src = f"lambda {names[0]}: int({names[0]}) * {mul} + {add}"
    elif step.kind == "outer":
        src = f"lambda {names[0]}, {names[1]}: int({names[0]}) * {mul} + int({names[1]}) + {add}"
    else:  # partial or full reduction: the sum of what arrives
        src = f"lambda {names[0]}: int(np.sum(np.asarray({names[0]}, dtype=object))) * {mul} + {add}"
    return eval(src, {"np": np})  # noqa: S307 - built from generated identifiers only


def _pipeline(roots, steps) -> Pipeline:
    axes_of = dict(roots)
    funcs = []
    for step in steps:
        funcs.append(PipeFunc(_function(step), step.output, mapspec=_spec(step, axes_of)))
        if step.out_axes:
            axes_of[step.output] = step.out_axes
    return Pipeline(funcs)


def _reference(sizes, roots, steps, inputs) -> dict[str, object]:
    """Plain Python: arrays as dicts {axis-assignment tuple: value} evaluated with loops."""
    axes_of = dict(roots)
    vals: dict[str, np.ndarray] = {k: v.astype(object) for k, v in inputs.items()}
    out: dict[str, object] = {}

    def at(name: str, env: dict[str, int]):
        return vals[name][tuple(env[x] for x in axes_of[name])]

    for step in steps:
        if step.kind == "full":
            total = sum(int(v) for v in vals[step.inputs[0]].ravel())
            out[step.output] = total * step.mul + step.add
            continue
        shape = tuple(sizes[x] for x in step.out_axes)
        arr = np.empty(shape, dtype=object)
        for idx in itertools.product(*(range(n) for n in shape)):
            env = dict(zip(step.out_axes, idx))
            if step.kind == "elem":
                v = int(at(step.inputs[0], env)) * step.mul + step.add
            elif step.kind == "outer":
                v = int(at(step.inputs[0], env)) * step.mul + int(at(step.inputs[1], env)) + step.add
            else:
                total = sum(int(at(step.inputs[0], {**env, step.reduced: r})) for r in range(sizes[step.reduced]))
                v = total * step.mul + step.add
            arr[idx] = v
        vals[step.output] = arr
        axes_of[step.output] = step.out_axes
        out[step.output] = arr
    return out


@pytest.fixture(scope="module")
def process_pool():
    import multiprocessing

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as pool:
        yield pool


def _check(pipeline, inputs, expected, **kwargs) -> None:
    r = run_map(pipeline, inputs, show_progress=False, **kwargs)
    STATS["runs"] += 1
    for name, exp in expected.items():
        got = r[name].output
        if isinstance(exp, np.ndarray):
            assert got.shape == exp.shape, (name, got.shape, exp.shape)
            assert [int(v) for v in got.ravel()] == [int(v) for v in exp.ravel()], name
        else:
            assert int(got) == exp, name


SETTINGS = settings(
    max_examples=300 if SLOW else 60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    derandomize=not SLOW,
)


@SETTINGS
@given(dags())
def test_random_pipelines_match_plain_python(process_pool, dag) -> None:
    sizes, roots, steps, inputs = dag
    used = {n for step in steps for n in step.inputs}
    inputs = {k: v for k, v in inputs.items() if k in used}
    pipeline = _pipeline(roots, steps)
    expected = _reference(sizes, roots, steps, inputs)
    STATS["pipelines"] += 1
    _check(pipeline, inputs, expected, parallel=False)
    with ThreadPoolExecutor(3) as ex:
        _check(pipeline, inputs, expected, executor=ex, chunksizes=1)
    _check(pipeline, inputs, expected, executor=process_pool)
    with tempfile.TemporaryDirectory() as folder:
        _check(pipeline, inputs, expected, run_folder=folder, parallel=False, storage="chunked")


# --------------------------------------------------------------------------- bad mapspecs / inputs
TOKENS = ["a", "b", "x1", "foo.bar", "[", "]", ",", " ", "->", ":", "...", "i", "j", "1", "#", ".", "-", ">", "é", "a[i]", "b[j]", "[:]", "\t", "c[i, j]", "d[:, i]"]


def _names_culprit(msg: str, text: str) -> bool:
    return text in msg or text.strip() in msg or repr(text)[1:-1] in msg


@settings(max_examples=3000 if SLOW else 400, deadline=None, derandomize=not SLOW)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14).map("".join))
def test_random_mapspec_strings_fail_cleanly(text: str) -> None:
    STATS["mapspec_strings"] += 1
    try:
        spec = MapSpec.from_string(text)
    except ValueError as e:
        assert _names_culprit(str(e), text), f"{text!r}: {e}"
        return
    assert MapSpec.from_string(str(spec)) == spec  # the canonical form round-trips


VALUES = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.text(max_size=3),
    st.lists(st.integers(0, 3), max_size=4),
    st.tuples(st.integers(), st.integers()),
    st.lists(st.lists(st.integers(0, 3), max_size=3), max_size=3),
    st.builds(lambda r, n: np.zeros((n,) * r), st.integers(0, 3), st.integers(0, 3)),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
)
SPECS = ["x[i] -> y[i]", "x[i], z[j] -> y[i, j]", "x[i, j] -> y[i, j]", "x[i, :] -> y[i]", "x[i], z[i] -> y[i]"]


@settings(max_examples=1000 if SLOW else 150, deadline=None, derandomize=not SLOW)
@given(st.sampled_from(SPECS), VALUES, VALUES)
def test_random_inputs_fail_cleanly(spec: str, x, z) -> None:
    STATS["bad_inputs"] += 1
    names = MapSpec.from_string(spec).input_names
    f = eval(f"lambda {', '.join(names)}: 0")  # noqa: S307
    pipeline = Pipeline([PipeFunc(f, "y", mapspec=spec)])
    inputs = {"x": x, "z": z} if "z" in names else {"x": x}
    try:
        run_map(pipeline, inputs, parallel=False)
    except (ValueError, TypeError, IndexError) as e:
        msg = str(e)
        assert any(n in msg for n in ("`x`", "'x'", "`z`", "'z'", "x[", "z[", "for `x", "for `z", "y[")), f"{spec} x={x!r} z={z!r}: {type(e).__name__}: {msg}"


def test_fuzz_statistics_report() -> None:
    print(f"\nreliability fuzz figures: {STATS}")
