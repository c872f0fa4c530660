"""Choosing what to quote: coverage, proximity, the rerank, the answer's form, continuations, antecedents."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from retrieval.answer.extractive import AnswerSettings, ExtractiveAnswerer
from retrieval.answer.form import answer_form
from retrieval.engine import Engine
from retrieval.lexical.coverage import coverage, distinctive_coverage, proximity
from retrieval.lexical.index import LexicalIndex
from retrieval.search.citations import citation_id
from retrieval.search.corpus import IndexedChunk
from retrieval.search.hybrid import Hit
from retrieval.text.words import tokens

DOC = (
    "Pharmacies\n\n"
    "Specialty pharmacies supply rare drugs to patients. It is the fastest growing sector of the trade. "
    "Italy has few of them.\n"
)
QUESTION = "Which is the fastest growing sector of the trade?"


def _hit(text: str) -> Hit:
    start = text.index("Specialty")
    end = len(text) - 1
    chunk = IndexedChunk(
        f"p.txt#{start}-{end}@a", "p.txt", "/docs/p.txt", start, end, text[start:end], "P", 3
    )
    return Hit(chunk, 0.9, 0.6, 1.0)


def _answerer(hit: Hit, **settings: Any) -> ExtractiveAnswerer:
    index = LexicalIndex([hit.chunk.text, "Unrelated words about the weather."])
    return ExtractiveAnswerer(index.idf, lambda _question: [1.0, 0.0], AnswerSettings(**settings))


def test_coverage_is_the_rarity_weighted_share_of_question_words() -> None:
    weights = {"harbour": 2.0, "ledger": 1.0, "copper": 1.0}
    cover = coverage(["harbour", "ledger", "copper", "harbour"], weights.__getitem__)
    assert cover({"harbour", "violet"}) == pytest.approx(0.5)
    assert cover({"ledger", "copper"}) == pytest.approx(0.5)
    assert cover(set()) == 0.0
    assert coverage([], weights.__getitem__)({"harbour"}) == 0.0


def test_distinctive_coverage_weighs_words_by_rarity_among_the_texts_too() -> None:
    weights = {"harbour": 2.0, "ledger": 1.0, "copper": 1.0}
    texts = [{"harbour", "ledger"}, {"harbour", "copper"}, {"harbour"}]
    cover = distinctive_coverage(["harbour", "ledger", "copper"], weights.__getitem__, texts)
    shares = [cover(text) for text in texts]
    # harbour is in all three texts (local weight 2 ln(4/3.5)); ledger and copper in one each (ln(4/1.5)).
    harbour, single = 2.0 * math.log(4 / 3.5), math.log(4 / 1.5)
    total = harbour + 2 * single
    assert shares == pytest.approx([(harbour + single) / total, (harbour + single) / total, harbour / total])
    # Counted over a wider pool where ledger is as common as harbour: the two weigh as in the corpus again.
    pool = [*texts, {"ledger"}, {"ledger"}]
    cover = distinctive_coverage(["harbour", "ledger", "copper"], weights.__getitem__, pool)
    wide = [cover(text) for text in texts]
    harbour, ledger, copper = 2.0 * math.log(6 / 3.5), math.log(6 / 3.5), math.log(6 / 1.5)
    total = harbour + ledger + copper
    assert wide == pytest.approx([(harbour + ledger) / total, (harbour + copper) / total, harbour / total])
    assert [distinctive_coverage([], weights.__getitem__, texts)(text) for text in texts] == [0.0, 0.0, 0.0]
    # An empty pool leaves corpus rarity alone to weigh the words.
    assert distinctive_coverage(["harbour"], weights.__getitem__, [])({"harbour"}) == 1.0


def test_the_quoted_sentence_is_the_one_with_the_words_few_sentences_share() -> None:
    """The subject's name is rare in the corpus but in most sentences here: it no longer decides the quote."""
    text = (
        "Tesla was a famous inventor of the motor. Westinghouse bought the patent for the motor. "
        "Tesla lived in New York. Tesla died in 1943."
    )
    chunk = IndexedChunk(f"t.txt#0-{len(text)}@a", "t.txt", "/docs/t.txt", 0, len(text), text, "T", 1)
    hit = Hit(chunk, 0.9, 0.6, 1.0)

    def weight(word: str) -> float:
        return 3.0 if word == "tesla" else 1.0

    question = "Who bought the patent for the motor of Tesla?"
    # Corpus-wide coverage alone would pick the first sentence: 4/6 of the question against 3/6.
    cover = coverage(tokens(question), weight)
    assert cover(chunk.sentence_words[0]) > cover(chunk.sentence_words[1])
    answerer = ExtractiveAnswerer(weight, lambda _q: [1.0, 0.0], AnswerSettings(sentences=1))
    answer = answerer.answer(question, [hit])
    assert [c.quote for c in answer.citations] == ["Westinghouse bought the patent for the motor."]


