"""Parsing, printing, validation and transformations of MapSpec / ArraySpec (docs/behaviour.md §1.1-1.4, §8.1-8.10)."""

from __future__ import annotations

import pickle

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


def test_text_between_arrays_is_ignored() -> None:
    assert str(MapSpec.from_string("a[i] b[j] -> c[i, j]")) == "a[i], b[j] -> c[i, j]"


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
        ("x[] -> y[i]", "not a valid Python identifier"),
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
