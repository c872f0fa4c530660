"""Du et al. 2017's (sentence, question) lines, each given its article: the files hold the articles in
doclist order but no line says where one ends, so the boundaries are found from the text (see segment)."""

from __future__ import annotations

import math
import re
import urllib.parse
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.datasets import norm_question, norm_title

# Title words too common to tell articles apart.
_STOP = frozenset(
    ["the", "of", "and", "a", "an", "in", "on", "to", "for", "during", "under", "with", "by", "from", "at"]
)
_BRACKETS = {"-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "-lcb-": "{", "-rcb-": "}"}
# Rounds of re-fitting each article's vocabulary to its lines after the first cut (measured: one moves the
# few boundaries a shared title word misplaced, the second moves none).
ROUNDS = 3


@dataclass(frozen=True)
class Du2017Line:
    """One line of src-test.txt / tgt-test.txt (number from 0), de-tokenised, with its article's title."""

    number: int
    sentence: str
    question: str
    title: str


def detokenize(text: str) -> str:
    """Du's PTB-style tokens back to plain text, its first letter capitalised (the rest stays lower case:
    citebot's sentence splitter ends no sentence before a lower-case letter, so without it a whole
    passage of Du's sentences was one candidate)."""
    for token, bracket in _BRACKETS.items():
        text = text.replace(token, bracket)
    text = text.replace("``", '"').replace("''", '"')
    text = re.sub(r"\s+([.,;:!?%)\]}])", r"\1", text)
    text = re.sub(r"([(\[{$])\s+", r"\1", text)
    text = re.sub(r"\s+(n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:1].upper() + text[1:]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _title_words(title: str) -> list[str]:
    return [w for w in _words(urllib.parse.unquote(title).replace("_", " ")) if w not in _STOP and len(w) > 2]


def _cut(evidence: np.ndarray) -> list[int]:
    """The order-keeping assignment of lines (rows) to articles (columns) with the most evidence, as the
    first line of each article after the first (dynamic programming over lines)."""
    lines, articles = evidence.shape
    best = np.full(articles, -np.inf)
    best[0] = evidence[0, 0]
    moved = np.zeros((lines, articles), dtype=bool)
    for i in range(1, lines):
        move = np.concatenate([[-np.inf], best[:-1]])
        moved[i] = move > best
        best = np.maximum(best, move) + evidence[i]
    k, bounds = articles - 1, []
    for i in range(lines - 1, 0, -1):
        if k and moved[i, k]:
            bounds.append(i)
            k -= 1
    return sorted(bounds)


def segment(texts: Sequence[str], titles: Sequence[str], anchors: Mapping[int, int]) -> list[int]:
    """Each text's article index, in order: first by the articles' title words (weighted by idf), then
    re-fitted ROUNDS times to each article's own vocabulary; anchors: text index -> known article index."""
    words = [set(_words(t)) for t in texts]
    df = Counter(w for ws in words for w in ws)
    vocab = {w: j for j, w in enumerate(df)}
    idf = np.array([math.log(len(texts) / df[w]) for w in vocab])
    rows = np.array([i for i, ws in enumerate(words) for _ in ws], dtype=np.int64)
    cols = np.array([vocab[w] for ws in words for w in ws], dtype=np.int64)
    weight = idf[cols]
    norms = np.sqrt(np.bincount(rows, weight**2, minlength=len(texts))) + 1e-9
    weight = weight / norms[rows]
    title = np.zeros((len(texts), len(titles)))
    for k, name in enumerate(titles):
        for w in _title_words(name):
            if w in vocab:
                hit = cols == vocab[w]
                title[rows[hit], k] += idf[vocab[w]]
    title /= max(float(title.max()), 1e-9)
    fixed = np.zeros_like(title)
    for i, k in anchors.items():
        fixed[i] -= 100.0
        fixed[i, k] += 200.0
    bounds = _cut(title + fixed)
    for _ in range(ROUNDS):
        article = np.searchsorted(np.array(bounds), np.arange(len(texts)), side="right")
        centroid = np.zeros((len(vocab), len(titles)))
        np.add.at(centroid, (cols, article[rows]), weight)
        centroid /= np.linalg.norm(centroid, axis=0, keepdims=True) + 1e-9
        similarity = np.zeros_like(title)
        np.add.at(similarity, rows, weight[:, None] * centroid[cols])
        bounds = _cut(title + similarity + fixed)
    return [int(a) for a in np.searchsorted(np.array(bounds), np.arange(len(texts)), side="right")]


def read_du2017_lines(folder: Path, anchors: Mapping[str, str]) -> list[Du2017Line]:
    """Every line with its article; anchors: normalised question -> normalised title that another source
    gives it (pins those lines; on the 10 articles squad2-train shares it and the text agree exactly)."""
    sources = (folder / "src-test.txt").read_text(encoding="utf-8").splitlines()
    targets = (folder / "tgt-test.txt").read_text(encoding="utf-8").splitlines()
    titles = (folder / "doclist-test.txt").read_text(encoding="utf-8").split()
    if len(sources) != len(targets):
        raise ValueError(f"{folder}: src-test.txt and tgt-test.txt differ in length")
    index = {norm_title(t): k for k, t in enumerate(titles)}
    pinned = {
        i: index[anchors[key]]
        for i, key in enumerate(map(norm_question, targets))
        if anchors.get(key) in index
    }
    texts = [f"{s} {t}" for s, t in zip(sources, targets, strict=True)]
    article = segment(texts, [urllib.parse.unquote(t) for t in titles], pinned)
    return [
        Du2017Line(n, detokenize(s), detokenize(t), urllib.parse.unquote(titles[article[n]]))
        for n, (s, t) in enumerate(zip(sources, targets, strict=True))
    ]
