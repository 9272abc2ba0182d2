"""Parsing, printing, validation and transformations of MapSpec / ArraySpec (docs/behaviour.md §1.1-1.4, §8.1-8.10)."""

from __future__ import annotations

import pickle
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipemap.mapspec import ArraySpec, MapSpec, MapSpecError


def test_canonical_string_roundtrip() -> None:
    spec = MapSpec.from_string("a[i,j],b[i, j]->q[i ,j]")
    assert str(spec) == "a[i, j], b[i, j] -> q[i, j]"
    assert spec.to_string() == str(spec)
    assert MapSpec.from_string(str(spec)) == spec


def test_generator_spec_has_no_inputs() -> None:
    spec = MapSpec.from_string("... -> x[i]")
    assert spec.inputs == ()
    assert str(spec) == "... -> x[i]"
    assert spec.external_indices == ()


def test_text_between_arrays_is_rejected() -> None:
    # changed in issue 13 (item 11): stray text used to be skipped silently
    with pytest.raises(MapSpecError, match=r"Expected ',' between arrays, found 'b' \(position 5\)"):
        MapSpec.from_string("a[i] b[j] -> c[i, j]")


def test_names_and_indices() -> None:
    spec = MapSpec.from_string("x[i, j], y[j, :, k] -> z[i, j, k]")
    assert spec.input_names == ("x", "y")
    assert spec.output_names == ("z",)
    assert spec.input_indices == {"i", "j", "k"}
    assert spec.output_indices == ("i", "j", "k")
    assert spec.external_indices == ("i", "j", "k")
    internal = MapSpec.from_string("x[:, k] -> y[i, k]")
    assert internal.external_indices == ("k",)


def test_scoped_names_are_valid() -> None:
    spec = MapSpec.from_string("foo.bar[i] -> baz.qux[i]")
    assert spec.input_names == ("foo.bar",)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a -> b", "square brackets"),
        ("a[i], b[i]", "Expected expression of form 'a -> b'"),
        ("a[i] -> b[i] -> c[i]", "Expected expression of form 'a -> b'"),
        ("a[i, j], b[i, j], c[k] -> q[i, j, k], r[i]", "All output arrays must have identical indices"),
        ("a#.a[i] -> b[i]", "Array name 'a#.a' is not a valid Python identifier"),
        ("a[1] -> b[i]", "Index name '1' is not a valid Python identifier"),
        ("x[i] -> y[:]", "Output array must have all axes indexed (no ':')"),
        ("x[i, k] -> y[i]", "Input arrays have indices that do not appear in the output: {'k'}"),
        ("x[i, i] -> y[i]", "repeats an axis"),
        ("x[] -> y[i]", "Empty index (position 2)"),
    ],
)
def test_malformed_specs_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        MapSpec.from_string(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, MapSpecError)


def test_non_string_is_type_error() -> None:
    with pytest.raises(TypeError, match="must be a string"):
        MapSpec.from_string(42)  # type: ignore[arg-type]


def test_array_spec_basics() -> None:
    spec = ArraySpec("a", ("i", None, "j"))
    assert str(spec) == "a[i, :, j]"
    assert spec.indices == ("i", "j")
    assert spec.rank == 3
    with pytest.raises(ValueError, match=r"Expecting array of rank 3, but got array of shape \(3,\)"):
        spec.validate((3,))


def test_add_axes() -> None:
    spec = MapSpec.from_string("a[i], b[j] -> c[i, j]")
    assert str(spec.add_axes("k")) == "a[i, k], b[j, k] -> c[i, j, k]"
    with pytest.raises(ValueError, match="Duplicate axes"):
        spec.add_axes("i")


def test_rename_and_rename_axes() -> None:
    spec = MapSpec.from_string("a[i, :], b[:, j] -> c[i, j]")
    assert spec.rename({"zzz": "q"}) is spec
    assert str(spec.rename({"a": "x", "c": "y"})) == "x[i, :], b[:, j] -> y[i, j]"
    renamed = spec.rename_axes({"i": "x", "j": "y"})
    assert str(renamed) == "a[x, :], b[:, y] -> c[x, y]"
    assert str(spec) == "a[i, :], b[:, j] -> c[i, j]"


def test_generated_flag_is_part_of_equality_but_not_printed() -> None:
    spec = MapSpec.from_string("... -> x[i]")
    generated = spec.with_generated()
    assert generated != spec
    assert str(generated) == str(spec)
    assert hash(MapSpec.from_string("x[i] -> y[i]")) == hash(MapSpec.from_string("x[i]->y[i]"))


def test_pickle_roundtrip_after_use() -> None:
    spec = MapSpec.from_string("x[i], y[j] -> z[i, j]")
    spec.output_key((2, 3), 4)  # fills the compiled cache
    clone = pickle.loads(pickle.dumps(spec))
    assert clone == spec
    assert clone.input_keys((2, 3), 4) == spec.input_keys((2, 3), 4)


def test_frozen() -> None:
    spec = MapSpec.from_string("x[i] -> y[i]")
    with pytest.raises(AttributeError):
        spec.inputs = ()  # type: ignore[misc]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab ij.,:[]->_1#é\n")), max_size=40) | st.text(max_size=30))
def test_parser_fuzz_only_raises_value_error(text: str) -> None:
    try:
        spec = MapSpec.from_string(text)
    except ValueError as e:
        assert str(e)
        return
    # whatever parses must print to a form that parses back to the same spec
    assert MapSpec.from_string(str(spec)) == spec


