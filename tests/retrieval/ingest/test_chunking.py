"""Chunking: paragraph and sentence spans, exact offsets, size limits, headings, abbreviations, odd inputs."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from retrieval.ingest.chunking import Chunk, chunk, chunk_spans
from retrieval.ingest.files import Document
from retrieval.ingest.indexer import _stored_chunks
from retrieval.text.sentences import Span, paragraph_spans, sentence_spans

LONG_A = (
    "The facilities team descales the office coffee machine every Friday afternoon, "
    "after the last meeting, and writes the date on the board."
)
LONG_B = (
    "Decaf beans are kept in the left cupboard, next to the filters, "
    "and anyone who finishes a bag is asked to open the next one."
)


def _assert_exact(text: str, chunks: list[Chunk], max_chars: int) -> None:
    """Every chunk is text[start:end], trimmed, within max_chars, in order, and no content is lost."""
    previous_end = 0
    covered = [False] * len(text)
    for piece in chunks:
        assert text[piece.start : piece.end] == piece.text
        assert 0 < len(piece.text) <= max_chars
        assert not piece.text[0].isspace() and not piece.text[-1].isspace()
        assert piece.start >= previous_end
        previous_end = piece.end
        covered[piece.start : piece.end] = [True] * (piece.end - piece.start)
    lost = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert lost == []


def _assert_valid_spans(text: str, spans: list[Span], max_chars: int) -> None:
    """Spans are trimmed, in bounds, in order, at most max_chars, and only white space lies outside them."""
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        assert end - start <= max_chars
        assert not text[start].isspace() and not text[end - 1].isspace()
        assert text[previous_end:start].strip() == ""
        previous_end = end
    assert text[previous_end:].strip() == ""


def _repeat(unit: str, size: int) -> str:
    """unit repeated to exactly size characters."""
    return (unit * (size // len(unit) + 1))[:size]


# Each is one paragraph (no blank line) of 20,000 characters. The old code was quadratic on most: it read
# the rest of the paragraph again at every end mark and line break, and its regex a run of dots at every dot.
PATHOLOGICAL = {
    "one line, no spaces": "x" * 20_000,
    "only dots": "." * 20_000,
    "dots and spaces": _repeat(". ", 20_000),
    "spaces between two words": "a" + " " * 19_998 + "b",
    "a. repeated": _repeat("a. ", 20_000),
    "A. repeated, all single-letter abbreviations": _repeat("A. ", 20_000),
    "only newlines": "\n" * 20_000,
    "no sentence end at all": _repeat("word ", 20_000),
    "hard-wrapped lines, no end marks": _repeat("a hard wrapped line\n", 20_000),
    "every line ends a sentence": _repeat("End.\n", 20_000),
    "list items": _repeat("\n- item", 20_000),
    "marks and closers, never a space": _repeat(".'!)?\"…]", 20_000),
}


def _random_text(rng: random.Random) -> str:
    """Prose with sentences, abbreviations, hard wraps, blank lines, CRLF, headings, lists and giant words."""
    vocabulary = [
        "alpha",
        "beta",
        "U.S.",
        "Mr.",
        "e.g.",
        "3.5",
        "talks",
        "offer",
        "(note)",
        "“quoted”",
        "end",
    ]
    newline = "\r\n" if rng.random() < 0.3 else "\n"
    parts: list[str] = []
    for _ in range(rng.randint(0, 40)):
        roll = rng.random()
        if roll < 0.05:
            parts.append("x" * rng.randint(200, 2500))
        elif roll < 0.15:
            parts.append(newline * rng.randint(1, 3))
        elif roll < 0.2:
            parts.append(f"{newline}# Heading {rng.randint(1, 9)}{newline}")
        elif roll < 0.25:
            parts.append(f"{newline}- item{newline}")
        else:
            words = [rng.choice(vocabulary) for _ in range(rng.randint(1, 60))]
            parts.append(" ".join(words) + rng.choice([".", "!", "?", "", ". ", ".\t"]) + " ")
    return "".join(parts)


def test_paragraph_spans_are_trimmed_blocks_between_blank_lines() -> None:
    """Blank lines (even with spaces in them) separate paragraphs; surrounding white space is trimmed."""
    text = "  First block\nstill first.\n   \n\nSecond block.\n \t\nThird.  \n"
    spans = paragraph_spans(text)
    assert [text[s:e] for s, e in spans] == ["First block\nstill first.", "Second block.", "Third."]
    assert spans[0] == (2, 26)


def test_sentence_spans_use_absolute_offsets_inside_a_range() -> None:
    """Sentence spans of a sub-range are offsets into the whole text."""
    text = "Ignore this. Alpha is first. Beta is second! Gamma? Ignore that."
    start = text.index("Alpha")
    end = text.index(" Ignore that")
    spans = sentence_spans(text, start, end)
    assert [text[s:e] for s, e in spans] == ["Alpha is first.", "Beta is second!", "Gamma?"]
    assert spans[0][0] == start


def test_abbreviations_do_not_end_sentences() -> None:
    """U.S., Mr., Dr. and e.g. before a capital do not split; a real full stop does."""
    text = "The U.S. Senate met Mr. Smith and Dr. Jones, e.g. Tuesday. Then they left."
    spans = sentence_spans(text, 0, len(text))
    assert [text[s:e] for s, e in spans] == [
        "The U.S. Senate met Mr. Smith and Dr. Jones, e.g. Tuesday.",
        "Then they left.",
    ]


def test_blank_lines_split_sentences_without_end_marks() -> None:
    """A blank line ends a sentence even without punctuation; a single wrapped line does not."""
    text = "A heading without a stop\n\nprose that is hard\nwrapped over two lines\n\nlast words"
    spans = sentence_spans(text, 0, len(text))
    assert [text[s:e] for s, e in spans] == [
        "A heading without a stop",
        "prose that is hard\nwrapped over two lines",
        "last words",
    ]


def test_heading_is_merged_with_the_next_paragraph() -> None:
    """A short heading joins the paragraph after it; long paragraphs stay separate chunks."""
    text = f"# Coffee\n\n{LONG_A}\n\n{LONG_B}\n"
    chunks = chunk(text, max_chars=1000)
    assert [c.text for c in chunks] == [f"# Coffee\n\n{LONG_A}", LONG_B]
    assert chunks[0].start == 0
    assert chunks[1].start == text.index(LONG_B)


def test_heading_is_not_merged_when_that_would_exceed_max_chars() -> None:
    """A heading stays alone when heading + next paragraph would be longer than max_chars."""
    text = f"Title\n\n{LONG_A}"
    chunks = chunk(text, max_chars=len(LONG_A) + 3)
    assert [c.text for c in chunks] == ["Title", LONG_A]


def test_long_paragraph_is_packed_by_sentences() -> None:
    """A paragraph above max_chars is cut at sentence ends, never mid-sentence when sentences fit."""
    sentences = [f"Sentence number {i} says something quite ordinary about the talks." for i in range(30)]
    text = " ".join(sentences)
    chunks = chunk(text, max_chars=300)
    _assert_exact(text, chunks, 300)
    assert len(chunks) > 1
    for piece in chunks:
        assert piece.text.startswith("Sentence number ")
        assert piece.text.endswith("talks.")


def test_crlf_text_keeps_exact_offsets() -> None:
    """Windows line endings: offsets index the original string, \\r never starts or ends a chunk."""
    text = "Title\r\n\r\nFirst para. With two sentences.\r\n\r\n" + "\r\n\r\n".join([LONG_A, LONG_B]) + "\r\n"
    chunks = chunk(text, max_chars=1000)
    _assert_exact(text, chunks, 1000)
    assert chunks[0].text == f"Title\r\n\r\nFirst para. With two sentences.\r\n\r\n{LONG_A}"
    lf_text = text.replace("\r\n", "\n")
    assert [c.text.replace("\r\n", "\n") for c in chunks] == [c.text for c in chunk(lf_text, max_chars=1000)]
    assert [text[s:e] for s, e in paragraph_spans(text)] == [
        "Title",
        "First para. With two sentences.",
        LONG_A,
        LONG_B,
    ]
    spans = sentence_spans(text, 0, len(text))
    assert [text[s:e] for s, e in spans][:3] == ["Title", "First para.", "With two sentences."]


@pytest.mark.parametrize("text", ["", "   ", "\n\n\n", " \r\n \t\r\n"])
def test_empty_or_blank_text_gives_no_chunks(text: str) -> None:
    """Bad input tried: empty and whitespace-only texts (spaces, newlines, CRLF, tabs)."""
    assert chunk(text) == []
    assert paragraph_spans(text) == []


def test_single_giant_word_is_hard_cut() -> None:
    """Bad input tried: one 5,000-character word with no space to cut at."""
    text = "w" * 5000
    chunks = chunk(text, max_chars=1000)
    assert [(c.start, c.end) for c in chunks] == [(i, i + 1000) for i in range(0, 5000, 1000)]
    _assert_exact(text, chunks, 1000)


def test_giant_word_inside_prose_is_cut_and_prose_kept() -> None:
    """Bad input tried: a 5,000-character word between two normal sentences."""
    text = "Before the blob. " + "z" * 5000 + " After the blob."
    chunks = chunk(text, max_chars=1000)
    _assert_exact(text, chunks, 1000)
    assert chunks[0].text.startswith("Before the blob.")
    assert chunks[-1].text.endswith("After the blob.")


@pytest.mark.parametrize("max_chars", [200, 450, 1000])
def test_random_texts_keep_exact_offsets_and_size_limit(max_chars: int) -> None:
    """300 generated texts per size: offsets exact, no chunk above max_chars, no content dropped."""
    rng = random.Random(20240601 + max_chars)
    for _ in range(300):
        text = _random_text(rng)
        _assert_exact(text, chunk(text, max_chars=max_chars), max_chars)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wait... What?! Yes.", ["Wait...", "What?!", "Yes."]),
        ("A run....of dots. Then more.", ["A run....of dots.", "Then more."]),
        ("Done.   \n  ", ["Done."]),
        (
            "First line ends here.\nsecond line\nthird line:\n  More text",
            ["First line ends here.", "second line\nthird line:", "More text"],
        ),
        ("End.\r\n\tnext line", ["End.", "next line"]),
        ('He said "Stop." Then left.', ['He said "Stop."', "Then left."]),
        ("Ça va… Élan vital. ß ist klein.", ["Ça va…", "Élan vital. ß ist klein."]),
        ("Lists:\n- one\n- two\n1. three", ["Lists:", "- one", "- two", "1. three"]),
    ],
)
def test_sentence_spans_on_hand_checked_examples(text: str, expected: list[str]) -> None:
    """Runs of marks, marks with no space after, trailing white space, hard wraps, closers, non-ASCII case."""
    assert [text[s:e] for s, e in sentence_spans(text, 0, len(text))] == expected


def test_paragraph_spans_skip_thousands_of_blank_lines() -> None:
    """Bad input tried: 1,000 newlines, a word, 1,000 blank lines with tabs; a no-break space is not blank."""
    text = "\n" * 1000 + "x" + "\n \t\n" * 1000 + "y\n\xa0\nz  \n\n"
    spans = paragraph_spans(text)
    assert [text[s:e] for s, e in spans] == ["x", "y\n\xa0\nz"]
    assert spans[0] == (1000, 1001)


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=list(PATHOLOGICAL))
def test_pathological_paragraphs_give_valid_spans(text: str) -> None:
    """Bad input tried: each PATHOLOGICAL text; chunk and sentence spans are valid and cover all the text."""
    _assert_valid_spans(text, chunk_spans(text, max_chars=1000), 1000)
    _assert_valid_spans(text, sentence_spans(text, 0, len(text)), len(text))


def test_two_megabyte_paragraph_is_chunked_without_hanging() -> None:
    """Bad input tried: one 2 MB paragraph of hard-wrapped sentences with a 100,000-dot run in the middle."""
    # No clock here (house rule): chunking used to be quadratic in paragraph length (2 MB took 12 s, a long
    # run of dots never ended), so if that comes back this test hangs the suite instead.
    line = "The envoy said the talks went well. Dr. Lee was not sure; e.g. the offer\n"
    text = _repeat(line, 1_000_000) + "." * 100_000 + " " + _repeat(line, 900_000)
    spans = chunk_spans(text, max_chars=1000)
    _assert_valid_spans(text, spans, 1000)
    # Sentences are packed: chunks are nearly full, so their number is proportional to the length.
    assert len(text) / 1000 <= len(spans) <= len(text) / 900


def test_chunks_carry_the_line_their_start_is_on() -> None:
    """Bad input tried: a long one-line text (sentences, no line break, cut into many chunks), then the same
    sentences on short lines with CRLF and blank lines: spans are those chunk_spans gives, and each chunk's
    line is the number of line breaks before its start plus one."""
    sentence = "The envoy said the talks went well and the offer stands. "
    one_line = (sentence * 400).strip()
    many_lines = "".join(f"{sentence.strip()}\r\n" + ("\r\n" if n % 3 == 0 else "") for n in range(400))
    for text in (one_line, many_lines):
        chunks = chunk(text, max_chars=500)
        assert [(c.start, c.end) for c in chunks] == chunk_spans(text, max_chars=500)
        assert [c.line for c in chunks] == [text.count("\n", 0, c.start) + 1 for c in chunks]
        _assert_exact(text, chunks, 500)
    assert {c.line for c in chunk(one_line, max_chars=500)} == {1}
    assert len(chunk(one_line, max_chars=500)) > 40


def _cpu_seconds_to_chunk(text: str) -> float:
    """This process's CPU seconds to cut a file's text into stored chunks, line numbers included."""
    document = Document("log.txt", Path("log.txt"), text, "0" * 64)
    began = time.process_time()
    _stored_chunks(document, 1000)
    return time.process_time() - began


def test_chunking_short_lines_is_linear_in_size() -> None:
    """Bad input tried: 25,000 and 200,000 short lines (0.5 and 4.4 MB). Counting each chunk's line from the
    top of the text was quadratic (4.4 MB: 3.7 s for the count alone, 1,000,000 lines did not finish an
    ingest in 10 minutes); 8 times the text must cost about 8 times the CPU, under 30 times (slack for caches
    on a busy machine), the faster of three runs each."""
    small = "".join(f"line {n} of the log\n" for n in range(25_000))
    large = "".join(f"line {n} of the log\n" for n in range(200_000))
    one = min(_cpu_seconds_to_chunk(small) for _ in range(3))
    eight = min(_cpu_seconds_to_chunk(large) for _ in range(3))
    assert eight / max(one, 1e-3) < 30, f"0.5 MB {one:.3f} s, 4.4 MB {eight:.3f} s"
