"""Synthetic pseudo-English documents for bench.scale: Zipf-distributed words, paragraphs of ~1000 characters.

Each document is a title line and PARAGRAPHS paragraphs a blank line apart, every paragraph short of the
chunk size and long enough that two never share a chunk, so the real chunker cuts one chunk per paragraph
and a store of N chunks is N / PARAGRAPHS documents. Document i depends only on (seed, i), so a question can
be drawn from any document without generating the others.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np


def _listed(words: str) -> tuple[str, ...]:
    """The words of a space-separated list (long lists read better as one string)."""
    return tuple(words.split())


# Bump whenever a change here changes the text: a cached store built from the old text is then rebuilt.
GENERATOR_VERSION = 1
SEED = 16
PARAGRAPHS = 20
VOCABULARY = 50_000
# Zipf-Mandelbrot over the content words: rank r has weight 1 / (r + 2.7); English's word frequencies
# follow this shape, which is what gives BM25 a realistic spread of document frequencies.
ZIPF_SHIFT = 2.7
# Real function words, a bit under half of running English text; BM25's stopword list drops them.
FUNCTION_WORDS = _listed(
    "the of and to in a is that for it as was with on by at from this which be are or an were has have "
    "not but their its had been they also into more than other some such these only can about"
)
FUNCTION_SHARE = 0.45
# Paragraph lengths: above the chunker's merge limit (120) and half the chunk size, below 1000.
PARAGRAPH_CHARS = (560, 960)
SENTENCE_WORDS = (7, 28)
QUESTION_RANK = 200
_ONSETS = _listed(
    "b bl br c ch cl cr d dr f fl fr g gl gr h j k l m n p pl pr r s sc sh sk sl sp st t th tr v w z"
)
_VOWELS = _listed("a e i o u ai ea io ou")
_CODAS = ["", "", "", "n", "r", "l", "s", "t", "m", "nd", "st", "rk", "ng"]


@functools.cache
def vocabulary(seed: int = SEED) -> tuple[str, ...]:
    """VOCABULARY distinct pseudo-words of 1-4 syllables, shortest (so most frequent) first, as in English."""
    from retrieval.text.words import stopwords

    rng = random.Random(seed)
    # No word BM25 would drop: every drawn content word counts, as the Zipf weights assume.
    excluded = set(FUNCTION_WORDS) | stopwords()
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        syllables = rng.choice((1, 2, 2, 3, 3, 4))
        parts = (rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables))
        word = "".join(parts)
        if len(word) >= 3 and word not in excluded:
            words.setdefault(word, None)
    return tuple(sorted(words, key=len))


@functools.cache
def _content_weights() -> np.ndarray:
    weights = 1.0 / (np.arange(VOCABULARY) + ZIPF_SHIFT)
    return np.asarray(np.cumsum(weights / weights.sum()))


class _Words:
    """A document's word stream: function and content words drawn in bulk, handed out a sentence at a time."""

    def __init__(self, rng: np.random.Generator, seed: int) -> None:
        self.rng = rng
        self.vocab = vocabulary(seed)
        self._refill()

    def _refill(self, size: int = 4096) -> None:
        content = np.searchsorted(_content_weights(), self.rng.random(size), side="right")
        function = self.rng.integers(0, len(FUNCTION_WORDS), size)
        is_function = self.rng.random(size) < FUNCTION_SHARE
        self.buffer = [
            FUNCTION_WORDS[f] if flag else self.vocab[min(c, VOCABULARY - 1)]
            for c, f, flag in zip(content.tolist(), function.tolist(), is_function.tolist(), strict=True)
        ]
        self.at = 0

    def take(self, count: int) -> list[str]:
        if self.at + count > len(self.buffer):
            self._refill()
        words = self.buffer[self.at : self.at + count]
        self.at += count
        return words


def _sentence(words: _Words) -> str:
    count = int(words.rng.integers(SENTENCE_WORDS[0], SENTENCE_WORDS[1] + 1))
    chosen = words.take(count)
    if count > 14:
        chosen[count // 2] += ","
    return " ".join(chosen).capitalize() + "."


def _paragraph(words: _Words, room: int = PARAGRAPH_CHARS[1]) -> str:
    target = int(words.rng.integers(PARAGRAPH_CHARS[0], room - 120))
    sentences: list[str] = []
    length = -1
    while length < target:
        sentence = _sentence(words)
        if length + 1 + len(sentence) > room:
            continue  # too long to end this paragraph under the chunk size: draw another
        sentences.append(sentence)
        length += 1 + len(sentence)
    return " ".join(sentences)


def document(index: int, seed: int = SEED) -> str:
    """Document index's text: a title line, then PARAGRAPHS paragraphs a blank line apart."""
    words = _Words(np.random.default_rng([seed, index]), seed)
    # The title line opens the first paragraph (and so its chunk), which leaves that paragraph less room.
    title = f"Report {index:07d}: " + " ".join(words.take(4)).capitalize() + "\n"
    first = _paragraph(words, PARAGRAPH_CHARS[1] - len(title))
    paragraphs = [first] + [_paragraph(words) for _ in range(PARAGRAPHS - 1)]
    return title + "\n\n".join(paragraphs) + "\n"


def documents(count: int, seed: int = SEED) -> Iterator[tuple[str, str]]:
    """(file name, text) of the first count documents."""
    for index in range(count):
        yield file_name(index), document(index, seed)


class SyntheticQuestion(NamedTuple):
    """A question and the file its words were drawn from."""

    text: str
    source: str


def file_name(index: int) -> str:
    """Document index's file name."""
    return f"doc-{index:07d}.txt"


def questions(count: int, documents_in_store: int, seed: int = SEED) -> list[SyntheticQuestion]:
    """count questions, each made of three content words of one sentence of a document in the store."""
    rng = random.Random(seed * 7919 + documents_in_store)
    # Words past the commonest QUESTION_RANK, as a question's words are: common enough to recur, rare
    # enough that BM25 weighs them.
    rank = {word: i for i, word in enumerate(vocabulary(seed))}
    found: list[SyntheticQuestion] = []
    while len(found) < count:
        index = rng.randrange(documents_in_store)
        text = document(index, seed)
        paragraph = rng.choice(text.split("\n\n")[1:])
        sentence = rng.choice(paragraph.split(". "))
        words = {w.strip(",.").lower() for w in sentence.split()}
        content = sorted(w for w in words if rank.get(w, -1) >= QUESTION_RANK)
        if len(content) >= 3:
            first, second, third = rng.sample(content, 3)
            found.append(
                SyntheticQuestion(f"What did the {first} {second} do with the {third}?", file_name(index))
            )
    return found
