"""file_array's listing parser: the one-string fast path agrees with a per-name parse on any mix
of element files and other names (temporary files, foreign files, look-alikes)."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st
from pipemap.storage._file_array import indices_in_names

PREFIX, SUFFIX = "__", "__.pickle"


def per_name(names: list[str], prefix: str, suffix: str) -> list[int]:
    out = []
    for name in names:
        if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
            middle = name[len(prefix) : len(name) - len(suffix)] if suffix else name[len(prefix) :]
            if middle.isdigit():
                out.append(int(middle))
    return out


element = st.integers(0, 10**9).map(lambda i: f"{PREFIX}{i}{SUFFIX}")
noise = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "_.", min_size=1, max_size=20),
    st.integers(0, 99).map(lambda i: f".{PREFIX}{i}{SUFFIX}.tmp"),
    st.integers(0, 99).map(lambda i: f"{PREFIX}{i}{SUFFIX}{SUFFIX}"),
    st.just(f"{PREFIX}{SUFFIX}"),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(element, element, noise), max_size=30))
def test_fast_and_per_name_parsers_agree(names: list[str]) -> None:
    assert sorted(indices_in_names(names, PREFIX, SUFFIX).tolist()) == sorted(per_name(names, PREFIX, SUFFIX))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10**6), max_size=50))
def test_all_element_files_take_the_fast_path(indices: list[int]) -> None:
    names = [f"e{i}.bin" for i in indices]
    assert indices_in_names(names, "e", ".bin").tolist() == indices
