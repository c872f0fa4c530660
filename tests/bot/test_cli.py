"""The `citebot` command through click's CliRunner, plus one run of the installed console script."""

from __future__ import annotations

import builtins
import io
import json
import os
import pathlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from retrieval.ingest.chunking import chunk
from tests.conftest import SEED_FILE, SEEDS, STOCKHOLM
from tests.helpers.console import run_script

WORLD_CUP = "Who won the 2018 World Cup?"
EMPTY_QUESTION = 'Error: The question is empty: citebot ask "What did the US offer in Stockholm?"\n'
INGEST_KEYS = {
    "added",
    "updated",
    "unchanged",
    "removed",
    "failed",
    "skipped",
    "ignored",
    "ignored_types",
    "chunks",
    "seconds",
}
PASSAGE_KEYS = {"id", "source", "path", "start", "end", "score"}
SUMMARY = re.compile(
    r"Ingested in \d+\.\d\d s: (\d+) added, (\d+) updated, (\d+) unchanged, (\d+) removed, "
    r"(\d+) failed, (\d+) skipped files; (\d+) chunks written\.\n"
)


def run(*args: str | Path, stdin: str | None = None) -> Result:
    """citebot with these arguments, in process; the model is cached per process so this is cheap."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=stdin)


def file_text(corpus: Path, source: str) -> str:
    """A corpus file exactly as citebot reads it (UTF-8, newlines untouched)."""
    return (corpus / source).read_bytes().decode("utf-8")


def expected_chunks(corpus: Path) -> int:
    """How many chunks the corpus files make, counted with the chunker directly."""
    files = [p for p in corpus.rglob("*") if p.suffix in (".txt", ".md")]
    return sum(len(chunk(p.read_bytes().decode("utf-8"))) for p in files)


def ask_json(store: Path, question: str, *extra: str) -> dict[str, Any]:
    """`ask --json` that must succeed and print exactly one JSON object."""
    result = run("ask", "--json", question, "--store", store, *extra)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    answer: dict[str, Any] = json.loads(lines[0])
    return answer


@pytest.fixture(scope="module")
def shared_cache() -> dict[str, Path]:
    """Where this module's one ingested copy of the corpus lives, once built."""
    return {}


