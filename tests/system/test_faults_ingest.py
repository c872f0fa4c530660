"""The ingest half of the fault suite: concurrent writers, links, devices, damage, depth, disk, server loss.

Each test is an unlucky operator's or a hostile user's move, run against the real store and model; each
asserts what is kept (nothing lost, nothing read outside the folder) and what the user is told.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from retrieval.engine import rebuild_store
from retrieval.errors import StoreError
from retrieval.inference.embedder import Embedder
from retrieval.ingest import files
from retrieval.store.chunk_store import StoreLocation, forget_clients
from retrieval.text.content import fingerprint
from tests.conftest import make_engine
from tests.helpers.chroma_server import chroma_process
from tests.helpers.console import CITEBOT, run_script
from tests.system.test_crash import (
    BATCH,
    CHUNK_CHARS,
    FILES,
    check_consistent,
    start_ingest,
    wait_for_line,
    write_corpus,
)

BUSY = re.compile(
    r"Error: Another ingest \(pid (\d+) on [^,]+, since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\) is writing to "
    r"collection citebot of (.+); wait for it to finish, or pass --wait\n"
)


def assert_one_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    """Exactly one `Error:` line on stderr, the exit code, and no traceback anywhere; returns the line."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


@pytest.mark.slow
def test_a_second_writer_is_refused_or_waits_and_nothing_is_lost(tmp_path: Path, embedder: Embedder) -> None:
    """Bad input: a second ingest (and a third, --wait) into a store whose first ingest holds uncommitted
    chunks, then the first killed; also a reader (`status`, `ask`) while the lock is held."""
    corpus = write_corpus(tmp_path / "corpus")
    first, log = start_ingest(tmp_path, corpus, pause_after_put=2, work=tmp_path / "first")
    try:
        wait_for_line(first, log, "paused")
        store = tmp_path / "store"
        refused = run_script(tmp_path, "ingest", corpus, "--store", store)
        match = BUSY.fullmatch(refused.stderr)
        assert refused.returncode == 2 and match, refused.stderr
        assert (int(match[1]), match[2]) == (first.pid, str(store))
        # Readers never block: they see the one committed batch, not the chunks written after it.
        status = run_script(tmp_path, "status", "--json", "--store", store)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["documents"] == BATCH
        asked = run_script(tmp_path, "ask", "--json", "What does file 3 say?", "--store", store)
        assert asked.returncode == 0, asked.stderr
        assert {c["source"] for c in json.loads(asked.stdout)["citations"]} <= {
            f"doc{i:02d}.txt" for i in range(BATCH)
        }
        with (tmp_path / "waiter.err").open("w") as err:
            waiter = subprocess.Popen(
                [str(CITEBOT), "ingest", str(corpus), "--wait", "--store", str(store)],
                env={**os.environ, "HF_HUB_OFFLINE": "1", "CITEBOT_CHUNK_CHARS": str(CHUNK_CHARS)},
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + 120
        while "Waiting for another ingest" not in (tmp_path / "waiter.err").read_text():
            assert waiter.poll() is None and time.monotonic() < deadline, (
                tmp_path / "waiter.err"
            ).read_text()
            time.sleep(0.05)
        first.kill()
        first.wait(timeout=30)
        assert waiter.wait(timeout=300) == 0, (tmp_path / "waiter.err").read_text()
    finally:
        for process in (first,):
            if process.poll() is None:
                process.kill()
    waited = (tmp_path / "waiter.err").read_text().splitlines()
    assert re.fullmatch(
        rf"Waiting for another ingest \(pid {first.pid} on .+\) to finish writing to collection citebot…",
        waited[0],
    )
    engine = make_engine(tmp_path / "store", embedder, chunk_chars=CHUNK_CHARS)
    manifest, orphans = check_consistent(engine)
    assert len(manifest) == FILES, "every document is indexed: none lost to the killed writer"
    assert orphans == set(), "the waiting writer swept the killed one's uncommitted chunks"


def test_links_devices_and_large_files_are_skipped_never_read(
    tmp_path: Path, corpus: Path, embedder: Embedder
) -> None:
    """Bad input: links to /etc/passwd, /dev/zero, a folder outside and a file inside; a FIFO and a socket
    named .txt; a file over the size cap. None is opened; each is named with its reason."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("The vault code is 4417.\n", encoding="utf-8")
    os.symlink("/etc/passwd", corpus / "passwd.txt")
    os.symlink("/dev/zero", corpus / "zero.txt")
    os.symlink(outside, corpus / "elsewhere")
    os.symlink(corpus / "notes" / "release.txt", corpus / "again.txt")
    os.symlink(corpus / "missing.txt", corpus / "broken.txt")
    os.mkfifo(corpus / "pipe.txt")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(corpus / "sock.md"))
    (corpus / "huge.txt").write_text("big " * 3000, encoding="utf-8")
    engine = make_engine(tmp_path / "store", embedder, max_file_bytes=10_000)
    try:
        summary = engine.ingest([corpus])
    finally:
        listener.close()
    assert sorted(summary.skips) == [
        "again.txt: a symbolic link to a file inside the folder (indexed under its own name)",
        "broken.txt: a broken symbolic link",
        "huge.txt: larger than the 0.0 MB limit (0.0 MB)",
        "passwd.txt: a symbolic link that leads outside the ingested folder (links are not followed)",
        "pipe.txt: not a regular file (a device, FIFO or socket)",
        "sock.md: not a regular file (a device, FIFO or socket)",
        "zero.txt: a symbolic link that leads outside the ingested folder (links are not followed)",
    ]
    assert (summary.added, summary.failed, summary.skipped) == (3, 0, 7)
    assert set(engine.store.documents()) == {
        "stockholm-talks-editorial.txt",
        "coffee.md",
        "notes/release.txt",
    }
    for question in ("What is the vault code?", "Which user has the root shell?"):
        quoted = " ".join(c.quote for c in engine.ask(question).citations)
        assert "4417" not in quoted and "/bin/" not in quoted


def test_a_file_grown_past_the_cap_after_ingest_is_removed_from_the_index(
    tmp_path: Path, corpus: Path, embedder: Embedder
) -> None:
    """Bad input: an indexed file replaced by a symlink to /etc/passwd, another grown over the size cap."""
    engine = make_engine(tmp_path / "store", embedder, max_file_bytes=10_000)
    engine.ingest([corpus])
    (corpus / "coffee.md").unlink()
    os.symlink("/etc/passwd", corpus / "coffee.md")
    (corpus / "notes" / "release.txt").write_text("x " * 6000, encoding="utf-8")
    summary = engine.ingest([corpus])
    assert (summary.removed, summary.skipped, summary.unchanged) == (2, 2, 1)
    assert set(engine.store.documents()) == {"stockholm-talks-editorial.txt"}


def test_overlapping_folders_index_a_file_once(tmp_path: Path, corpus: Path, embedder: Embedder) -> None:
    """Bad input: a folder and its subfolder, given together and in two separate ingests."""
    together = make_engine(tmp_path / "together", embedder)
    assert together.ingest([corpus, corpus / "notes"]).added == 3
    apart = make_engine(tmp_path / "apart", embedder)
    apart.ingest([corpus])
    again = apart.ingest([corpus / "notes"])
    assert (again.added, again.unchanged) == (0, 1)
    for engine in (together, apart):
        assert set(engine.store.documents()) == {
            "stockholm-talks-editorial.txt",
            "coffee.md",
            "notes/release.txt",
        }
        sources = [c.source for c in engine.ask("Who is the release manager?").citations]
        assert sources and set(sources) == {"notes/release.txt"}


def test_an_emptied_or_deleted_database_is_damage_and_rebuild_recovers(
    tmp_path: Path, corpus: Path, embedder: Embedder
) -> None:
    """Bad input: chroma.sqlite3 truncated to 0 bytes, then deleted; then the collection dropped."""
    store = tmp_path / "store"
    make_engine(store, embedder).ingest([corpus])
    database = store / "chroma" / "chroma.sqlite3"
    for damage in ("emptied", "deleted"):
        if damage == "emptied":
            database.write_bytes(b"")
        else:
            database.unlink()
        with pytest.raises(StoreError) as caught:
            make_engine(store, embedder)
        assert str(caught.value) == (
            f"The store at {store} is damaged: {database} is missing or empty; run `citebot ingest --rebuild "
            "PATH...` to index the files again (the damaged files are set aside)"
        )
        aside = rebuild_store(StoreLocation(store))
        assert aside is not None and aside.name.startswith("chroma.damaged-") and aside.is_dir()
        rebuilt = make_engine(store, embedder)
        assert rebuilt.ingest([corpus]).added == 3
        time.sleep(1.1)  # set-aside folders are named by the second
    make_engine(store, embedder).store.client.delete_collection("citebot")
    with pytest.raises(StoreError, match=r"is damaged: citebot is missing; run `citebot ingest --rebuild"):
        make_engine(store, embedder)


def test_a_damaged_manifest_record_is_skipped_and_repaired(
    tmp_path: Path, corpus: Path, embedder: Embedder
) -> None:
    """Bad input: one manifest record's chunk list overwritten with text that is not JSON."""
    engine = make_engine(tmp_path / "store", embedder)
    engine.ingest([corpus])
    engine.store.docs.update(ids=["coffee.md"], metadatas=[{"chunk_ids": "[not json"}])
    reopened = make_engine(tmp_path / "store", embedder)
    status = reopened.status()
    assert (status["documents"], status["damaged_records"]) == (2, 1)
    assert not reopened.ask("Who is the release manager?").abstained
    summary = reopened.ingest([corpus])
    assert (summary.added, summary.unchanged) == (1, 2)
    assert (reopened.status()["documents"], reopened.status()["damaged_records"]) == (3, 0)
    check_consistent(reopened)


def _nest(top: Path, depth: int, name: str) -> None:
    """Folders nested depth deep under top, built through directory handles (their path outgrows PATH_MAX)."""
    handle = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(depth):
            os.mkdir(name, dir_fd=handle)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=handle)
            os.close(handle)
            handle = inner
            if level == 20:
                fd = os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=handle)
                os.write(fd, b"The deep file says the lighthouse keeper is Ana Ruiz.\n")
                os.close(fd)
    finally:
        os.close(handle)


