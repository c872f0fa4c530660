"""Property-based round trips: odd file names, odd contents and odd questions through ingest -> ask -> cite.

Whatever the names and texts, every id that `ask` prints opens with `cite`, and every quote is the file's
exact text (read as UTF-8, newlines untouched) at its offsets. The model is real, so examples are few.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.cli import cli
from bot.render import safe
from retrieval.chain import MAX_QUESTION_CHARS
from retrieval.engine import Engine
from retrieval.errors import InputError
from retrieval.inference.embedder import Embedder
from retrieval.search.citations import citation_id, parse_citation_id
from retrieval.types import Answer
from tests.conftest import make_engine

ENGINE_RUNS = settings(
    max_examples=18,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CLI_RUNS = settings(ENGINE_RUNS, max_examples=5)

_WORDS = (
    "coffee machine descaled Friday facilities team decaf beans cupboard release ships March manager "
    "Priya Raman Stockholm sanctions offer negotiations vault opens dawn budget approved council"
)
VOCAB = _WORDS.split()
# Pieces a file name is built from: the awkward ones named, then any character a Linux name may hold.
NAME_PIECES = [
    " ",
    "  ",
    "#",
    "%",
    "%20",
    "%41",
    "#1-2",
    "\n",
    "\t",
    "\r",
    "é",
    "ß",
    "Ω",
    "日本",
    "😀",
    "👩‍💻",
]
NAME_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="/\x00")
TEXT_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
CONTROL = [
    "\x1b[2J",
    "\x1b]0;pwned\x07",
    "\x07",
    "\x0b",
    "\x0c",
    "\x85",
    "\u2028",
    "\r",
    "\t",
    "\ufeff",
    "\x7f",
]
SUFFIXES = [".txt", ".md", ".TXT"]
MAX_NAME_BYTES = 200
# What readable output must never hold raw: C0 controls but tab and newline, DEL and C1 controls.
TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _fits(name: str) -> bool:
    return not name.startswith(".") and len(name.encode("utf-8")) <= MAX_NAME_BYTES


stems = st.lists(st.one_of(st.sampled_from(NAME_PIECES), NAME_CHARS), min_size=1, max_size=10).map("".join)
long_stems = st.tuples(st.sampled_from(["a", "é", "日", "😀", "a b"]), st.integers(40, 200)).map(
    lambda p: (p[0] * p[1]).encode("utf-8")[: MAX_NAME_BYTES - 4].decode("utf-8", "ignore")
)
names = st.tuples(st.one_of(stems, long_stems), st.sampled_from(SUFFIXES)).map("".join).filter(_fits)


@st.composite
def sentences(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(VOCAB), min_size=3, max_size=9))
    return " ".join(words).capitalize() + draw(st.sampled_from([".", "!", "?", "...", ""]))


@st.composite
def contents(draw: st.DrawFn) -> str:
    """Sentences from VOCAB, mixed with arbitrary text and control characters; CRLF or LF; or nothing."""
    kind = draw(st.sampled_from(["prose", "prose", "prose", "empty", "blank", "arbitrary"]))
    if kind == "empty":
        return ""
    if kind == "blank":
        return draw(st.text(st.sampled_from(" \t\r\n\x0b\x0c\u3000"), min_size=1, max_size=20))
    if kind == "arbitrary":
        return draw(st.text(TEXT_CHARS, min_size=1, max_size=600))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    pieces = draw(
        st.lists(
            st.one_of(
                sentences(),
                sentences(),
                st.text(TEXT_CHARS, max_size=30),
                st.sampled_from(CONTROL),
                st.sampled_from([newline, newline * 2, "# Heading" + newline, "- item" + newline]),
            ),
            min_size=1,
            max_size=14,
        )
    )
    return draw(st.sampled_from([" ", newline])).join(pieces) + draw(st.sampled_from(["", newline]))


@st.composite
def folders(draw: st.DrawFn) -> dict[str, str]:
    """File name (relative, maybe one folder down) -> text; may hold two names that differ only by case."""
    files = draw(st.dictionaries(names, contents(), min_size=1, max_size=3))
    first = next(iter(files))
    if draw(st.booleans()) and first.swapcase() != first and _fits(first.swapcase()):
        files[first.swapcase()] = draw(contents())
    if draw(st.booleans()):
        folder = draw(stems.filter(lambda s: _fits(s) and s not in files))
        name = draw(names)
        files[f"{folder}/{name}"] = draw(contents())
    return files


def answerable(words: list[str]) -> st.SearchStrategy[str]:
    """Questions that must be answered (or abstained from): words from the files, arbitrary text."""
    from_files = st.lists(st.sampled_from(words or VOCAB), min_size=1, max_size=8).map(" ".join)
    return st.one_of(
        from_files,
        from_files.map(lambda q: f"What is the {q}?"),
        st.text(TEXT_CHARS, min_size=1, max_size=80).filter(lambda q: refusal(q) is None),
        st.sampled_from(["?", "the of and", "#0-5", "%41"]),
    )


def questions(words: list[str]) -> st.SearchStrategy[str]:
    """Answerable ones, and ones to refuse: nothing, white space, too long, a byte that is not UTF-8."""
    return st.one_of(
        answerable(words),
        answerable(words),
        st.sampled_from(["", " ", "\n\t ", "\u3000"]),
        st.integers(MAX_QUESTION_CHARS - 2, MAX_QUESTION_CHARS + 3).map(
            lambda n: "word " * (n // 5) + "x" * (n % 5)
        ),
        answerable(words).map(lambda q: q + " \udcff"),  # what argv holds for a byte that is not UTF-8
    )


@dataclass
class Built:
    root: Path
    store: Path


@contextmanager
def built(files: dict[str, str]) -> Iterator[Built]:
    """The files written (UTF-8, exactly these characters) into a fresh temporary folder."""
    with tempfile.TemporaryDirectory(prefix="citebot-prop-") as tmp:
        root = Path(tmp).resolve() / "corpus"
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
        yield Built(root, Path(tmp) / "store")


def file_text(path: str) -> str:
    """A file as citebot must read it: UTF-8, newlines untouched."""
    return Path(path).read_bytes().decode("utf-8")


def refusal(question: str) -> str | None:
    """The InputError message the question must give, or None when it must be answered."""
    text = " ".join(question.split())
    if not text:
        return "The question is empty"
    if len(text) > MAX_QUESTION_CHARS:
        return f"The question is too long ({len(text)} characters; at most {MAX_QUESTION_CHARS})"
    bad = next((i for i, ch in enumerate(text) if "\ud800" <= ch <= "\udfff"), None)
    if bad is not None:
        return f"The question is not valid UTF-8 text (character {bad + 1})"
    return None


def check_answer(engine: Engine, answer: Answer, case: Built) -> None:
    """Every citation and passage id opens with cite and quotes the file exactly where it says."""
    for c in answer.citations:
        assert Path(c.path) == case.root / c.source
        text = file_text(c.path)
        assert text[c.start : c.end] == c.quote
        assert c.line == text.count("\n", 0, c.start) + 1
        assert c.stale is False
        assert c.id == citation_id(c.source, c.start, c.end)
        cited = engine.cite(c.id)
        assert (cited.id, cited.source, cited.path) == (c.id, c.source, c.path)
        assert (cited.start, cited.end, cited.quote, cited.line) == (c.start, c.end, c.quote, c.line)
        assert text[c.start - len(cited.before) : c.start] == cited.before
        assert text[c.end : c.end + len(cited.after)] == cited.after
        assert cited.stale is False
        assert f"{c.quote} [{c.n}]" in answer.answer
    for p in answer.passages:
        text = file_text(p.path)
        assert text[p.start : p.end] == p.text
        assert p.id == citation_id(p.source, p.start, p.end)
        assert engine.cite(p.id).quote == p.text


@ENGINE_RUNS
@given(files=folders(), data=st.data())
def test_every_id_ask_gives_opens_with_cite_and_quotes_the_file(
    embedder: Embedder, files: dict[str, str], data: st.DataObject
) -> None:
    """Odd names (spaces at the ends, #, %, newline, tab, emoji, 200 bytes, case twins) and odd texts
    (CRLF, controls, empty, blank) all ingest under their own names; each answer's ids round-trip."""
    with built(files) as case:
        engine = make_engine(case.store, embedder, chunk_chars=data.draw(st.sampled_from([200, 1000])))
        summary = engine.ingest([case.root])
        assert (summary.added, summary.failed, summary.skipped) == (len(files), 0, 0), summary
        assert set(engine.store.documents()) == set(files)
        words = sorted({w for text in files.values() for w in re.findall(r"\w+", text)})
        for question in data.draw(st.lists(questions(words), min_size=1, max_size=3)):
            expected = refusal(question)
            if expected is not None:
                with pytest.raises(InputError) as refused:
                    engine.ask(question)
                assert str(refused.value) == expected
                event("question refused")
                continue
            answer = engine.ask(question)
            event("abstained" if answer.abstained else f"answered, {len(answer.citations)} citation(s)")
            check_answer(engine, answer, case)


@settings(ENGINE_RUNS, max_examples=10)
@given(files=folders(), data=st.data())
def test_a_file_changed_since_ingest_is_cited_stale_from_the_index(
    embedder: Embedder, files: dict[str, str], data: st.DataObject
) -> None:
    """Cited files edited or deleted after ingest: every id still opens, marked stale, with the quote
    `ask` gave before the change (the indexed text); ids into unchanged files stay fresh."""
    with built(files) as case:
        engine = make_engine(case.store, embedder, chunk_chars=200)
        engine.ingest([case.root])
        words = sorted({w for text in files.values() for w in re.findall(r"\w+", text)})
        question = data.draw(answerable(words))
        before = engine.ask(question)
        quotes = {c.id: c.quote for c in before.citations} | {p.id: p.text for p in before.passages}
        sources = {c.source for c in before.passages}
        changed = data.draw(st.sets(st.sampled_from(sorted(sources)), max_size=2)) if sources else set()
        for source in changed:
            path = case.root / source
            if data.draw(st.booleans()):
                path.unlink()
            else:
                path.write_bytes((files[source] + "\nThe vault was moved.").encode("utf-8"))
        after = engine.ask(question)
        assert [(c.id, c.quote) for c in after.citations] == [(c.id, c.quote) for c in before.citations]
        assert [c.stale for c in after.citations] == [c.source in changed for c in after.citations]
        spans = [(c.id, c.source) for c in before.citations] + [(p.id, p.source) for p in before.passages]
        for cid, source in spans:
            cited = engine.cite(cid)
            assert (cited.quote, cited.stale) == (quotes[cid], source in changed)


@settings(max_examples=300, deadline=None)
@given(
    source=st.text(NAME_CHARS, min_size=1, max_size=60),
    start=st.integers(0, 10**12),
    size=st.integers(1, 10**6),
)
def test_citation_ids_parse_back_and_print_safely(source: str, start: int, size: int) -> None:
    """Any file name and offsets: the id parses back to them, has no white space at either end, no
    unprintable character (so a terminal shows it as it is and a shell word can hold it)."""
    cid = citation_id(source, start, start + size)
    assert parse_citation_id(cid) == (source, start, start + size)
    assert cid == cid.strip() and cid.isprintable()
    assert cid.endswith(f"#{start}-{start + size}")


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def printed_ids(stdout: str, answer: str) -> list[str]:
    """The ids the readable `ask` printed below the answer, one per `id ...` line (inner spaces kept)."""
    assert stdout.startswith(safe(answer) + "\n")
    return re.findall(r"^ +id (.+)$", stdout.removeprefix(safe(answer)), flags=re.MULTILINE)


@CLI_RUNS
@given(files=folders(), data=st.data())
def test_cli_cite_opens_every_id_cli_ask_prints(files: dict[str, str], data: st.DataObject) -> None:
    """The same round trip through the commands: the ids `ask --json` and readable `ask` print, each given
    to `cite --json` and `cite` (exit 0, the same quote, no raw control character on the terminal); a
    refused question is one `Error:` line and exit 2."""
    with built(files) as case:
        ingested = run("ingest", case.root, "--json", "--store", case.store)
        assert ingested.exit_code == 0, ingested.output
        assert json.loads(ingested.stdout)["added"] == len(files)
        words = sorted({w for text in files.values() for w in re.findall(r"\w+", text)})
        question = data.draw(questions(words))
        expected = refusal(question)
        asked = run("ask", "--json", "--store", case.store, "--", question)
        if expected is not None:
            assert asked.exit_code == 2, asked.output
            assert asked.stdout == ""
            assert asked.stderr.startswith(f"Error: {expected}") and asked.stderr.count("\n") == 1
            assert "Traceback" not in asked.output
            return
        assert asked.exit_code == 0, asked.output
        answer = json.loads(asked.stdout)
        quotes = {c["id"]: c["quote"] for c in answer["citations"]}
        quotes.update({p["id"]: p["text"] for p in answer["passages"] if p["id"] not in quotes})
        for c in answer["citations"]:
            assert file_text(c["path"])[c["start"] : c["end"]] == c["quote"]
        shown = run("ask", "--store", case.store, "--", question)
        assert shown.exit_code == 0, shown.output
        assert not TERMINAL_CONTROL.search(shown.stdout)
        ids = printed_ids(shown.stdout, answer["answer"])
        assert set(ids) <= set(quotes)
        assert len(ids) == (
            min(3, len(answer["passages"])) if answer["abstained"] else len(answer["citations"])
        )
        for cid, quote in quotes.items():
            cited = run("cite", "--json", "--store", case.store, "--", cid)
            assert cited.exit_code == 0, (cid, cited.output)
            assert json.loads(cited.stdout)["quote"] == quote
        for cid in ids:
            readable = run("cite", "--store", case.store, "--", cid)
            assert readable.exit_code == 0, (cid, readable.output)
            assert not TERMINAL_CONTROL.search(readable.stdout)
            assert f"»{safe(quotes[cid])}«" in readable.stdout