def _one_chunk(text: str) -> Hit:
    chunk = IndexedChunk(f"c.txt#0-{len(text)}@a", "c.txt", "/docs/c.txt", 0, len(text), text, "C", 1)
    return Hit(chunk, 0.9, 0.6, 1.0)


def _even_answerer(**settings: Any) -> ExtractiveAnswerer:
    """Every word weighs 1 and no sentence has a vector: only coverage, form and continuation differ."""
    return ExtractiveAnswerer(lambda _w: 1.0, lambda _q: [1.0, 0.0], AnswerSettings(sentences=1, **settings))


def test_answer_form_knows_number_date_and_person_questions() -> None:
    """Bad input tried: an empty question, punctuation only, and a name the question already gives."""
    number = answer_form("How many field goals did McManus kick?")
    assert number is not None
    assert number("McManus made all four of his field goals.")
    assert number("He kicked 3 of them.")
    assert not number("McManus kicked well.")
    date = answer_form("In which year did Luther die?") or answer_form("")
    assert date is not None
    assert date("Luther died in 1546.") and date("It was the 16th century.") and date("He died in February.")
    assert not date("Luther died at Eisleben.")
    person = answer_form("Who did Tesla work for?")
    assert person is not None
    assert person("At first Tesla worked for Edison.")
    assert not person("At first Tesla worked hard.")
    assert not person("Tesla worked hard.")  # only the sentence's first word is capitalised
    assert answer_form("What is the capital of France?") is None
    assert answer_form("") is None
    assert answer_form("?!") is None


def test_answer_form_knows_place_and_reason_questions_and_that_a_year_is_no_count() -> None:
    """Bad input tried: a year where a count is asked for, and a place the question already names."""
    number = answer_form("How many reconstructions were used?")
    assert number is not None
    assert not number("The reconstructions were cited in 2000.")
    assert number("Ten of these 14 reconstructions covered 1,000 years.")
    place = answer_form("Where was Luther's last sermon preached?")
    assert place is not None
    assert place("He preached it in Eisleben.") and place("It was preached near the Rhine.")
    assert not place("He preached it at home.")
    assert not place("He preached it in Luther's own church.")
    assert answer_form("Which country has the most illiterate adults?") is not None
    reason = answer_form("Why did the rocks melt?")
    assert reason is not None
    assert reason("They melted because of the heat.")
    assert not reason("They melted.")


def test_proximity_is_the_weighted_share_of_question_word_pairs_side_by_side() -> None:
    """Bad input tried: an empty question, a one-word question, a repeated word and an empty text."""
    near = proximity(["a", "b", "c", "a"], lambda _w: 1.0)
    # Pairs ab, ac, bc weigh 2 each; only a and b are within two words of each other.
    assert near(["a", "x", "b", "y", "y", "c"]) == pytest.approx(1 / 3)
    assert near(["c", "b", "a"]) == pytest.approx(1.0)
    assert near([]) == 0.0
    weighted = proximity(["a", "b", "c"], {"a": 1.0, "b": 1.0, "c": 4.0}.__getitem__)
    # ab weighs 2, ac and bc 5 each: b beside c is 5 of 12.
    assert weighted(["a", "x", "y", "b", "c"]) == pytest.approx(5 / 12)
    assert proximity([], lambda _w: 1.0)(["a", "b"]) == 0.0
    assert proximity(["a"], lambda _w: 1.0)(["a", "a"]) == 0.0