# -- strict brackets (issue 13, item 11) ----------------------------------------------------------


def _squash(text: str) -> str:
    """Whitespace-free form: the canonical string and any accepted input agree on it."""
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("D[i], source[j, bc[k] -> center[i, j, k]", 12, "The '[' of 'source' is not closed before the next '['"),
        ("x[i], bc[k -> y[i, k]", 8, "The '[' of 'bc' is never closed before '->'"),
        ("x[i]] -> y[i]", 4, "Stray ']'"),
        ("x[i -> y[i]", 1, "The '[' of 'x' is never closed before '->'"),
        ("x]i[ -> y[i]", 1, "Expected '[' after array name 'x', found ']'"),
        ("x[i] -> y[i", 9, "The '[' of 'y' is never closed"),
        ("x[i][j] -> y[i, j]", 4, "Unexpected '['"),
        ("[i] -> y[i]", 0, "Expected an array like 'x[i]', found '['"),
        ("x[i],, y[i] -> z[i]", 5, "Expected an array like 'x[i]', found ','"),
        ("x[i] -> y[i],", 13, "found the end of the mapspec"),
        ("x[i] -> y[i] z", 13, "Expected ',' between arrays, found 'z'"),
        ("..., x[i] -> y[i]", 0, "'...' must be the whole input side"),
        ("x[i] -> ...", 8, "'...' (no inputs) is only allowed left of '->'"),
    ],
)
def test_stray_and_unbalanced_brackets_point_at_the_position(text: str, position: int, fragment: str) -> None:
    with pytest.raises(MapSpecError) as info:
        MapSpec.from_string(text)
    message = str(info.value)
    assert fragment in message
    assert f"in mapspec '{text}'" in message
    quoted, caret = message.splitlines()[-2:]
    assert quoted.strip() == text.strip()
    assert caret.index("^") - quoted.index(text[0]) == position


def test_whitespace_around_tokens_is_fine() -> None:
    spec = MapSpec.from_string("  a.b [ i , : ] ,c[ j ]->\n d[i , j ] ")
    assert str(spec) == "a.b[i, :], c[j] -> d[i, j]"
    assert str(MapSpec.from_string("x [i] -> y[i]")) == "x[i] -> y[i]"


_IDENT = st.sampled_from(["a", "b", "x_1", "é", "foo"])
_SPACE = st.sampled_from(["", "", " ", "  ", "\n"])


@st.composite
def _spaced_specs(draw: st.DrawFn) -> tuple[str, str]:
    """A valid mapspec, once canonical and once with random whitespace between its tokens."""
    out_axes = draw(st.lists(st.sampled_from("ijk"), min_size=1, max_size=3, unique=True))
    names = draw(st.lists(_IDENT, min_size=1, max_size=4, unique=True))
    *in_names, out_name = names
    pieces: list[list[str]] = []
    for name in in_names:
        axes = draw(st.lists(st.sampled_from([*out_axes, ":"]), min_size=1, max_size=3))
        axes = [a for n, a in enumerate(axes) if a == ":" or a not in axes[:n]]
        pieces.append([name, "[", *_join(axes), "]"])
    pieces.append(["->"])
    pieces.append([out_name, "[", *_join(out_axes), "]"])
    tokens: list[str] = []
    for n, piece in enumerate(pieces):
        if n and piece != ["->"] and pieces[n - 1] != ["->"]:
            tokens.append(",")
        tokens.extend(piece)
    if not in_names:
        tokens.insert(0, "...")
    spaced = "".join(draw(_SPACE) + token for token in tokens) + draw(_SPACE)
    return "".join(tokens), spaced


def _join(axes: list[str]) -> list[str]:
    out: list[str] = []
    for axis in axes:
        out += [",", axis] if out else [axis]
    return out


@settings(max_examples=300, deadline=None)
@given(_spaced_specs())
def test_valid_specs_with_any_spacing_parse_to_the_canonical_form(pair: tuple[str, str]) -> None:
    compact, spaced = pair
    spec = MapSpec.from_string(spaced)
    assert _squash(str(spec)) == compact
    assert MapSpec.from_string(str(spec)) == spec


_MAPSPEC_CHARS = st.sampled_from([*"ab ij.,:[]->_1#é\n", "->", "x[i]", "y[j]", "...", ", "])


@settings(max_examples=1500, deadline=None)
@given(st.lists(_MAPSPEC_CHARS, max_size=16).map("".join))
def test_what_does_not_round_trip_is_rejected(text: str) -> None:
    """Accepted strings are exactly the canonical form up to whitespace; pipefunc's words lead."""
    try:
        spec = MapSpec.from_string(text)
    except MapSpecError as e:
        assert f"'{text}'" in str(e)
        theirs = _pipefunc_message(text)
        if theirs is not None:
            assert str(e).startswith(theirs)
        return
    assert _squash(str(spec)) == _squash(text)
    assert _pipefunc_message(text) is None


def _pipefunc_message(text: str) -> str | None:
    """pipefunc 0.93.2's message for ``text`` (typo'd closing quote trimmed), None if accepted."""
    pf_mapspec = pytest.importorskip("pipefunc.map._mapspec")
    try:
        pf_mapspec.MapSpec.from_string(text)
    except ValueError as e:
        message = str(e)
        return message[:-1] if message.endswith("''") else message
    except IndexError:  # no output array: pipefunc's bare error, pipemap's own message
        return None
    return None