@pytest.fixture
def shared(shared_cache: dict[str, Path], corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the corpus fixture ingested once per module through the CLI (ingest embeds every
    sentence, ~2 s); built inside a test so the offline guard is on. Tests must not change it."""
    if not shared_cache:
        root = tmp_path_factory.mktemp("shared")
        shutil.copytree(corpus, root / "corpus")
        result = run("ingest", root / "corpus", "--json", "--store", root / "store")
        assert result.exit_code == 0, result.output
        shared_cache.update(corpus=root / "corpus", store=root / "store")
    return shared_cache["corpus"]


@pytest.fixture
def store(shared: Path, shared_cache: dict[str, Path]) -> Path:
    """The shared ingested store (read-only)."""
    return shared_cache["store"]


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path Python opens or reads from now on (to prove some file is never read)."""
    seen: list[str] = []

    def recording(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(file: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(os.fsdecode(file) if isinstance(file, str | bytes | os.PathLike) else repr(file))
            return real(file, *args, **kwargs)

        return wrapper

    real_read_bytes = pathlib.Path.read_bytes
    real_read_text = pathlib.Path.read_text

    def read_bytes(self: Path) -> bytes:
        seen.append(str(self))
        return real_read_bytes(self)

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        seen.append(str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", recording(builtins.open))
    monkeypatch.setattr(io, "open", recording(io.open))
    monkeypatch.setattr(os, "open", recording(os.open))
    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)
    monkeypatch.setattr(pathlib.Path, "read_text", read_text)
    return seen


def test_ingest_json_prints_exactly_one_summary_object(tmp_path: Path, corpus: Path) -> None:
    """`ingest --json`: one JSON object with the summary keys, counts right, nothing else on stdout."""
    result = run("ingest", corpus, "--json", "--store", tmp_path / "store")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    summary = json.loads(result.stdout)
    assert set(summary) == INGEST_KEYS
    assert {k: summary[k] for k in INGEST_KEYS - {"seconds"}} == {
        "added": 3,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
        "failed": 0,
        "skipped": 0,
        "ignored": 0,
        "ignored_types": {},
        "chunks": expected_chunks(corpus),
    }
    assert isinstance(summary["seconds"], float) and summary["seconds"] >= 0
    assert result.stderr == ""


def test_ingest_prints_the_human_summary_line(tmp_path: Path, corpus: Path) -> None:
    """Without --json: the one summary line; a second run finds every file unchanged."""
    first = run("ingest", corpus, "--store", tmp_path / "store")
    assert first.exit_code == 0, first.output
    match = SUMMARY.fullmatch(first.stdout)
    assert match, first.stdout
    assert match.groups() == ("3", "0", "0", "0", "0", "0", str(expected_chunks(corpus)))
    again = run("ingest", corpus, "--store", tmp_path / "store")
    match = SUMMARY.fullmatch(again.stdout)
    assert match, again.stdout
    assert match.groups() == ("0", "0", "3", "0", "0", "0", "0")


def test_ask_prints_the_answer_and_its_sources(store: Path) -> None:
    """Readable `ask`: the cited answer, a blank line, then one numbered source per citation with its id."""
    answer = ask_json(store, STOCKHOLM)
    result = run("ask", STOCKHOLM, "--store", store)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == answer["answer"]
    assert "[1]" in lines[0]
    # The scorer is unsure of this editorial's answer (news, not the Wikipedia it was fitted on): it says so.
    assert answer["low_confidence"] and 0 < answer["confidence"] < 0.5
    warning = f"Low confidence ({answer['confidence']:.0%}): the documents may not answer this; "
    assert lines[1:5] == ["", warning + "check the quoted source before relying on it.", "", "Sources:"]
    first = answer["citations"][0]
    assert lines[5].startswith(f'  [1] {first["source"]}, line {first["line"]}: "During the negotiations')
    assert lines[6] == f"      id {first['id']}"
    assert len(lines) == 5 + 2 * len(answer["citations"])


def test_ask_json_has_the_documented_shape(store: Path, shared: Path) -> None:
    """`ask --json`: the Answer keys; at most k passages of at most 1,000 characters, each its file's text."""
    answer = ask_json(store, STOCKHOLM)
    assert {"question", "answer", "abstained", "citations", "passages", "timings_ms"} <= set(answer)
    assert answer["question"] == STOCKHOLM
    assert 0 < len(answer["passages"]) <= 5
    for passage in answer["passages"]:
        assert set(passage) >= PASSAGE_KEYS
        assert len(passage["text"]) <= 1000
        assert passage["id"] == f"{passage['source']}#{passage['start']}-{passage['end']}"
        assert file_text(shared, passage["source"])[passage["start"] : passage["end"]] == passage["text"]
    assert set(answer["timings_ms"]) >= {"retrieve", "answer", "total"}


def test_ask_k_two_gives_two_passages(store: Path) -> None:
    """`--k 2` retrieves exactly two passages."""
    assert len(ask_json(store, STOCKHOLM, "--k", "2")["passages"]) == 2


def test_stockholm_question_quotes_the_offer_exactly(store: Path, shared: Path) -> None:
    """The seed question is answered, the first quote names the offer, every quote is the file text."""
    answer = ask_json(store, STOCKHOLM)
    assert answer["abstained"] is False
    assert "lift certain sanctions" in answer["citations"][0]["quote"]
    assert [c["n"] for c in answer["citations"]] == list(range(1, len(answer["citations"]) + 1))
    for citation in answer["citations"]:
        text = file_text(shared, citation["source"])
        assert text[citation["start"] : citation["end"]] == citation["quote"]
        assert citation["line"] == text.count("\n", 0, citation["start"]) + 1
        assert f"{citation['quote']} [{citation['n']}]" in answer["answer"]


def test_unanswerable_question_abstains_with_exit_zero(store: Path) -> None:
    """A question the documents cannot answer: the abstain text, no citations, closest matches listed."""
    answer = ask_json(store, WORLD_CUP)
    assert answer["abstained"] is True
    assert answer["answer"] == "I could not find this in the documents."
    assert answer["citations"] == []
    result = run("ask", WORLD_CUP, "--store", store)
    assert result.exit_code == 0
    assert result.stdout.startswith(
        "I could not find this in the documents.\n\nClosest matches (not an answer):\n  - "
    )


def test_ask_without_a_store_says_so_and_ingests_nothing(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input tried: `ask` naming a store that does not exist: exit 2, one line, nothing created."""
    monkeypatch.setenv("CITEBOT_CORPUS", str(corpus))
    result = run("ask", "--json", STOCKHOLM, "--store", tmp_path / "fresh")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: No citebot store at {tmp_path / 'fresh'}; run `citebot ingest FOLDER` to make one\n"
    )
    assert not (tmp_path / "fresh").exists()


BATCH = (
    json.dumps({"id": "q1", "question": STOCKHOLM})
    + "\nnot json at all\n"
    + json.dumps({"id": "q3", "text": "no question key"})
    + "\n\n"
    + json.dumps({"id": "q5", "question": "   "})
    + "\n"
    + json.dumps(["a", "list"])
    + "\n"
    + json.dumps({"id": 7, "question": WORLD_CUP})
    + "\n"
)


def _check_batch(result: Result) -> None:
    assert result.exit_code == 1, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["q1", None, "q3", "q5", None, 7]
    assert rows[0]["abstained"] is False and "lift certain sanctions" in rows[0]["citations"][0]["quote"]
    assert rows[1] == {"id": None, "line": 2, "error": "Expecting value: line 1 column 1 (char 0)"}
    assert rows[2] == {"id": "q3", "line": 3, "error": 'the line has no "question" string'}
    assert rows[3] == {"id": "q5", "line": 5, "error": "The question is empty"}
    assert rows[4] == {"id": None, "line": 6, "error": 'each line must be a JSON object {"id", "question"}'}
    assert rows[5]["abstained"] is True and rows[5]["question"] == WORLD_CUP


def test_batch_file_answers_good_lines_and_reports_bad_ones(store: Path, tmp_path: Path) -> None:
    """Bad input tried: a line that is not JSON, one without "question", a blank question, a JSON list."""
    questions = tmp_path / "questions.jsonl"
    questions.write_text(BATCH, encoding="utf-8")
    _check_batch(run("ask", "--batch", questions, "--store", store))


def test_batch_from_stdin(store: Path) -> None:
    """Bad input tried: the same mixed lines as the file test, piped on stdin with `--batch -`."""
    _check_batch(run("ask", "--batch", "-", "--store", store, stdin=BATCH))


def test_batch_of_good_lines_exits_zero(store: Path) -> None:
    """All lines good: one JSON line per question, in order, ids carried, exit 0."""
    lines = "".join(json.dumps({"id": i, "question": q}) + "\n" for i, q in enumerate([STOCKHOLM, WORLD_CUP]))
    result = run("ask", "--batch", "-", "--store", store, stdin=lines)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["id"], r["question"], r["abstained"]) for r in rows] == [
        (0, STOCKHOLM, False),
        (1, WORLD_CUP, True),
    ]


def _context(text: str, start: int, end: int) -> tuple[str, str, str]:
    """Computed independently of the product: the header's line part, and the two lines before / after."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()  # the final newline ends the last line; it does not start another
    first = text.count("\n", 0, start) + 1
    last = first + text.count("\n", start, end)
    top = max(0, first - 3)
    context_start = sum(len(line) + 1 for line in lines[:top])
    context_end = context_start + len("\n".join(lines[top : last + 2]))
    where = f"line {first}" + (f"-{last}" if last != first else "")
    return where, text[context_start:start], text[end:context_end]


def test_cite_every_id_that_ask_printed(store: Path, shared: Path) -> None:
    """Each id `ask` printed (sources and closest matches) shows its file, lines, quote and lines before."""
    shown: list[str] = []
    for question in (STOCKHOLM, WORLD_CUP, "When is the coffee machine descaled?"):
        printed = run("ask", question, "--store", store).stdout
        shown += re.findall(r"^ +id (\S+)$", printed, flags=re.MULTILINE)
    assert len(shown) >= 5
    for cid in shown:
        source, start, end = re.fullmatch(r"(.+)#(\d+)-(\d+)", cid).groups()  # type: ignore[union-attr]
        text = file_text(shared, source)
        where, before, _after = _context(text, int(start), int(end))
        result = run("cite", cid, "--store", store)
        assert result.exit_code == 0, result.output
        header, blank, body = result.stdout.split("\n", 2)
        assert header == f"{source}, {where}  ({(shared / source).resolve()}, characters {start}-{end})"
        assert blank == ""
        assert body.startswith(f"{before}»{text[int(start) : int(end)]}«")
        after = body.removeprefix(f"{before}»{text[int(start) : int(end)]}«").removesuffix("\n")
        assert text[int(end) :].startswith(after)
        as_json = json.loads(run("cite", "--json", cid, "--store", store).stdout)
        assert (as_json["id"], as_json["quote"], as_json["before"]) == (
            cid,
            text[int(start) : int(end)],
            before,
        )


@pytest.mark.parametrize("which", ["mid-line quote", "quote ending at a line end"])
def test_cite_shows_two_lines_after_the_quote(store: Path, shared: Path, which: str) -> None:
    """The context after a quote is the rest of its line and the next two lines, wherever the quote ends."""
    text = file_text(shared, SEED_FILE.name)
    start = text.index("During the negotiations")
    end = text.index("denuclearization.", start) + len("denuclearization.")
    if which == "quote ending at a line end":
        end = text.index("\n", start)
    _where, before, after = _context(text, start, end)
    assert after.count("\n") == 2 and after.strip()
    result = run("cite", f"{SEED_FILE.name}#{start}-{end}", "--store", store)
    assert result.exit_code == 0, result.output
    assert result.stdout.split("\n", 2)[2] == f"{before}»{text[start:end]}«{after}\n"


@pytest.mark.parametrize(
    ("citation", "message"),
    [
        (
            "../../etc/passwd#0-30",
            "Unknown citation '../../etc/passwd#0-30': no indexed file is called '../../etc/passwd'",
        ),
        ("/etc/passwd#0-30", "Unknown citation '/etc/passwd#0-30': no indexed file is called '/etc/passwd'"),
        (
            "../secret.txt#0-10",
            "Unknown citation '../secret.txt#0-10': no indexed file is called '../secret.txt'",
        ),
        ("nonsense", "Not a citation id: 'nonsense' (expected FILE#START-END, e.g. notes.txt#120-250)"),
        ("x.txt#5-2", "Not a citation id: 'x.txt#5-2' (END must be greater than START)"),
        (
            "coffee.md#0-99999",
            "Unknown citation 'coffee.md#0-99999': coffee.md has only {coffee_chars} characters",
        ),
    ],
)
def test_cite_rejects_ids_outside_the_index(
    store: Path, shared: Path, opened: list[str], citation: str, message: str
) -> None:
    """Bad input tried: path traversal, an absolute path, a decoy beside the corpus, garbage, END<START,
    an END past the end of the file."""
    decoy = shared.parent / "secret.txt"
    decoy.write_text("TOP SECRET decoy text\n", encoding="utf-8")
    opened.clear()
    result = run("cite", citation, "--store", store)
    assert result.exit_code == 2
    coffee_chars = len(file_text(shared, "coffee.md"))
    assert result.stderr == f"Error: {message.format(coffee_chars=coffee_chars)}\n"
    assert result.stdout == ""
    assert "TOP SECRET" not in result.output
    assert opened, "the recorder saw no file at all, so it proves nothing"
    assert [p for p in opened if "passwd" in p or "secret" in p] == []


def test_cite_after_the_file_changed_says_so(tmp_path: Path, corpus: Path) -> None:
    """Bad input tried: a citation into a file edited after ingest, then into the same file deleted.

    Both are served from the indexed text, marked stale: `ask` and `cite` agree on what was quoted.
    """
    store = tmp_path / "store"
    assert run("ingest", corpus / "coffee.md", "--store", store).exit_code == 0
    first = ask_json(store, "When is the coffee machine descaled?")["citations"][0]
    cid = first["id"]
    assert cid.startswith("coffee.md#") and first["stale"] is False
    fresh = json.loads(run("cite", cid, "--json", "--store", store).stdout)
    assert fresh["stale"] is False
    (corpus / "coffee.md").write_text("# Coffee\n\nWe switched to tea.\n", encoding="utf-8")
    answer = ask_json(store, "When is the coffee machine descaled?")
    assert answer["citations"][0]["stale"] is True
    assert answer["citations"][0]["quote"] == first["quote"]
    text = run("ask", "When is the coffee machine descaled?", "--store", store).stdout
    assert "coffee.md, line 3 (changed since it was indexed)" in text
    assert "Note: a cited file changed since it was indexed; run `citebot ingest` to refresh." in text
    for change in ("edited", "deleted"):
        if change == "deleted":
            (corpus / "coffee.md").unlink()
        result = run("cite", cid, "--json", "--store", store)
        assert result.exit_code == 0, result.output
        cited = json.loads(result.stdout)
        assert (cited["stale"], cited["quote"]) == (True, fresh["quote"])
        assert (cited["before"], cited["after"]) == (fresh["before"], fresh["after"])
        shown = run("cite", cid, "--store", store).stdout
        assert "Note: the file changed since it was indexed; this is the indexed text." in shown
        assert f"»{fresh['quote']}«" in shown


def test_status_shows_store_documents_chunks_model_and_last_ingest(store: Path, shared: Path) -> None:
    """`status` and `status --json` report the same store, counts, model and ingest time."""
    as_json = run("status", "--json", "--store", store)
    assert as_json.exit_code == 0, as_json.output
    info = json.loads(as_json.stdout)
    assert info["store"] == f"{store} (collection citebot)"
    assert (info["documents"], info["chunks"]) == (3, expected_chunks(shared))
    assert info["model"] == "all-MiniLM-L6-v2"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", info["last_ingested"])
    text = run("status", "--store", store)
    assert text.exit_code == 0
    assert text.stdout == (
        f"Store:         {store} (collection citebot)\n"
        "Chosen as:     named by --store or CITEBOT_STORE\n"
        f"Documents:     3\n"
        f"Chunks:        {expected_chunks(shared)}\n"
        f"Model:         all-MiniLM-L6-v2\n"
        f"Last ingested: {info['last_ingested']}\n"
        f"Variant:       {info['build']['variant']}\n"
        "Dimension:     384\n"
        "Chunk size:    1000 characters\n"
        "Chunker:       version 1\n"
        "Store format:  2\n"
    )


def test_status_without_a_store_says_to_ingest(tmp_path: Path) -> None:
    """Bad input tried: `status` on a store folder that does not exist (and must not be created)."""
    result = run("status", "--store", tmp_path / "nowhere")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: No citebot store at {tmp_path / 'nowhere'}; run `citebot ingest FOLDER` to make one\n"
    )
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("args", [["ask", ""], ["ask", "   \t "], ["ask"], ["ask", "--json", "\n"]])
def test_empty_question_is_refused(tmp_path: Path, args: list[str]) -> None:
    """Bad input tried: an empty string, white space only, no question at all, a bare newline with --json."""
    result = run(*args, "--store", tmp_path / "store")
    assert result.exit_code == 2
    assert result.stderr == EMPTY_QUESTION
    assert result.stdout == ""
    assert not (tmp_path / "store").exists()


def test_too_long_question_is_refused(store: Path) -> None:
    """Bad input tried: a question of 2,001 characters."""
    result = run("ask", "x" * 2001, "--store", store)
    assert result.exit_code == 2
    assert result.stderr == "Error: The question is too long (2001 characters; at most 2000)\n"


def test_ingest_of_a_missing_path_names_it(tmp_path: Path) -> None:
    """Bad input tried: ingesting a path that does not exist."""
    missing = tmp_path / "no-such-folder"
    result = run("ingest", missing, "--store", tmp_path / "store")
    assert result.exit_code == 2
    assert result.stderr == f"Error: No such file or folder: {missing}\n"


def test_ingest_with_a_binary_file_fails_it_and_keeps_the_others(tmp_path: Path, corpus: Path) -> None:
    """Bad input tried: a .txt file holding NUL bytes and a .md file that is not UTF-8, beside good files."""
    (corpus / SEED_FILE.name).unlink()  # two small good files are enough, and quicker to embed
    (corpus / "blob.txt").write_bytes(b"PK\x03\x04\x00\x00binary")
    (corpus / "latin.md").write_bytes("caf\u00e9 au lait".encode("latin-1"))
    result = run("ingest", corpus, "--json", "--store", tmp_path / "store")
    assert result.exit_code == 1
    assert result.stderr == (
        "failed: blob.txt: binary file (contains NUL bytes)\nfailed: latin.md: not UTF-8 text (byte 3)\n"
    )
    summary = json.loads(result.stdout)
    assert (summary["added"], summary["failed"]) == (2, 2)
    status = json.loads(run("status", "--json", "--store", tmp_path / "store").stdout)
    assert status["documents"] == 2
    assert ask_json(tmp_path / "store", "Who is the release manager?")["abstained"] is False


@pytest.mark.parametrize(
    "args", [["ingest"], ["ask", STOCKHOLM], ["status"], ["cite", "coffee.md#0-8"], ["ask", "--json", "hi"]]
)
def test_foreign_store_folder_is_refused_without_a_traceback(
    tmp_path: Path, corpus: Path, args: list[str]
) -> None:
    """Bad input tried: --store pointing at a folder of someone else's files."""
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"\xff\xd8\xff")
    if args == ["ingest"]:
        args = ["ingest", str(corpus)]
    result = run(*args, "--store", foreign)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {foreign} is not a citebot store (no citebot-store.json); "
        "choose another --store or remove that folder\n"
    )
    assert "Traceback" not in result.output
    assert sorted(p.name for p in foreign.iterdir()) == ["holiday.jpg"]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("CITEBOT_K", "abc", "Input should be a valid integer, unable to parse string as an integer"),
        ("CITEBOT_K", "0", "Input should be greater than or equal to 1"),
        ("CITEBOT_CHUNK_CHARS", "10", "Input should be greater than or equal to 200"),
        ("CITEBOT_INGEST_BATCH", "0", "Input should be greater than or equal to 1"),
        ("CITEBOT_DEVICE", "tpu", "Input should be 'auto', 'cpu' or 'cuda'"),
    ],
)
def test_invalid_environment_setting_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    """Bad input tried: CITEBOT_K=abc and =0, CHUNK_CHARS=10, INGEST_BATCH=0, DEVICE=tpu."""
    monkeypatch.setenv(name, value)
    result = run("ask", STOCKHOLM, "--store", tmp_path / "store")
    assert result.exit_code == 2
    assert result.stderr == f"Error: Invalid setting: {name}: {problem}\n"