def test_the_sentence_holding_the_question_words_together_is_quoted() -> None:
    hit = _one_chunk(
        "The population of the city grew as its white residents moved out of Jacksonville. "
        "The white population of Jacksonville fell by a third."
    )
    question = "What was the white population of Jacksonville?"
    plain = _even_answerer(proximity_weight=0.0).answer(question, [hit])
    assert [c.quote for c in plain.citations] == [
        "The population of the city grew as its white residents moved out of Jacksonville."
    ]
    answer = _even_answerer().answer(question, [hit])
    assert [c.quote for c in answer.citations] == ["The white population of Jacksonville fell by a third."]


def test_a_sentence_of_the_asked_form_wins_a_tie() -> None:
    hit = _one_chunk("The team kicked field goals early on. The team kicked four field goals.")
    question = "How many field goals did the team kick?"
    # Without proximity, which would tell these two apart by word order alone.
    plain = _even_answerer(form_bonus=0.0, proximity_weight=0.0).answer(question, [hit])
    assert [c.quote for c in plain.citations] == ["The team kicked field goals early on."]
    answer = _even_answerer(proximity_weight=0.0).answer(question, [hit])
    assert [c.quote for c in answer.citations] == ["The team kicked four field goals."]


def test_a_sentence_leaning_on_the_one_before_shares_its_coverage() -> None:
    hit = _one_chunk("The lunar rocks are very old. They range in age from 3 to 4 billion years.")
    question = "What age range do the lunar rocks have?"
    plain = _even_answerer(continuation_weight=0.0).answer(question, [hit])
    assert [c.quote for c in plain.citations] == ["The lunar rocks are very old."]
    answer = _even_answerer().answer(question, [hit])
    # Chosen: the second sentence (half the question, plus 0.1 of the first's half), quoted with the first.
    # "range in age" also holds one of the question's six word pairs side by side: 0.15 * 1/6.
    assert [c.quote for c in answer.citations] == [hit.chunk.text]
    assert answer.citations[0].score == pytest.approx(0.4 * 0.5 + 0.13 * 0.9 + 0.1 * 0.5 + 0.15 / 6)


def test_a_sentence_opening_with_a_pronoun_is_quoted_with_the_sentence_it_leans_on() -> None:
    hit = _hit(DOC)
    answer = _answerer(hit).answer(QUESTION, [hit])
    first = answer.citations[0]
    assert first.quote == (
        "Specialty pharmacies supply rare drugs to patients. It is the fastest growing sector of the trade."
    )
    assert DOC[first.start : first.end] == first.quote
    assert answer.answer.startswith(first.quote + " [1]")


def test_without_antecedents_only_the_sentence_itself_is_quoted() -> None:
    hit = _hit(DOC)
    answer = _answerer(hit, antecedents=False).answer(QUESTION, [hit])
    assert answer.citations[0].quote == "It is the fastest growing sector of the trade."


def test_an_antecedent_the_reader_was_already_given_is_not_repeated() -> None:
    hit = _hit(DOC)
    start = DOC.index("Specialty")
    given = citation_id("p.txt", start, DOC.index(" It is"))
    answer = _answerer(hit).answer(QUESTION, [hit], previous=[given])
    assert answer.citations[0].quote == "It is the fastest growing sector of the trade."


def test_a_word_that_only_begins_like_a_pronoun_takes_no_antecedent() -> None:
    hit = _hit(DOC)
    answer = _answerer(hit).answer("What does Italy have?", [hit])
    assert answer.citations[0].quote == "Italy has few of them."


