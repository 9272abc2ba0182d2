"""examples/sentence_words.py runs and its numbers equal plain Python."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sentence_words.py"


def test_sentence_words_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = runpy.run_path(str(EXAMPLE), run_name="example_sentence_words")
    module["main"](tmp_path)
    out = capsys.readouterr().out
    sentences = [s.strip() for s in re.split(r"[.!?]", module["TEXT"]) if s.strip()]
    words = [re.findall(r"[A-Za-z']+", s) for s in sentences]
    assert f"longest word per sentence: {[max(map(len, w)) for w in words]}" in out
    assert f"words per sentence: {[len(w) for w in words]}" in out
    assert f"rows: {sum(map(len, words))}" in out