def _unnest(top: Path, name: str) -> None:
    """Remove a nest built by _nest from the bottom up, iteratively (shutil.rmtree recurses per level)."""
    handles = [os.open(top, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        while name in os.listdir(handles[-1]):
            handles.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=handles[-1]))
        while len(handles) > 1:
            inner = handles.pop()
            for entry in os.listdir(inner):
                os.unlink(entry, dir_fd=inner)
            os.close(inner)
            os.rmdir(name, dir_fd=handles[-1])
    finally:
        for handle in handles:
            os.close(handle)


def test_a_folder_nested_1000_deep_and_a_path_over_the_os_limit(
    tmp_path: Path, corpus: Path, embedder: Embedder
) -> None:
    """Bad input: 1,000 nested folders whose names make the path longer than PATH_MAX (4,096)."""
    _nest(corpus, 1000, "n" * 9)
    try:
        summary = make_engine(tmp_path / "store", embedder).ingest([corpus])
    finally:
        _unnest(corpus, "n" * 9)
    assert summary.added == 4, "the files above the limit are indexed, the one 21 folders down included"
    assert summary.failed == 1
    assert re.fullmatch(r"(n{9}/){8}…(/n{9}){8}: cannot read \(File name too long\)", summary.failures[0])


def test_an_unreadable_subfolder_fails_and_its_files_stay_indexed(
    tmp_path: Path, corpus: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: an indexed folder that became unreadable (EACCES; root ignores chmod, so listing it is made
    to refuse)."""
    engine = make_engine(tmp_path / "store", embedder)
    engine.ingest([corpus])
    real_list = files.list_folder

    def list_folder(handle: int, path: Path) -> Any:
        if path.name == "notes":
            raise PermissionError(13, "Permission denied", str(path))
        return real_list(handle, path)

    monkeypatch.setattr(files, "list_folder", list_folder)
    summary = engine.ingest([corpus])
    assert summary.failures == [
        "notes/: cannot read this folder (Permission denied); its files were left as they are"
    ]
    assert (summary.failed, summary.removed, summary.unchanged) == (1, 0, 2)
    assert "notes/release.txt" in engine.store.documents()


@pytest.mark.slow
def test_a_full_disk_is_one_error_and_the_next_run_completes(tmp_path: Path, embedder: Embedder) -> None:
    """Bad input: a file-size limit (RLIMIT_FSIZE: writes refused as on a full disk) hit mid-ingest."""
    corpus = write_corpus(tmp_path / "corpus")
    for i in range(FILES):
        (corpus / f"doc{i:02d}.txt").write_text(
            f"File {i} says " + "words and more words. " * 200, encoding="utf-8"
        )
    store = tmp_path / "store"

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))

    line = assert_one_error(run_script(tmp_path, "ingest", corpus, "--store", store, preexec_fn=limited), 1)
    assert line == (
        f"Error: Could not write to the disk holding {store} while writing chunks (is it full?); what was "
        "committed is kept: free some space and run the same command again"
    )
    again = run_script(tmp_path, "ingest", corpus, "--store", store)
    assert again.returncode == 0, again.stderr
    manifest, orphans = check_consistent(make_engine(store, embedder))
    assert (len(manifest), orphans) == (FILES, set())


@pytest.mark.slow
def test_the_chroma_server_killed_mid_ingest_is_one_error(tmp_path: Path) -> None:
    """Bad input: `chroma run` killed (SIGKILL) right after ingest's first chunk write."""
    corpus = write_corpus(tmp_path / "corpus")
    with chroma_process(tmp_path / "server") as (url, server):
        process, _ = start_ingest(
            tmp_path,
            corpus,
            env_extra={"CITEBOT_CHROMA_URL": url, "CRASHTEST_KILL_AFTER_PUT": str(server.pid)},
        )
        code = process.wait(timeout=300)
    stderr = (tmp_path / "stderr").read_text(encoding="utf-8")
    assert code == 1 and "Traceback" not in stderr, stderr
    assert re.fullmatch(
        rf"Error: Lost the Chroma server at {re.escape(url)} while committing files \(.+\)\n", stderr
    )


@pytest.mark.slow
def test_a_read_only_store_answers_and_refuses_ingest(
    tmp_path: Path, corpus: Path, embedder: Embedder
) -> None:
    """Bad input: the store folder on a read-only mount (a bind mount in a private mount namespace)."""
    if not shutil.which("unshare") or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("needs unshare -m (root with CAP_SYS_ADMIN) to make a read-only mount")
    store, mount = tmp_path / "store", tmp_path / "ro"
    make_engine(store, embedder).ingest([corpus])
    mount.mkdir()
    script = f'mount --bind -o ro "{store}" "{mount}" && "{CITEBOT}" "$@"'

    def read_only(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["unshare", "-m", "sh", "-c", script, "sh", *args, "--store", str(mount)],
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )

    status = read_only("status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["documents"] == 3
    asked = read_only("ask", "--json", "Who is the release manager?")
    assert asked.returncode == 0, asked.stderr
    assert "Priya Raman" in json.loads(asked.stdout)["citations"][0]["quote"]
    refused = read_only("ingest", str(corpus))
    assert_one_error(refused, 1)
    assert refused.stderr == f"Error: The store at {mount} is read-only: it can be asked, not ingested into\n"
    assert not list(mount.iterdir()), "the mount ended with its namespace"


def test_a_utf16_file_is_text_and_its_citations_verify(tmp_path: Path, embedder: Embedder) -> None:
    """Bad input: UTF-16 files with a byte-order mark (Notepad's 'Unicode'), little- and big-endian."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "le.txt").write_bytes("The boiler is serviced every March by Nordic Heat.\n".encode("utf-16"))
    (folder / "be.txt").write_bytes(b"\xfe\xff" + "The lift is inspected in June.\n".encode("utf-16-be"))
    engine = make_engine(tmp_path / "store", embedder)
    assert engine.ingest([folder]).added == 2
    for question, source in (
        ("When is the boiler serviced?", "le.txt"),
        ("When is the lift inspected?", "be.txt"),
    ):
        citation = engine.ask(question).citations[0]
        assert citation.source == source
        data = (folder / source).read_bytes()
        assert data.decode("utf-16")[citation.start : citation.end] == citation.quote
        assert engine.cite(citation.id).quote == citation.quote
        assert fingerprint(data) == engine.store.documents()[source].sha256


def test_a_reader_never_serves_a_half_written_file(tmp_path: Path, corpus: Path, embedder: Embedder) -> None:
    """Bad input: a manifest that names a chunk no longer in the store (a writer's superseded chunk deleted
    between a reader's two reads, made permanent here): that file is left out, the others are served whole."""
    engine = make_engine(tmp_path / "store", embedder)
    engine.ingest([corpus])
    stockholm = engine.store.documents()["stockholm-talks-editorial.txt"]
    engine.store.delete_chunks([stockholm.chunk_ids[0]])
    reader = make_engine(tmp_path / "store", embedder)
    assert {c.source for c in reader.corpus.chunks} == {"coffee.md", "notes/release.txt"}
    assert reader.ask("Who is the release manager?").citations[0].source == "notes/release.txt"
    # Asked about it, its remaining chunks are not served either: the file is left out whole.
    answer = reader.ask("What did the US offer in Stockholm?")
    assert "stockholm-talks-editorial.txt" not in {c.source for c in answer.citations}


def test_a_database_that_reads_as_empty_is_damage_not_emptiness(
    tmp_path: Path, corpus: Path, embedder: Embedder
) -> None:
    """Bad input: chroma.sqlite3 whose records are gone but whose tables are intact (as overwritten pages
    can leave it: Chroma then reads 0 documents and no error), emptied here with SQLite itself."""
    store = tmp_path / "store"
    make_engine(store, embedder).ingest([corpus])
    with sqlite3.connect(store / "chroma" / "chroma.sqlite3") as db:
        db.execute("DELETE FROM embedding_metadata")
        db.execute("DELETE FROM embeddings")
    forget_clients()
    with pytest.raises(StoreError) as caught:
        make_engine(store, embedder)
    assert str(caught.value) == (
        f"The store at {store} is damaged: chroma/chroma.sqlite3 reads as empty, but 3 files were indexed; "
        "run `citebot ingest --rebuild PATH...` to index the files again (the damaged files are set aside)"
    )
