"""The public evaluation sets written as corpora of text files, with their questions and gold answers."""

from __future__ import annotations

import json
import random
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class SquadQuestion:
    """A SQuAD question with its article file and the gold answer spans (offsets into that file)."""

    id: str
    question: str
    source: str
    spans: tuple[tuple[int, int], ...]
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Claim:
    """A SciFact claim and the ids of the documents judged relevant to it."""

    id: str
    claim: str
    relevant: frozenset[str] = field(default_factory=frozenset)


def article_file(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", title)[:80] + ".txt"


def norm_title(title: str) -> str:
    """A title as the split keys it: URL-decoded, NFC, lower case, runs of spaces and underscores as one _."""
    text = unicodedata.normalize("NFC", urllib.parse.unquote(title)).lower()
    return re.sub(r"[\s_]+", "_", text).strip("_")


def norm_question(text: str) -> str:
    """A question as deduplication compares it: lower-case words and numbers only."""
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFC", text).lower()))


def write_squad(path: Path, out: Path) -> list[SquadQuestion]:
    """Each article as one .txt file (paragraphs joined by a blank line); every question with gold offsets."""
    out.mkdir(parents=True, exist_ok=True)
    questions: list[SquadQuestion] = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        name = article_file(article["title"])
        parts: list[str] = []
        offset = 0
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                spans = tuple(
                    (offset + a["answer_start"], offset + a["answer_start"] + len(a["text"]))
                    for a in qa["answers"]
                )
                texts = tuple(a["text"] for a in qa["answers"])
                questions.append(SquadQuestion(qa["id"], qa["question"], name, spans, texts))
            parts.append(context)
            offset += len(context) + 2
        with (out / name).open("w", encoding="utf-8", newline="") as handle:
            handle.write("\n\n".join(parts))
    return questions


def write_scifact(folder: Path, out: Path) -> tuple[list[Claim], int]:
    """Each abstract as one document, title as its first line; claims with relevant doc ids (BEIR qrels)."""
    out.mkdir(parents=True, exist_ok=True)
    documents = 0
    for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        text = doc["title"].strip() + "\n\n" + " ".join(s.strip() for s in doc["abstract"])
        (out / f"{doc['doc_id']}.txt").write_text(text, encoding="utf-8")
        documents += 1
    relevant: dict[str, set[str]] = {}
    for row in (folder / "qrels" / "train_cited.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        query, doc_id, score = row.split("\t")
        if int(score) > 0:
            relevant.setdefault(query, set()).add(doc_id)
    claims = []
    for line in (folder / "claims_train.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if str(item["id"]) in relevant:
            claims.append(Claim(str(item["id"]), item["claim"], frozenset(relevant[str(item["id"])])))
    return claims, documents


def as_question(claim: str) -> str:
    """A claim rephrased mechanically as a question."""
    text = claim.strip().rstrip(".")
    return f"Is it true that {text[:1].lower() + text[1:]}?"


def sample(items: list[T], size: int | None, seed: int = 13) -> list[T]:
    """A fixed random sample (all items when size is None or larger)."""
    if size is None or size >= len(items):
        return items
    return random.Random(seed).sample(items, size)


def squad2_unanswerable(path: Path) -> list[tuple[str, str, str]]:
    """SQuAD 2.0's unanswerable questions as (id, article file, question), in the file's order."""
    found = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            found += [
                (qa["id"], article_file(article["title"]), qa["question"])
                for qa in paragraph["qas"]
                if qa.get("is_impossible")
            ]
    return found


def scorer_seen(spec: Path) -> set[str]:
    """The article files the shipped answer scorer was trained or calibrated on (none without a spec)."""
    if not spec.is_file():
        return set()
    split = json.loads(spec.read_text(encoding="utf-8"))["split"]
    return set(split["train"]) | set(split["calibration"])