@pytest.mark.slow
def test_installed_console_script_answers_end_to_end(tmp_path: Path) -> None:
    """The real `citebot` script: the seeds ingested, then one JSON answer on stdout."""
    ingested = run_script(tmp_path, "ingest", "--store", tmp_path / "store", SEEDS)
    assert ingested.returncode == 0, ingested.stderr
    done = run_script(tmp_path, "ask", "--json", STOCKHOLM, "--store", tmp_path / "store")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    answer = json.loads(lines[0])
    assert answer["abstained"] is False
    quote = answer["citations"][0]
    assert "lift certain sanctions" in quote["quote"]
    text = SEED_FILE.read_bytes().decode("utf-8")
    assert text[quote["start"] : quote["end"]] == quote["quote"]


def test_cite_shows_a_path_under_the_current_folder_or_home_short(
    store: Path, shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header's path is relative inside the current folder, ~/... inside HOME, else absolute."""
    cid = ask_json(store, "When is the coffee machine descaled?")["citations"][0]["id"]
    full = (shared / "coffee.md").resolve()
    header = run("cite", cid, "--store", store).stdout.splitlines()[0]
    assert f"({full}, characters" in header
    monkeypatch.chdir(shared.parent)
    header = run("cite", cid, "--store", store).stdout.splitlines()[0]
    assert f"({shared.name}/coffee.md, characters" in header
    monkeypatch.chdir("/")  # under "/" is everything: it makes no path shorter
    header = run("cite", cid, "--store", store).stdout.splitlines()[0]
    assert f"({full}, characters" in header
    monkeypatch.setenv("HOME", str(shared))
    header = run("cite", cid, "--store", store).stdout.splitlines()[0]
    assert "(~/coffee.md, characters" in header
    assert json.loads(run("cite", "--json", cid, "--store", store).stdout)["path"] == str(full)


def test_batch_line_past_the_line_bound_ends_the_batch(store: Path, tmp_path: Path) -> None:
    """Bad input tried: a good line, then one of 1 MiB + 1 bytes with no newline after it: the first is
    answered, the batch then stops with one error line, exit 2."""
    from bot.ask_batch import MAX_LINE_BYTES

    questions = tmp_path / "questions.jsonl"
    questions.write_bytes(
        json.dumps({"id": "q1", "question": STOCKHOLM}).encode() + b"\n" + b"x" * (MAX_LINE_BYTES + 1)
    )
    result = run("ask", "--batch", questions, "--store", store)
    assert result.exit_code == 2
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["q1"]
    assert result.stderr == (
        'Error: Line 2 of the batch is longer than 1 MB (each line is one JSON object {"id", "question"}); '
        "the batch stops there\n"
    )


def test_batch_past_the_line_count_bound_ends_the_batch(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad input tried: more lines than a batch may hold (the bound set to 3 here; blank lines count, as
    `yes ''` piped in would never end otherwise)."""
    from bot import ask_batch

    monkeypatch.setattr(ask_batch, "MAX_LINES", 3)
    line = json.dumps({"id": "q", "question": STOCKHOLM}) + "\n"
    result = run("ask", "--batch", "-", "--store", store, stdin=line + "\n\n" + line)
    assert result.exit_code == 2
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr == "Error: The batch has more than 3 lines; split it into smaller files\n"
