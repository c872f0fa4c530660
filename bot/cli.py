"""The `citebot` command: builds Settings once, passes them down, turns errors into messages, exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from bot.ask_batch import batch_lines
from bot.engines import engine_for, engine_to_read, load_settings
from bot.errors import doors
from bot.ingest_report import run_ingest
from bot.options import collection_option, store_option
from bot.render import json_line
from retrieval.errors import InputError


class CitebotGroup(click.Group):
    """click's group, with every error on one `Error:` line and never a traceback."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        """Run a command; usage errors in one line (with where to find help), unexpected failures too."""
        if not extra.pop("standalone_mode", True):
            return super().main(args, prog_name, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
            click.echo(f"Error: {exc.format_message()}{where}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug: still one line at the door, the traceback only on request
            if os.environ.get("CITEBOT_DEBUG"):
                raise
            click.echo(
                f"Error: citebot failed unexpectedly ({unexpected(exc)}); set CITEBOT_DEBUG=1 for details",
                err=True,
            )
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def unexpected(exc: BaseException) -> str:
    """A foreign exception in a few words, with anything shaped like a secret hidden."""
    from retrieval.text.redaction import redact

    return redact(f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}", [])


@click.group(cls=CitebotGroup, invoke_without_command=True)
@click.version_option(package_name="citebot")
@click.option("-v", "--verbose", is_flag=True, help="Say on stderr which store the command reads and why.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Ask questions about your documents; every answer cites the exact passage it comes from."""
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            ctx.invoke(repl)
        else:
            click.echo(ctx.get_help())


class GivenPath(click.Path):
    """A path argument that names something: an empty one is refused (click's Path makes it `.`, so
    `citebot ingest ''` from a script whose variable was unset would ingest the current folder)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str | bytes) and not value:
            self.fail("an empty path names no file or folder (for the current folder, give .)", param, ctx)
        return super().convert(value, param, ctx)


@cli.command()
@click.argument("paths", nargs=-1, type=GivenPath(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--wait", is_flag=True, help="If another ingest is writing to the store, wait for it.")
@click.option(
    "--rebuild",
    is_flag=True,
    help="Index PATHS anew, beside the old index (which answers until the new one is complete); "
    "a damaged store is set aside.",
)
@click.option(
    "--watch",
    is_flag=True,
    help="After ingesting, keep the index in step with PATHS (new, changed, deleted files) until Ctrl-C.",
)
@store_option
@collection_option
@doors
def ingest(
    paths: tuple[Path, ...],
    as_json: bool,
    wait: bool,
    rebuild: bool,
    watch: bool,
    store: Path | None,
    collection: str | None = None,
) -> None:
    """Index .txt, .md, .pdf, .docx, .pptx and .html files under PATHS; only what changed is embedded."""
    settings = load_settings(store=store, collection=collection)
    if rebuild:
        from retrieval.engine import rebuild_store

        aside = rebuild_store(settings.engine_config().location)
        if aside:
            click.echo(f"The damaged store files were moved to {aside}; indexing anew.", err=True)
    targets = list(paths) or [settings.corpus]
    if watch:
        from bot.watch_report import run_watch
        from retrieval.ingest.watching import check_paths

        check_paths(targets)  # before the model loads: a missing path is bad input (exit 2), as for ingest
        # --rebuild applies to the first ingest only; --json prints one summary line per ingest.
        sys.exit(run_watch(engine_for(settings), targets, as_json, wait, rebuild, ignore=[settings.store]))
    code = run_ingest(engine_for(settings), targets, as_json, wait=wait, rebuild=rebuild)
    sys.exit(code)


@cli.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object.")
@click.option("--k", type=click.IntRange(1, 50), default=None, help="Passages to retrieve (default 5).")
@click.option(
    "--batch",
    type=click.File("rb"),
    default=None,
    help='Read JSON lines {"id", "question"} from FILE (- for stdin); write one JSON line each.',
)
@store_option
@collection_option
@doors
def ask(
    question: str | None,
    as_json: bool,
    k: int | None,
    batch: IO[bytes] | None,
    store: Path | None,
    collection: str | None = None,
) -> None:
    """Answer QUESTION from the indexed documents, with citations."""
    if batch is None and (question is None or not question.strip()):
        raise InputError('The question is empty: citebot ask "What did the US offer in Stockholm?"')
    engine = engine_to_read(load_settings(store=store, k=k, collection=collection))
    engine.check_answerable()
    if batch is not None:
        ok = True
        for result, good in batch_lines(batch, engine):
            ok = ok and good
            click.echo(json_line(result))
        sys.exit(0 if ok else 1)
    from bot.render import answer_text

    answer = engine.ask(question or "")
    click.echo(json_line(answer.model_dump()) if as_json else answer_text(answer))


@cli.command()
@click.argument("citation")
@click.option("--json", "as_json", is_flag=True, help="Print the passage as one JSON object.")
@store_option
@collection_option
@doors
def cite(citation: str, as_json: bool, store: Path | None, collection: str | None = None) -> None:
    """Show the passage a CITATION id points to, with the lines around it (only in its collection)."""
    from bot.render import cited_text

    cited = engine_to_read(load_settings(store=store, collection=collection)).cite(citation)
    click.echo(json_line(cited.model_dump()) if as_json else cited_text(cited))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
@store_option
@collection_option
@doors
def status(as_json: bool, store: Path | None, collection: str | None = None) -> None:
    """Show the store, its collections, what is indexed, the model and the last ingest."""
    from bot.render import status_text

    settings = load_settings(store=store, collection=collection)
    info = engine_to_read(settings).status()
    info["store_origin"] = settings.store_origin()
    click.echo(json.dumps(info) if as_json else status_text(info))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print answers as JSON lines.")
@click.option("--k", type=click.IntRange(1, 50), default=None, help="Passages to retrieve (default 5).")
@store_option
@collection_option
@doors
def repl(
    as_json: bool = False, k: int | None = None, store: Path | None = None, collection: str | None = None
) -> None:
    """Ask questions one after another (follow-ups, :cite, :sources...); reads lines when piped."""
    from bot import repl as loop

    settings = load_settings(store=store, k=k, collection=collection)
    engine = engine_to_read(settings)
    engine.check_answerable()
    loop.run(engine, settings, as_json)


@cli.command()
@click.option("--http", "use_http", is_flag=True, help="Serve signed HTTP requests instead of Socket Mode.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=3000, show_default=True, help="HTTP mode port."
)
@click.option("--host", default="0.0.0.0", show_default=True, help="HTTP mode address.")
@click.option(
    "--watch",
    "watched",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Ingest PATH and keep the index in step with it while the bot runs (repeatable).",
)
@store_option
@collection_option
@doors
def slack(
    use_http: bool,
    port: int,
    host: str,
    watched: tuple[Path, ...],
    store: Path | None,
    collection: str | None = None,
) -> None:
    """Run the Slack bot: Socket Mode (SLACK_BOT_TOKEN, SLACK_APP_TOKEN) or --http (SLACK_SIGNING_SECRET).

    CITEBOT_SLACK_SCOPES names a TOML file mapping channels to the collections answered there; without it,
    every channel is answered from --collection (watched paths are ingested into it).
    """
    from bot.slack.serve import serve

    serve(use_http, port, host, watched, store, collection)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@doors
def models(as_json: bool) -> None:
    """Build the ONNX files once from the packaged weights, check them, and say which variant runs here."""
    from retrieval.model_setup import prepare_models

    settings = load_settings()
    report = prepare_models(
        settings.model,
        settings.model_cache,
        settings.scorer_folder,
        settings.threads,
        lambda text: click.echo(text, err=True),
    )
    if as_json:
        click.echo(json_line(report))
        return
    click.echo(f"Model cache: {report['cache']}")
    click.echo(f"CPU: {report['cpu']}")
    encoder = report["encoder"]
    if "chosen" in encoder:
        sizes = ", ".join(f"{v} {size / 1e6:.0f} MB" for v, size in encoder["files"].items())
        click.echo(f"Encoder: {encoder['folder']} ({sizes}); runs {encoder['chosen']} on this CPU")
        for variant in ("fp32", "int8"):
            if variant in encoder["measured"]:
                figures = encoder["measured"][variant]
                click.echo(
                    f"  {variant}: {figures['seconds'] * 1000:.0f} ms on the probe, "
                    f"worst cosine to fp32 {figures['worst_cosine']:.3f}"
                )
    else:
        click.echo(f"Encoder: {encoder['model']} runs on {encoder['runs_on']}")
    if "scorer" in report:
        click.echo(f"Answer scorer: {report['scorer']['folder']}")


def _add_catalog_commands() -> None:
    from bot.catalog_commands import collections, docs, forget
    from bot.feedback_commands import feedback

    for command in (docs, forget, collections, feedback):
        cli.add_command(command)


_add_catalog_commands()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="citebot")
