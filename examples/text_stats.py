"""Data-processing pipeline: per-document statistics over a corpus, then corpus-wide aggregates.

Run: ``uv run python examples/text_stats.py``. Uses a generator (``... -> document[d]``) whose
length is only known at run time, an element-wise step, a step with an internal axis (one row
per sentence) and full reductions.
"""

from __future__ import annotations

import collections
import re

from pipemap.runner import Pipeline, pipefunc

CORPUS = """\
Pipelines of small functions are easy to test. Each function does one thing.
A sweep over parameters multiplies the work. Resume saves the finished part.
Storage must never lose finished results. Crashes happen on long runs.
Readers load results as tables. Tables are friendly for analysis.
"""


@pipefunc(output_name="document", mapspec="... -> document[d]")
def split_documents(corpus: str) -> list[str]:
    """One document per non-empty line (the length is unknown until this runs)."""
    return [line for line in corpus.splitlines() if line.strip()]


@pipefunc(output_name="words", mapspec="document[d] -> words[d]")
def tokenize(document: str) -> list[str]:
    """Lower-case word tokens of a document."""
    return re.findall(r"[a-z']+", document.lower())


@pipefunc(output_name="n_words", mapspec="words[d] -> n_words[d]")
def count_words(words: list[str]) -> int:
    """Number of tokens."""
    return len(words)


@pipefunc(output_name="top_words")
def top_words(words: object, k: int = 5) -> list[tuple[str, int]]:
    """The k most frequent words of the whole corpus (a full reduction)."""
    counter: collections.Counter[str] = collections.Counter()
    for tokens in words:  # type: ignore[attr-defined]
        counter.update(tokens)
    return counter.most_common(k)


pipeline = Pipeline([split_documents, tokenize, count_words, top_words])

if __name__ == "__main__":
    results = pipeline.map({"corpus": CORPUS}, run_folder="examples_runs/text", parallel=False)
    print("words per document:", list(results["n_words"].output))
    print("top words:", results["top_words"].output)
