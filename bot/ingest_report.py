"""Ingest at the doors: a progress bar on a terminal, the summary line, auto-ingest on an empty store."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from retrieval.engine import Engine
    from retrieval.ingest.indexer import IngestSummary, Progress

# The ignored types named one by one, most frequent first; the rest are counted together.
_TYPES_NAMED = 5


def _type_name(suffix: str) -> str:
    """How an ignored file's type is named: its suffix, or what stands for none."""
    return {"": "(no extension)", "~$": "~$ (Office owner)"}.get(suffix, suffix)


def ignored_types(types: Counter[str]) -> str:
    """The ignored files by type, most frequent first ("12 .png, 3 .xlsx"; beyond five: "and 4 of 2 more")."""
    common = sorted(types.items(), key=lambda item: (-item[1], item[0]))  # ties in a stable order
    named = ", ".join(f"{count} {_type_name(suffix)}" for suffix, count in common[:_TYPES_NAMED])
    rest = common[_TYPES_NAMED:]
    if not rest:
        return named
    others = sum(count for _suffix, count in rest)
    return f"{named} and {others} of {len(rest)} more type{'s' if len(rest) > 1 else ''}"


def summary_line(summary: IngestSummary) -> str:
    """The one-line human summary of an ingest."""
    ignored = ""
    if summary.ignored:
        named = f" ({ignored_types(summary.ignored_types)})" if summary.ignored_types else ""
        ignored = f", {summary.ignored} of other types ignored{named}"
    return (
        f"Ingested in {summary.seconds:.2f} s: {summary.added} added, {summary.updated} updated, "
        f"{summary.unchanged} unchanged, {summary.removed} removed, {summary.failed} failed, "
        f"{summary.skipped} skipped files{ignored}; {summary.chunks} chunks written."
    )


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress | None]:
    """A rich progress bar on stderr when it is a terminal, with a total and time left once one is known."""
    if not enabled:
        yield None
        return
    from rich import progress as bars
    from rich.console import Console
    from rich.text import Text

    class TimeLeft(bars.TimeRemainingColumn):
        """Time left, said as such; nothing for a step whose total is not known."""

        def render(self, task: Any) -> Text:
            shown = super().render(task)
            return shown.append(" left") if task.total is not None else shown

    with bars.Progress(
        bars.TextColumn("{task.description}"),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        bars.TimeElapsedColumn(),
        TimeLeft(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        # Files are counted once listed; sentences only as each batch is read, so theirs stays open.
        tasks = {
            "files": bar.add_task("files read", total=None),
            "sentences": bar.add_task("sentences embedded", total=None),
        }

        def advance(step: str, done: int, total: int | None = None) -> None:
            if total is not None:
                bar.update(tasks[step], total=total)
            bar.advance(tasks[step], done)

        yield advance


def print_problems(summary: IngestSummary) -> None:
    """Each file that failed or was skipped, one line each on stderr (`failed: NAME: reason`)."""
    for failure in summary.failures:
        click.echo(f"failed: {failure}", err=True)
    for skip in summary.skips:
        click.echo(f"skipped: {skip}", err=True)


def summary_json(summary: IngestSummary) -> str:
    """The summary as `--json` prints it: one JSON object on one line."""
    return json.dumps(summary.as_json())


def run_ingest(
    engine: Engine,
    paths: list[Path],
    as_json: bool,
    to_stderr: bool = False,
    wait: bool = False,
    rebuild: bool = False,
    bar: bool = True,
) -> int:
    """Ingest (rebuild: into a new index, live once complete), print the summary, return the exit code.

    bar: a progress bar when stderr is a terminal (never from a background thread: it would tear the logs).
    """
    try:
        with progress_bar(bar and sys.stderr.isatty() and not as_json) as progress:
            summary = engine.ingest(
                paths, progress, wait=wait, on_wait=lambda m: click.echo(m, err=True), rebuild=rebuild
            )
    except KeyboardInterrupt:
        click.echo(
            "Interrupted: the rebuild was not finished; the old index is still the one answering. "
            "Run the same command again to rebuild."
            if rebuild
            else "Interrupted: files finished so far are indexed, the rest left as they were. "
            "Run the same command again to finish.",
            err=True,
        )
        return 130
    print_problems(summary)
    if as_json:
        click.echo(summary_json(summary), err=to_stderr)
    else:
        click.echo(summary_line(summary), err=to_stderr)
    return 1 if summary.failed else 0
