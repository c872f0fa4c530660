"""`--watch` at the doors: the first ingest as `citebot ingest` prints it, then one line per re-ingest."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.ingest_report import print_problems, run_ingest, summary_json
from bot.render import safe
from retrieval.errors import BusyError, CitebotError
from retrieval.ingest.watching import Ending, WatchCallbacks, WatchTiming, watch

if TYPE_CHECKING:
    from retrieval.engine import Engine
    from retrieval.ingest.indexer import IngestSummary

ALL_GONE = "none of the watched paths is left (each has disappeared); stopped watching"
log = logging.getLogger("citebot.watch")


def _say(text: str) -> None:
    click.echo(safe(text), err=True)


def watch_line(summary: IngestSummary) -> str:
    """What one re-ingest changed, in one short line (`watch: 1 updated, 1 removed (0.4 s)`)."""
    counts = (
        (summary.added, "added"),
        (summary.updated, "updated"),
        (summary.removed, "removed"),
        (summary.failed, "failed"),
        (summary.skipped, "skipped"),
    )
    changed = ", ".join(f"{n} {what}" for n, what in counts if n)
    return f"watch: {changed or 'nothing changed'} ({summary.seconds:.1f} s)"


def watching_line(paths: list[Path]) -> str:
    """What is watched, counted: `watching 2 folders`, `watching 1 folder and 1 file`."""
    folders = sum(1 for path in paths if Path(path).expanduser().is_dir())
    files = len(paths) - folders
    kinds = ((folders, "folder"), (files, "file"))
    counted = [f"{n} {what}{'s' if n != 1 else ''}" for n, what in kinds if n]
    return "watching " + " and ".join(counted)


class WatchDoor:
    """The callbacks the watch loop calls, printing as ingest does; one per watch."""

    def __init__(
        self,
        engine: Engine,
        paths: list[Path],
        as_json: bool = False,
        wait: bool = False,
        rebuild: bool = False,
        background: bool = False,
    ) -> None:
        self.engine = engine
        self.paths = paths
        self.as_json = as_json
        self.wait = wait
        self.rebuild = rebuild
        # In the bot: the first summary on stderr with the logs, and no progress bar among them.
        self.background = background
        self.ingesting = False
        self.busy = False

    def callbacks(self) -> WatchCallbacks:
        """This door's methods as the loop's callbacks."""
        return WatchCallbacks(start=self.start, ingest=self.ingest, gone=self.gone, back=self.back)

    def start(self) -> bool:
        """The first ingest, exactly as `citebot ingest` runs and prints it (--rebuild applies to it only)."""
        code = run_ingest(
            self.engine,
            self.paths,
            self.as_json,
            to_stderr=self.background,
            wait=self.wait,
            rebuild=self.rebuild,
            bar=not self.background,
        )
        if code == 130:
            return False  # interrupted: run_ingest has said what was left
        if not self.background:
            # Quiet until something changes, a watch would otherwise look hung after its summary.
            _say(f"{watching_line(self.paths)} (Ctrl-C stops)")
        return True

    def ingest(self, paths: list[Path]) -> bool:
        """Re-ingest the watched paths present (incremental); False while another writer holds the store."""
        self.ingesting = True  # left set by a KeyboardInterrupt, so the stop can say what it cut short
        try:
            summary = self.engine.ingest(paths)
        except BusyError:
            self.ingesting = False
            if not self.busy:  # once per busy spell, not at every retry
                _say("watch: another ingest is writing to the store; trying again until it is done")
            self.busy = True
            return False
        except CitebotError as exc:  # a store or path problem: said, and tried again at the next change
            self.ingesting = False
            _say(f"watch: could not ingest ({exc}); trying again at the next change")
            return True
        self.ingesting = self.busy = False
        print_problems(summary)
        if self.as_json:
            click.echo(summary_json(summary))
        else:
            _say(watch_line(summary))
        return True

    def gone(self, path: Path) -> None:
        """A watched path vanished: nothing is removed (an unmounted drive must not empty the index)."""
        _say(f"watch: {path} has disappeared; its documents stay indexed (watching the rest)")

    def back(self, path: Path) -> None:
        """A vanished path is there again."""
        _say(f"watch: {path} is back; watching it again")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the watch as Ctrl-C does (a KeyboardInterrupt), instead of killing it mid-write."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_watch(
    engine: Engine,
    paths: list[Path],
    as_json: bool,
    wait: bool = False,
    rebuild: bool = False,
    ignore: list[Path] | None = None,
    timing: WatchTiming | None = None,
) -> int:
    """`citebot ingest --watch`: ingest, then keep the index in step until Ctrl-C or SIGTERM (exit 0)."""
    door = WatchDoor(engine, paths, as_json, wait=wait, rebuild=rebuild)
    try:
        with sigterm_as_interrupt():
            ending = watch(paths, door.callbacks(), timing, ignore=ignore or [])
    except KeyboardInterrupt:
        _say(
            "watch: stopped during an ingest; files finished so far are indexed, the rest at the next ingest."
            if door.ingesting
            else "watch: stopped."
        )
        return 0
    if ending is Ending.ALL_GONE:
        _say(f"Error: {ALL_GONE}")
        return 1
    return 0


def watch_in_background(
    engine: Engine,
    paths: list[Path],
    stop: threading.Event,
    ignore: list[Path] | None = None,
    timing: WatchTiming | None = None,
) -> threading.Thread:
    """`citebot slack --watch`: the same loop in a thread, ingesting into the engine the bot answers from."""
    # Another ingest writing at start is waited for: the bot's watch must not end over it.
    door = WatchDoor(engine, paths, wait=True, background=True)

    def run() -> None:
        try:
            ending = watch(paths, door.callbacks(), timing, stop, ignore or [])
        except CitebotError as exc:  # the system refused to watch (too many folders for inotify, say)
            _say(f"watch: {exc}; stopped watching, the bot keeps answering")
            return
        except Exception:  # a bug: logged with its traceback (secrets masked); the bot keeps answering
            log.exception("watching failed; the bot keeps answering from the index as it is")
            return
        if ending is Ending.ALL_GONE:
            _say(f"watch: {ALL_GONE}; the bot keeps answering")

    thread = threading.Thread(target=run, name="citebot-watch", daemon=True)
    thread.start()
    return thread