def test_a_second_sentence_whose_reach_overlaps_the_first_is_not_quoted() -> None:
    """Bad input tried: a question matching the pronoun sentence and its antecedent, a second always taken."""
    hit = _hit(DOC)
    question = "Which specialty pharmacies supply rare drugs, the fastest growing sector of the trade?"
    unmerged = _answerer(hit, antecedents=False, second_sentence_ratio=0.0, continuation_weight=0.0)
    both = unmerged.answer(question, [hit])
    assert [c.quote for c in both.citations] == [
        "Specialty pharmacies supply rare drugs to patients.",
        "It is the fastest growing sector of the trade.",
    ]
    answer = _answerer(hit, second_sentence_ratio=0.0, continuation_weight=0.0).answer(question, [hit])
    assert [c.quote for c in answer.citations] == ["Specialty pharmacies supply rare drugs to patients."]
    assert answer.answer.count("Specialty pharmacies supply rare drugs") == 1


def test_rerank_lifts_the_passage_whose_one_sentence_holds_the_question(
    engine: Engine, tmp_path: Path
) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "spread.txt").write_text(
        "The harbour ledger is kept in the office. Copper prices rose in May.\n", encoding="utf-8"
    )
    (corpus / "together.txt").write_text("The harbour ledger records copper prices.\n", encoding="utf-8")
    engine.ingest([corpus])
    retriever = engine.retriever(k=5)
    by_source = {c.source: c.id for c in engine.corpus.chunks}
    spread, together = by_source["spread.txt"], by_source["together.txt"]
    query = "harbour ledger copper prices"
    words = tokens(query)
    idf = engine.corpus.lexical.idf
    share = sum(idf(w) for w in {"harbour", "ledger"}) / sum(idf(w) for w in set(words))
    ranked = retriever._rerank(query, [(spread, 0.9), (together, 0.8)])
    assert [cid for cid, _ in ranked] == [together, spread]
    assert dict(ranked)[together] == pytest.approx((0.8 + 0.3 * 1.0) / 1.3)
    assert dict(ranked)[spread] == pytest.approx((0.9 + 0.3 * share) / 1.3)
    retriever.coverage_weight = 0.0
    assert retriever._rerank(query, [(spread, 0.9), (together, 0.8)]) == [(spread, 0.9), (together, 0.8)]


def test_rerank_leaves_the_order_below_its_depth_and_keeps_scores_within_one(
    engine: Engine, tmp_path: Path
) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for i in range(4):
        (corpus / f"d{i}.txt").write_text(f"Copper note {i} for the harbour.\n", encoding="utf-8")
    engine.ingest([corpus])
    retriever = engine.retriever(k=5)
    retriever.rerank_depth = 2
    ids = sorted(c.id for c in engine.corpus.chunks)
    ranked = retriever._rerank("copper harbour", [(ids[0], 1.0), (ids[1], 0.9), (ids[2], 0.5), (ids[3], 0.4)])
    assert [cid for cid, _ in ranked][2:] == [ids[2], ids[3]]
    assert all(0.0 <= score <= 1.0 for _, score in ranked)


def test_a_further_sentence_leaning_on_one_not_chosen_gives_way_to_one_that_stands_alone() -> None:
    """Bad input tried: the same text with antecedents off, where the pronoun sentence is quoted alone."""
    hit = _one_chunk(
        "Pharmacies sell rare drugs. Shops are small. They sell rare drugs too. Clinics sell rare drugs."
    )
    question = "Who sells rare drugs?"
    plain: dict[str, Any] = {
        "sentences": 2,
        "second_sentence_ratio": 0.0,
        "form_bonus": 0.0,
        "proximity_weight": 0.0,
    }
    answerer = ExtractiveAnswerer(lambda _w: 1.0, lambda _q: [1.0, 0.0], AnswerSettings(**plain))
    # The three sentences holding every question word tie; the pronoun one would bring "Shops are small."
    assert [c.quote for c in answerer.answer(question, [hit]).citations] == [
        "Pharmacies sell rare drugs.",
        "Clinics sell rare drugs.",
    ]
    without = ExtractiveAnswerer(
        lambda _w: 1.0, lambda _q: [1.0, 0.0], AnswerSettings(antecedents=False, **plain)
    )
    assert [c.quote for c in without.answer(question, [hit]).citations] == [
        "Pharmacies sell rare drugs.",
        "They sell rare drugs too.",
    ]
