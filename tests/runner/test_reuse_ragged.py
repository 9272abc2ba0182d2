"""reuse_from with ragged axes: ragged functions are recomputed (never wrongly reused) and the run says so."""

from __future__ import annotations

import pytest
from pipemap.runner import Pipeline, ReuseWarning, pipefunc


@pipefunc(output_name="words", mapspec="text[i] -> words[i, j*]")
def split_words(text: str) -> list[str]:
    return text.split()


@pipefunc(output_name="upper", mapspec="words[i, j*] -> upper[i, j*]")
def shout(words: str) -> str:
    return words.upper()


@pipefunc(output_name="n", mapspec="words[i, :] -> n[i]")
def count(words) -> int:
    return len(words)


@pipefunc(output_name="double", mapspec="n[i] -> double[i]")
def twice(n: int) -> int:
    return 2 * n


PIPELINE = Pipeline([split_words, shout, count, twice])


def test_ragged_functions_are_recomputed_and_named(tmp_path):
    old = tmp_path / "old"
    PIPELINE.map({"text": ["a b", "c"]}, run_folder=old, parallel=False)
    with pytest.warns(ReuseWarning, match=r"function `split_words`: ragged axes \(`\*`\) are not reused yet"):
        results = PIPELINE.map({"text": ["a b", "c", "d e f"]}, run_folder=tmp_path / "new", reuse_from=old, parallel=False)
    assert results["upper"].output.tolist() == ["A", "B", "C", "D", "E", "F"]
    assert results["n"].output.tolist() == [2, 1, 3]
    assert results["double"].output.tolist() == [4, 2, 6]
    assert results.summary.elements["split_words"]["reused"] == 0
