"""What `citebot ingest` says, through the real CLI and the real loaders: skips, failures, ignored types, the
watch's line and the progress bar.

Bad input tried: a blank Word file, a deck with no slides, a scanned PDF and a page of navigation only (each
skipped with its reason, exit 0) beside a damaged deck (the one failure, exit 1); a document emptied since it
was indexed; a deck whose chart XML is broken; a folder of only ignored types, one without an extension and an
Office owner file among them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pexpect
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.ingest_report import ignored_types
from retrieval.engine import Engine
from tests.helpers.console import CITEBOT, script_env
from tests.helpers.document_files import docx_file, image_only_pdf, pptx_file
from tests.retrieval.ingest.test_deck_charts import CHART_TITLE, chart_deck, with_part

NOTES = "# Ferry notes\n\nThe night ferry to Grenaa leaves at eleven from the north quay.\n"


def run(*args: str | Path) -> Result:
    """citebot with these arguments, in process (click's runner)."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll check until it returns something true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)
    return value


def empty_documents(folder: Path) -> Path:
    """A folder of one good note and four documents that hold no text."""
    folder.mkdir()
    (folder / "notes.md").write_text(NOTES, encoding="utf-8")
    docx_file(folder / "blank.docx", [])
    pptx_file(folder / "no-slides.pptx", [])
    image_only_pdf(folder / "scan.pdf")
    (folder / "menu.html").write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>")
    return folder


def test_documents_without_text_are_skipped_with_their_reasons_and_exit_0(tmp_path: Path) -> None:
    """Bad input: a blank .docx, a deck with no slides, a scanned PDF and a page of navigation only: each is
    `skipped: NAME: reason` on stderr, none failed, exit 0; the note beside them is indexed."""
    folder = empty_documents(tmp_path / "drive")
    result = run("ingest", folder, "--store", tmp_path / "store")
    assert result.exit_code == 0, result.output
    assert sorted(result.stderr.splitlines()) == [
        "skipped: blank.docx: no text (a blank document)",
        "skipped: menu.html: no text (the page holds only navigation, scripts or nothing)",
        "skipped: no-slides.pptx: no text (a deck with no slides)",
        "skipped: scan.pdf: no text layer (a scanned PDF? OCR it first)",
    ]
    assert "1 added, 0 updated, 0 unchanged, 0 removed, 0 failed, 4 skipped files;" in result.stdout


def test_a_damaged_file_beside_them_is_the_one_failure_and_exits_1(tmp_path: Path) -> None:
    """Bad input: the same empty documents plus a deck cut short: that deck alone fails (exit 1); `--json`
    counts the four skips and the one failure."""
    folder = empty_documents(tmp_path / "drive")
    (folder / "damaged.pptx").write_bytes(chart_deck()[:3000])
    result = run("ingest", "--json", folder, "--store", tmp_path / "store")
    assert result.exit_code == 1, result.output
    failures = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 1 and failures[0].startswith(
        "failed: damaged.pptx: not a readable PowerPoint file"
    )
    summary = json.loads(result.stdout)
    assert (summary["added"], summary["failed"], summary["skipped"]) == (1, 1, 4)


def test_a_document_emptied_since_its_ingest_is_removed_and_skipped(tmp_path: Path) -> None:
    """Bad input: an indexed Word file saved again blank: it is removed from the index (its old text is no
    longer in it) and skipped with its reason, exit 0; the question it answered finds it no more."""
    folder = tmp_path / "drive"
    folder.mkdir()
    (folder / "notes.md").write_text(NOTES, encoding="utf-8")
    docx_file(
        folder / "rota.docx", [("paragraph", "The lighthouse lamp is cleaned by Ingrid every Thursday.")]
    )
    store = tmp_path / "store"
    assert run("ingest", folder, "--store", store).exit_code == 0
    question = "Who cleans the lighthouse lamp?"
    before = json.loads(run("ask", "--json", question, "--store", store).stdout)
    assert [c["source"] for c in before["citations"]][:1] == ["rota.docx"]
    docx_file(folder / "rota.docx", [])
    result = run("ingest", "--json", folder, "--store", store)
    assert result.exit_code == 0, result.output
    assert result.stderr == "skipped: rota.docx: no text (a blank document)\n"
    summary = json.loads(result.stdout)
    assert (summary["removed"], summary["skipped"], summary["unchanged"]) == (1, 1, 1)
    after = json.loads(run("ask", "--json", question, "--store", store).stdout)
    assert "rota.docx" not in {c["source"] for c in after["citations"]}


def test_a_chart_is_cited_by_its_slide_and_a_broken_chart_costs_only_itself(tmp_path: Path) -> None:
    """Bad input: beside a deck whose chart titles the answer, the same deck with that chart's XML broken is
    indexed (exit 0, nothing failed); the answer cites the whole deck's chart on slide 2."""
    folder = tmp_path / "drive"
    folder.mkdir()
    (folder / "review.pptx").write_bytes(chart_deck())
    (folder / "review-damaged.pptx").write_bytes(with_part(chart_deck(), "ppt/charts/chart1.xml"))
    store = tmp_path / "store"
    ingested = run("ingest", "--json", folder, "--store", store)
    assert ingested.exit_code == 0 and ingested.stderr == "", ingested.output
    assert json.loads(ingested.stdout)["added"] == 2
    answer = json.loads(
        run("ask", "--json", "Which routes earn the ferry line's revenue?", "--store", store).stdout
    )
    cited = [(c["source"], c["location"]) for c in answer["citations"]]
    assert cited and cited[0] == ("review.pptx", "slide 2"), answer
    assert CHART_TITLE in run("cite", answer["citations"][0]["id"], "--store", store).stdout


def test_a_folder_of_only_ignored_types_names_them_by_extension(tmp_path: Path) -> None:
    """Bad input: a folder of 12 .png, 3 .xlsx, a file without an extension and a Word owner file (~$):
    nothing to index, exit 0, the types named with their counts; `--json` keeps `ignored` and adds
    `ignored_types`."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    for n in range(12):
        (folder / f"photo{n:02}.PNG" if n == 0 else folder / f"photo{n:02}.png").write_bytes(b"\x89PNG")
    for n in range(3):
        (folder / f"budget{n}.xlsx").write_bytes(b"PK\x03\x04")
    (folder / "LICENSE").write_text("all rights reserved\n")
    (folder / "~$report.docx").write_bytes(b"\x05owner")
    store = tmp_path / "store"
    human = run("ingest", folder, "--store", store)
    assert human.exit_code == 0 and human.stderr == "", human.output
    assert (
        ", 17 of other types ignored (12 .png, 3 .xlsx, 1 (no extension), 1 ~$ (Office owner)); "
        in human.stdout
    )
    result = run("ingest", "--json", folder, "--store", store)
    summary = json.loads(result.stdout)
    assert (summary["ignored"], summary["failed"], summary["skipped"]) == (17, 0, 0)
    assert summary["ignored_types"] == {".png": 12, ".xlsx": 3, "": 1, "~$": 1}


def test_many_ignored_types_are_named_five_at_a_time() -> None:
    """Beyond five types the rest are counted together, so the summary stays one readable line."""
    types = Counter({".png": 9, ".jpg": 7, ".zip": 5, ".exe": 4, ".csv": 3, ".mp4": 2, ".bak": 1})
    assert ignored_types(types) == "9 .png, 7 .jpg, 5 .zip, 4 .exe, 3 .csv and 3 of 2 more types"
    assert ignored_types(Counter({".png": 1, ".a": 1, ".b": 1, ".c": 1, ".d": 1, ".e": 4})).endswith(
        "and 1 of 1 more type"
    )


def test_watch_says_what_it_watches_after_the_first_summary(tmp_path: Path) -> None:
    """`ingest --watch DIR FILE`: after the first summary, `watching 1 folder and 1 file (Ctrl-C stops)` on
    stderr, so a quiet watch does not look hung; Ctrl-C then stops it with exit 0."""
    folder = tmp_path / "drive"
    folder.mkdir()
    (folder / "notes.md").write_text(NOTES, encoding="utf-8")
    single = tmp_path / "single.md"
    single.write_text("# Single\n\nA file watched by itself.\n", encoding="utf-8")
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    command = [
        str(CITEBOT),
        "ingest",
        "--watch",
        str(folder),
        str(single),
        "--store",
        str(tmp_path / "store"),
    ]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, env=script_env(tmp_path / "home"), stdout=stdout, stderr=stderr)
    try:
        until(lambda: "(Ctrl-C stops)" in err.read_text(), 90, "the watching line")
        assert "2 added" in out.read_text()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert err.read_text() == "watching 1 folder and 1 file (Ctrl-C stops)\nwatch: stopped.\n"


def test_the_progress_bar_shows_the_files_total_and_time_left(tmp_path: Path) -> None:
    """On a terminal (a pseudo-terminal here) the bar counts files against their total, with time left."""
    folder = tmp_path / "drive"
    folder.mkdir()
    for n in range(3):
        (folder / f"note{n}.md").write_text(f"# Note {n}\n\nFerry {n} leaves at {n + 7} o'clock.\n")
    env = script_env(tmp_path / "home", COLUMNS="160", TERM="xterm")
    child = pexpect.spawn(
        str(CITEBOT),
        ["ingest", str(folder), "--store", str(tmp_path / "store")],
        env=env,
        encoding="utf-8",
        dimensions=(40, 160),
        timeout=120,
    )
    child.expect(pexpect.EOF)
    child.close()
    screen = child.before
    assert child.exitstatus == 0, screen
    assert "files read" in screen and "3/3" in screen and " left" in screen, screen
    assert "3 added" in screen


def test_the_indexer_tells_the_files_total_before_the_first_file(tmp_path: Path, engine: Engine) -> None:
    """The progress callback hears the files' total first, then one step per file, summing to it."""
    folder = empty_documents(tmp_path / "drive")
    heard: list[tuple[str, int, int | None]] = []
    engine.ingest([folder], lambda step, done, total=None: heard.append((step, done, total)))
    files = [event for event in heard if event[0] == "files"]
    assert files[0] == ("files", 0, 5)
    assert sum(done for _step, done, _total in files) == 5 and all(t is None for *_, t in files[1:])
