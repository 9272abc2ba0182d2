"""Ragged axes in pipemap.mapspec: the ``j*`` grammar and the ragged index math (issue 16, first layer)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pipemap.mapspec import ArraySpec, MapSpec, MapSpecError, RaggedLayout, ShapeError
from pipemap.mapspec import _kernels

# -- grammar ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ragged", "produces"),
    [
        ("text[i] -> words[i, j*]", ("j",), True),
        ("words[i, j*] -> upper[i, j*]", ("j",), False),
        ("words[i, j*], scores[i, j*] -> z[i, j*]", ("j",), False),
        ("x[i], words[i, j*] -> z[i, j*]", ("j",), False),
        ("m[i, k] -> peaks[i, k, p*]", ("p",), True),
        ("words[i, :] -> n[i]", (), False),
        ("x[i] -> y[i]", (), False),
    ],
)
def test_ragged_specs_parse_print_and_pickle(text: str, ragged: tuple[str, ...], produces: bool) -> None:
    spec = MapSpec.from_string(text)
    assert str(spec) == text
    assert spec.ragged_axes == ragged
    assert spec.produces_ragged is produces
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert MapSpec.from_string(text.replace(" ", "")) == spec


def test_ragged_is_part_of_equality() -> None:
    assert MapSpec.from_string("t[i] -> w[i, j*]") != MapSpec.from_string("t[i] -> w[i, j]")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x[i] -> w[j*, i]", "Ragged axis 'j*' of `w[j*, i]` is not the last axis"),
        ("t[i] -> w[j*]", "Ragged axis 'j*' of `w[j*]` is the only axis"),
        ("a[i] -> w[i, j*, k*]", "Array `w` has 2 ragged axes (j*, k*)"),
        ("w[i, j*] -> u[i, j]", "Axis 'j' is ragged ('j*') in one array of `w[i, j*] -> u[i, j]` but not in `u[i, j]`"),
        ("w[i, j] -> u[i, j*]", "but not in `w[i, j]`"),
        ("t[i] -> w[i, j *]", "Index name 'j *' is not a valid Python identifier"),
        ("t[i] -> w[i, *]", "Index name '*' is not a valid Python identifier"),
        ("t[i] -> w[i, j**]", "Index name 'j**' is not a valid Python identifier"),
        ("t[i] -> w[i, :*]", "Index name ':*' is not a valid Python identifier"),
    ],
)
def test_misplaced_stars_are_rejected_naming_array_and_mapspec(text: str, fragment: str) -> None:
    with pytest.raises(MapSpecError) as info:
        MapSpec.from_string(text)
    message = str(info.value)
    assert fragment in message
    assert text in message


def test_ragged_messages_do_not_start_with_pipefuncs_identifier_complaint() -> None:
    with pytest.raises(MapSpecError) as info:
        MapSpec.from_string("w[i, j*] -> u[i, j]")
    assert not str(info.value).startswith("Index name")


def test_array_spec_ragged_transformations() -> None:
    spec = ArraySpec("w", ("i", "j"), ragged="j")
    assert str(spec.rename_axes({"j": "k", "i": "n"})) == "w[n, k*]"
    assert str(spec.rename({"w": "v"})) == "v[i, j*]"
    with pytest.raises(MapSpecError, match=r"Cannot add axes after the ragged axis 'j\*' of `w\[i, j\*\]`"):
        spec.add_axes("k")
    with pytest.raises(MapSpecError, match="is not an axis of"):
        ArraySpec("w", ("i", "j"), ragged="k")
    spec.validate((3, 4))  # rank checks still apply


_SPEC_TOKENS = st.sampled_from(["x[i]", "w[i, j*]", "w[i,j*]", "j*", "*", ",", " ", "->", "[", "]", "i", "j", ":", "u[i, j*]"])


@settings(max_examples=600, deadline=None)
@given(st.lists(_SPEC_TOKENS, max_size=10).map("".join))
def test_any_string_with_stars_parses_canonically_or_is_rejected_quoted(text: str) -> None:
    try:
        spec = MapSpec.from_string(text)
    except MapSpecError as e:
        assert text in str(e)
        return
    assert "".join(str(spec).split()) == "".join(text.split())
    for array in (*spec.inputs, *spec.outputs):
        if array.ragged is not None:
            assert array.axes[-1] == array.ragged and array.rank >= 2


def test_the_runner_accepts_ragged_mapspecs() -> None:
    """Issue 16: the runner runs ragged mapspecs now (tests/runner/test_ragged_*.py)."""
    from pipemap.runner import pipefunc

    @pipefunc(output_name="w", mapspec="t[i] -> w[i, j*]")
    def split_words(t: str) -> list[str]:
        return t.split()

    assert split_words.mapspec.produces_ragged


# -- index math: RaggedLayout against a plain-Python reference --------------------------------


def _reference(lengths: np.ndarray) -> list[tuple[tuple[int, ...], int]]:
    """Every element as (outer multi-index, position in row), row after row in C order."""
    out = []
    for key in np.ndindex(*lengths.shape):
        out += [(tuple(int(k) for k in key), p) for p in range(int(lengths[key]))]
    return out


_OUTER_SHAPES = st.lists(st.integers(0, 4), min_size=1, max_size=3).map(tuple)


@st.composite
def _layouts(draw: st.DrawFn) -> np.ndarray:
    shape = draw(_OUTER_SHAPES)
    size = int(np.prod(shape))
    lengths = draw(st.lists(st.integers(0, 6) | st.just(0), min_size=size, max_size=size))
    return np.array(lengths, dtype=np.int64).reshape(shape)


@settings(max_examples=300, deadline=None)
@given(_layouts(), st.data())
def test_layout_matches_the_reference(lengths: np.ndarray, data: st.DataObject) -> None:
    layout = RaggedLayout(lengths)
    reference = _reference(lengths)
    assert layout.size == len(reference)
    assert layout.n_rows == lengths.size
    assert layout.max_length == (int(lengths.max()) if lengths.size else 0)
    # expand: every element in order
    rows, positions = layout.expand()
    assert [(tuple(k), int(p)) for k, p in zip(layout.outer_keys(rows).tolist(), positions)] == reference
    if not reference:
        return
    # locate: any flat indices, sorted or not, repeated
    flat = np.array(data.draw(st.lists(st.integers(0, len(reference) - 1), max_size=20)), dtype=np.int64)
    rows, positions = layout.locate(flat)
    got = [(tuple(k), int(p)) for k, p in zip(layout.outer_keys(rows).tolist(), positions)]
    assert got == [reference[f] for f in flat]
    # flat_index inverts locate
    assert layout.flat_index(layout.outer_keys(rows), positions).tolist() == flat.tolist()
    # a row range expands to its rows' elements
    start = data.draw(st.integers(0, layout.n_rows))
    stop = data.draw(st.integers(start, layout.n_rows))
    rows, positions = layout.expand(start, stop)
    assert rows.tolist() == [r for r in range(start, stop) for _ in range(int(lengths.reshape(-1)[r]))]
    # rows_of: the rows a flat range touches
    a = data.draw(st.integers(0, layout.size))
    b = data.draw(st.integers(a, layout.size))
    first, last = layout.rows_of(a, b)
    touched = sorted({int(r) for r in layout.locate(np.arange(a, b))[0]})
    if touched:
        assert (first, last) == (touched[0], touched[-1] + 1)
    else:
        assert first == last
    # padded positions place each element in its row of the padded array
    padded = np.full(lengths.shape + (layout.max_length,), -1)
    padded.reshape(-1)[layout.padded_positions()] = np.arange(layout.size)
    for f, (key, p) in enumerate(reference):
        assert padded[key + (p,)] == f


def test_from_rows_and_sequences() -> None:
    rows = np.empty((2, 2), dtype=object)
    rows[:] = [[["a"], []], [("b", "c"), "xyz"]]
    layout = RaggedLayout.from_rows(rows)
    assert layout.lengths.tolist() == [[1, 0], [2, 3]]
    with pytest.raises(TypeError, match=r"Row \(1,\) is a int, not a sequence"):
        RaggedLayout.from_rows([[1], 5])


def test_zipped_rows_must_match_naming_the_row() -> None:
    a = RaggedLayout([[1, 2], [3, 4]])
    a.check_same_rows(RaggedLayout([[1, 2], [3, 4]]), ["words", "scores"])
    with pytest.raises(ShapeError, match=r"`words` and `scores` .* row \(1, 0\) has length 3 in `words` and 0 in `scores`"):
        a.check_same_rows(RaggedLayout([[1, 2], [0, 4]]), ["words", "scores"])
    with pytest.raises(ShapeError, match="outer shapes"):
        a.check_same_rows(RaggedLayout([1, 2, 3, 4]), ["words", "scores"])


def test_an_empty_outer_axis_and_empty_rows() -> None:
    empty = RaggedLayout(np.zeros((0, 3), dtype=np.int64))
    assert (empty.size, empty.n_rows, empty.max_length) == (0, 0, 0)
    assert [a.tolist() for a in empty.expand()] == [[], []]
    assert empty.rows_of(0, 0) == (0, 0)
    zeros = RaggedLayout([0, 0])
    assert zeros.size == 0 and zeros.locate([])[0].tolist() == []


# -- bad input: clear errors, never a crash ---------------------------------------------------


def test_bad_lengths_name_the_row() -> None:
    with pytest.raises(ValueError, match=r"Row \(1, 0\) has a negative length \(-2\)"):
        RaggedLayout([[1, 2], [-2, 0]])
    with pytest.raises(TypeError, match="Row lengths must be integers, got dtype float64"):
        RaggedLayout([1.5, 2.0])
    with pytest.raises(ValueError, match=r"more than 2\*\*63 - 1"):
        RaggedLayout(np.array([2**62, 2**62], dtype=np.int64))


def test_out_of_range_indices_are_named() -> None:
    layout = RaggedLayout([2, 0, 1])
    with pytest.raises(IndexError, match=r"Flat index 3 \(at position 1\) is out of range for 3 elements"):
        layout.locate([0, 3])
    with pytest.raises(IndexError, match=r"Position 1 \(pair 0\) is outside row 2 of length 1"):
        layout.flat_index([(2,)], [1])
    with pytest.raises(IndexError, match=r"Position 0 \(pair 0\) is outside row 1 of length 0"):
        layout.flat_index([(1,)], [0])
    with pytest.raises(IndexError, match=r"Outer index \(3,\) is out of range for the outer shape \(3,\)"):
        layout.flat_index([(3,)], [0])
    with pytest.raises(IndexError, match=r"Row range \[2, 5\) is out of range for 3 rows"):
        layout.expand(2, 5)
    with pytest.raises(IndexError, match=r"Flat range \[0, 4\) is out of range for 3 elements"):
        layout.rows_of(0, 4)
    with pytest.raises(IndexError, match="Row 3 is out of range for 3 rows"):
        layout.row_slice(3)


def test_kernels_refuse_bad_buffers_instead_of_writing_past_them() -> None:
    bad_offsets = np.array([0, 5, 2, 9], dtype=np.int64)  # decreasing: not from row lengths
    rows, positions = np.empty(9, np.int64), np.empty(9, np.int64)
    with pytest.raises(ValueError, match="decreases at row 1"):
        _kernels.ragged_expand(bad_offsets, 0, 3, rows, positions)
    with pytest.raises(ValueError, match="has 4 entries, expected 3"):
        _kernels.ragged_offsets(np.array([1, 2], np.int64), np.empty(4, np.int64))
    with pytest.raises(ValueError, match="expected 2"):
        _kernels.ragged_locate(np.array([0, 2], np.int64), np.array([0, 1], np.int64), np.empty(1, np.int64), np.empty(2, np.int64))
    with pytest.raises(ValueError, match="must be equal"):
        _kernels.ragged_flat(np.array([0, 2], np.int64), np.array([0], np.int64), np.array([0, 1], np.int64), np.empty(1, np.int64))
    with pytest.raises(ValueError, match="at least one entry"):
        _kernels.ragged_locate(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))


def test_layouts_are_read_only_and_compare_by_lengths() -> None:
    layout = RaggedLayout([1, 2])
    with pytest.raises(ValueError, match="read-only"):
        layout.lengths[0] = 5
    assert layout == RaggedLayout(np.array([1, 2], dtype=np.int32))
    assert layout != RaggedLayout([[1, 2]])
    assert "rows=2" in repr(layout)
