"""One writer per collection of a Chroma server, whatever store folder or host each writer runs from.

The store folder's lock holds back writers of that folder only: two `citebot ingest` runs with their own
--store and one CITEBOT_CHROMA_URL each swept the other's uncommitted chunks and committed records naming
chunks that were gone (54 of 55 lost with a slowed commit), and the next ingest said "unchanged". The lease
in the server (retrieval/store/writer_lock.py) excludes them; an ingest indexes again any record naming a
chunk the store lacks. Each test's docstring names the bad input it tried.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from retrieval.errors import BusyError
from retrieval.inference.embedder import Embedder
from retrieval.store.chunk_store import ChunkStore, StoreLocation
from retrieval.store.names import lease_name
from retrieval.store.writer_lock import Claim, ServerLease, server_lease
from retrieval.text.content import fingerprint
from tests.conftest import make_engine
from tests.helpers.chroma_server import running_chroma
from tests.helpers.console import CITEBOT, script_env

pytestmark = pytest.mark.slow

ROUNDS = 10
FILES = 20
WORDS = ["alpha", "beta", "gamma", "delta", "harbour", "ledger", "signal", "orchard", "copper", "violet"]

# Loaded into each `citebot ingest` through PYTHONPATH: both runs meet at a barrier as they enter the
# engine's ingest (before any lock or lease), so each round is a real race; and every chunk write is
# followed by a pause before its commit, the window in which a second writer's sweep lost chunks.
HOOK = """
import os, time
from pathlib import Path
from retrieval.engine import Engine
from retrieval.store.chunk_store import ChunkStore

_barrier = Path(os.environ["RACE_BARRIER"])
_ingest, _put = Engine.ingest, ChunkStore.put_chunks


