"""Issue 15, must hold: a run with retries equals a clean run. Random pipelines (a chain of
element-wise functions, an outer product, a reduction) with random transient failures that
succeed within the attempt budget; sequential runs and a thread pool."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipemap.runner import PipeFunc, Pipeline, RetryPolicy, run_map
from pipemap.storage import read_attempts

OPS = {
    "add": lambda v, c: v + c,
    "mul": lambda v, c: v * c,
    "square": lambda v, c: v * v - c,
}


def _flaky(op: str, c: int, fails: dict[int, int], counts: dict, lock: threading.Lock, name: str):
    def f(v, i):
        with lock:
            counts[(name, i)] = counts.get((name, i), 0) + 1
            attempt = counts[(name, i)]
        if attempt <= fails.get(i, 0):
            raise (OSError if attempt % 2 else TimeoutError)(f"transient {name}[{i}] attempt {attempt}")
        return OPS[op](v, c)

    return f


def _pipeline(steps, fails_per_step, policy, counts, lock) -> Pipeline:
    funcs = []
    prev = "x"
    for k, (op, c) in enumerate(steps):
        name = f"y{k}"
        f = _flaky(op, c, fails_per_step[k], counts, lock, name)
        f.__name__ = f"step{k}"
        funcs.append(PipeFunc(f, name, renames={"v": prev}, mapspec=f"{prev}[i], i[i] -> {name}[i]", retries=policy))
        prev = name
    funcs.append(PipeFunc(lambda a, w: a * w, "outer", renames={"a": prev}, mapspec=f"{prev}[i], w[j] -> outer[i, j]"))
    funcs.append(PipeFunc(lambda outer: int(np.sum(outer)), "total"))
    return Pipeline(funcs)


@st.composite
def cases(draw):
    n = draw(st.integers(1, 12))
    n_steps = draw(st.integers(1, 3))
    steps = [(draw(st.sampled_from(sorted(OPS))), draw(st.integers(-3, 3))) for _ in range(n_steps)]
    attempts = draw(st.integers(2, 4))
    fails = [
        draw(st.dictionaries(st.integers(0, n - 1), st.integers(1, attempts - 1), max_size=n)) for _ in range(n_steps)
    ]
    x = draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
    w = draw(st.lists(st.integers(-2, 2), min_size=1, max_size=3))
    threads = draw(st.booleans())
    return steps, attempts, fails, x, w, threads


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases())
def test_results_with_retries_equal_a_clean_run(tmp_path_factory, case) -> None:
    steps, attempts, fails, x, w, threads = case
    inputs = {"x": x, "i": list(range(len(x))), "w": w}
    lock = threading.Lock()
    clean = run_map(_pipeline(steps, [{} for _ in steps], None, {}, lock), inputs, parallel=False)
    counts: dict = {}
    policy = RetryPolicy(attempts=attempts, on=(OSError,))  # TimeoutError is an OSError
    folder = tmp_path_factory.mktemp("run")
    executor = ThreadPoolExecutor(2) if threads else None
    try:
        flaky = run_map(
            _pipeline(steps, fails, policy, counts, lock), inputs, folder, parallel=threads, executor=executor
        )
    finally:
        if executor is not None:
            executor.shutdown()
    for name in ("outer", "total", *(f"y{k}" for k in range(len(steps)))):
        assert np.array_equal(np.asarray(flaky[name].output), np.asarray(clean[name].output)), name
    for k in range(len(steps)):
        records = read_attempts(folder, f"y{k}")
        assert {i: r.attempts for i, r in records.items()} == {i: n + 1 for i, n in fails[k].items()}
        assert all(r.seconds is not None for r in records.values())
