"""Ragged axes: the words of each sentence, a different number per sentence (issue 16).

Run: ``uv run python examples/sentence_words.py``. A generator makes the sentences
(``... -> sentence[s]``, count known at run time); ``sentence[s] -> word[s, w*]`` makes one row of
words per sentence (the ``*`` marks the ragged axis: each row has its own length, nothing is
padded on disk); ``word[s, w*] -> length[s, w*]`` runs once per word that exists, with a
per-sentence value broadcast to its words; ``length[s, :] -> longest[s]`` gets each sentence's row.
The results load as one DataFrame row per word.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from pipemap.runner import Pipeline, pipefunc

TEXT = """\
Ragged rows are everywhere. A spectrum has peaks; a text has words.
Some sentences are long and wander through many clauses before they end.
Short ones stop.
"""


@pipefunc(output_name="sentence", mapspec="... -> sentence[s]")
def split_sentences(text: str) -> list[str]:
    """One sentence per '.', '!' or '?' (how many is only known when this runs)."""
    return [s.strip() for s in re.split(r"[.!?]", text) if s.strip()]


@pipefunc(output_name="word", mapspec="sentence[s] -> word[s, w*]")
def split_words(sentence: str) -> list[str]:
    """The words of one sentence: a row of its own length."""
    return re.findall(r"[A-Za-z']+", sentence)


@pipefunc(output_name="chars", mapspec="sentence[s] -> chars[s]")
def count_chars(sentence: str) -> int:
    """Characters per sentence (broadcast to its words below)."""
    return len(sentence)


@pipefunc(output_name="length", mapspec="word[s, w*] -> length[s, w*]")
def word_length(word: str) -> int:
    """Called once per word that exists (never for padding)."""
    return len(word)


@pipefunc(output_name="share", mapspec="chars[s], length[s, w*] -> share[s, w*]")
def share_of_sentence(chars: int, length: int) -> float:
    """A per-sentence value (``chars[s]``) next to each of its words."""
    return round(length / chars, 3)


@pipefunc(output_name="longest", mapspec="length[s, :] -> longest[s]")
def longest_word(length) -> int:
    """Each sentence's row of word lengths, with its own length (0 words: 0)."""
    return int(max(length)) if len(length) else 0


pipeline = Pipeline([split_sentences, split_words, count_chars, word_length, share_of_sentence, longest_word])


def main(run_folder: str | Path | None = None) -> None:
    import pipemap.io as pio

    folder = Path(run_folder or tempfile.mkdtemp(prefix="sentence-words-"))
    results = pipeline.map({"text": TEXT}, run_folder=folder, parallel=False, show_progress=False)
    print("longest word per sentence:", results["longest"].output.tolist())
    lengths = pio.load_outputs("length", run_folder=folder)  # masked, padded to the longest row
    print("padded shape:", lengths.shape, "words per sentence:", (~lengths.mask).sum(axis=1).tolist())
    frame = pio.load_dataframe("word", "length", "share", run_folder=folder)  # one row per word
    print(frame.head(8).to_string())
    print("rows:", len(frame))


if __name__ == "__main__":
    main()