def ingest(self, *args, **kwargs):
    (_barrier / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + 120
    while len(list(_barrier.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(float(os.environ["RACE_DELAY_S"]))
    return _ingest(self, *args, **kwargs)


def put_chunks(self, chunks, vectors):
    _put(self, chunks, vectors)
    time.sleep(0.5)


Engine.ingest, ChunkStore.put_chunks = ingest, put_chunks
"""


def busy_line(url: str) -> re.Pattern[str]:
    """The refusal a losing writer prints: the local lock's message, naming the server."""
    return re.compile(
        r"Error: Another ingest \(pid (\d+) on [^,]+, since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\) is "
        rf"writing to collection citebot of {re.escape(url)}; wait for it to finish, or pass --wait\n"
    )


def write_round(folder: Path, round_: int) -> None:
    """FILES one-sentence files whose words change every round, so that each round has work to commit."""
    folder.mkdir(exist_ok=True)
    for i in range(FILES):
        words = " ".join(WORDS[(i * 7 + w * w + round_) % len(WORDS)] for w in range(6))
        text = f"{folder.name} round {round_} file {i} says {words}.\n"
        (folder / f"{folder.name}-{i:02d}.txt").write_text(text, encoding="utf-8")


def lost_chunks(store: ChunkStore) -> tuple[int, dict[str, str]]:
    """Chunks the server's manifest names but its chunks collection lacks; and each file's indexed sha256."""
    manifest = store.documents()
    named = [cid for record in manifest.values() for cid in record.chunk_ids]
    return len(set(named) - store.present(named)), {r.source: r.sha256 for r in manifest.values()}


def start_writer(
    tmp_path: Path, name: str, url: str, barrier: Path, delay_s: float, wait: bool = False
) -> subprocess.Popen[str]:
    """`citebot ingest` of the folder name from its own store folder (as a second host would be), against
    the server at url, started delay_s after the barrier releases both writers."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK, encoding="utf-8")
    env = script_env(
        tmp_path / "home",
        CITEBOT_CHROMA_URL=url,
        CITEBOT_CHUNK_CHARS="200",
        CITEBOT_INGEST_BATCH="5",
        PYTHONPATH=str(hook),
        RACE_BARRIER=str(barrier),
        RACE_DELAY_S=str(delay_s),
    )
    store = tmp_path / f"store-{name}"
    args = [str(CITEBOT), "ingest", str(tmp_path / name), "--store", str(store), *(["--wait"] * wait)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_writers_from_separate_store_folders_race_one_server_collection(tmp_path: Path) -> None:
    """Bad input: two teams' `citebot ingest` runs, each of its own folder from its own --store (as two
    hosts), into one server collection, ROUNDS times, every file changed each round: released together at
    a barrier, the second 0 to 1.6 s later (so that its first sweep falls among the first's uncommitted
    chunks), commits slowed; the second waits (--wait) in odd rounds. Without the lease 54 of 55 chunks
    were lost this way, and the next ingest called the damaged files unchanged."""
    lost_per_round = []
    contested = 0  # rounds in which one writer found the other holding the lease
    with running_chroma(tmp_path / "server") as url:
        checker = None
        for round_ in range(ROUNDS):
            for name in ("team-a", "team-b"):
                write_round(tmp_path / name, round_)
            barrier = tmp_path / f"barrier-{round_}"
            barrier.mkdir()
            wait = round_ % 2 == 1
            first = start_writer(tmp_path, "team-a", url, barrier, 0.0)
            second = start_writer(tmp_path, "team-b", url, barrier, 0.4 * (round_ % 5), wait=wait)
            runs = {}
            for process in (first, second):
                _, err = process.communicate(timeout=300)
                runs[process.pid] = (process.returncode, err)
            busy = [pid for pid, (code, err) in runs.items() if code == 2 and busy_line(url).fullmatch(err)]
            waited = [
                pid for pid, (code, err) in runs.items() if code == 0 and "Waiting for another ingest" in err
            ]
            assert all(code in (0, 2) for code, _ in runs.values()), (round_, runs)
            assert len(busy) + len(waited) <= 1, (round_, runs)
            contested += len(busy) + len(waited)
            for loser in busy + waited:
                winner = next(pid for pid in runs if pid != loser)
                assert runs[winner][0] == 0, runs
                if busy:  # the refusal names the writer holding the lease
                    match = busy_line(url).fullmatch(runs[loser][1])
                    assert match and int(match[1]) == winner, runs
                    # The refused team runs again once the other is done (as it is told to).
                    again = start_writer(
                        tmp_path, "team-b" if loser == second.pid else "team-a", url, barrier, 0
                    )
                    (barrier / "ready-again").touch()
                    _, err = again.communicate(timeout=300)
                    assert again.returncode == 0, err
                else:
                    assert f"Waiting for another ingest (pid {winner} on " in runs[loser][1]
            checker = checker or ChunkStore(StoreLocation(tmp_path / "checker", url), create=False)
            lost, indexed = lost_chunks(checker)
            lost_per_round.append(lost)
            expected = {
                p.name: fingerprint(p.read_bytes())
                for folder in ("team-a", "team-b")
                for p in (tmp_path / folder).iterdir()
            }
            assert indexed == expected, "every file of both teams indexed at its newest version"
        assert checker is not None
        assert lease_name("citebot") not in {c.name for c in checker.client.list_collections()}, (
            "every lease was released"
        )
    assert lost_per_round == [0] * ROUNDS
    assert contested >= ROUNDS // 2, f"only {contested} of {ROUNDS} rounds raced: the test proves little"


@pytest.mark.parametrize("server", [False, True], ids=["embedded", "server"])
def test_a_record_whose_chunks_were_deleted_behind_its_back_is_indexed_again(
    tmp_path: Path, corpus: Path, embedder: Embedder, server: bool
) -> None:
    """Bad input: chunks of one indexed file deleted from the chunks collection behind the manifest's back
    (as a second writer's sweep did), the file itself unchanged: the next ingest re-indexes that file
    instead of reporting it unchanged, and no chunk the manifest names is missing after it."""

    def run(url: str | None) -> None:
        engine = make_engine(tmp_path / "store", embedder, chroma_url=url)
        first = engine.ingest([corpus])
        assert first.added == 3
        record = engine.store.documents()["coffee.md"]
        engine.store.chunks.delete(ids=list(record.chunk_ids))  # behind the writer's API: no record changes
        assert not engine.store.present(list(record.chunk_ids))
        again = engine.ingest([corpus])
        assert (again.updated, again.unchanged, again.added) == (1, 2, 0)
        named = [cid for r in engine.store.documents().values() for cid in r.chunk_ids]
        assert engine.store.present(named) == set(named)
        assert "descaled every Friday" in engine.ask("When is the coffee machine descaled?").answer
        third = engine.ingest([corpus])
        assert (third.updated, third.unchanged) == (0, 3), "repaired once, then unchanged again"

    if server:
        with running_chroma(tmp_path / "server") as url:
            run(url)
    else:
        run(None)


def test_racing_for_the_lease_one_writer_wins(tmp_path: Path) -> None:
    """Bad input: 8 writers (threads, each its own client and holder name) creating the lease at once."""
    with running_chroma(tmp_path / "server") as url:
        location = StoreLocation(tmp_path / "cache", url)
        leases = [ServerLease(location) for _ in range(8)]
        go = threading.Barrier(len(leases))
        results: dict[int, Claim | None] = {}

        def take(i: int) -> None:
            go.wait()
            results[i] = leases[i].try_take()

        threads = [threading.Thread(target=take, args=(i,)) for i in range(len(leases))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == len(leases), "every writer got an answer"
        winners = [i for i, held in results.items() if held is None]
        assert len(winners) == 1, results
        holder = leases[winners[0]].claim.holder
        assert all(r.holder == holder for r in results.values() if r), "every loser names the one holder"


def test_a_frozen_writer_s_lease_expires_it_writes_nothing_and_another_takes_over(
    tmp_path: Path, corpus: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: a writer that stops renewing its lease (frozen, as a stopped process or a partitioned host)
    while holding it; another writer without --wait is refused, with --wait takes over once it expired, and
    the frozen one's next write is refused instead of committing beside it."""
    with running_chroma(tmp_path / "server") as url:
        location = StoreLocation(tmp_path / "frozen", url)
        make_engine(tmp_path / "frozen", embedder, chroma_url=url).ingest([corpus])
        frozen = ChunkStore(location, create=False)
        monkeypatch.setattr(ServerLease, "renew", lambda self: None)
        with server_lease(location, seconds=2.0):
            taken = time.monotonic()
            other = StoreLocation(tmp_path / "other", url)
            refused = (
                rf"Another ingest \(pid {os.getpid()} on .+\) is writing to collection citebot of {url};"
            )
            with pytest.raises(BusyError, match=refused), server_lease(other, seconds=2.0):
                pass
            waits: list[str] = []
            with server_lease(other, wait=True, on_wait=waits.append, seconds=2.0):
                took = time.monotonic() - taken  # the frozen lease expires 2 s after its creation
                record = frozen.documents()["coffee.md"]
                with pytest.raises(BusyError, match="lost its writer lease on collection citebot"):
                    frozen.commit([record])
                with pytest.raises(BusyError, match="lost its writer lease"):
                    frozen.delete_chunks(list(record.chunk_ids))
            assert 1.5 <= took < 10, took
            assert len(waits) == 1 and waits[0].startswith(
                f"Waiting for another ingest (pid {os.getpid()} on "
            )
        assert frozen.present(list(record.chunk_ids)) == set(record.chunk_ids)
