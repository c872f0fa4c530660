"""The training sources: each reader on a tiny hand-made file of its layout, the split by title across
sources, and a missing source file refused before any work.

Bad input tried: a title spelled three ways (URL-encoded, with spaces, with underscores), the same question
in two sources of one title, sources given in another order, a data folder without its files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.du2017 import detokenize, read_du2017_lines
from evaluation.sources import (
    SOURCE_FILES,
    read_selqa,
    read_sources,
    read_squad_layout,
)
from training.make_examples import MissingSource, check_sources
from training.source_examples import source_questions, write_documents
from training.split import SHARES, split_by_title

ROOT = Path(__file__).resolve().parents[2]


def _squad(path: Path, articles: list[tuple[str, list[tuple[str, list[dict[str, object]]]]]]) -> Path:
    data = [
        {"title": t, "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs]}
        for t, paragraphs in articles
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "x", "data": data}), encoding="utf-8")
    return path


def _qa(qid: str, question: str, context: str, answer: str | None) -> dict[str, object]:
    if answer is None:
        return {"id": qid, "question": question, "answers": [], "is_impossible": True}
    start = context.index(answer)
    return {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": start}]}


MOTH = "The pale moth rests on birch bark. Its wings copy the lichen."
KILN = "A kiln fires clay at high heat. Potters load it at dusk."


def test_the_squad_layout_reader_keeps_spans_and_unanswerable_questions(tmp_path: Path) -> None:
    path = _squad(
        tmp_path / "s.json",
        [
            ("Moths", [(MOTH, [_qa("q1", "Where does the moth rest?", MOTH, "on birch bark")])]),
            ("Kilns", [(KILN, [_qa("q2", "What colour is the kiln?", KILN, None)])]),
        ],
    )
    source = read_squad_layout(path, "new_wiki")
    assert [a.title for a in source.articles] == ["Moths", "Kilns"]
    first, second = source.questions
    assert first.id == "new_wiki:q1" and first.title == "Moths" and not first.impossible
    (start, end), paragraph = first.spans[0], source.articles[0].paragraphs[first.paragraph]
    assert paragraph[start:end] == "on birch bark"
    assert second.impossible and second.spans == () and second.answers == ()


def test_the_selqa_reader_makes_one_document_per_section(tmp_path: Path) -> None:
    lines = [
        {
            "qid": f"dev-{n}",
            "question": question,
            "title": "Moths",
            "section": "Habits",
            "sentences": ["The pale moth rests on birch bark.", "Its wings copy the lichen."],
            "labels": labels,
        }
        for n, (question, labels) in enumerate(
            [("Where does it rest?", [1, 0]), ("What do wings copy?", [0, 1])]
        )
    ]
    path = tmp_path / "selqa.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    source = read_selqa([path])
    (article,) = source.articles
    assert article.title == "Moths" and article.name == "Moths - Habits"
    text = article.paragraphs[0]
    assert [text[s:e] for q in source.questions for s, e in q.spans] == [
        "The pale moth rests on birch bark.",
        "Its wings copy the lichen.",
    ]
    assert all(q.sentences for q in source.questions)


def _du2017(folder: Path, pairs: list[tuple[str, str]], titles: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "src-test.txt").write_text("".join(f"{s}\n" for s, _ in pairs), encoding="utf-8")
    (folder / "tgt-test.txt").write_text("".join(f"{q}\n" for _, q in pairs), encoding="utf-8")
    (folder / "doclist-test.txt").write_text("".join(f"{t}\n" for t in titles), encoding="utf-8")
    return folder


DU_PAIRS = [
    ("the pale moth rests on birch bark .", "where does the moth rest ?"),
    ("moth wings -lrb- the fore pair -rrb- copy lichen .", "what do the moth 's wings copy ?"),
    ("a kiln fires clay at high heat .", "what does a kiln fire ?"),
    ("potters load the kiln at dusk .", "when do potters load the kiln ?"),
]


def test_the_du2017_reader_finds_where_each_article_ends(tmp_path: Path) -> None:
    folder = _du2017(tmp_path / "du", DU_PAIRS, ["Moth", "Kiln"])
    lines = read_du2017_lines(folder, {})
    assert [line.title for line in lines] == ["Moth", "Moth", "Kiln", "Kiln"]
    assert lines[1].sentence == "Moth wings (the fore pair) copy lichen."
    assert lines[1].question == "What do the moth's wings copy?"
    # A line another source places (by its question) is pinned there, whatever its words say.
    pinned = read_du2017_lines(folder, {"what does a kiln fire": "moth"})
    assert [line.title for line in pinned] == ["Moth", "Moth", "Moth", "Kiln"]
    assert detokenize("`` it 's '' , he said -lrb- once -rrb- .") == '" it\'s ", he said (once).'
    assert detokenize("it rests . then it flies .") == "It rests. then it flies."


def test_a_question_two_sources_ask_of_one_title_counts_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _squad(
        data / SOURCE_FILES["squad2_train"][0],
        [("Moth", [(MOTH, [_qa("q1", "Where does the moth rest?", MOTH, "on birch bark")])])],
    )
    _du2017(data / "train" / "du2017", DU_PAIRS, ["Moth", "Kiln"])
    squad2, du = read_sources(data, ["squad2_train", "du2017"])
    assert du.duplicates == 1
    assert "Where does the moth rest?" not in [q.question for q in du.questions]
    assert len(squad2.questions) == 1 and len(du.questions) == 3


def test_documents_and_questions_keep_their_offsets(tmp_path: Path) -> None:
    path = _squad(
        tmp_path / "s.json",
        [("Moths", [(KILN, []), (MOTH, [_qa("q1", "Where does the moth rest?", MOTH, "on birch bark")])])],
    )
    source = read_squad_layout(path, "new_wiki")
    files = write_documents(source, tmp_path / "documents")
    asked = list(source_questions(source, files))
    assert [q.kind for q in asked] == ["answerable", "other_paragraph", "out_of_corpus"]
    text = (tmp_path / "documents" / asked[0].source).read_text(encoding="utf-8")
    (start, end), (p_start, p_end) = asked[0].spans[0], asked[0].paragraph
    assert text[start:end] == "on birch bark" and text[p_start:p_end] == MOTH


def test_the_split_is_by_title_across_sources_and_deterministic() -> None:
    wiki = [f"article_{n}" for n in range(40)]
    du = [f"article_{n}" for n in range(30, 60)]
    selqa = [f"section_{n}" for n in range(24)] + ["article_5"]
    fixed = {"article_0": "test", "article_31": "train"}
    parts = split_by_title({"wiki": wiki, "du": du, "selqa": selqa}, fixed, seed=13)
    assert set(parts) == set(wiki) | set(du) | set(selqa)
    assert parts["article_0"] == "test" and parts["article_31"] == "train"
    # One part per title wherever it appears: a dict cannot say otherwise, so check each source got each
    # part in about SHARES' proportion, and that reordering or repeating titles changes nothing.
    for titles in (wiki, du, selqa):
        counts = {p: sum(parts[t] == p for t in titles) for p in SHARES}
        assert all(abs(counts[p] - len(titles) * SHARES[p] / 12) <= 2 for p in SHARES), counts
    again = split_by_title({"wiki": wiki[::-1] + wiki[:5], "du": du[::-1], "selqa": selqa}, fixed, seed=13)
    assert again == parts
    assert split_by_title({"wiki": wiki, "du": du, "selqa": selqa}, fixed, seed=14) != parts


def test_a_missing_source_file_is_named_before_any_work(tmp_path: Path) -> None:
    data, work = tmp_path / "data", tmp_path / "work"
    _squad(data / SOURCE_FILES["new_wiki"][0], [("Moths", [(MOTH, [])])])
    (data / "squad").mkdir()
    with pytest.raises(MissingSource) as refused:
        check_sources(data, ["new_wiki", "amazon_reviews"])
    assert SOURCE_FILES["amazon_reviews"][0] in str(refused.value)
    assert SOURCE_FILES["new_wiki"][0] not in str(refused.value)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "training.run",
            "--data",
            str(data),
            "--work",
            str(work),
            "--sources",
            "new_wiki,selqa",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    message = run.stderr.strip().splitlines()
    assert len(message) == 1 and "selqa-ass-dev.clean.jsonl" in message[0], run.stderr
    assert not work.exists()
