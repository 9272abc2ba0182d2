"""A small ragged pipeline shared by the ragged runner tests, and its plain-Python reference."""

from __future__ import annotations

from pipemap.runner import Pipeline, pipefunc


@pipefunc("words", mapspec="text[i] -> words[i, j*]")
def split(text):
    return text.split()


@pipefunc("upper", mapspec="words[i, j*] -> upper[i, j*]")
def shout(words):
    return words.upper()


@pipefunc("tagged", mapspec="n[i], upper[i, j*] -> tagged[i, j*]")
def tag(n, upper):
    return f"{n}:{upper}"


@pipefunc("count", mapspec="words[i, :] -> count[i]")
def count(words):
    return len(words)


@pipefunc("joined", mapspec="tagged[i, :] -> joined[i]")
def join(tagged):
    return " ".join(tagged)


@pipefunc("paired", mapspec="words[i, j*], upper[i, j*] -> paired[i, j*]")
def pair(words, upper):
    return words + upper


def pipeline() -> Pipeline:
    return Pipeline([split, shout, tag, count, join, pair])


TEXT = ["a bb", "", "c d e", "ff", "g h i j k l m n o p q r s"]
N = [10, 20, 30, 40, 50]


def reference(text: list[str], n: list[int]) -> dict[str, list]:
    """What the pipeline computes, in plain Python (flat lists for element-wise outputs)."""
    words = [t.split() for t in text]
    upper = [w.upper() for row in words for w in row]
    tagged = [f"{k}:{w.upper()}" for k, row in zip(n, words) for w in row]
    return {
        "words": words,
        "upper": upper,
        "tagged": tagged,
        "count": [len(row) for row in words],
        "joined": [" ".join(f"{k}:{w.upper()}" for w in row) for k, row in zip(n, words)],
        "paired": [w + w.upper() for row in words for w in row],
    }


def check(results, text: list[str] = TEXT, n: list[int] = N) -> None:
    """``results`` (a ResultDict) equal the reference."""
    want = reference(text, n)
    assert [list(r) for r in results["words"].output.tolist()] == want["words"]
    for name in ("upper", "tagged", "count", "joined", "paired"):
        assert list(results[name].output.tolist()) == want[name], name
