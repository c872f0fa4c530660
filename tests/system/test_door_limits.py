"""The doors' smaller limits: an empty path, four ingests making one store at once, a citation number of
thousands of digits in the real REPL, and a batch that never ends.

Each case is a real process (the installed console script, or the REPL on a pseudo-terminal) and ends in
exactly one clear line, never a traceback, never advice that misleads (a store called damaged).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import resource
import subprocess
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from retrieval.inference.embedder import Embedder
from retrieval.store.chunk_store import ChunkStore, StoreLocation
from retrieval.store.folder import MAKING, check_folder
from retrieval.store.layout import DATABASE, LOCKS, MARKER
from tests.bot.test_repl import (  # noqa: F401  (template and seeded are fixtures, used by name)
    child_env,
    enter,
    seeded,
    start,
    template,
    terminal,
)
from tests.conftest import STOCKHOLM, make_engine
from tests.helpers.console import CITEBOT, one_error, run_script, script_env

BUSY = re.compile(
    r"Error: Another ingest \(pid \d+ on [^,]+, since [^)]+\) is writing to collection citebot of .+; "
    r"wait for it to finish, or pass --wait\n"
)
EMPTY_PATH = (
    "Invalid value for '[PATHS]...': an empty path names no file or folder (for the current folder, give .) "
    "(see `citebot ingest --help`)"
)


@pytest.mark.parametrize("args", [[""], ["docs", ""]], ids=["alone", "after a folder"])
def test_an_empty_path_to_ingest_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """Bad input: `citebot ingest ''` (a script's unset variable), alone and after a real folder, run in a
    folder holding a document: nothing is ingested, the store is never made."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "secret.txt").write_text("The current folder's own file.\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["ingest", *args, "--store", "store"], prog_name="citebot")
    assert result.exit_code == 2
    assert one_error(result.stderr, result.stdout) == EMPTY_PATH
    assert not (tmp_path / "store").exists()


def test_four_ingests_making_one_new_store_at_once(tmp_path: Path, embedder: Embedder) -> None:
    """Bad input: four `citebot ingest` processes started together on a store folder that does not exist
    yet (two with --wait): each waits and ingests or says another ingest is writing; none calls the store
    damaged or a stranger's folder."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "coffee.md").write_text("The coffee machine is descaled every Friday.\n", encoding="utf-8")
    store = tmp_path / "store"
    env = script_env(tmp_path / "home")
    argvs = [
        [str(CITEBOT), "ingest", str(corpus), "--store", str(store), *wait] for wait in ([], ["--wait"]) * 2
    ]
    processes = [
        subprocess.Popen(
            argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for argv in argvs
    ]
    results = [(p.returncode, out, err) for p in processes for out, err in [p.communicate(timeout=300)]]
    for (code, out, err), argv in zip(results, argvs, strict=True):
        assert "damaged" not in err and "remove that folder" not in err and "Traceback" not in err, err
        if "--wait" in argv or code == 0:
            assert code == 0 and out.startswith("Ingested in "), (code, out, err)
        else:
            assert code == 2 and BUSY.fullmatch(err), (code, out, err)
    assert set(make_engine(store, embedder).store.documents()) == {"coffee.md"}


def test_a_folder_holding_only_a_store_being_made_is_not_called_a_strangers(tmp_path: Path) -> None:
    """Bad input: the store folder as another ingest leaves it an instant before its marker exists (the
    writer locks' folder and a marker half written)."""
    store = tmp_path / "store"
    (store / LOCKS).mkdir(parents=True)
    (store / ".partial-x1y2z3").write_bytes(b'{"format": 2, "coll')
    assert check_folder(store, create=True) is True
    assert json.loads((store / MARKER).read_text(encoding="utf-8"))["collections"] == []
    assert (store / DATABASE).stat().st_size > 0, "the database is made with the marker"
    assert check_folder(store, create=True) is False


def test_a_store_being_made_by_another_process_is_waited_for(tmp_path: Path) -> None:
    """Bad input: a store whose marker exists but whose database another process is making (its making
    lock held, Chroma's folder there, its database still empty): opened once made, never called damaged."""
    store = tmp_path / "store"
    (store / LOCKS).mkdir(parents=True)
    (store / MARKER).write_text(json.dumps({"format": 2, "collections": []}) + "\n", encoding="utf-8")
    (store / DATABASE).parent.mkdir()
    (store / DATABASE).write_bytes(b"")
    handle = os.open(store / LOCKS / MAKING, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(handle, fcntl.LOCK_EX)
    events: list[str] = []
    failures: list[BaseException] = []

    def open_store() -> None:
        try:
            ChunkStore(StoreLocation(store))
            events.append("opened")
        except BaseException as exc:
            failures.append(exc)

    opener = threading.Thread(target=open_store)
    opener.start()
    time.sleep(1.0)  # the opener reaches the lock (the assertion is on order, not on time)
    (store / DATABASE).unlink()  # the maker's work: made by the opener once the lock is let go
    events.append("made")
    os.close(handle)
    opener.join(timeout=120)
    assert not failures, failures
    assert events == ["made", "opened"]


def test_cite_with_5000_digits_in_the_real_repl_is_one_line(
    tmp_path: Path,
    seeded: tuple[Path, Path],  # noqa: F811  (the fixture imported above)
) -> None:
    """Bad input: `:cite` followed by 5,000 nines (past int()'s 4,300-digit limit) typed in the REPL on a
    terminal after an answer; then `:k` with 5,000 digits; the session goes on."""
    seeds, store = seeded
    huge = "9" * 5000
    with terminal(["repl", "--store", str(store)], child_env(tmp_path, seeds), tmp_path) as child:
        start(child)
        assert "[1]" in enter(child, STOCKHOLM, "lift certain sanctions")
        shown = enter(child, f":cite {huge}", "Error:")
        assert re.search(
            r"Error: The last answer has no citation 9{12}… \(5,000 digits\) \(it has \d+\)", shown
        )
        assert "ValueError" not in shown and "4300" not in shown
        shown = enter(child, f":k {huge}", "Error:")
        assert "Error: :k takes a whole number from 1 to 50, e.g. :k 8" in shown
        assert "»During the negotiations" in enter(child, ":cite 1", "»")


def test_a_batch_that_never_ends_stops_with_one_line(tmp_path: Path, embedder: Embedder) -> None:
    """Bad input: `ask --batch /dev/zero`, one line that never ends (no newline, ever). The process's data is
    capped at 2 GiB so that a reader that grows without bound fails here instead of filling the machine."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "coffee.md").write_text("The coffee machine is descaled every Friday.\n", encoding="utf-8")
    make_engine(tmp_path / "store", embedder).ingest([corpus])

    def capped() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (2 << 30, 2 << 30))

    done = run_script(
        tmp_path, "ask", "--batch", "/dev/zero", "--store", tmp_path / "store", preexec_fn=capped
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert one_error(done.stderr, done.stdout) == (
        'Line 1 of the batch is longer than 1 MB (each line is one JSON object {"id", "question"}); '
        "the batch stops there"
    )


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["status", "--store", ""], {}, "Invalid value for '--store': is empty"),
        (["ingest"], {"CITEBOT_CORPUS": ""}, "CITEBOT_CORPUS: is empty"),
        (["status"], {"CITEBOT_STORE": " "}, "CITEBOT_STORE: is empty"),
    ],
)
def test_an_empty_folder_setting_is_refused(
    tmp_path: Path, argv: list[str], env: dict[str, str], expected: str
) -> None:
    """Bad input: an empty --store, CITEBOT_CORPUS or CITEBOT_STORE (each would mean the current folder):
    exit 2, one line, nothing ingested or made."""
    done = subprocess.run(
        [CITEBOT, *argv],
        cwd=tmp_path,
        env={**script_env(tmp_path / "home"), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("citebot-store.json"))  # no store made anywhere
