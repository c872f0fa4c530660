"""Faults at the doors: bad input and broken surroundings give one `Error:` line and the right exit code.

Each case: exactly one `Error: ...` line on stderr (word for word where the message is ours), exit 2 for
bad input and 1 for failures, and never a traceback. Where bytes or argv matter, the installed console
script runs in a subprocess; elsewhere click's CliRunner drives the same command in process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from tests.helpers.console import one_error

SCRIPT = Path(sys.executable).parent / "citebot"
OFFER = (
    "During the negotiations in Stockholm, the US offered to lift certain sanctions in exchange for talks."
)
QUESTION = "What did the US offer in Stockholm?"
ESCAPES = "\x1b[2J\x1b]0;pwned\x07"
REBUILD = "run `citebot ingest --rebuild PATH...` to index the files again (the damaged files are set aside)"
BAD_NAME = "use 1-63 letters, digits, '-' or '_', starting and ending with a letter or digit"


def run(*args: str | Path) -> Result:
    """citebot in process, named as the console script names itself."""
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="citebot")


def script(tmp_path: Path, *args: str | bytes | Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    """The installed `citebot` in a subprocess: argv exactly as given (bytes stay bytes), HOME and the
    store inside tmp_path, no CITEBOT_* of the caller's, the model never downloaded."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    environ.update(
        CITEBOT_MODEL_CACHE=os.environ.get("CITEBOT_MODEL_CACHE", str(tmp_path / "models")),
        HOME=str(tmp_path / "home"),
        CITEBOT_STORE=str(tmp_path / "store"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    environ.update(env)
    argv = [os.fsencode(SCRIPT), *(a if isinstance(a, bytes) else os.fsencode(str(a)) for a in args)]
    return subprocess.run(argv, env=environ, cwd=tmp_path, capture_output=True, timeout=180, check=False)


def no_constants(name: str) -> Any:
    raise AssertionError(f"{name} in JSON output")


def json_rows(stdout: bytes | str) -> list[dict[str, Any]]:
    """Every stdout line as strict JSON: valid UTF-8, one object per line, no NaN or Infinity."""
    text = stdout.decode("utf-8") if isinstance(stdout, bytes) else stdout
    rows = [json.loads(line, parse_constant=no_constants) for line in text.splitlines()]
    assert all(isinstance(row, dict) for row in rows)
    return rows


def write_corpus(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return folder


@pytest.fixture(scope="module")
def shared_cache() -> dict[str, Path]:
    return {}


@pytest.fixture
def store(shared_cache: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-file store ingested once per module (inside a test, so the offline guard is on); read-only."""
    if not shared_cache:
        root = tmp_path_factory.mktemp("doors")
        corpus = write_corpus(
            root / "corpus",
            {
                "offer.txt": OFFER + "\n",
                "coffee.md": "# Coffee\n\nThe coffee machine is descaled on Friday.\n",
            },
        )
        result = run("ingest", corpus, "--store", root / "store")
        assert result.exit_code == 0, result.output
        shared_cache["store"] = root / "store"
    return shared_cache["store"]


@pytest.mark.parametrize(
    ("cid", "through"),
    [
        ("offer.txt#1-99999999999999999999999999", "runner"),
        pytest.param("offer.txt#1-" + "9" * 5000, "script", marks=pytest.mark.slow),
        (f"offer.txt#{'7' * 5000}-{'9' * 5000}", "runner"),
    ],
    ids=["26 digits", "5000 digits", "5000 digits twice"],
)
def test_cite_refuses_offsets_no_file_has(tmp_path: Path, store: Path, cid: str, through: str) -> None:
    """Bad input tried: a cite id whose END has 26 digits, one with 5,000 (past int()'s digit limit) given
    to the installed script as argv, one with 5,000 digits on both sides; at most 80 characters are shown."""
    if through == "script":
        done = script(tmp_path, "cite", cid, CITEBOT_STORE=str(store))
        code, stdout, stderr = done.returncode, done.stdout.decode(), done.stderr.decode()
    else:
        result = run("cite", cid, "--store", store)
        code, stdout, stderr = result.exit_code, result.stdout, result.stderr
    assert code == 2
    assert stdout == ""
    shown = f"{cid[:80]!r}{'…' if len(cid) > 80 else ''}"
    assert one_error(stderr, stdout) == f"Not a citation id: {shown} (its offsets are too large for any file)"


@pytest.mark.slow
@pytest.mark.parametrize("flags", [[], ["--json"]], ids=["text", "json"])
def test_question_with_a_byte_that_is_not_utf8(tmp_path: Path, store: Path, flags: list[str]) -> None:
    """Bad input tried: argv bytes b"What \\xff offer?" (what a Latin-1 terminal sends), with and without
    --json; the question is refused before anything is searched."""
    done = script(tmp_path, "ask", *flags, b"What \xff offer?", CITEBOT_STORE=str(store))
    assert done.returncode == 2
    assert done.stdout == b""
    assert one_error(done.stderr, done.stdout) == "The question is not valid UTF-8 text (character 6)"


@pytest.mark.slow
def test_batch_answers_good_lines_and_gives_each_bad_line_its_own_error(tmp_path: Path, store: Path) -> None:
    """Bad input tried, between two good lines: JSON nested 100,000 deep, a line that is not UTF-8, and
    `{"id": NaN, ...}`; every stdout line must still be strict JSON (no NaN), exit 1."""
    not_utf8 = b'{"id": 3, "question": "What \xff offer?"}'
    bad_byte = not_utf8.index(b"\xff") + 1
    lines = [
        json.dumps({"id": "first", "question": QUESTION}).encode(),
        b"[" * 100_000,
        not_utf8,
        b'{"id": NaN, "question": "x"}',
        json.dumps({"id": "last", "question": QUESTION}).encode(),
    ]
    batch = tmp_path / "questions.jsonl"
    batch.write_bytes(b"\n".join(lines) + b"\n")
    done = script(tmp_path, "ask", "--batch", batch, CITEBOT_STORE=str(store))
    assert done.returncode == 1, done.stderr
    assert done.stderr == b""
    rows = json_rows(done.stdout)
    assert [row["id"] for row in rows] == ["first", None, None, None, "last"]
    for answered in (rows[0], rows[4]):
        assert answered["abstained"] is False
        assert "lift certain sanctions" in answered["citations"][0]["quote"]
    assert rows[1:4] == [
        {"id": None, "line": 2, "error": "the line's JSON is nested too deeply"},
        {"id": None, "line": 3, "error": f"the line is not UTF-8 text (byte {bad_byte})"},
        {"id": None, "line": 4, "error": "NaN is not valid JSON"},
    ]


def test_batch_file_starting_with_a_utf8_bom_is_answered(tmp_path: Path, store: Path) -> None:
    """Bad input tried: a batch file saved by a Windows editor, a UTF-8 byte-order mark before line 1."""
    batch = tmp_path / "questions.jsonl"
    body = "".join(json.dumps({"id": n, "question": QUESTION}) + "\r\n" for n in (1, 2))
    batch.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    result = run("ask", "--batch", batch, "--store", store)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    rows = json_rows(result.stdout_bytes)
    assert [(row["id"], row["abstained"]) for row in rows] == [(1, False), (2, False)]


@pytest.mark.parametrize(
    ("args", "head"),
    [
        (["ask", "--k", "0", "q"], "Invalid value for '--k': 0 is not in the range 1<=x<=50."),
        (["ask", "--nope"], "No such option '--nope'"),
        (["cite"], "Missing argument 'CITATION'."),
    ],
    ids=["k 0", "unknown option", "cite without id"],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], head: str) -> None:
    """Bad input tried: `ask --k 0 "q"`, `ask --nope`, `cite` without an id: click's reason, then where
    help is, on one line; no usage block."""
    result = run(*args, "--store", tmp_path / "store")
    assert result.exit_code == 2
    assert result.stdout == ""
    message = one_error(result.stderr, result.stdout)
    assert message.startswith(head)
    assert message.endswith(f" (see `citebot {args[0]} --help`)")
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("url", ["ftp://x", "http://", "http://host:notaport"])
@pytest.mark.parametrize(
    "args", [["ask", QUESTION], ["status"], ["cite", "offer.txt#0-5"]], ids=lambda a: a[0]
)
def test_invalid_chroma_url_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, args: list[str]
) -> None:
    """Bad input tried: CITEBOT_CHROMA_URL=ftp://x (not http), http:// (no host), http://host:notaport."""
    monkeypatch.setenv("CITEBOT_CHROMA_URL", url)
    result = run(*args, "--store", tmp_path / "store")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert (
        one_error(result.stderr, result.stdout)
        == f"The Chroma URL must look like http://host:port, not {url!r}"
    )
    assert not (tmp_path / "store").exists()


def test_invalid_chroma_url_with_a_password_hides_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad input tried: CITEBOT_CHROMA_URL=http://user:s3cret@host:notaport (refused, password masked)."""
    monkeypatch.setenv("CITEBOT_CHROMA_URL", "http://user:s3cret@host:notaport")
    result = run("status", "--store", tmp_path / "store")
    assert result.exit_code == 2
    assert one_error(result.stderr, result.stdout) == (
        "The Chroma URL must look like http://host:port, not 'http://user:***@host:notaport'"
    )


@pytest.mark.slow
@pytest.mark.parametrize("args", [["ask", "--json", QUESTION], ["status"]], ids=" ".join)
def test_chroma_password_is_never_printed(tmp_path: Path, args: list[str]) -> None:
    """Bad input tried: CITEBOT_CHROMA_URL=http://user:s3cret@127.0.0.1:9 (nothing listens on port 9);
    whatever the process writes (our message, a library's log) never holds the password."""
    done = script(tmp_path, *args, CITEBOT_CHROMA_URL="http://user:s3cret@127.0.0.1:9")
    assert b"s3cret" not in done.stdout + done.stderr
    assert done.returncode == 1
    assert done.stdout == b""
    assert one_error(done.stderr, done.stdout).startswith(
        "Cannot reach the Chroma server at http://user:***@127.0.0.1:9 ("
    )


NAME_ERRORS = {
    "citebot-docs": "Invalid collection name 'citebot-docs': names ending in '-docs' are reserved",
    "../x": f"Invalid collection name '../x': {BAD_NAME}",
    "a/b": f"Invalid collection name 'a/b': {BAD_NAME}",
    "": "Invalid setting: CITEBOT_COLLECTION: String should have at least 1 character",
    "a.b": f"Invalid collection name 'a.b': {BAD_NAME}",
}


@pytest.mark.parametrize("name", list(NAME_ERRORS))
@pytest.mark.parametrize("args", [["ask", QUESTION], ["status"], ["ingest", "corpus"]], ids=lambda a: a[0])
def test_invalid_collection_name_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, args: list[str]
) -> None:
    """Bad input tried: CITEBOT_COLLECTION=citebot-docs (another collection's manifest), ../x and a/b (a
    path), a.b (a dot), the empty name; no store folder, lock file or anything else appears."""
    write_corpus(tmp_path / "corpus", {"offer.txt": OFFER})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CITEBOT_COLLECTION", name)
    before = sorted(tmp_path.rglob("*"))
    result = run(*args, "--store", tmp_path / "work" / "store")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert one_error(result.stderr, result.stdout) == NAME_ERRORS[name]
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    "name",
    [
        "citebot-docs",
        "../x",
        "a/b",
        "",
    ],
)
def test_invalid_collection_name_with_rebuild_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Bad input tried: the same collection names with `ingest --rebuild`, which sets a store aside first."""
    write_corpus(tmp_path / "corpus", {"offer.txt": OFFER})
    monkeypatch.setenv("CITEBOT_COLLECTION", name)
    before = sorted(tmp_path.rglob("*"))
    result = run("ingest", "--rebuild", tmp_path / "corpus", "--store", tmp_path / "work" / "store")
    assert sorted(tmp_path.rglob("*")) == before
    assert result.exit_code == 2
    assert one_error(result.stderr, result.stdout) == NAME_ERRORS[name]


TERMINAL_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


@pytest.mark.slow
def test_terminal_escapes_in_documents_and_names_never_reach_the_terminal(tmp_path: Path) -> None:
    """Bad input tried: a document holding ESC[2J (clear screen) and an OSC title sequence ending in BEL, a
    file whose name holds ESC[31m, a binary file whose name holds ESC[2J (it fails, and is named)."""
    corpus = write_corpus(
        tmp_path / "corpus",
        {
            "esc.txt": f"The launch code is {ESCAPES} kept in the safe.\nThe vault opens at dawn.\n",
            "red\x1b[31m.txt": "The red button\x07 is behind the vault door.\n",
            "bin\x1b[2J.txt": b"\x00\x01binary",
        },
    )
    store = tmp_path / "store"
    ingested = run("ingest", corpus, "--store", store)
    assert ingested.exit_code == 1
    assert not TERMINAL_CONTROL.search(ingested.stdout_bytes + ingested.stderr_bytes)
    assert ingested.stderr.splitlines() == ["failed: bin\\x1b[2J.txt: binary file (contains NUL bytes)"]

    asked = script(tmp_path, "ask", "Where is the launch code kept?")
    assert asked.returncode == 0, asked.stderr
    assert asked.stderr == b""
    assert not TERMINAL_CONTROL.search(asked.stdout)
    assert b"The launch code is \\x1b[2J\\x1b]0;pwned\\x07 kept in the safe. [1]" in asked.stdout
    ids = re.findall(rb"^ +id (.+)$", asked.stdout, flags=re.MULTILINE)
    assert ids
    cited = script(tmp_path, "cite", ids[0])
    assert cited.returncode == 0, cited.stderr
    assert not TERMINAL_CONTROL.search(cited.stdout + cited.stderr)
    assert b"\\x1b]0;pwned\\x07" in cited.stdout

    as_json = json_rows(run("ask", "--json", "Where is the launch code kept?", "--store", store).stdout_bytes)
    assert ESCAPES in as_json[0]["citations"][0]["quote"]  # the data keeps the document's exact text
    red = run("ask", "Where is the red button?", "--store", store)
    assert red.exit_code == 0, red.output
    assert not TERMINAL_CONTROL.search(red.stdout_bytes)
    assert "red\\x1b[31m.txt, line 1" in red.stdout
    red_ids = re.findall(r"^ +id (.+)$", red.stdout, flags=re.MULTILINE)
    assert red_ids and red_ids[0].startswith("red%1B[31m.txt#")
    for cid in red_ids:
        shown = run("cite", cid, "--store", store)
        assert shown.exit_code == 0, shown.output
        assert not TERMINAL_CONTROL.search(shown.stdout_bytes)
        assert json_rows(run("cite", "--json", cid, "--store", store).stdout_bytes)[0]["id"] == cid


@pytest.mark.parametrize("args", [["ask", QUESTION], ["status"], ["cite", "a.txt#0-1"], ["ingest", "."]])
def test_store_option_naming_a_regular_file(tmp_path: Path, args: list[str]) -> None:
    """Bad input tried: --store pointing at a regular file (click refuses it as the option's value)."""
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("my notes\n", encoding="utf-8")
    result = run(*args, "--store", not_a_folder)
    assert result.exit_code == 2
    assert one_error(result.stderr, result.stdout) == (
        f"Invalid value for '--store': Directory '{not_a_folder}' is a file. (see `citebot {args[0]} --help`)"
    )
    assert not_a_folder.read_text(encoding="utf-8") == "my notes\n"


@pytest.mark.parametrize("args", [["ask", QUESTION], ["status"], ["cite", "a.txt#0-1"]], ids=lambda a: a[0])
def test_store_setting_naming_a_regular_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """Bad input tried: CITEBOT_STORE pointing at a regular file (nothing checks it before the engine)."""
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("my notes\n", encoding="utf-8")
    monkeypatch.setenv("CITEBOT_STORE", str(not_a_folder))
    result = run(*args)
    assert result.exit_code == 2
    assert one_error(result.stderr, result.stdout) == (
        f"{not_a_folder} is a file, not a store folder; choose another --store"
    )
    assert not_a_folder.read_text(encoding="utf-8") == "my notes\n"


@pytest.fixture
def damaged(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A store with one file ingested, then its chroma/chroma.sqlite3 emptied or deleted."""
    corpus = write_corpus(tmp_path / "mine", {"offer.txt": OFFER + "\n"})
    store = tmp_path / "store"
    assert run("ingest", corpus, "--store", store).exit_code == 0
    database = store / "chroma" / "chroma.sqlite3"
    if request.param == "emptied":
        database.write_bytes(b"")
    else:
        database.unlink()
    return store


@pytest.mark.parametrize("damaged", ["emptied", "deleted"], indirect=True)
@pytest.mark.parametrize(
    "args",
    [["ask", QUESTION], ["ask", "--json", QUESTION], ["status"], ["cite", "offer.txt#0-6"]],
    ids=" ".join,
)
def test_damaged_store_is_named_and_not_refilled_with_the_demo(
    damaged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """Bad input tried: chroma/chroma.sqlite3 truncated to 0 bytes, and deleted; an empty-looking store
    must not be taken for a new one (which `ask` would fill with the demo corpus)."""
    demo = write_corpus(tmp_path / "demo", {"demo.txt": "The demo corpus must not be ingested here.\n"})
    monkeypatch.setenv("CITEBOT_CORPUS", str(demo))
    database = damaged / "chroma" / "chroma.sqlite3"
    existed = database.exists()
    message = f"The store at {damaged} is damaged: {database} is missing or empty; {REBUILD}"
    result = run(*args, "--store", damaged)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert one_error(result.stderr, result.stdout) == message
    assert database.exists() == existed and (not existed or database.stat().st_size == 0)
    status = run("status", "--store", damaged)
    assert (status.exit_code, one_error(status.stderr, status.stdout)) == (1, message)


def test_an_existing_empty_store_is_not_filled_with_the_demo(tmp_path: Path) -> None:
    """Bad input tried: a question to a store made by ingesting an empty folder (it exists, holds nothing)."""
    (tmp_path / "empty").mkdir()
    store = tmp_path / "store"
    assert run("ingest", tmp_path / "empty", "--store", store).exit_code == 0
    result = run("ask", "Who runs the release?", "--store", store)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout == (
        "I could not find this in the documents.\n\n"
        "Nothing indexed comes close (`citebot status` shows what is indexed).\n"
    )
    assert json.loads(run("status", "--json", "--store", store).stdout)["documents"] == 0


def test_feedback_with_an_invalid_slack_setting_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input tried: CITEBOT_SLACK_RATE_LIMIT=abc given to `citebot feedback`."""
    monkeypatch.setenv("CITEBOT_SLACK_RATE_LIMIT", "abc")
    result = run("feedback", "--store", tmp_path / "store")
    assert result.exit_code == 2
    assert one_error(result.stderr, result.stdout) == (
        "Invalid Slack setting: CITEBOT_SLACK_RATE_LIMIT: Input should be a valid integer, "
        "unable to parse string as an integer"
    )
