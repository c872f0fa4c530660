"""Ingest at the doors: a progress bar on a terminal, the summary line, auto-ingest on an empty store."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from retrieval.engine import Engine
    from retrieval.ingest.indexer import IngestSummary


def summary_line(summary: IngestSummary) -> str:
    """The one-line human summary of an ingest."""
    return (
        f"Ingested in {summary.seconds:.2f} s: {summary.added} added, {summary.updated} updated, "
        f"{summary.unchanged} unchanged, {summary.removed} removed, {summary.failed} failed, "
        f"{summary.skipped} skipped files"
        + (f", {summary.ignored} of other types ignored" if summary.ignored else "")
        + f"; {summary.chunks} chunks written."
    )


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int], None] | None]:
    """A rich progress bar on stderr when it is a terminal; otherwise nothing."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        tasks = {
            "files": bar.add_task("files scanned", total=None),
            "sentences": bar.add_task("sentences embedded", total=None),
        }
        yield lambda step, n: bar.advance(tasks[step], n)


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
